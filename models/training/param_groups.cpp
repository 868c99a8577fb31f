// Parameter groups (see param_groups.h).
#include "models/training/param_groups.h"

#include <stdexcept>
#include <string>

#include "runtime/layers.h"

namespace gb::training {
namespace {

nn::Conv2d* whitening_stem(Module& model) {
  auto* stem = dynamic_cast<nn::Conv2d*>(model.find("whiten"));
  if (!stem) {
    throw std::invalid_argument(
        "--whiten-bias-epochs needs a model with a convolution named 'whiten' (airbench)");
  }
  return stem;
}

}  // namespace

void apply_param_groups(const TrainConfig& cfg, Module& model, optim::Optimizer& opt) {
  if (!(cfg.bn_bias_lr_scale > 0.0f)) {
    throw std::invalid_argument("--bn-bias-lr-scale must be positive, got " +
                                std::to_string(cfg.bn_bias_lr_scale));
  }
  for (const auto& [path, m] : model.named_modules()) {
    if (!dynamic_cast<nn::BatchNorm2d*>(m)) continue;
    const std::string prefix = path.empty() ? "" : path + ".";
    for (size_t i = 0; i < opt.params().size(); ++i) {
      const std::string& name = opt.params()[i].first;
      if (name == prefix + "bias") {
        opt.set_scale(i, {cfg.bn_bias_lr_scale, 1.0f / cfg.bn_bias_lr_scale});
      } else if (name == prefix + "weight" && cfg.freeze_bn_weight) {
        Tensor(opt.params()[i].second).set_requires_grad(false);
      }
    }
  }
  if (cfg.whiten_bias_epochs >= 0) {
    whitening_stem(model)->local_tensor("weight").set_requires_grad(false);
  }
}

void apply_epoch_freezes(const TrainConfig& cfg, Module& model, int64_t epoch) {
  if (cfg.whiten_bias_epochs < 0 || epoch < cfg.whiten_bias_epochs) return;
  Tensor bias = whitening_stem(model)->local_tensor("bias");
  if (bias.defined()) bias.set_requires_grad(false);
}

}  // namespace gb::training
