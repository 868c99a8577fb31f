// Shared helpers of the perturbation metrics (see image_space.h).
#include "interp/eval/image_space.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace gb::interp::eval {

PixelSpace::PixelSpace(const data::Normalization& norm, int64_t channels) {
  if (norm.mean.empty()) {
    mean_.assign(static_cast<size_t>(channels), 0.0f);
    std_.assign(static_cast<size_t>(channels), 1.0f);
    return;
  }
  if (static_cast<int64_t>(norm.channels()) != channels || norm.std.size() != norm.mean.size()) {
    throw std::invalid_argument("metrics: normalisation has " + std::to_string(norm.channels()) +
                                " channels, the image " + std::to_string(channels));
  }
  for (const float s : norm.std) {
    if (!(s > 0.0f)) throw std::invalid_argument("metrics: normalisation std must be > 0");
  }
  mean_ = norm.mean;
  std_ = norm.std;
}

uint64_t metric_stream(uint32_t metric_id, int64_t image) {
  return (static_cast<uint64_t>(metric_id) << 40) ^ static_cast<uint64_t>(image) ^
         0x4d455452000000ull;  // "METR"
}

float image_min(const Tensor& image) {
  const std::vector<float> v = image.to_vector();
  if (v.empty()) throw std::invalid_argument("metrics: empty image");
  return *std::min_element(v.begin(), v.end());
}

std::vector<int64_t> argmax_rows(const Tensor& logits) {
  const int64_t N = logits.size(0), K = logits.size(1);
  const std::vector<float> v = logits.to_vector();
  std::vector<int64_t> out(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    const auto row = v.begin() + n * K;
    out[static_cast<size_t>(n)] = std::max_element(row, row + K) - row;
  }
  return out;
}

}  // namespace gb::interp::eval
