// Lookahead weights (see lookahead.h).
#include "models/training/lookahead.h"

#include <cmath>
#include <stdexcept>

#include "runtime/autograd.h"
#include "runtime/ops.h"

namespace gb::training {
namespace {

// The model's float parameters and buffers, in a fixed order.
std::vector<Tensor> float_tensors(Module& model) {
  std::vector<Tensor> out;
  for (auto& [name, t] : model.named_parameters()) out.push_back(t);
  for (auto& [name, t] : model.named_buffers()) {
    if (t.dtype() == DType::F32) out.push_back(t);
  }
  return out;
}

}  // namespace

Lookahead::Lookahead(Module& model) {
  for (const Tensor& t : float_tensors(model)) slow_.push_back(t.clone());
}

void Lookahead::update(Module& model, float decay) {
  NoGradGuard no_grad;
  std::vector<Tensor> live = float_tensors(model);
  if (live.size() != slow_.size()) throw std::logic_error("lookahead: the model changed");
  for (size_t i = 0; i < live.size(); ++i) {
    if (decay != 1.0f) {
      slow_[i] = ops::add(ops::scale(slow_[i], decay), ops::scale(live[i], 1.0f - decay));
    }
    live[i].copy_(slow_[i]);
  }
}

float Lookahead::decay_at(int64_t step, int64_t total) {
  if (total <= 0) return 0.0f;
  const double f = static_cast<double>(step) / static_cast<double>(total);
  return static_cast<float>(std::pow(0.95, 5.0) * f * f * f);
}

}  // namespace gb::training
