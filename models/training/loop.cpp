// The training step sequence (see loop.h). Shape letters: N batch, C channels, H/W size, K classes.
#include "models/training/loop.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "models/training/losses.h"
#include "runtime/anomaly.h"
#include "runtime/device_copy.h"
#include "runtime/module.h"
#include "runtime/ops.h"
#include "runtime/rng.h"

namespace gb::training {
namespace {

// What a forward and backward of a batch found not finite.
enum class NonFinite { None, Loss, Gradient };

struct StepPass {
  Tensor logits;
  float loss = 0;                   // over the global batch when data-parallel
  int64_t correct = 0, images = 0;  // likewise
  NonFinite bad = NonFinite::None;
  std::string gradient;  // with bad == Gradient: the first parameter whose gradient is not
};

// The name of the first parameter whose gradient holds a NaN or an infinity ("" when none).
std::string first_nonfinite_gradient(const optim::NamedTensors& params) {
  for (const auto& [name, p] : params) {
    if (count_nonfinite(p.grad()).any()) return name;
  }
  return {};
}

// Forward and loss of batch `b`; when the loss is finite, zeroed gradients, backward and a scan
// of the parameters' gradients. The optimizer does not step.
// With data parallelism, the ranks' figures are summed (collective: every rank reaches this
// point in every pass, so all of them take the same branches below).
StepPass forward_backward(const TrainingLoop& loop, const data::Batch& b) {
  StepPass r;
  const float weight =
      b.global_size > 0 ? static_cast<float>(b.size()) / static_cast<float>(b.global_size) : 1.0f;
  const BatchNormSyncScope sync_bn(loop.parallel, weight);
  const Tensor x = batch_images(b, loop.device);
  r.logits = loop.model(x);
  const Tensor loss =
      loop.hooks.loss ? loop.hooks.loss(x, r.logits, b.labels)
                      : ops::cross_entropy(r.logits, Tensor::from_labels(b.labels).to(loop.device),
                                           loop.settings.label_smoothing);
  r.loss = loss.item();
  r.correct = count_correct(r.logits, b.labels);
  r.images = static_cast<int64_t>(b.size());
  if (loop.parallel.active()) {
    const GlobalStepFigures g =
        sum_step_figures(*loop.parallel.group, r.loss, r.correct, r.images, weight);
    r.loss = static_cast<float>(g.loss);
    r.correct = g.correct;
    r.images = g.images;
  }
  if (!std::isfinite(r.loss)) {
    r.bad = NonFinite::Loss;
    return r;
  }
  loop.optimizer.zero_grad();
  loss.backward();
  if (loop.parallel.active()) sum_gradients(*loop.parallel.group, loop.optimizer.params(), weight);
  // One reduction (one read-back on a GPU); the search for the parameter only when it fails.
  if (!std::isfinite(optim::squared_grad_norm(loop.optimizer.params()))) {
    r.bad = NonFinite::Gradient;
    r.gradient = first_nonfinite_gradient(loop.optimizer.params());
  }
  return r;
}

// forward_backward with the anomaly guard `on`, from the dropout stream's counter `dropout`
// (the same draws as the step's first pass); the guard's report, if it found anything.
std::optional<AnomalyReport> guarded_pass(const TrainingLoop& loop, const data::Batch& b, bool on,
                                          uint64_t dropout, StepPass& r) {
  dropout_generator().set_counter(dropout);
  try {
    AnomalyGuard guard(on);
    r = forward_backward(loop, b);
  } catch (const AnomalyError& e) {
    return e.report();
  }
  return std::nullopt;
}

// What went wrong, in words: "the loss became NaN", "the gradient of 'fc.weight' became
// non-finite (loss 2.31)", or an activation that did not reach the loss.
std::string nonfinite_what(const StepPass& r) {
  switch (r.bad) {
    case NonFinite::Loss:
      return std::isnan(r.loss) ? "the loss became NaN" : fmt::format("the loss became {}", r.loss);
    case NonFinite::Gradient:
      return fmt::format("the gradient of '{}' became non-finite (loss {:.4g})", r.gradient,
                         r.loss);
    case NonFinite::None:
      break;
  }
  return fmt::format(
      "a value became non-finite, though the loss ({:.4g}) and the parameter "
      "gradients stayed finite",
      r.loss);
}

// Where the value appeared, in words: the guard's report, or why there is none (`rerun`: the
// guard was off for the step and a re-run with it on found nothing).
std::string nonfinite_where(const std::optional<AnomalyReport>& where, bool rerun) {
  if (where) return "it first appeared in " + where->describe();
  if (rerun) {
    return "a re-run of the step with the anomaly guard on did not reproduce it (something "
           "outside the step's weights, batch and dropout draws differs), so the op is unknown";
  }
  return "the anomaly guard saw no op produce it (it appeared outside the recorded ops)";
}

// Throws the error of a step where something was not finite: `r` is the step without the
// guard, `where` the guard's report (none: it did not locate the value), `rerun` as above.
[[noreturn]] void throw_nonfinite(const TrainingLoop& loop, const data::Batch& b, const StepPass& r,
                                  const std::optional<AnomalyReport>& where, bool rerun) {
  std::string message = fmt::format("step {} (epoch {}, learning rate {:.4g}): {}; {}",
                                    loop.optimizer.steps() + 1, b.epoch + 1, loop.optimizer.lr(),
                                    nonfinite_what(r), nonfinite_where(where, rerun));
  if (loop.hooks.nonfinite_message) message = loop.hooks.nonfinite_message(message);
  if (where) throw AnomalyError(*where, message);
  throw std::runtime_error(message);
}

// Forward and backward of batch `b` with the guard as the settings say for this step; when
// anything is not finite, the pass that finds where (the guard on) and the pass that finds what
// (the guard off) both run, from the same dropout draws, and the step stops with the error.
StepPass checked_forward_backward(const TrainingLoop& loop, const data::Batch& b) {
  const uint64_t dropout = dropout_generator().counter();
  const bool guarded = loop.settings.anomaly.on_at(loop.optimizer.steps());
  StepPass r;
  std::optional<AnomalyReport> where = guarded_pass(loop, b, guarded, dropout, r);
  if (!where && r.bad == NonFinite::None) return r;
  if (where) {
    guarded_pass(loop, b, false, dropout, r);  // the loss and gradients as they are
  } else if (!guarded) {
    StepPass again;
    where = guarded_pass(loop, b, true, dropout, again);
  }
  throw_nonfinite(loop, b, r, where, !guarded);
}

// One optimizer step on batch `b`, added to `m`.
void train_one_batch(const TrainingLoop& loop, const data::Batch& b, RunningMetrics& m) {
  loop.optimizer.set_lr(loop.schedule.lr(loop.optimizer.steps()));
  const StepPass r = checked_forward_backward(loop, b);
  if (loop.settings.bn_l1 > 0) add_bn_l1_subgradient(loop.model, loop.settings.bn_l1);
  if (loop.settings.clip_grad_norm > 0) {
    optim::clip_grad_norm(loop.optimizer.params(), loop.settings.clip_grad_norm);
  }
  loop.optimizer.step();
  if (loop.hooks.after_step) loop.hooks.after_step();
  ++m.steps;
  m.loss_sum += static_cast<double>(r.loss) * static_cast<double>(r.images);
  m.correct += r.correct;
  m.seen += r.images;
  m.batch_loss = r.loss;
  m.batch_accuracy = static_cast<double>(r.correct) / static_cast<double>(r.images);
}

}  // namespace

double RunningMetrics::loss() const {
  return seen > 0 ? loss_sum / static_cast<double>(seen) : 0.0;
}

double RunningMetrics::accuracy() const {
  return seen > 0 ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
}

void train_steps(const TrainingLoop& loop, data::Loader& loader, RunningMetrics& metrics,
                 int64_t step_limit) {
  while (metrics.steps < step_limit) {
    const auto b = loader.next();
    if (!b) return;  // end of the epoch
    train_one_batch(loop, *b, metrics);
    if (loop.hooks.on_step) loop.hooks.on_step(metrics);
  }
}

data::LoaderConfig training_loader_config(int64_t batch_size, uint64_t seed,
                                          const data::Normalization& norm, bool augment,
                                          int64_t crop_pad, int64_t cutout, uint64_t start_epoch) {
  data::LoaderConfig lc;
  lc.batch_size = static_cast<size_t>(batch_size);
  lc.shuffle = true;
  lc.seed = seed;
  lc.start_epoch = start_epoch;
  lc.norm = norm;
  if (augment) {
    lc.augment.crop_pad = static_cast<int>(crop_pad);
    lc.augment.flip = true;
  }
  lc.augment.cutout = static_cast<int>(cutout);
  return lc;
}

Tensor batch_images(const data::Batch& b, Device device, bool mirror) {
  const Shape shape{static_cast<int64_t>(b.size()), b.channels, b.height, b.width};
  if (!mirror && device.type != DeviceType::Cpu) {  // straight to the GPU, pinned staging
    Tensor x = Tensor::empty(shape, DType::F32, device);
    copy_to_device_staged(x.f32(), b.images.data(), b.images.size() * sizeof(float));
    return x;
  }
  Tensor x = Tensor::empty(shape);
  if (!mirror) {
    std::memcpy(x.f32(), b.images.data(), b.images.size() * sizeof(float));
  } else {
    const int64_t W = b.width, rows = static_cast<int64_t>(b.images.size()) / W;
    float* dst = x.f32();
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < W; ++c) {
        dst[r * W + c] = b.images[static_cast<size_t>(r * W + W - 1 - c)];
      }
    }
  }
  return x.to(device);
}

int64_t count_correct(const Tensor& logits, const std::vector<int64_t>& labels,
                      std::vector<int64_t>* predictions) {
  const int64_t N = logits.size(0), K = logits.size(1);
  const Tensor host = logits.to(Device{});
  const float* p = host.f32();
  int64_t correct = 0;
  for (int64_t i = 0; i < N; ++i) {
    int64_t best = 0;
    for (int64_t k = 1; k < K; ++k) {
      if (p[i * K + k] > p[i * K + best]) best = k;
    }
    if (best == labels[static_cast<size_t>(i)]) ++correct;
    if (predictions) predictions->push_back(best);
  }
  return correct;
}

}  // namespace gb::training
