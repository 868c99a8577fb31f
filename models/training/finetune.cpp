// The fixed-length driver of the training loop (see finetune.h).
// Shape letters: N batch, C channels, H/W image size, K classes.
#include "models/training/finetune.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>

#include "models/training/optimizer_setup.h"
#include "models/training/tensorboard.h"

namespace gb::training {
namespace {

void check_config(const std::shared_ptr<const data::Dataset>& train, const FinetuneConfig& cfg) {
  if (cfg.batch_size < 1) throw std::invalid_argument("fine-tune: batch size must be >= 1");
  if (!(cfg.epochs > 0)) throw std::invalid_argument("fine-tune: epochs must be > 0");
  if (!train || train->size() == 0) throw std::invalid_argument("fine-tune: no training images");
}

// The TensorBoard record of one pass over the data: the metrics between `before` and `after`.
void log_epoch(TrainingLog& log, const RunningMetrics& before, const RunningMetrics& after,
               double seconds, double lr, Module& model, bool last) {
  const auto seen = static_cast<double>(after.seen - before.seen);
  EpochMetrics e;
  e.epoch = log.epochs_logged() + 1;
  e.train_loss = (after.loss_sum - before.loss_sum) / seen;
  e.train_accuracy = static_cast<double>(after.correct - before.correct) / seen;
  e.seconds = seconds;
  e.images_per_second = seen / std::max(seconds, 1e-9);
  e.lr_end = lr;
  log.epoch(e, model, last);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string nonfinite_message(const std::string& message) {
  return "fine-tune: " + message + "; try a lower --lr";
}

}  // namespace

FinetuneResult finetune(Module& model, std::shared_ptr<const data::Dataset> train,
                        const data::Normalization& norm, const FinetuneConfig& cfg,
                        const FinetuneHooks& hooks) {
  check_config(train, cfg);
  data::Loader loader(train, training_loader_config(cfg.batch_size, cfg.seed, norm, cfg.augment,
                                                    /*crop_pad=*/4));
  const auto per_epoch = static_cast<double>(loader.batches_per_epoch());
  const int64_t total = std::max<int64_t>(1, std::llround(cfg.epochs * per_epoch));
  const auto schedule = make_schedule(cfg.schedule, cfg.lr, total, cfg.warmup_fraction);
  const auto optimizer =
      make_optimizer({"sgd", cfg.lr, cfg.momentum, cfg.nesterov, cfg.weight_decay}, model);

  LoopHooks loop_hooks;
  loop_hooks.loss = hooks.loss;
  loop_hooks.after_step = hooks.after_step;
  loop_hooks.on_step = [&](const RunningMetrics& m) {
    if (hooks.on_step) hooks.on_step(m.steps, total, m.loss(), m.accuracy());
    if (hooks.log) hooks.log->step(m, optimizer->lr());
  };
  loop_hooks.nonfinite_message = nonfinite_message;
  StepSettings settings;
  settings.bn_l1 = cfg.bn_l1;
  settings.anomaly = cfg.anomaly;
  const TrainingLoop loop{model, *optimizer, *schedule, Device{}, settings, loop_hooks};

  if (hooks.log) hooks.log->graph_once(model, {train->channels, train->height, train->width});
  const auto t0 = std::chrono::steady_clock::now();
  RunningMetrics m;
  double logging_seconds = 0;  // histograms and views: not training time
  model.train();
  while (m.steps < total) {
    const RunningMetrics before = m;
    const auto epoch_start = std::chrono::steady_clock::now();
    train_steps(loop, loader, m, total);
    if (hooks.log && m.seen > before.seen) {
      const auto log_start = std::chrono::steady_clock::now();
      log_epoch(*hooks.log, before, m, seconds_since(epoch_start), optimizer->lr(), model,
                m.steps >= total);
      logging_seconds += seconds_since(log_start);
    }
  }
  model.eval();
  FinetuneResult r;
  r.steps = m.steps;
  r.seconds = seconds_since(t0) - logging_seconds;
  r.loss = m.loss();
  r.accuracy = m.accuracy();
  r.images_per_second = static_cast<double>(m.seen) / std::max(r.seconds, 1e-9);
  return r;
}

}  // namespace gb::training
