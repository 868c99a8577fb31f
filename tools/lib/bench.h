// `glassbox bench`: images/s of a zoo model for training steps (forward, backward, SGD update)
// and for inference, on synthetic data, after warm-up, as the median of timed repetitions with
// the spread; plus the peak tensor memory of a training step. Results as a table and JSON.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gb::app {

struct BenchConfig {
  std::vector<std::string> models{"resnet20"};
  int64_t train_batch = 128;
  int64_t infer_batch = 256;
  int64_t warmup = 2;
  int64_t reps = 5;
  int64_t image_size = 32;
  int64_t channels = 3;
  int threads = 0;  // 0: the OpenMP default
  bool train = true;
  bool inference = true;
};

struct BenchRow {
  std::string model, mode;  // mode: "train" | "inference"
  int64_t batch = 0;
  double median_ms = 0, min_ms = 0, max_ms = 0;
  double images_per_second = 0;
  double peak_tensor_mb = 0;  // train only: peak bytes held by tensors during one step
};

std::vector<BenchRow> run_bench(const BenchConfig& cfg, bool verbose);
std::string format_bench(const std::vector<BenchRow>& rows);
nlohmann::json bench_to_json(const BenchConfig& cfg, const std::vector<BenchRow>& rows);

}  // namespace gb::app
