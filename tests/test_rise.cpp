// RISE (interp/rise.h): masks reproducible per (seed, index) and binary on the cell grid before
// upsampling (mean ~ p), the map independent of the chunk size with ceil(M / chunk) forward
// passes, bounds checked, and on a net that reads only the top-left quadrant the map's mass above
// its median lies there.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "interp/rise.h"
#include "runtime/ops.h"

using namespace gb;
using namespace gb::interp;

namespace {

// logits [N,2] = [8 * (mean of the top-left quadrant of channel 0 - 0.5), 0]
class TopLeftNet : public Module {
 public:
  Tensor forward(const Tensor& x) override {
    const int64_t H = x.size(2), W = x.size(3);
    Tensor q = ops::slice(ops::slice(ops::slice(x, 1, 0, 1), 2, 0, H / 2), 3, 0, W / 2);
    Tensor m = ops::mean(q, {1, 2, 3}, true);  // [N,1,1,1]
    Tensor s = ops::reshape(ops::scale(ops::sub(m, Tensor::scalar(0.5f)), 8.0f), {-1, 1});
    return ops::concat({s, ops::scale(s, 0.0f)}, 1);
  }
  std::string type_name() const override { return "TopLeftNet"; }
};

}  // namespace

TEST(Rise, MasksAreReproducibleAndDependOnTheirIndexOnly) {
  RiseOptions o;
  o.seed = 3;
  const auto a = rise_mask(5, 32, 32, o).to_vector();
  const auto b = rise_mask(5, 32, 32, o).to_vector();
  const auto c = rise_mask(6, 32, 32, o).to_vector();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (float v : a) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LE(v, 1.0f);
  }
}

TEST(Rise, MaskMeanIsAboutP) {
  for (double p : {0.5, 0.2}) {
    RiseOptions o;
    o.p = p;
    double sum = 0;
    const int count = 400;
    for (int i = 0; i < count; ++i) {
      for (float v : rise_mask(i, 32, 32, o).to_vector()) sum += v;
    }
    EXPECT_NEAR(sum / (count * 32.0 * 32.0), p, 0.03) << "p " << p;
  }
}

TEST(Rise, MapDoesNotDependOnChunkingAndCountsForwardPasses) {
  TopLeftNet net;
  const Tensor x = Tensor::ones({1, 3, 16, 16});
  RiseOptions o;
  o.masks = 50;
  o.batch.max_chunk = 7;
  const RiseResult small = rise(net, x, 0, o);
  EXPECT_EQ(small.chunk, 7);
  EXPECT_EQ(small.chunks, 8);  // mask 0 alone (it sizes the chunks), then ceil(49 / 7)
  o.batch.max_chunk = 64;
  const RiseResult big = rise(net, x, 0, o);
  EXPECT_EQ(big.chunks, 2);  // mask 0, then the other 49
  EXPECT_EQ(small.map.to_vector(), big.map.to_vector());
}

TEST(Rise, TopLeftNetPutsTheMassTopLeft) {
  TopLeftNet net;
  const Tensor x = Tensor::ones({1, 3, 32, 32});
  RiseOptions o;
  o.masks = 1000;
  const auto v = rise(net, x, 0, o).map.to_vector();
  std::vector<float> sorted(v);
  std::nth_element(sorted.begin(), sorted.begin() + 512, sorted.end());
  const float median = sorted[512];
  double inside = 0, total = 0;
  for (int y = 0; y < 32; ++y) {
    for (int xx = 0; xx < 32; ++xx) {
      const double e = std::max(0.0f, v[static_cast<size_t>(y * 32 + xx)] - median);
      total += e;
      if (y < 16 && xx < 16) inside += e;
    }
  }
  EXPECT_GT(inside / total, 0.8);
}

TEST(Rise, OptionsAreChecked) {
  TopLeftNet net;
  RiseOptions o;
  o.p = 0;
  EXPECT_THROW(rise(net, Tensor::ones({1, 3, 8, 8}), 0, o), std::invalid_argument);
  o = {};
  o.masks = 0;
  EXPECT_THROW(check_rise_options(o), std::invalid_argument);
  o = {};
  o.cells = 0;
  EXPECT_THROW(check_rise_options(o), std::invalid_argument);
}
