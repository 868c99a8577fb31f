// Measured speed of a model on this machine's kernels, for before/after tables: inference
// images/s (eval mode, no grad) and training images/s (forward, cross-entropy, backward, SGD
// step with momentum), on synthetic N(0,1) images, after warm-up, median of timed repetitions.
// Shape letters: N batch, C channels, H/W image size, K classes.
#pragma once
#include <cstdint>

#include "runtime/module.h"

namespace gb::training {

struct ThroughputOptions {
  int64_t infer_batch = 256;
  int64_t train_batch = 128;
  int64_t warmup = 1;
  int64_t reps = 3;
  bool train = true;
  bool inference = true;
};

struct Throughput {
  double inference_ips = 0, train_ips = 0;        // images per second (median rep)
  double inference_spread = 0, train_spread = 0;  // (max - min) / median of the reps
};

// Times `model` on inputs [N, chw...] with `classes` logits. The training steps change its
// weights and BN statistics: pass a throwaway copy (build_model of the same name and config).
// requires: chw = [C,H,W]; reps >= 1.
Throughput measure_throughput(Module& model, const Shape& chw, int64_t classes,
                              const ThroughputOptions& opt = {});

}  // namespace gb::training
