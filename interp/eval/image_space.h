// Helpers every perturbation metric of interp/eval shares: moving an image between the model's
// normalised space and pixel space [0, 1] (the metrics' papers perturb pixels), the Philox stream
// of one (metric, image) pair, the "black" fill of Quantus, and reading scores and predictions from
// a chunk of logits. Shape letters: C channels, H/W image size, P = H*W pixels, K classes.
#pragma once
#include <cstdint>
#include <vector>

#include "data/normalize.h"
#include "runtime/tensor.h"

namespace gb::interp::eval {

// Per-channel mean and std of the model's inputs; an empty Normalization reads as identity.
class PixelSpace {
 public:
  // requires: norm empty or norm.channels() == channels, every std > 0.
  PixelSpace(const data::Normalization& norm, int64_t channels);
  float to_pixel(float normalised, int64_t c) const { return normalised * std_[c] + mean_[c]; }
  float to_model(float pixel, int64_t c) const { return (pixel - mean_[c]) / std_[c]; }
  float std(int64_t c) const { return std_[c]; }
  int64_t channels() const { return static_cast<int64_t>(mean_.size()); }

 private:
  std::vector<float> mean_, std_;
};

// The Philox stream of metric `metric_id` on image `image`: every metric draws from
// Philox(seed, metric_stream(...)), so results depend on (--seed, image, metric) only.
uint64_t metric_stream(uint32_t metric_id, int64_t image);

// Quantus's "black" baseline: the smallest value of the whole (normalised) image, in every channel.
float image_min(const Tensor& image);

// Row n's argmax of logits [N,K].
std::vector<int64_t> argmax_rows(const Tensor& logits);

}  // namespace gb::interp::eval
