// The collectives of a data-parallel training step (see data_parallel.h). Shape letters: none
// beyond flat buffers.
#include "models/training/data_parallel.h"

#include <fmt/format.h>

#include <cstring>

#include "runtime/checksum.h"
#include "runtime/layers.h"

namespace gb::training {

GlobalStepFigures sum_step_figures(ProcessGroup& group, double local_loss, int64_t local_correct,
                                   int64_t local_images, double local_weight) {
  double sums[3] = {local_weight * local_loss, static_cast<double>(local_correct),
                    static_cast<double>(local_images)};
  group.all_reduce_sum(std::span<double>(sums));
  return {sums[0], static_cast<int64_t>(sums[1]), static_cast<int64_t>(sums[2])};
}

void sum_gradients(ProcessGroup& group, const optim::NamedTensors& params, float local_weight) {
  size_t total = 0;
  for (const auto& [name, p] : params) total += static_cast<size_t>(p.numel());
  std::vector<float> flat(total, 0.0f);
  size_t at = 0;
  for (const auto& [name, p] : params) {
    const Tensor g = p.grad();
    if (g.defined()) {
      const std::vector<float> v = g.to_vector();
      for (size_t i = 0; i < v.size(); ++i) flat[at + i] = local_weight * v[i];
    }
    at += static_cast<size_t>(p.numel());
  }
  group.all_reduce_sum(std::span<float>(flat));
  at = 0;
  for (const auto& [name, p] : params) {
    const std::vector<float> part(
        flat.begin() + static_cast<std::ptrdiff_t>(at),
        flat.begin() + static_cast<std::ptrdiff_t>(at + static_cast<size_t>(p.numel())));
    Tensor param = p;
    param.set_grad(Tensor::from_vector(p.shape(), part).to(p.device()));
    at += static_cast<size_t>(p.numel());
  }
}

namespace {
bool is_running_statistic(const std::string& name) {
  const auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with("running_mean") || ends_with("running_var");
}
}  // namespace

void average_running_statistics(ProcessGroup& group, Module& model) {
  if (group.size() == 1) return;
  std::vector<std::pair<std::string, Tensor>> stats;
  for (const auto& [name, b] : model.named_buffers()) {
    if (b.dtype() == DType::F32 && is_running_statistic(name)) stats.emplace_back(name, b);
  }
  std::vector<double> flat;
  for (const auto& [name, b] : stats) {
    const std::vector<float> v = b.to_vector();
    flat.insert(flat.end(), v.begin(), v.end());
  }
  group.all_reduce_sum(std::span<double>(flat));
  size_t at = 0;
  for (auto& [name, b] : stats) {
    std::vector<float> mean(static_cast<size_t>(b.numel()));
    for (float& v : mean) v = static_cast<float>(flat[at++] / group.size());
    const Tensor h = Tensor::from_vector(b.shape(), mean).to(b.device());
    b.copy_(h);
  }
}

void check_same_config_on_all_ranks(ProcessGroup& group, const nlohmann::json& config,
                                    const std::string& what) {
  if (group.size() == 1) return;
  const std::vector<std::string> all = group.all_gather_strings(config.dump());
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r] == all[0]) continue;
    const nlohmann::json root = nlohmann::json::parse(all[0]),
                         other = nlohmann::json::parse(all[r]);
    std::string differences;
    for (const auto& [key, value] : root.items()) {
      const auto it = other.find(key);
      const std::string theirs = it == other.end() ? "nothing" : it->dump();
      if (it != other.end() && *it == value) continue;
      differences += fmt::format("{}{}: rank 0 has {}, rank {} has {}",
                                 differences.empty() ? "" : "; ", key, value.dump(), r, theirs);
    }
    throw std::runtime_error(fmt::format(
        "the ranks disagree on {} ({}); every rank must run the same command", what,
        differences.empty() ? "rank " + std::to_string(r) + " has more settings" : differences));
  }
}

std::string dataset_fingerprint(const data::Dataset& ds) {
  uint32_t crc = crc32c(ds.images.data(), ds.images.size());
  crc = crc32c_extend(crc, ds.labels.data(), ds.labels.size() * sizeof(int64_t));
  for (const std::string& c : ds.classes) crc = crc32c_extend(crc, c.data(), c.size() + 1);
  return fmt::format("{} images of {}x{}x{} in {} classes, CRC-32C {:08x}", ds.size(), ds.channels,
                     ds.height, ds.width, ds.num_classes(), crc);
}

BatchNormSyncScope::BatchNormSyncScope(const DataParallel& parallel, float local_weight) {
  if (!parallel.sync_bn || !parallel.active()) return;  // one process: its batch is the batch
  active_ = true;
  nn::set_batch_norm_sync({parallel.group, local_weight});
}

BatchNormSyncScope::~BatchNormSyncScope() {
  if (active_) nn::set_batch_norm_sync({});
}

}  // namespace gb::training
