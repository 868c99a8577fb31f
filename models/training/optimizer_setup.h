// The optimizer and the learning-rate schedule of a training run, chosen by name: the one factory
// of each that `train`, fine-tuning (prune, compress) and distillation use.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/module.h"
#include "runtime/optim.h"

namespace gb::training {

struct OptimizerSettings {
  std::string optimizer = "sgd";  // sgd | adamw
  float lr = 0.1f;                // initial learning rate (the schedule sets it at every step)
  float momentum = 0.9f;          // SGD only
  bool nesterov = true;           // SGD only; plain momentum when false or momentum == 0
  float weight_decay = 5e-4f;
};

// An optimizer over model.named_parameters() (call after the model is on its device: the state
// lives beside the parameters). throws: std::invalid_argument naming the unknown optimizer.
std::unique_ptr<optim::Optimizer> make_optimizer(const OptimizerSettings& s, Module& model);

// The schedule `name` over `total_steps` optimizer steps peaking at `peak_lr`:
//   onecycle: linear warm-up over warmup_fraction of the steps, then linear decay;
//   cosine:   linear warm-up over warmup_fraction of the steps, then cosine decay;
//   step:     peak_lr, divided by 10 every total_steps / 3 steps (at least 1);
//   constant: peak_lr throughout.
// throws: std::invalid_argument naming the unknown schedule and listing the known ones.
std::unique_ptr<optim::LrSchedule> make_schedule(const std::string& name, float peak_lr,
                                                 int64_t total_steps, float warmup_fraction);

}  // namespace gb::training
