// Per-channel statistics and normalisation.
#include "data/normalize.h"

#include <cmath>

#include "data/error.h"

namespace gb::data {

Normalization Normalization::identity(int channels) {
  Normalization n;
  n.mean.assign(static_cast<size_t>(channels), 0.0f);
  n.std.assign(static_cast<size_t>(channels), 1.0f);
  return n;
}

Normalization channel_stats(const Dataset& ds) {
  if (ds.size() == 0) throw DataError(ds.source, "cannot compute statistics of an empty data set");
  const size_t plane = static_cast<size_t>(ds.height) * static_cast<size_t>(ds.width);
  const auto c_count = static_cast<size_t>(ds.channels);
  std::vector<uint64_t> sum(c_count, 0), sum_sq(c_count, 0);
  for (size_t i = 0; i < ds.size(); ++i) {
    const uint8_t* img = ds.image(i);
    for (size_t c = 0; c < c_count; ++c) {
      uint64_t s = 0, s2 = 0;
      for (size_t p = 0; p < plane; ++p) {
        const uint64_t v = img[c * plane + p];
        s += v;
        s2 += v * v;
      }
      sum[c] += s;
      sum_sq[c] += s2;
    }
  }
  Normalization n;
  const auto count = static_cast<long double>(ds.size() * plane);
  for (size_t c = 0; c < c_count; ++c) {
    const long double mean = static_cast<long double>(sum[c]) / count;
    const long double var = static_cast<long double>(sum_sq[c]) / count - mean * mean;
    const long double sd = std::sqrt(std::max(var, 0.0L)) / 255.0L;
    n.mean.push_back(static_cast<float>(mean / 255.0L));
    n.std.push_back(sd > 0 ? static_cast<float>(sd) : 1.0f);
  }
  return n;
}

Normalization cifar10_normalization() {
  return Normalization{{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}};
}

void normalize_image(const uint8_t* chw, int C, int H, int W, const Normalization& norm,
                     float* out) {
  if (norm.channels() != static_cast<size_t>(C) || norm.std.size() != norm.mean.size()) {
    throw DataError("normalisation", "has " + std::to_string(norm.channels()) +
                                         " channel(s), images have " + std::to_string(C));
  }
  const size_t plane = static_cast<size_t>(H) * static_cast<size_t>(W);
  for (size_t c = 0; c < static_cast<size_t>(C); ++c) {
    if (!(norm.std[c] > 0)) throw DataError("normalisation", "std must be > 0");
    const float scale = 1.0f / (255.0f * norm.std[c]);
    const float bias = -norm.mean[c] / norm.std[c];
    const uint8_t* src = chw + c * plane;
    float* dst = out + c * plane;
    for (size_t p = 0; p < plane; ++p) dst[p] = static_cast<float>(src[p]) * scale + bias;
  }
}

}  // namespace gb::data
