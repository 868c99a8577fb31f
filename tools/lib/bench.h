// `glassbox bench`: images/s of a zoo model for training steps (forward, backward, SGD update)
// and for inference, on synthetic data, after warm-up, as the median of timed repetitions with
// the spread; the peak tensor memory of a training step and the process's resident memory
// (baseline before the model is built, peak RSS); optionally a per-layer profile
// (runtime/profiler.h) of a few extra steps; and `--gemm`: GFLOP/s of glassbox's SGEMM against
// OpenBLAS's cblas_sgemm loaded at run time. Results as tables and JSON.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/profiler.h"

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
  // Per-layer profile: after the timed repetitions, `profile_steps` more steps with profiling on.
  bool per_layer = false;
  int64_t profile_steps = 3;
  std::string sort =
      "order";  // per-layer table order: "order" (execution) | "time" (slowest first)
  std::string device = "cpu";  // cpu | cuda | cuda:N (parse_device)
};

// The process's resident memory now, in MB (10^6 bytes). All 0 where the source is unreadable.
struct MemoryReading {
  double rss_mb = 0;     // VmRSS (/proc/self/status): resident now
  double hwm_mb = 0;     // VmHWM (/proc/self/status): peak resident since the process started
  double maxrss_mb = 0;  // getrusage(RUSAGE_SELF).ru_maxrss: the kernel's peak, normally == hwm
};
MemoryReading read_memory();

// A per-layer profile of `steps` steps (one model, one mode).
struct LayerProfile {
  int64_t steps = 0;
  double step_ms = 0;                     // mean wall time of a profiled step (profiling on)
  std::vector<profile::ProfileRow> rows;  // summed over the steps
};

struct BenchRow {
  std::string model, mode;  // mode: "train" | "inference"
  int64_t batch = 0;
  double median_ms = 0, min_ms = 0, max_ms = 0;
  double images_per_second = 0;
  double peak_tensor_mb = 0;  // train only: peak bytes held by tensors during one step
                              // (device memory when the model runs on a GPU)
  std::string device = "cpu";
  // Process memory. Baseline: VmRSS just before the model was built. Peak: VmHWM / ru_maxrss
  // when this row's measurement (and its profile) finished; a process-wide high-water mark, so
  // with several models (or train then inference) in one process it includes what ran before.
  // One model per process (tools/bench_compare.py) makes it a per-model figure.
  double rss_baseline_mb = 0;
  double peak_rss_mb = 0;
  double maxrss_mb = 0;
  std::optional<LayerProfile> per_layer;  // with cfg.per_layer
};

std::vector<BenchRow> run_bench(const BenchConfig& cfg, bool verbose);
std::string format_bench(const std::vector<BenchRow>& rows);
// The per-layer table of one row (requires row.per_layer): one line per module path with forward
// and backward ms per step, share of the profiled step, the backward ops and kernel notes, then
// the time no row accounts for. `sort`: "order" or "time".
std::string format_per_layer(const BenchRow& row, const std::string& sort);

// `--gemm`: C = A * B on square n x n float matrices (row-major, beta = 0), median of reps.
struct GemmRow {
  int64_t n = 0;
  double ours_ms = 0, ours_gflops = 0;  // kernels::cpu::sgemm_parallel
  double blas_ms = 0, blas_gflops = 0;  // OpenBLAS cblas_sgemm; 0 when not loaded
  double max_rel_diff = 0;              // max |C_ours - C_blas| / max |C_blas|; 0 when not loaded
};
struct GemmReport {
  int threads = 0;
  int64_t warmup = 0, reps = 0;
  bool have_blas = false;
  std::string blas;  // OpenBLAS's configuration string, or why it could not be loaded
  std::vector<GemmRow> rows;
};
// Runs every size with glassbox's SGEMM first, then every size with OpenBLAS (dlopen
// "libopenblas.so.0", threads set with openblas_set_num_threads to cfg.threads or the OpenMP
// default), so one library's idle threads do not spin during the other's measurement.
// ensures: have_blas is false, with the reason in `blas`, when the library or symbol is missing.
GemmReport run_gemm_bench(const std::vector<int64_t>& sizes, const BenchConfig& cfg);
std::string format_gemm(const GemmReport& g);
nlohmann::json gemm_to_json(const GemmReport& g);

// The JSON of `glassbox bench --json`: settings, one object per row (with "per_layer" when
// profiled), and "gemm" when `gemm` is given.
nlohmann::json bench_to_json(const BenchConfig& cfg, const std::vector<BenchRow>& rows,
                             const GemmReport* gemm = nullptr);

}  // namespace gb::app
