// Measured speed of a model on this machine's kernels, the one implementation behind
// `glassbox bench` and the before/after tables of prune and distill: images/s of training steps
// (forward, cross-entropy, backward, SGD step with Nesterov momentum) and of inference (eval
// mode, no grad) on synthetic N(0,1) images, after warm-up, as the median of timed repetitions
// (device work is waited for before each clock reading); optionally the peak tensor memory of a
// training step and a per-layer profile (runtime/profiler.h) of a few more steps, with its table.
// Also the process's resident memory. Shape letters: N batch, C channels, H/W image size.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/module.h"
#include "runtime/profiler.h"

namespace gb::training {

struct ThroughputOptions {
  int64_t infer_batch = 256;
  int64_t train_batch = 128;
  int64_t warmup = 1;  // untimed repetitions first
  int64_t reps = 3;    // timed repetitions (the median is reported)
  bool train = true;
  bool inference = true;
  bool peak_memory = false;   // also measure the peak tensor bytes of one training step
  int64_t profile_steps = 0;  // > 0: a per-layer profile of this many more steps per mode
  // Every step with the anomaly guard on (runtime/anomaly.h): what it costs.
  bool detect_anomaly = false;
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

// One mode's measurement.
struct ThroughputRow {
  std::string model, mode;  // model: set by the caller; mode: "train" | "inference"
  int64_t batch = 0;
  double median_ms = 0, min_ms = 0, max_ms = 0;
  double images_per_second = 0;
  double peak_tensor_mb = 0;   // train with peak_memory: peak bytes held by tensors during one
                               // step (device memory when the model runs on a GPU)
  std::string device = "cpu";  // set by the caller
  // Process memory. Baseline: the reading passed to measure_throughput (bench: VmRSS just before
  // the model was built). Peak: VmHWM / ru_maxrss when this row's measurement (and its profile)
  // finished; a process-wide high-water mark, so with several models (or train then inference)
  // in one process it includes what ran before.
  double rss_baseline_mb = 0;
  double peak_rss_mb = 0;
  double maxrss_mb = 0;
  std::optional<LayerProfile> per_layer;  // with profile_steps > 0
};

// Times `model` on its device on inputs [N, chw...] with labels i % classes: a "train" row, then
// an "inference" row, as opt asks. The training steps change the weights and BN statistics: pass
// a throwaway copy when the model matters. The model's training mode is restored.
// requires: chw = [C,H,W]; classes >= 1. throws: std::invalid_argument for another chw.
std::vector<ThroughputRow> measure_throughput(Module& model, const Shape& chw, int64_t classes,
                                              const ThroughputOptions& opt,
                                              const MemoryReading& baseline = {});

// The per-layer table of one row (requires row.per_layer): one line per module path with forward
// and backward ms per step, share of the profiled step, the backward ops and kernel notes, then
// the time no row accounts for. `sort`: "order" (execution) or "time" (slowest first).
std::string format_per_layer(const ThroughputRow& row, const std::string& sort);

}  // namespace gb::training
