// Training-step and inference throughput on synthetic data, median of timed repetitions.
#include "tools/lib/bench.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>

#include "models/registry.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/optim.h"
#include "runtime/rng.h"
#include "runtime/storage.h"

namespace gb::app {
namespace {
double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <class Fn>
BenchRow time_it(const BenchConfig& cfg, Fn&& step) {
  for (int64_t i = 0; i < cfg.warmup; ++i) step();
  std::vector<double> times;
  for (int64_t i = 0; i < std::max<int64_t>(cfg.reps, 1); ++i) {
    const double t0 = now_ms();
    step();
    times.push_back(now_ms() - t0);
  }
  std::sort(times.begin(), times.end());
  BenchRow r;
  r.median_ms = times[times.size() / 2];
  r.min_ms = times.front();
  r.max_ms = times.back();
  return r;
}
}  // namespace

std::vector<BenchRow> run_bench(const BenchConfig& cfg, bool verbose) {
  if (cfg.threads > 0) omp_set_num_threads(cfg.threads);
  std::vector<BenchRow> rows;
  for (const auto& name : cfg.models) {
    models::ModelConfig mc;
    mc.in_channels = cfg.channels;
    mc.image_size = cfg.image_size;
    manual_seed(0);
    auto model = models::build_model(name, mc);
    Generator gen(1, 0);
    if (cfg.train) {
      Tensor x = Tensor::randn({cfg.train_batch, cfg.channels, cfg.image_size, cfg.image_size}, gen);
      std::vector<int64_t> labels(static_cast<size_t>(cfg.train_batch));
      for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(i % 10);
      Tensor y = Tensor::from_labels(labels);
      optim::SgdOptions so;
      so.lr = 0.01f;
      so.momentum = 0.9f;
      so.nesterov = true;
      so.weight_decay = 5e-4f;
      optim::SGD sgd(model->named_parameters(), so);
      model->train();
      auto step = [&] {
        Tensor loss = ops::cross_entropy((*model)(x), y);
        sgd.zero_grad();
        loss.backward();
        sgd.step();
      };
      step();
      Storage::reset_peak();
      step();
      const double peak = static_cast<double>(Storage::peak_bytes());
      BenchRow r = time_it(cfg, step);
      r.model = name;
      r.mode = "train";
      r.batch = cfg.train_batch;
      r.images_per_second = static_cast<double>(cfg.train_batch) * 1000.0 / r.median_ms;
      r.peak_tensor_mb = peak / 1e6;
      if (verbose) fmt::print("{} train: {:.1f} img/s\n", name, r.images_per_second);
      rows.push_back(r);
    }
    if (cfg.inference) {
      Tensor x = Tensor::randn({cfg.infer_batch, cfg.channels, cfg.image_size, cfg.image_size}, gen);
      model->eval();
      auto step = [&] {
        NoGradGuard ng;
        Tensor out = (*model)(x);
      };
      BenchRow r = time_it(cfg, step);
      r.model = name;
      r.mode = "inference";
      r.batch = cfg.infer_batch;
      r.images_per_second = static_cast<double>(cfg.infer_batch) * 1000.0 / r.median_ms;
      if (verbose) fmt::print("{} inference: {:.1f} img/s\n", name, r.images_per_second);
      rows.push_back(r);
    }
  }
  return rows;
}

std::string format_bench(const std::vector<BenchRow>& rows) {
  std::string out = fmt::format("{:<12} {:<10} {:>6} {:>11} {:>11} {:>11} {:>10} {:>12}\n", "model",
                                "mode", "batch", "median ms", "min ms", "max ms", "img/s",
                                "peak MB");
  for (const auto& r : rows) {
    out += fmt::format("{:<12} {:<10} {:>6} {:>11.1f} {:>11.1f} {:>11.1f} {:>10.1f} {:>12}\n",
                       r.model, r.mode, r.batch, r.median_ms, r.min_ms, r.max_ms,
                       r.images_per_second,
                       r.mode == "train" ? fmt::format("{:.1f}", r.peak_tensor_mb) : "-");
  }
  return out;
}

nlohmann::json bench_to_json(const BenchConfig& cfg, const std::vector<BenchRow>& rows) {
  nlohmann::json j{{"threads", cfg.threads > 0 ? cfg.threads : omp_get_max_threads()},
                   {"warmup", cfg.warmup},
                   {"reps", cfg.reps},
                   {"data", "synthetic normal"},
                   {"rows", nlohmann::json::array()}};
  for (const auto& r : rows) {
    j["rows"].push_back({{"model", r.model},
                         {"mode", r.mode},
                         {"batch", r.batch},
                         {"median_ms", r.median_ms},
                         {"min_ms", r.min_ms},
                         {"max_ms", r.max_ms},
                         {"images_per_second", r.images_per_second},
                         {"peak_tensor_mb", r.peak_tensor_mb}});
  }
  return j;
}

}  // namespace gb::app
