// The loader's worker thread, its bounded queue, and the synchronous batch builder.
#include "data/loader.h"

#include <algorithm>

#include "data/error.h"
#include "runtime/process_group.h"

namespace gb::data {

size_t batches_per_epoch(size_t n, size_t batch_size, bool drop_last) {
  if (batch_size == 0) return 0;
  return drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
}

void fill_batch(const Dataset& ds, const LoaderConfig& cfg, uint64_t epoch,
                std::span<const size_t> indices, Batch& out) {
  const int C = ds.channels, H = ds.height, W = ds.width;
  const size_t sz = ds.image_size();
  const Normalization norm = cfg.norm.channels() ? cfg.norm : Normalization::identity(C);
  out.epoch = epoch;
  out.channels = C;
  out.height = H;
  out.width = W;
  out.images.resize(indices.size() * sz);
  out.labels.resize(indices.size());
  out.indices.assign(indices.begin(), indices.end());
  out.global_size = indices.size();
  std::vector<float> tmp(cfg.augment.any() ? sz : 0);
  for (size_t j = 0; j < indices.size(); ++j) {
    const size_t i = indices[j];
    float* dst = out.images.data() + j * sz;
    out.labels[j] = ds.labels[i];
    if (!cfg.augment.any()) {
      normalize_image(ds.image(i), C, H, W, norm, dst);
      continue;
    }
    normalize_image(ds.image(i), C, H, W, norm, tmp.data());
    apply_augment(tmp.data(), dst, C, H, W, cfg.augment,
                  draw_augment(cfg.augment, cfg.seed, epoch, i, H, W));
  }
}

Loader::Loader(std::shared_ptr<const Dataset> ds, LoaderConfig cfg)
    : ds_(std::move(ds)), cfg_(std::move(cfg)), epoch_(cfg_.start_epoch) {
  if (!ds_) throw DataError("loader", "no data set given");
  validate(*ds_);
  const std::string& src = ds_->source;
  if (cfg_.batch_size == 0) throw DataError(src, "loader batch size must be > 0");
  if (cfg_.queue_depth == 0) throw DataError(src, "loader queue depth must be > 0");
  if (cfg_.norm.channels() && (cfg_.norm.channels() != static_cast<size_t>(ds_->channels) ||
                               cfg_.norm.std.size() != cfg_.norm.mean.size())) {
    throw DataError(src, "normalisation has " + std::to_string(cfg_.norm.channels()) +
                             " channel(s), images have " + std::to_string(ds_->channels));
  }
  n_ = cfg_.limit ? std::min(cfg_.limit, ds_->size()) : ds_->size();
  batches_ = gb::data::batches_per_epoch(n_, cfg_.batch_size, cfg_.drop_last);
  if (batches_ == 0) {
    throw DataError(src, "loader has no batch to give: " + std::to_string(n_) +
                             " sample(s), batch size " + std::to_string(cfg_.batch_size) +
                             (cfg_.drop_last ? " with drop_last" : ""));
  }
  check_shards();
  worker_ = std::thread([this] { run(); });
}

void Loader::check_shards() const {
  if (cfg_.shards == 0 || cfg_.shard >= cfg_.shards) {
    throw DataError(ds_->source, "loader shard " + std::to_string(cfg_.shard) + " of " +
                                     std::to_string(cfg_.shards) + " does not exist");
  }
  if (cfg_.shards == 1) return;
  const size_t last = n_ - (batches_ - 1) * cfg_.batch_size;
  const size_t smallest = std::min(std::min(cfg_.batch_size, n_), last);
  if (smallest < cfg_.shards) {
    throw DataError(ds_->source,
                    "a batch of " + std::to_string(smallest) + " sample(s) (batch size " +
                        std::to_string(cfg_.batch_size) + ", " + std::to_string(n_) +
                        " samples) cannot be split over " + std::to_string(cfg_.shards) +
                        " processes: every process needs at least one sample of every batch");
  }
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  not_full_.notify_all();
  if (worker_.joinable()) worker_.join();
}

bool Loader::push(Item item, bool force) {
  std::unique_lock<std::mutex> lock(mutex_);
  not_full_.wait(lock, [&] { return stop_ || force || queue_.size() < cfg_.queue_depth; });
  if (stop_) return false;
  queue_.push_back(std::move(item));
  lock.unlock();
  not_empty_.notify_one();
  return true;
}

void Loader::run() {
  try {
    for (uint64_t epoch = cfg_.start_epoch;; ++epoch) {
      const std::vector<size_t> order = epoch_order(n_, cfg_.seed, epoch, cfg_.shuffle);
      for (size_t b = 0; b < batches_; ++b) {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          if (stop_) return;
        }
        const size_t begin = b * cfg_.batch_size;
        const size_t count = std::min(cfg_.batch_size, n_ - begin);
        const ShardRange part =
            shard_range(static_cast<int64_t>(count), static_cast<int>(cfg_.shard),
                        static_cast<int>(cfg_.shards));
        Batch batch;
        fill_batch(*ds_, cfg_, epoch,
                   std::span<const size_t>(order).subspan(begin + static_cast<size_t>(part.begin),
                                                          static_cast<size_t>(part.size())),
                   batch);
        batch.global_size = count;
        batch.index = b;
        if (cfg_.on_batch) cfg_.on_batch(batch);
        if (!push(Item{std::move(batch), nullptr}, false)) return;
      }
      if (!push(Item{std::nullopt, nullptr}, false)) return;
    }
  } catch (...) {
    push(Item{std::nullopt, std::current_exception()}, true);
  }
}

std::optional<Batch> Loader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  not_empty_.wait(lock, [&] { return !queue_.empty(); });
  // An error stays at the front, so every later call rethrows it.
  if (queue_.front().error) std::rethrow_exception(queue_.front().error);
  Item item = std::move(queue_.front());
  queue_.pop_front();
  lock.unlock();
  not_full_.notify_one();
  if (!item.batch) ++epoch_;
  return std::move(item.batch);
}

}  // namespace gb::data
