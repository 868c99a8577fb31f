// The BN L1 subgradient and the distillation loss (see losses.h).
// Shape letters: N batch, K classes.
#include "models/training/losses.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/layers.h"
#include "runtime/ops.h"

namespace gb::training {

void add_bn_l1_subgradient(Module& model, float lambda) {
  for (auto& [path, m] : model.named_modules()) {
    if (dynamic_cast<nn::BatchNorm2d*>(m) == nullptr) continue;
    Tensor gamma = m->local_tensor("weight");
    if (!gamma.defined()) continue;
    Tensor g = gamma.grad();
    if (!g.defined()) continue;
    const std::vector<float> w = gamma.to_vector();
    std::vector<float> gv = g.to_vector();
    for (size_t i = 0; i < gv.size(); ++i) {
      gv[i] += lambda * static_cast<float>((w[i] > 0.0f) - (w[i] < 0.0f));
    }
    gamma.set_grad(Tensor::from_vector(gamma.shape(), gv));
  }
}

Tensor distillation_loss(const Tensor& student, const Tensor& teacher, const Tensor& labels,
                         float temperature, float alpha) {
  if (!(temperature > 0)) {
    throw std::invalid_argument("distillation: temperature must be > 0, got " +
                                std::to_string(temperature));
  }
  if (!(alpha >= 0 && alpha <= 1)) {
    throw std::invalid_argument("distillation: alpha must be in [0,1], got " +
                                std::to_string(alpha));
  }
  if (student.shape() != teacher.shape() || student.dim() != 2) {
    throw std::invalid_argument("distillation: student logits " + shape_str(student.shape()) +
                                " and teacher logits " + shape_str(teacher.shape()) +
                                " must both be [N,K]");
  }
  const float inv_t = 1.0f / temperature;
  Tensor kl;
  if (alpha > 0) {
    Tensor p, log_p;
    {
      NoGradGuard no_grad;
      Tensor t = ops::scale(teacher.detach(), inv_t);
      p = ops::softmax(t).detach();
      log_p = ops::log_softmax(t).detach();
    }
    Tensor log_q = ops::log_softmax(ops::scale(student, inv_t));
    kl = ops::scale(ops::sum(ops::mul(p, ops::sub(log_p, log_q))),
                    1.0f / static_cast<float>(student.size(0)));
  }
  if (alpha >= 1) return ops::scale(kl, temperature * temperature);
  Tensor ce = ops::cross_entropy(student, labels);
  if (alpha <= 0) return ce;
  return ops::add(ops::scale(kl, alpha * temperature * temperature), ops::scale(ce, 1.0f - alpha));
}

}  // namespace gb::training
