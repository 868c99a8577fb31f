// Per-channel normalisation of uint8 images into float: out = (x / 255 - mean[c]) / std[c].
// Shape letters: N images, C channels, H height, W width; images are CHW.
#pragma once
#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace gb::data {

// mean and std per channel, on the [0, 1] pixel scale (x / 255).
struct Normalization {
  std::vector<float> mean, std;

  size_t channels() const { return mean.size(); }
  // mean 0, std 1: plain x / 255.
  static Normalization identity(int channels);
};

// Mean and population standard deviation of x / 255 per channel over every pixel of ds
// (exact integer sums, so the result is independent of order and threads).
// requires: ds.size() > 0. ensures: std[c] > 0 (a constant channel gets std 1).
Normalization channel_stats(const Dataset& ds);

// The usual CIFAR-10 training-set statistics (0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616).
Normalization cifar10_normalization();

// Normalise one CHW image into `out` (C*H*W floats).
// requires: norm.channels() == C, every std > 0. throws: DataError otherwise.
void normalize_image(const uint8_t* chw, int C, int H, int W, const Normalization& norm,
                     float* out);

}  // namespace gb::data
