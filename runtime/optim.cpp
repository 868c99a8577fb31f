// Optimizer update rules, gradient clipping and learning-rate schedules.
#include "runtime/optim.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "runtime/device_copy.h"
#include "runtime/op_table.h"

namespace gb::optim {
namespace {
const Tensor* find_state(const NamedTensors& state, const std::string& name) {
  for (const auto& [n, t] : state) {
    if (n == name) return &t;
  }
  return nullptr;
}

Tensor restore_slot(const NamedTensors& state, const std::string& name, const Tensor& param) {
  const Tensor* t = find_state(state, name);
  if (!t) return Tensor();
  if (t->shape() != param.shape()) {
    throw std::runtime_error("optimizer state " + name + " has shape " + shape_str(t->shape()) +
                             ", parameter has " + shape_str(param.shape()));
  }
  return t->to(param.device()).clone();
}
}  // namespace

void Optimizer::zero_grad() {
  for (auto& [n, p] : params_) p.zero_grad();
}

SGD::SGD(NamedTensors params, const SgdOptions& opt)
    : Optimizer(std::move(params), opt.lr), opt_(opt), momentum_(params_.size()) {
  if (opt.nesterov && (opt.momentum <= 0.0f || opt.dampening != 0.0f)) {
    throw std::invalid_argument("sgd: Nesterov momentum needs momentum > 0 and zero dampening");
  }
}

void SGD::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    const auto& k = kernels_for<OpId::SgdUpdate>(p.device());
    const float mom = opt_.momentum;
    const bool first = mom != 0.0f && !momentum_[i].defined();
    if (first) momentum_[i] = Tensor::empty(p.shape(), DType::F32, p.device());
    k.update(p.numel(), p.f32(), g.f32(), mom != 0.0f ? momentum_[i].f32() : nullptr,
             lr_ * scales_[i].lr, opt_.weight_decay * scales_[i].weight_decay, mom, opt_.dampening,
             opt_.nesterov, first);
  }
  ++steps_;
}

NamedTensors SGD::state() const {
  NamedTensors out;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (momentum_[i].defined()) out.emplace_back(params_[i].first + ".momentum", momentum_[i]);
  }
  return out;
}

void SGD::load_state(const NamedTensors& state, int64_t steps) {
  for (size_t i = 0; i < params_.size(); ++i) {
    momentum_[i] = restore_slot(state, params_[i].first + ".momentum", params_[i].second);
  }
  steps_ = steps;
}

AdamW::AdamW(NamedTensors params, const AdamWOptions& opt)
    : Optimizer(std::move(params), opt.lr), opt_(opt), m_(params_.size()), v_(params_.size()) {}

void AdamW::step() {
  ++steps_;
  const double bc1 = 1.0 - std::pow(static_cast<double>(opt_.beta1), static_cast<double>(steps_));
  const double bc2 = 1.0 - std::pow(static_cast<double>(opt_.beta2), static_cast<double>(steps_));
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  for (size_t i = 0; i < params_.size(); ++i) {
    const float lr = lr_ * scales_[i].lr;
    const float step_size = static_cast<float>(lr / bc1);
    Tensor& p = params_[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (!m_[i].defined()) {
      m_[i] = Tensor::zeros(p.shape(), DType::F32, p.device());
      v_[i] = Tensor::zeros(p.shape(), DType::F32, p.device());
    }
    kernels_for<OpId::AdamWUpdate>(p.device())
        .update(p.numel(), p.f32(), g.f32(), m_[i].f32(), v_[i].f32(), lr, opt_.beta1, opt_.beta2,
                opt_.eps, opt_.weight_decay * scales_[i].weight_decay, step_size, bc2_sqrt);
  }
}

NamedTensors AdamW::state() const {
  NamedTensors out;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (m_[i].defined()) {
      out.emplace_back(params_[i].first + ".exp_avg", m_[i]);
      out.emplace_back(params_[i].first + ".exp_avg_sq", v_[i]);
    }
  }
  return out;
}

void AdamW::load_state(const NamedTensors& state, int64_t steps) {
  for (size_t i = 0; i < params_.size(); ++i) {
    m_[i] = restore_slot(state, params_[i].first + ".exp_avg", params_[i].second);
    v_[i] = restore_slot(state, params_[i].first + ".exp_avg_sq", params_[i].second);
  }
  steps_ = steps;
}

// The sum of squares of every gradient, in parameter order, in double: host gradients add into
// one host double, GPU gradients into one device double read back once (no sync per tensor).
double squared_grad_norm(const NamedTensors& params) {
  double host_total = 0.0;
  bool host_started = false;
  Tensor device_total;  // one double on the GPU, as 2 floats of storage
  for (const auto& [n, p] : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    const auto& k = kernels_for<OpId::ClipGradNorm>(g.device());
    if (g.device().type == DeviceType::Cpu) {
      k.sum_squares(g.numel(), g.f32(), &host_total, host_started);
      host_started = true;
      continue;
    }
    const bool accumulate = device_total.defined();
    if (!accumulate) device_total = Tensor::empty({2}, DType::F32, g.device());
    k.sum_squares(g.numel(), g.f32(), reinterpret_cast<double*>(device_total.f32()), accumulate);
  }
  if (device_total.defined()) {
    double gpu = 0.0;
    device_to_host(&gpu, device_total.f32(), sizeof(double));
    host_total += gpu;
  }
  return host_total;
}

float clip_grad_norm(const NamedTensors& params, float max_norm) {
  const float norm = static_cast<float>(std::sqrt(squared_grad_norm(params)));
  if (norm > max_norm && norm > 0.0f) {
    const float factor = max_norm / (norm + 1e-6f);
    for (const auto& [n, p] : params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      kernels_for<OpId::Scale>(g.device()).scale(g.numel(), g.f32(), factor, g.f32());
    }
  }
  return norm;
}

float StepSchedule::lr(int64_t step) const {
  return base_ * std::pow(gamma_, static_cast<float>(step / std::max<int64_t>(step_size_, 1)));
}

float CosineSchedule::lr(int64_t step) const {
  if (step < warmup_) return base_ * static_cast<float>(step + 1) / static_cast<float>(warmup_);
  const double span = static_cast<double>(std::max<int64_t>(total_ - warmup_, 1));
  const double t = std::min(1.0, static_cast<double>(step - warmup_) / span);
  return static_cast<float>(min_ + (base_ - min_) * 0.5 * (1.0 + std::cos(3.141592653589793 * t)));
}

float OneCycleSchedule::lr(int64_t step) const {
  const double warm = std::max(1.0, std::floor(warmup_fraction_ * static_cast<double>(total_)));
  const double s = static_cast<double>(step);
  if (s < warm) return static_cast<float>(peak_ * (s + 1.0) / warm);
  // Linear decay: peak at the first step after warm-up, peak / rest at the last step, and zero
  // one step past the end, so every step of the run still learns.
  const double rest = std::max(1.0, static_cast<double>(total_) - warm);
  return static_cast<float>(std::max(0.0, peak_ * (static_cast<double>(total_) - s) / rest));
}

}  // namespace gb::optim
