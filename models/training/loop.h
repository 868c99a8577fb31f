// The one training loop of glassbox. `glassbox train` (trainer.h), fine-tuning after pruning and
// weight sharing, and distillation (finetune.h) all run their steps through train_steps: set the
// scheduled learning rate, forward, loss, stop on a NaN/infinite loss, zero the gradients,
// backward, optional BN-L1 subgradient and gradient clipping, optimizer step, after-step hook,
// running loss/accuracy, progress callback. The callers differ only in how they bound a run
// (one epoch at a time, or a fixed number of steps across epochs) and in their hooks.
// Also the loader settings of a training run and the two batch helpers evaluation shares.
// Shape letters: N batch, C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "data/loader.h"
#include "data/normalize.h"
#include "models/training/data_parallel.h"
#include "runtime/module.h"
#include "runtime/optim.h"

namespace gb::training {

// Loss of one batch: images [N,C,H,W] and labels as given to the model, its logits [N,K].
using LossFn = std::function<Tensor(const Tensor& images, const Tensor& logits,
                                    const std::vector<int64_t>& labels)>;

// Running totals of one run of train_steps (or of several, when the caller keeps them).
struct RunningMetrics {
  int64_t steps = 0;          // optimizer steps taken
  int64_t seen = 0;           // images trained on
  int64_t correct = 0;        // of those, predicted right (argmax of the logits before the step)
  double loss_sum = 0;        // sum over images of the batch mean loss
  double batch_loss = 0;      // mean loss of the latest step's batch
  double batch_accuracy = 0;  // accuracy of the latest step's batch
  double loss() const;        // mean loss per image (0 before the first step)
  double accuracy() const;    // correct / seen (0 before the first step)
};

// The anomaly guard (runtime/anomaly.h) in a run: on for the optimizer steps numbered below
// `first_steps` (the optimizer's count, so a run resumed past them starts with it off) and for
// every step with `always` (--detect-anomaly). 50 by default: a broken model, init or data shows
// in the first steps, 50 steps are a small part of any real run, and the guard's scan of every
// activation and gradient costs a few percent of a CPU step while on (more on a GPU, whose
// tensors it copies to the host); later divergence (a learning rate that peaks after warm-up)
// is still located, by the re-run of the failing step (see models/training/README.md).
inline constexpr int64_t kDefaultAnomalySteps = 50;
struct AnomalySettings {
  int64_t first_steps = kDefaultAnomalySteps;  // 0: not by default
  bool always = false;
  bool on_at(int64_t step) const { return always || step < first_steps; }
};

// What a step does besides the fixed sequence above.
struct StepSettings {
  float label_smoothing = 0.0f;  // of the default cross-entropy loss
  float bn_l1 = 0.0f;            // network slimming: L1 subgradient on BN scales (0: off)
  float clip_grad_norm = 0.0f;   // clip gradients to this global norm (0: off)
  AnomalySettings anomaly;
};

struct LoopHooks {
  LossFn loss;                       // default: cross-entropy with StepSettings::label_smoothing
  std::function<void()> after_step;  // runs after every optimizer step (re-apply masks, ...)
  // Runs after every step with the totals so far.
  std::function<void(const RunningMetrics&)> on_step;
  // Adds the caller's context to the message of the error thrown when a loss or gradient is NaN
  // or infinite (the message names the step, the epoch, the learning rate and, when the guard
  // located it, the op and module). Default: the message as it is.
  std::function<std::string(const std::string& message)> nonfinite_message;
};

// Everything a step needs. The optimizer holds the model's parameters (and lives on its device).
struct TrainingLoop {
  Module& model;
  optim::Optimizer& optimizer;
  const optim::LrSchedule& schedule;  // lr of optimizer step s is schedule.lr(s)
  Device device;                      // where the model runs: batches are moved there
  StepSettings settings;
  LoopHooks hooks;
  // Data-parallel (data_parallel.h): the loader gives this rank's shard of each global batch;
  // the loss, counts and gradients of a step are summed over the ranks before the checks and
  // the optimizer step, and the metrics count the global batch. Default: one process.
  DataParallel parallel = {};
};

// Trains on batches from `loader` until its epoch ends (next() returns nullopt, so the following
// call starts the next epoch) or metrics.steps reaches `step_limit`, adding to `metrics`.
// A step whose loss or parameter gradients are not finite (or, with the anomaly guard on, any
// op's output or gradient) stops the run before the optimizer steps: when the guard was off for
// it, the step's forward and backward run again with it on (same weights, batch and dropout
// draws) to find where the first non-finite value appeared.
// requires: the model is in training mode. throws: gb::AnomalyError (a std::runtime_error) whose
// message names the step, the epoch, the loss and the op and module where the first non-finite
// value appeared, through hooks.nonfinite_message (nothing stepped); std::runtime_error when the
// re-run could not locate it; whatever the loader or the loss throws.
void train_steps(const TrainingLoop& loop, data::Loader& loader, RunningMetrics& metrics,
                 int64_t step_limit = std::numeric_limits<int64_t>::max());

// Loader settings of a training run: shuffled from `seed`, normalised with `norm`, random crop
// (translation up to `crop_pad` pixels) and horizontal flip when `augment`, cutout squares of
// `cutout` pixels (0: off), starting at epoch `start_epoch` (a resumed run).
data::LoaderConfig training_loader_config(int64_t batch_size, uint64_t seed,
                                          const data::Normalization& norm, bool augment,
                                          int64_t crop_pad, int64_t cutout = 0,
                                          uint64_t start_epoch = 0);

// The batch's images as [N,C,H,W] on `device`, mirrored left-right when `mirror` is set.
Tensor batch_images(const data::Batch& b, Device device, bool mirror = false);

// Number of rows of logits [N,K] (any device) whose argmax is the label; appends each row's
// argmax to `predictions` when given. requires: labels.size() == N.
int64_t count_correct(const Tensor& logits, const std::vector<int64_t>& labels,
                      std::vector<int64_t>* predictions = nullptr);

}  // namespace gb::training
