// The parameter groups of a training run (the fast recipe's, after airbench): batch-norm scales
// frozen at their value, batch-norm biases trained at a multiple of the learning rate with their
// weight decay divided by it (so every parameter decays by the same lr * weight_decay per step),
// and the whitening stem (a module named "whiten") with its weight frozen and its bias trained for
// the first whiten_bias_epochs epochs. A frozen parameter stops requiring gradients, so the
// optimizer skips it (its momentum, if any, is kept).
#pragma once
#include <cstdint>

#include "models/training/train_config.h"
#include "runtime/module.h"
#include "runtime/optim.h"

namespace gb::training {

// Sets the groups of cfg on `model` and `opt` (an optimizer over model.named_parameters()).
// throws: std::invalid_argument when whiten_bias_epochs >= 0 and the model has no 2-D convolution
// named "whiten", or bn_bias_lr_scale is not positive.
void apply_param_groups(const TrainConfig& cfg, Module& model, optim::Optimizer& opt);

// At the start of epoch `epoch` (0-based): freezes the whitening bias once the epoch reaches
// cfg.whiten_bias_epochs (also on a resumed run). No-op when whiten_bias_epochs < 0.
void apply_epoch_freezes(const TrainConfig& cfg, Module& model, int64_t epoch);

}  // namespace gb::training
