// The CPU depthwise convolution (kernels/cpu/conv_depthwise.h) against the double-accumulating
// reference: which shapes it takes and the dispatch from cpu::conv2d_*, all three passes on
// awkward shapes (3x3 / 5x5 / 7x7 / 1x1 / non-square kernels, strides 1, 2, 3 and different per
// axis, padding 0 to beyond the kernel, odd maps, one-column and wide rows across the 32- and
// 8-wide blocks, C = 1, C = 17, batch 1 and 3), the fused epilogue, MobileNet-sized planes, and
// bit-identity for 1, 2 and 3 threads and inside a parallel region.
// Shape letters: N batch, C channels (= K = G), H/W input size, R/S kernel size, P/Q output size.
// Tolerance (test_kernels.cpp's model): |fast - ref| <= 1e-6 + 1e-5 * mag, mag the same pass on
// |inputs| (the sum of |terms|).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu/conv_depthwise.h"
#include "tests/kernel_test_util.h"

namespace gb::kernels {
namespace {

using namespace test;  // NOLINT: the shared kernel-test helpers (tests/kernel_test_util.h)

Conv2dShape dw_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t R, int64_t S, int64_t sh,
                     int64_t sw, int64_t ph, int64_t pw) {
  Conv2dShape s;
  s.N = N, s.C = C, s.H = H, s.W = W, s.K = C, s.R = R, s.S = S;
  s.stride_h = sh, s.stride_w = sw, s.pad_h = ph, s.pad_w = pw, s.groups = C;
  return s;
}

std::string describe(const Conv2dShape& s) {
  std::ostringstream os;
  os << "N" << s.N << " C" << s.C << " " << s.H << "x" << s.W << " " << s.R << "x" << s.S
     << " stride " << s.stride_h << "," << s.stride_w << " pad " << s.pad_h << "," << s.pad_w;
  return os.str();
}

const std::vector<Conv2dShape>& cases() {
  static const std::vector<Conv2dShape> c = {
      dw_shape(3, 17, 7, 9, 3, 3, 1, 1, 1, 1),   // 3x3 s1 p1, odd 7x9, C = 17, batch 3
      dw_shape(2, 5, 7, 9, 3, 3, 2, 2, 1, 1),    // 3x3 s2 p1 on odd sizes
      dw_shape(2, 4, 11, 10, 5, 5, 2, 2, 2, 2),  // 5x5 s2 p2
      dw_shape(1, 1, 9, 7, 3, 3, 1, 1, 1, 1),    // C = 1, batch 1
      dw_shape(2, 3, 12, 12, 5, 5, 1, 1, 2, 2),  // 5x5 s1 p2
      dw_shape(2, 6, 8, 8, 3, 3, 2, 2, 0, 0),    // s2 p0, even map
      dw_shape(1, 3, 9, 11, 7, 7, 1, 1, 3, 3),   // 7x7: the tap loop, not unrolled
      dw_shape(2, 4, 6, 7, 1, 1, 1, 1, 0, 0),    // 1x1
      dw_shape(2, 3, 6, 7, 1, 1, 2, 2, 0, 0),    // 1x1 stride 2 (skips pixels)
      dw_shape(2, 3, 10, 13, 5, 3, 1, 2, 2, 1),  // 5x3, different stride per axis
      dw_shape(2, 2, 11, 10, 3, 3, 3, 3, 1, 1),  // stride 3 (three column phases)
      dw_shape(2, 3, 5, 6, 3, 3, 2, 2, 3, 3),    // padding beyond the kernel's reach
      dw_shape(1, 2, 4, 3, 5, 5, 1, 1, 2, 2),    // kernel larger than the map
      dw_shape(2, 3, 1, 37, 1, 3, 1, 1, 0, 1),   // one row
      dw_shape(2, 3, 9, 1, 3, 1, 1, 1, 1, 0),    // one column
      dw_shape(2, 3, 6, 70, 3, 3, 1, 1, 1, 1),   // Q = 70: 32-wide, 8-wide and tail blocks
      dw_shape(1, 2, 5, 64, 3, 3, 1, 1, 1, 1),   // Q = 64: whole blocks only
      dw_shape(2, 3, 9, 75, 3, 3, 2, 2, 1, 1),   // stride 2, wide: vector interleave + tail
      dw_shape(2, 3, 10, 67, 5, 5, 2, 2, 2, 2),  // 5x5 stride 2, wide
      dw_shape(5, 9, 17, 15, 3, 3, 1, 1, 1, 1),  // more planes than threads
      dw_shape(3, 2, 8, 8, 2, 2, 2, 2, 1, 0),    // even kernel, asymmetric padding
  };
  return c;
}

int64_t x_size(const Conv2dShape& s) { return s.N * s.C * s.H * s.W; }
int64_t w_size(const Conv2dShape& s) { return s.C * s.R * s.S; }
int64_t y_size(const Conv2dShape& s) { return s.N * s.C * s.P() * s.Q(); }

TEST(ConvDepthwise, AppliesToGroupsEqualChannelsAndIsDispatched) {
  EXPECT_TRUE(cpu::conv2d_depthwise_applicable(dw_shape(1, 8, 5, 5, 3, 3, 1, 1, 1, 1)));
  EXPECT_TRUE(cpu::conv2d_depthwise_applicable(dw_shape(1, 1, 5, 5, 3, 3, 1, 1, 1, 1)));
  Conv2dShape multiplier2 = dw_shape(1, 8, 5, 5, 3, 3, 1, 1, 1, 1);
  multiplier2.K = 16;  // channel multiplier 2: grouped, not depthwise
  EXPECT_FALSE(cpu::conv2d_depthwise_applicable(multiplier2));
  Conv2dShape grouped = dw_shape(1, 8, 5, 5, 3, 3, 1, 1, 1, 1);
  grouped.groups = 4;
  EXPECT_FALSE(cpu::conv2d_depthwise_applicable(grouped));
  const Conv2dShape s = dw_shape(2, 8, 9, 9, 3, 3, 1, 1, 1, 1);
  EXPECT_EQ(std::string(cpu::conv2d_kernel_name(s)), "depthwise");
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::Im2colGemm);  // the old path, for comparisons
  EXPECT_EQ(std::string(cpu::conv2d_kernel_name(s)), "im2col+gemm");
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::PaddedFlat);
  EXPECT_EQ(std::string(cpu::conv2d_kernel_name(s)), "depthwise");
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::Auto);
}

// All three passes of one shape through cpu::conv2d_* (the dispatch) against ref::.
void check_against_reference(const Conv2dShape& s, uint32_t seed) {
  SCOPED_TRACE(describe(s));
  const Vec x = random_vec(x_size(s), seed), w = random_vec(w_size(s), seed + 1);
  const Vec b = random_vec(s.C, seed + 2), dy = random_vec(y_size(s), seed + 3);
  const Vec ax = abs_vec(x), aw = abs_vec(w), ab = abs_vec(b), ady = abs_vec(dy);
  for (bool with_bias : {true, false}) {
    Vec want(y_size(s)), got(y_size(s), std::nanf("")), mag(y_size(s));
    ref::conv2d_forward(s, x.data(), w.data(), with_bias ? b.data() : nullptr, want.data());
    cpu::conv2d_forward(s, x.data(), w.data(), with_bias ? b.data() : nullptr, got.data());
    ref::conv2d_forward(s, ax.data(), aw.data(), with_bias ? ab.data() : nullptr, mag.data());
    EXPECT_TRUE(all_close(got, want, mag)) << "forward, bias " << with_bias;
  }
  Vec dx_want(x_size(s)), dx(x_size(s), std::nanf("")), dx_mag(x_size(s));
  ref::conv2d_backward_input(s, dy.data(), w.data(), dx_want.data());
  cpu::conv2d_backward_input(s, dy.data(), w.data(), dx.data());
  ref::conv2d_backward_input(s, ady.data(), aw.data(), dx_mag.data());
  EXPECT_TRUE(all_close(dx, dx_want, dx_mag)) << "backward-input";
  Vec dw_want(w_size(s)), dw(w_size(s), std::nanf("")), dw_mag(w_size(s));
  Vec db_want(s.C), db(s.C, std::nanf("")), db_mag(s.C);
  ref::conv2d_backward_weight(s, x.data(), dy.data(), dw_want.data(), db_want.data());
  cpu::conv2d_backward_weight(s, x.data(), dy.data(), dw.data(), db.data());
  ref::conv2d_backward_weight(s, ax.data(), ady.data(), dw_mag.data(), db_mag.data());
  EXPECT_TRUE(all_close(dw, dw_want, dw_mag)) << "backward-weight dw";
  EXPECT_TRUE(all_close(db, db_want, db_mag)) << "backward-weight db";
  Vec dw2(w_size(s), std::nanf(""));
  cpu::conv2d_backward_weight(s, x.data(), dy.data(), dw2.data(), nullptr);  // db skipped
  EXPECT_TRUE(bit_equal(dw, dw2));
}

TEST(ConvDepthwise, AllPassesMatchReference) {
  uint32_t seed = 10;
  for (const Conv2dShape& s : cases()) check_against_reference(s, seed += 4);
}

// MobileNetV2-sized planes: 112x112 (long rows, many weight-gradient flushes) and 14x14.
TEST(ConvDepthwise, MobileNetPlanesMatchReference) {
  check_against_reference(dw_shape(2, 3, 112, 112, 3, 3, 1, 1, 1, 1), 500);
  check_against_reference(dw_shape(2, 3, 112, 112, 3, 3, 2, 2, 1, 1), 510);
  check_against_reference(dw_shape(3, 16, 14, 14, 5, 5, 1, 1, 2, 2), 520);
}

TEST(ConvDepthwise, EpilogueAppliesScaleShiftResidualAndRelu) {
  uint32_t seed = 700;
  for (const Conv2dShape& s :
       {dw_shape(2, 5, 9, 37, 3, 3, 1, 1, 1, 1), dw_shape(3, 4, 11, 10, 5, 5, 2, 2, 2, 2)}) {
    SCOPED_TRACE(describe(s));
    const Vec x = random_vec(x_size(s), seed++), w = random_vec(w_size(s), seed++);
    const Vec scale = random_vec(s.C, seed++, 0.5f, 2.0f), shift = random_vec(s.C, seed++);
    const Vec residual = random_vec(y_size(s), seed++);
    const int64_t plane = s.P() * s.Q();
    Vec conv(y_size(s)), mag(y_size(s));
    ref::conv2d_forward(s, x.data(), w.data(), nullptr, conv.data());
    const Vec ax = abs_vec(x), aw = abs_vec(w);
    ref::conv2d_forward(s, ax.data(), aw.data(), nullptr, mag.data());
    for (bool with_residual : {false, true}) {
      for (bool relu : {false, true}) {
        ConvEpilogue ep;
        ep.scale = scale.data();
        ep.shift = shift.data();
        ep.residual = with_residual ? residual.data() : nullptr;
        ep.relu = relu;
        Vec got(y_size(s), std::nanf("")), want(y_size(s)), m(y_size(s));
        cpu::conv2d_forward_fused(s, x.data(), w.data(), ep, got.data());
        for (int64_t i = 0; i < y_size(s); ++i) {
          const int64_t c = (i / plane) % s.C;
          const float v = conv[i] * scale[c] + shift[c] + (with_residual ? residual[i] : 0.0f);
          want[i] = relu ? std::max(v, 0.0f) : v;
          m[i] = mag[i] * scale[c] + 2.0f;
        }
        EXPECT_TRUE(all_close(got, want, m)) << "residual " << with_residual << " relu " << relu;
      }
    }
  }
}

TEST(ConvDepthwise, BitIdenticalForAnyThreadCountAndInsideParallelRegions) {
  // Large enough to run threaded (threads_for); C = 3 splits the batch into image blocks for the
  // weight gradient, C = 70 does not.
  for (const Conv2dShape& s :
       {dw_shape(11, 3, 33, 29, 3, 3, 1, 1, 1, 1), dw_shape(3, 70, 17, 15, 5, 5, 2, 2, 2, 2)}) {
    SCOPED_TRACE(describe(s));
    const Vec x = random_vec(x_size(s), 1), w = random_vec(w_size(s), 2);
    const Vec b = random_vec(s.C, 3), dy = random_vec(y_size(s), 4);
    struct Out {
      Vec y, dx, dw, db;
    };
    auto run = [&] {
      Out o{Vec(y_size(s)), Vec(x_size(s)), Vec(w_size(s)), Vec(s.C)};
      cpu::conv2d_forward(s, x.data(), w.data(), b.data(), o.y.data());
      cpu::conv2d_backward_input(s, dy.data(), w.data(), o.dx.data());
      cpu::conv2d_backward_weight(s, x.data(), dy.data(), o.dw.data(), o.db.data());
      return o;
    };
    Out one;
    with_threads(1, [&] { one = run(); });
    for (int threads : {2, 3}) {
      Out o;
      with_threads(threads, [&] { o = run(); });
      EXPECT_TRUE(bit_equal(o.y, one.y)) << threads << " threads: forward";
      EXPECT_TRUE(bit_equal(o.dx, one.dx)) << threads << " threads: backward-input";
      EXPECT_TRUE(bit_equal(o.dw, one.dw)) << threads << " threads: dw";
      EXPECT_TRUE(bit_equal(o.db, one.db)) << threads << " threads: db";
    }
    std::vector<Out> inner(2);
#pragma omp parallel for num_threads(2)
    for (int t = 0; t < 2; ++t) inner[static_cast<size_t>(t)] = run();
    for (const Out& o : inner) {
      EXPECT_TRUE(bit_equal(o.y, one.y) && bit_equal(o.dx, one.dx) && bit_equal(o.dw, one.dw) &&
                  bit_equal(o.db, one.db))
          << "inside a parallel region";
    }
  }
}

}  // namespace
}  // namespace gb::kernels
