// Fine-tuning and training loops for pruned and compressed models, on an existing model (the
// core training job in tools/lib/train builds its model from a name, so it cannot take a pruned
// one): SGD with Nesterov momentum and weight decay, one-cycle / cosine / constant schedule,
// random crop + flip, seeded loader, a pluggable loss (cross-entropy, or distillation from a
// teacher) and a hook after every optimizer step (re-apply masks, re-tie shared weights).
// Also the network-slimming L1 penalty on BN scales and the distillation loss.
// Shape letters: N batch, C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/normalize.h"
#include "runtime/module.h"

namespace gb::training {

struct FinetuneConfig {
  double epochs = 1.0;  // may be fractional: round(epochs * batches per epoch) steps
  int64_t batch_size = 128;
  float lr = 0.05f;  // peak learning rate
  float momentum = 0.9f;
  bool nesterov = true;
  float weight_decay = 5e-4f;
  std::string schedule = "onecycle";  // onecycle | cosine | constant
  float warmup_fraction = 0.15f;
  bool augment = true;  // random crop (pad 4) + horizontal flip
  uint64_t seed = 0;    // loader order and augmentation
  float bn_l1 = 0.0f;   // network slimming: adds bn_l1 * sign(gamma) to every BN scale's grad
};

// Loss of one batch: images [N,C,H,W], the model's logits [N,K] and the labels.
using LossFn = std::function<Tensor(const Tensor& images, const Tensor& logits,
                                    const std::vector<int64_t>& labels)>;

struct FinetuneHooks {
  LossFn loss;                       // default: cross-entropy with the labels
  std::function<void()> after_step;  // runs after every optimizer step
  // Progress: step (1-based), total steps, running mean loss and accuracy.
  std::function<void(int64_t step, int64_t total, double loss, double accuracy)> on_step;
};

struct FinetuneResult {
  int64_t steps = 0;
  double loss = 0, accuracy = 0;  // mean over all steps' images
  double seconds = 0, images_per_second = 0;
};

// Trains `model` in place on `train` (normalised with `norm`) for cfg.epochs. Leaves the model in
// eval mode. throws: std::invalid_argument for a bad config (unknown schedule, batch < 1,
// epochs <= 0) and std::runtime_error when the loss becomes NaN or infinite.
FinetuneResult finetune(Module& model, std::shared_ptr<const data::Dataset> train,
                        const data::Normalization& norm, const FinetuneConfig& cfg,
                        const FinetuneHooks& hooks = {});

// Network slimming (Liu et al. 2017): adds lambda * sign(gamma) to the gradient of every
// BatchNorm2d scale that has one. Call between backward() and the optimizer step.
void add_bn_l1_subgradient(Module& model, float lambda);

// Knowledge distillation (Hinton et al. 2015), mean over the batch:
//   alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, y)
// student [N,K] (differentiable), teacher [N,K] (treated as constant), labels I64 [N].
// requires: T > 0, alpha in [0,1], equal shapes. throws: std::invalid_argument otherwise.
Tensor distillation_loss(const Tensor& student, const Tensor& teacher, const Tensor& labels,
                         float temperature, float alpha);

}  // namespace gb::training
