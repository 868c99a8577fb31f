// Loader: turns a Dataset into float batches on a background thread.
// Shape letters: N samples in a batch, C channels, H height, W width. A batch is float32
// N x C x H x W (CHW per image), normalised per channel and augmented, plus N int64 labels.
// Epoch e visits the samples in epoch_order(n, seed, e, shuffle) and augments sample i with
// draw_augment(..., seed, e, i, ...) (augment.h), so the batches depend only on the data, the
// config and the seed: never on thread timing. fill_batch() is the synchronous reference.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/normalize.h"

namespace gb::data {

struct Batch {
  uint64_t epoch = 0;
  size_t index = 0;  // batch number within its epoch
  int channels = 0, height = 0, width = 0;
  std::vector<float> images;    // N x C x H x W
  std::vector<int64_t> labels;  // N
  std::vector<size_t> indices;  // N: each sample's index in the data set
  size_t global_size = 0;       // samples in the whole batch this one is a shard of (N unsharded)

  size_t size() const { return labels.size(); }
};

struct LoaderConfig {
  size_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;  // drop a final batch smaller than batch_size
  uint64_t seed = 0;
  uint64_t start_epoch = 0;  // first epoch delivered (resume): same batches as reaching it
  size_t limit = 0;          // use only data-set samples [0, limit); 0: all
  AugmentConfig augment;     // default: none (evaluation)
  Normalization norm;        // empty: x / 255; else one mean/std per channel
  size_t queue_depth = 3;    // prepared batches (and end-of-epoch marks) held ahead
  // Data-parallel sharding: each batch holds only shard `shard` of `shards` of the batch an
  // unsharded loader would give (runtime/process_group.h shard_range: contiguous, in order), with
  // the same per-sample augmentation draws. Every shard of every batch must get a sample.
  size_t shard = 0, shards = 1;
  // Optional, run on the worker on each finished batch (an extra transform, a fault probe);
  // an exception it throws reaches the consumer at next().
  std::function<void(Batch&)> on_batch;
};

// Batches in an epoch of n samples.
size_t batches_per_epoch(size_t n, size_t batch_size, bool drop_last);

// Synchronously build the batch of samples `indices` (data-set indices) for epoch `epoch`:
// normalise each image with cfg.norm, then augment it with its draw for (cfg.seed, epoch, index).
// requires: indices valid for ds; cfg.norm empty or with ds.channels entries.
void fill_batch(const Dataset& ds, const LoaderConfig& cfg, uint64_t epoch,
                std::span<const size_t> indices, Batch& out);

class Loader {
 public:
  // Starts the worker thread at once. requires: ds valid (validate()), batch_size > 0,
  // queue_depth > 0, at least one batch per epoch.
  // throws: DataError when a requirement fails (before any thread is started).
  Loader(std::shared_ptr<const Dataset> ds, LoaderConfig cfg);
  // Stops and joins the worker; never hangs waiting for a consumer.
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch of the current epoch, or nullopt at its end; the call after a nullopt starts
  // the next epoch. Blocks only while the worker is behind.
  // throws: the exception the worker hit (again on every later call).
  std::optional<Batch> next();

  uint64_t epoch() const { return epoch_; }  // the epoch next() is delivering
  size_t samples_per_epoch() const { return n_; }
  size_t batches_per_epoch() const { return batches_; }
  const Dataset& dataset() const { return *ds_; }
  const LoaderConfig& config() const { return cfg_; }

 private:
  struct Item {
    std::optional<Batch> batch;  // empty: end of epoch (or error)
    std::exception_ptr error;
  };
  void run();
  void check_shards() const;
  bool push(Item item, bool force);

  std::shared_ptr<const Dataset> ds_;
  LoaderConfig cfg_;
  size_t n_ = 0, batches_ = 0;
  uint64_t epoch_ = 0;

  std::mutex mutex_;
  std::condition_variable not_empty_, not_full_;
  std::deque<Item> queue_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace gb::data
