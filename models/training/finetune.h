// Training an existing model for a given number of (possibly fractional) epochs: the driver that
// fine-tuning after pruning or weight sharing and student training in distillation use. It runs
// the one training loop (loop.h) for round(epochs * batches per epoch) steps across epoch
// boundaries: SGD (Nesterov momentum, weight decay), any schedule of make_schedule, random crop
// (4 pixels) + flip, a seeded loader, a pluggable loss (cross-entropy, or distillation from a
// teacher) and a hook after every optimizer step (re-apply masks, re-tie shared weights).
// Shape letters: N batch, C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "data/dataset.h"
#include "data/normalize.h"
#include "models/training/loop.h"
#include "runtime/module.h"

namespace gb::training {

class TrainingLog;  // tensorboard.h

struct FinetuneConfig {
  double epochs = 1.0;  // may be fractional: round(epochs * batches per epoch) steps
  int64_t batch_size = 128;
  float lr = 0.05f;  // peak learning rate
  float momentum = 0.9f;
  bool nesterov = true;
  float weight_decay = 5e-4f;
  std::string schedule = "onecycle";  // onecycle | cosine | step | constant
  float warmup_fraction = 0.15f;
  bool augment = true;  // random crop (pad 4) + horizontal flip
  uint64_t seed = 0;    // loader order and augmentation
  float bn_l1 = 0.0f;   // network slimming: adds bn_l1 * sign(gamma) to every BN scale's grad
  // The anomaly guard (loop.h): on for the first steps, or every step.
  AnomalySettings anomaly;
};

struct FinetuneHooks {
  LossFn loss;                       // default: cross-entropy with the labels
  std::function<void()> after_step;  // runs after every optimizer step
  // Progress: step (1-based), total steps, running mean loss and accuracy.
  std::function<void(int64_t step, int64_t total, double loss, double accuracy)> on_step;
  // TensorBoard (null: none): the graph before the first step, every step, and every epoch
  // (each pass over the data, the last one possibly partial; no test figures). Its step and
  // epoch axes continue across several finetune calls with the same log.
  TrainingLog* log = nullptr;
};

struct FinetuneResult {
  int64_t steps = 0;
  double loss = 0, accuracy = 0;  // mean over all steps' images
  double seconds = 0, images_per_second = 0;
};

// Trains `model` (on the CPU) in place on `train` (normalised with `norm`) for cfg.epochs. Leaves
// the model in eval mode. throws: std::invalid_argument for a bad config (unknown schedule,
// batch < 1, epochs <= 0, no images) and std::runtime_error (gb::AnomalyError when located)
// when the loss or a gradient becomes NaN or infinite.
FinetuneResult finetune(Module& model, std::shared_ptr<const data::Dataset> train,
                        const data::Normalization& norm, const FinetuneConfig& cfg,
                        const FinetuneHooks& hooks = {});

}  // namespace gb::training
