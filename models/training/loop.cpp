// The training step sequence (see loop.h). Shape letters: N batch, C channels, H/W size, K classes.
#include "models/training/loop.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "models/training/losses.h"
#include "runtime/device_copy.h"
#include "runtime/ops.h"

namespace gb::training {
namespace {

std::string generic_nonfinite_message(float loss, int64_t step, float lr) {
  return fmt::format("loss became {} at step {} (learning rate {:.4g})", loss, step, lr);
}

// One optimizer step on batch `b`, added to `m`.
void train_one_batch(const TrainingLoop& loop, const data::Batch& b, RunningMetrics& m) {
  loop.optimizer.set_lr(loop.schedule.lr(loop.optimizer.steps()));
  const Tensor x = batch_images(b, loop.device);
  const Tensor logits = loop.model(x);
  const Tensor loss =
      loop.hooks.loss ? loop.hooks.loss(x, logits, b.labels)
                      : ops::cross_entropy(logits, Tensor::from_labels(b.labels).to(loop.device),
                                           loop.settings.label_smoothing);
  const float lv = loss.item();
  if (!std::isfinite(lv)) {
    const auto& message = loop.hooks.nonfinite_loss_message;
    throw std::runtime_error(message
                                 ? message(lv, m.steps + 1, loop.optimizer.lr())
                                 : generic_nonfinite_message(lv, m.steps + 1, loop.optimizer.lr()));
  }
  loop.optimizer.zero_grad();
  loss.backward();
  if (loop.settings.bn_l1 > 0) add_bn_l1_subgradient(loop.model, loop.settings.bn_l1);
  if (loop.settings.clip_grad_norm > 0) {
    optim::clip_grad_norm(loop.optimizer.params(), loop.settings.clip_grad_norm);
  }
  loop.optimizer.step();
  if (loop.hooks.after_step) loop.hooks.after_step();
  ++m.steps;
  const int64_t correct = count_correct(logits, b.labels);
  m.loss_sum += static_cast<double>(lv) * static_cast<double>(b.size());
  m.correct += correct;
  m.seen += static_cast<int64_t>(b.size());
  m.batch_loss = lv;
  m.batch_accuracy = static_cast<double>(correct) / static_cast<double>(b.size());
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
