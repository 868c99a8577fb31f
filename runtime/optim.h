// Optimizers (SGD with momentum/Nesterov/weight decay, AdamW), gradient clipping by global norm,
// and learning-rate schedules (step, cosine, one-cycle: linear warm-up then linear decay).
// Update rules follow PyTorch's torch.optim exactly, so results can be cross-checked.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace gb::optim {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// A parameter's group settings: its learning rate and weight decay are the optimizer's times these
// (PyTorch's parameter groups, as factors of the run's schedule).
struct ParamScale {
  float lr = 1.0f;
  float weight_decay = 1.0f;
};

class Optimizer {
 public:
  explicit Optimizer(NamedTensors params, float lr)
      : params_(std::move(params)), scales_(params_.size()), lr_(lr) {}
  virtual ~Optimizer() = default;
  // Applies one update from the parameters' accumulated gradients (parameters without a
  // gradient are skipped).
  virtual void step() = 0;
  void zero_grad();
  float lr() const { return lr_; }
  void set_lr(float lr) { lr_ = lr; }
  int64_t steps() const { return steps_; }
  // Optimizer state for checkpoints, named "<param>.<slot>" (e.g. "conv1.weight.momentum").
  virtual NamedTensors state() const = 0;
  // Restores state() output; requires the same parameter names and shapes.
  virtual void load_state(const NamedTensors& state, int64_t steps) = 0;
  virtual std::string name() const = 0;
  const NamedTensors& params() const { return params_; }
  // Sets parameter i's group settings. requires: i < params().size().
  void set_scale(size_t i, ParamScale scale) { scales_.at(i) = scale; }
  const ParamScale& scale(size_t i) const { return scales_.at(i); }

 protected:
  NamedTensors params_;
  std::vector<ParamScale> scales_;
  float lr_;
  int64_t steps_ = 0;
};

struct SgdOptions {
  float lr = 0.1f;
  float momentum = 0.0f;
  float dampening = 0.0f;
  float weight_decay = 0.0f;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(NamedTensors params, const SgdOptions& opt);
  void step() override;
  NamedTensors state() const override;
  void load_state(const NamedTensors& state, int64_t steps) override;
  std::string name() const override { return "sgd"; }

 private:
  SgdOptions opt_;
  std::vector<Tensor> momentum_;  // undefined until the first step
};

struct AdamWOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 1e-2f;
};

class AdamW : public Optimizer {
 public:
  AdamW(NamedTensors params, const AdamWOptions& opt);
  void step() override;
  NamedTensors state() const override;
  void load_state(const NamedTensors& state, int64_t steps) override;
  std::string name() const override { return "adamw"; }

 private:
  AdamWOptions opt_;
  std::vector<Tensor> m_, v_;
};

// The sum of squares of every gradient, in double (GPU gradients: one read-back). Finite exactly
// when every gradient is: no float's square, summed, overflows a double (the training loop's
// NaN/Inf check).
double squared_grad_norm(const NamedTensors& params);

// Scales all gradients so their global L2 norm is at most max_norm; returns the norm before.
float clip_grad_norm(const NamedTensors& params, float max_norm);

// Learning rate as a function of the optimizer step (0-based).
class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual float lr(int64_t step) const = 0;
};

// base * gamma^(step / step_size)
class StepSchedule : public LrSchedule {
 public:
  StepSchedule(float base, int64_t step_size, float gamma)
      : base_(base), step_size_(step_size), gamma_(gamma) {}
  float lr(int64_t step) const override;

 private:
  float base_;
  int64_t step_size_;
  float gamma_;
};

// Cosine from base to min_lr over total steps, after an optional linear warm-up.
class CosineSchedule : public LrSchedule {
 public:
  CosineSchedule(float base, int64_t total, int64_t warmup = 0, float min_lr = 0.0f)
      : base_(base), total_(total), warmup_(warmup), min_(min_lr) {}
  float lr(int64_t step) const override;

 private:
  float base_;
  int64_t total_, warmup_;
  float min_;
};

// One-cycle: linear warm-up to peak over the first warmup_fraction of the steps (step s < W gets
// peak * (s+1) / W), then linear decay: step s >= W gets peak * (total - s) / (total - W), which
// reaches zero at step `total`, one past the last step.
class OneCycleSchedule : public LrSchedule {
 public:
  OneCycleSchedule(float peak, int64_t total, float warmup_fraction = 0.15f)
      : peak_(peak), total_(total), warmup_fraction_(warmup_fraction) {}
  float lr(int64_t step) const override;

 private:
  float peak_;
  int64_t total_;
  float warmup_fraction_;
};

class ConstantSchedule : public LrSchedule {
 public:
  explicit ConstantSchedule(float lr) : lr_(lr) {}
  float lr(int64_t) const override { return lr_; }

 private:
  float lr_;
};

}  // namespace gb::optim
