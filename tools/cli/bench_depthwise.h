// `glassbox bench --depthwise 1,64`: the CPU depthwise convolution (kernels/cpu/conv_depthwise.h)
// against the path depthwise layers took before it (im2col + one SGEMM per group,
// cpu::ConvAlgorithm::Im2colGemm), on MobileNetV2 / EfficientNet-B0-like layers: forward,
// backward-input and backward-weight (with db), median ms of repetitions, at each batch size.
// Shape letters: N batch, C channels (= K = G), H/W input size, R/S kernel size.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/shapes.h"

namespace gb::cli {

struct DepthwiseRow {
  std::string layer;  // which network layer the shape stands for
  kernels::Conv2dShape shape;
  double old_ms[3] = {0, 0, 0};  // im2col + GEMM: forward, backward-input, backward-weight
  double new_ms[3] = {0, 0, 0};  // the depthwise kernels
  double max_rel_diff = 0;       // over the three passes: max |new - old| / max |old|
};

struct DepthwiseReport {
  int threads = 0;
  int64_t warmup = 0, reps = 0;
  std::vector<DepthwiseRow> rows;
};

// Every layer at every batch size (each 1..4096), the old path first, then the new one; leaves
// the CPU convolution algorithm as it found it.
// throws: std::invalid_argument for a batch size outside 1..4096.
DepthwiseReport run_depthwise_bench(const std::vector<int64_t>& batches, int64_t warmup,
                                    int64_t reps);
std::string format_depthwise(const DepthwiseReport& r);
nlohmann::json depthwise_to_json(const DepthwiseReport& r);

}  // namespace gb::cli
