// The optimizer and schedule factories (see optimizer_setup.h).
#include "models/training/optimizer_setup.h"

#include <algorithm>
#include <stdexcept>

namespace gb::training {

std::unique_ptr<optim::Optimizer> make_optimizer(const OptimizerSettings& s, Module& model) {
  if (s.optimizer == "sgd") {
    optim::SgdOptions o;
    o.lr = s.lr;
    o.momentum = s.momentum;
    o.nesterov = s.nesterov && s.momentum > 0;
    o.weight_decay = s.weight_decay;
    return std::make_unique<optim::SGD>(model.named_parameters(), o);
  }
  if (s.optimizer == "adamw") {
    optim::AdamWOptions o;
    o.lr = s.lr;
    o.weight_decay = s.weight_decay;
    return std::make_unique<optim::AdamW>(model.named_parameters(), o);
  }
  throw std::invalid_argument("unknown optimizer '" + s.optimizer + "'; known: sgd, adamw");
}

std::unique_ptr<optim::LrSchedule> make_schedule(const std::string& name, float peak_lr,
                                                 int64_t total_steps, float warmup_fraction) {
  if (name == "onecycle") {
    return std::make_unique<optim::OneCycleSchedule>(peak_lr, total_steps, warmup_fraction);
  }
  if (name == "cosine") {
    const auto warmup = static_cast<int64_t>(warmup_fraction * static_cast<float>(total_steps));
    return std::make_unique<optim::CosineSchedule>(peak_lr, total_steps, warmup);
  }
  if (name == "step") {
    return std::make_unique<optim::StepSchedule>(peak_lr, std::max<int64_t>(total_steps / 3, 1),
                                                 0.1f);
  }
  if (name == "constant") return std::make_unique<optim::ConstantSchedule>(peak_lr);
  throw std::invalid_argument("unknown schedule '" + name +
                              "'; known: onecycle, cosine, step, constant");
}

}  // namespace gb::training
