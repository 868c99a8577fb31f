// Kernel tests of the ops and options added for model import: pooling's ceil_mode and
// count_include_pad (output sizes and divisors against PyTorch's numbers by hand; the fast CPU
// kernels bit for bit against ref:: over a sweep of maps, windows and both options).
// Shape letters: N batch, C channels, H/W input, R/S window, P/Q output.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/pool.h"
#include "kernels/shapes.h"

namespace gb::kernels {
namespace {

using Vec = std::vector<float>;

Vec random_vec(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Vec v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

bool bit_equal(const Vec& a, const Vec& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

Vec iota(int64_t n) {
  Vec v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Pooling options

Pool2dShape pool(int64_t H, int64_t W, int64_t R, int64_t S, int64_t sh, int64_t sw, int64_t ph,
                 int64_t pw, bool ceil, bool include_pad) {
  Pool2dShape s;
  s.N = 1, s.C = 1, s.H = H, s.W = W, s.R = R, s.S = S;
  s.stride_h = sh, s.stride_w = sw, s.pad_h = ph, s.pad_w = pw;
  s.ceil_mode = ceil, s.count_include_pad = include_pad;
  return s;
}

TEST(PoolOptions, OutputSizesFollowPyTorch) {
  // (in, k, stride, pad) -> floor and ceil output sizes, as torch.nn.functional.max_pool2d.
  struct Size {
    int64_t in, k, stride, pad, floor_out, ceil_out;
  };
  const Size sizes[] = {{8, 3, 2, 0, 3, 4},  {8, 3, 2, 1, 4, 5}, {7, 3, 2, 0, 3, 3},
                        {10, 3, 2, 1, 5, 6}, {5, 2, 2, 1, 3, 3},  // the extra window dropped
                        {4, 3, 2, 0, 1, 2},  {9, 3, 3, 1, 3, 4}, {7, 2, 2, 0, 3, 4},
                        {1, 1, 1, 0, 1, 1},  {6, 3, 3, 0, 2, 2}};
  for (const Size& z : sizes) {
    SCOPED_TRACE("in " + std::to_string(z.in) + " k " + std::to_string(z.k) + " s " +
                 std::to_string(z.stride) + " p " + std::to_string(z.pad));
    EXPECT_EQ(Pool2dShape::pool_out_size(z.in, z.k, z.stride, z.pad, false), z.floor_out);
    EXPECT_EQ(Pool2dShape::pool_out_size(z.in, z.k, z.stride, z.pad, true), z.ceil_out);
  }
  const Pool2dShape s = pool(8, 7, 3, 2, 2, 2, 1, 0, true, true);
  EXPECT_EQ(s.P(), 5);
  EXPECT_EQ(s.Q(), 4);
}

TEST(PoolOptions, ReferenceValuesByHand) {
  const Vec x = iota(16);  // 4x4 plane, x(i, j) = 4i + j
  Vec y(9);
  std::vector<int32_t> arg(9);
  // k3 s2 p0 ceil: the second window of each row/column holds 2 rows/columns.
  ref::maxpool2d_forward(pool(4, 4, 3, 3, 2, 2, 0, 0, true, true), x.data(), y.data(), arg.data());
  EXPECT_EQ(Vec(y.begin(), y.begin() + 4), (Vec{10, 11, 14, 15}));
  EXPECT_EQ(std::vector<int32_t>(arg.begin(), arg.begin() + 4),
            (std::vector<int32_t>{10, 11, 14, 15}));
  // Average, same windows: without padding both divisor rules count the clipped window.
  for (bool include_pad : {true, false}) {
    ref::avgpool2d_forward(pool(4, 4, 3, 3, 2, 2, 0, 0, true, include_pad), x.data(), y.data());
    EXPECT_EQ(Vec(y.begin(), y.begin() + 4), (Vec{5.0f, 6.5f, 11.0f, 12.5f}));
  }
  // k3 s2 p1, count_include_pad false: divisors 4, 6, 6, 9 (PyTorch's numbers).
  ref::avgpool2d_forward(pool(4, 4, 3, 3, 2, 2, 1, 1, false, false), x.data(), y.data());
  EXPECT_EQ(Vec(y.begin(), y.begin() + 4), (Vec{2.5f, 4.0f, 8.5f, 10.0f}));
  // k3 s2 p1 ceil, count_include_pad: 3x3 output; the last window starts at row 3 and counts one
  // padding row (row 4) but not row 5, beyond the padding: x(3,3) / (2*2).
  ref::avgpool2d_forward(pool(4, 4, 3, 3, 2, 2, 1, 1, true, true), x.data(), y.data());
  EXPECT_FLOAT_EQ(y[8], 15.0f / 4.0f);
  EXPECT_FLOAT_EQ(y[0], 10.0f / 9.0f);
  ref::avgpool2d_forward(pool(4, 4, 3, 3, 2, 2, 1, 1, true, false), x.data(), y.data());
  EXPECT_FLOAT_EQ(y[8], 15.0f);
  EXPECT_FLOAT_EQ(y[0], 2.5f);
}

std::string describe(const Pool2dShape& s) {
  std::ostringstream os;
  os << "N=" << s.N << " C=" << s.C << " " << s.H << "x" << s.W << " window " << s.R << "x" << s.S
     << " stride " << s.stride_h << "," << s.stride_w << " pad " << s.pad_h << "," << s.pad_w
     << (s.ceil_mode ? " ceil" : "") << (s.count_include_pad ? "" : " exclude-pad");
  return os.str();
}

// Maps wide enough for the fast kernels' 8-wide register path (strides 1, 2 and 3) with windows
// that overhang on the right under ceil_mode, each with both options.
std::vector<Pool2dShape> option_sweep() {
  const int64_t maps[][2] = {{7, 5}, {8, 8}, {33, 18}, {18, 34}, {9, 27}, {2, 3}};
  // R, S, stride_h, stride_w, pad_h, pad_w
  const int64_t windows[][6] = {{2, 2, 2, 2, 0, 0}, {3, 3, 2, 2, 1, 1}, {3, 3, 2, 2, 0, 0},
                                {3, 2, 3, 1, 1, 1}, {2, 3, 1, 3, 0, 1}, {3, 3, 3, 3, 1, 1},
                                {1, 1, 2, 2, 0, 0}};
  std::vector<Pool2dShape> cases;
  for (const auto& m : maps) {
    for (const auto& w : windows) {
      for (int mode = 0; mode < 4; ++mode) {
        Pool2dShape s = pool(m[0], m[1], w[0], w[1], w[2], w[3], w[4], w[5], mode & 1, mode & 2);
        s.N = 2, s.C = 3;
        if (s.H + 2 * s.pad_h < s.R || s.W + 2 * s.pad_w < s.S) continue;
        cases.push_back(s);
      }
    }
  }
  return cases;
}

TEST(PoolOptions, FastEqualsReferenceBitForBit) {
  uint32_t seed = 50;
  for (const Pool2dShape& s : option_sweep()) {
    SCOPED_TRACE(describe(s));
    const int64_t xn = s.N * s.C * s.H * s.W, yn = s.N * s.C * s.P() * s.Q();
    Vec x = random_vec(xn, seed++);
    for (float& v : x) v = std::round(v * 4.0f) / 4.0f;  // ties: the first maximum must win
    const Vec dy = random_vec(yn, seed++);
    Vec y_w(yn), y_g(yn, 7.0f), dx_w(xn), dx_g(xn, 7.0f);
    std::vector<int32_t> a_w(yn), a_g(yn, 7);
    ref::maxpool2d_forward(s, x.data(), y_w.data(), a_w.data());
    cpu::maxpool2d_forward(s, x.data(), y_g.data(), a_g.data());
    EXPECT_TRUE(bit_equal(y_g, y_w)) << "max y";
    EXPECT_EQ(a_g, a_w) << "argmax";
    for (int32_t a : a_w) ASSERT_GE(a, 0) << "every window holds an input pixel";
    ref::maxpool2d_backward(s, dy.data(), a_w.data(), dx_w.data());
    cpu::maxpool2d_backward(s, dy.data(), a_w.data(), dx_g.data());
    EXPECT_TRUE(bit_equal(dx_g, dx_w)) << "max dx";
    ref::avgpool2d_forward(s, x.data(), y_w.data());
    cpu::avgpool2d_forward(s, x.data(), y_g.data());
    EXPECT_TRUE(bit_equal(y_g, y_w)) << "avg y";
    ref::avgpool2d_backward(s, dy.data(), dx_w.data());
    cpu::avgpool2d_backward(s, dy.data(), dx_g.data());
    EXPECT_TRUE(bit_equal(dx_g, dx_w)) << "avg dx";
  }
}

// <avgpool(x), dy> = <x, avgpool_backward(dy)> with overhanging windows and both divisors.
TEST(PoolOptions, ReferenceAvgBackwardIsTheAdjoint) {
  uint32_t seed = 900;
  for (const Pool2dShape& s : option_sweep()) {
    SCOPED_TRACE(describe(s));
    const int64_t xn = s.N * s.C * s.H * s.W, yn = s.N * s.C * s.P() * s.Q();
    const Vec x = random_vec(xn, seed++), dy = random_vec(yn, seed++);
    Vec y(yn), dx(xn);
    ref::avgpool2d_forward(s, x.data(), y.data());
    ref::avgpool2d_backward(s, dy.data(), dx.data());
    double a = 0.0, b = 0.0;
    for (int64_t i = 0; i < yn; ++i) a += static_cast<double>(y[i]) * dy[i];
    for (int64_t i = 0; i < xn; ++i) b += static_cast<double>(x[i]) * dx[i];
    EXPECT_NEAR(a, b, 1e-4);
  }
}

}  // namespace
}  // namespace gb::kernels
