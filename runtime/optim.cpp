// Optimizer update rules, gradient clipping and learning-rate schedules.
#include "runtime/optim.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#ifdef GB_WITH_CUDA
#include "kernels/cuda/device_api.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/optim.h"
#include "kernels/cuda/reduce.h"
#endif

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
    float* pp = p.f32();
    const float* pg = g.f32();
    const int64_t n = p.numel();
    const float wd = opt_.weight_decay, mom = opt_.momentum, lr = lr_;
    if (p.device().type == DeviceType::CUDA) {
#ifdef GB_WITH_CUDA
      const bool first = mom != 0.0f && !momentum_[i].defined();
      if (first) momentum_[i] = Tensor::empty(p.shape(), DType::F32, p.device());
      kernels::cuda::sgd_update(n, pp, pg, mom != 0.0f ? momentum_[i].f32() : nullptr, lr, wd,
                                mom, opt_.dampening, opt_.nesterov, first);
#endif
      continue;
    }
    if (mom == 0.0f) {
      for (int64_t k = 0; k < n; ++k) pp[k] -= lr * (pg[k] + wd * pp[k]);
      continue;
    }
    const bool first = !momentum_[i].defined();
    if (first) momentum_[i] = Tensor::empty(p.shape());
    float* buf = momentum_[i].f32();
    const float damp = 1.0f - opt_.dampening;
    for (int64_t k = 0; k < n; ++k) {
      const float d = pg[k] + wd * pp[k];
      buf[k] = first ? d : mom * buf[k] + damp * d;
      const float update = opt_.nesterov ? d + mom * buf[k] : buf[k];
      pp[k] -= lr * update;
    }
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
  const float step_size = static_cast<float>(lr_ / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (!m_[i].defined()) {
      m_[i] = Tensor::zeros(p.shape(), DType::F32, p.device());
      v_[i] = Tensor::zeros(p.shape(), DType::F32, p.device());
    }
    if (p.device().type == DeviceType::CUDA) {
#ifdef GB_WITH_CUDA
      kernels::cuda::adamw_update(p.numel(), p.f32(), g.f32(), m_[i].f32(), v_[i].f32(), lr_,
                                  opt_.beta1, opt_.beta2, opt_.eps, opt_.weight_decay, step_size,
                                  bc2_sqrt);
#endif
      continue;
    }
    float* pp = p.f32();
    const float* pg = g.f32();
    float* m = m_[i].f32();
    float* v = v_[i].f32();
    const float b1 = opt_.beta1, b2 = opt_.beta2;
    const float decay = 1.0f - lr_ * opt_.weight_decay;
    for (int64_t k = 0, n = p.numel(); k < n; ++k) {
      pp[k] *= decay;
      m[k] = b1 * m[k] + (1.0f - b1) * pg[k];
      v[k] = b2 * v[k] + (1.0f - b2) * pg[k] * pg[k];
      const float denom = std::sqrt(v[k]) / bc2_sqrt + opt_.eps;
      pp[k] -= step_size * m[k] / denom;
    }
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

float clip_grad_norm(const NamedTensors& params, float max_norm) {
  double total = 0.0;
#ifdef GB_WITH_CUDA
  // GPU gradients add into one device double in a fixed order, read back once.
  double* device_total = nullptr;
#endif
  for (const auto& [n, p] : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    const float* pg = g.f32();
    if (g.device().type == DeviceType::CUDA) {
#ifdef GB_WITH_CUDA
      const bool accumulate = device_total != nullptr;
      if (!device_total) {
        device_total = static_cast<double*>(kernels::cuda::malloc_device(sizeof(double)));
      }
      kernels::cuda::sum_squares_all(g.numel(), pg, device_total, accumulate);
#endif
      continue;
    }
    for (int64_t k = 0, m = g.numel(); k < m; ++k) total += static_cast<double>(pg[k]) * pg[k];
  }
#ifdef GB_WITH_CUDA
  if (device_total) {
    double gpu = 0.0;
    kernels::cuda::copy_to_host(&gpu, device_total, sizeof(double));
    kernels::cuda::free_device(device_total);
    total += gpu;
  }
#endif
  const float norm = static_cast<float>(std::sqrt(total));
  if (norm > max_norm && norm > 0.0f) {
    const float factor = max_norm / (norm + 1e-6f);
    for (const auto& [n, p] : params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      float* pg = g.f32();
      if (g.device().type == DeviceType::CUDA) {
#ifdef GB_WITH_CUDA
        kernels::cuda::scale(g.numel(), pg, factor, pg);
#endif
        continue;
      }
      for (int64_t k = 0, m = g.numel(); k < m; ++k) pg[k] *= factor;
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
