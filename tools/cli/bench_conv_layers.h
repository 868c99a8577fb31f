// `glassbox bench --device cuda --conv-layers`: every distinct convolution shape of a model, timed
// on the GPU with the hand-written kernels and with cuDNN (forward, backward-input,
// backward-weight; CUDA events, median of reps), so the two backends are compared per layer.
// Shape letters: N batch, C/K input/output channels, H/W input size, R/S kernel size.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/shapes.h"

namespace gb::cli {

struct ConvLayerTiming {
  std::string layers;  // module paths with this shape ("layer1.0.conv1,layer1.0.conv2,...")
  kernels::Conv2dShape shape;
  double ours_ms[3] = {0, 0, 0};   // forward, backward-input, backward-weight
  double cudnn_ms[3] = {0, 0, 0};  // 0 when cuDNN is not in the build
  double max_rel_diff = 0;         // hand-written vs cuDNN forward output
};

// The distinct conv shapes of zoo model `model` at batch `batch` (32x32 RGB input), each timed.
// throws std::runtime_error without CUDA or without a GPU.
std::vector<ConvLayerTiming> bench_conv_layers(const std::string& model, int64_t batch,
                                               int64_t warmup, int64_t reps);
std::string format_conv_layers(const std::string& model, const std::vector<ConvLayerTiming>& t);
nlohmann::json conv_layers_to_json(const std::vector<ConvLayerTiming>& t);

}  // namespace gb::cli
