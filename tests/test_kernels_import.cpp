// Kernel tests of the ops and options added for model import: pooling's ceil_mode and
// count_include_pad (output sizes and divisors against PyTorch's numbers by hand; the fast CPU
// kernels bit for bit against ref:: over a sweep of maps, windows and both options); the
// pointwise activations (ref:: against PyTorch's values and rules at the kinks, the fast CPU
// kernels bit for bit against ref:: on special values and sizes that end mid-vector and cross
// the threading threshold, fast sigmoid within 4 ulp, fast GELU within a few ulp); prelu's
// reference backward (aliasing, skipped outputs) and pad2d's reference passes as adjoints.
// Shape letters: N batch, C channels, H/W input, R/S window, P/Q output; n elements.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/activation.h"
#include "kernels/pad.h"
#include "kernels/pool.h"
#include "kernels/prelu.h"
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

// ---------------------------------------------------------------------------------------------
// Pointwise activations

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

template <class Fn>
Vec apply(int64_t n, const Vec& x, Fn fn) {
  Vec y(static_cast<size_t>(n), 7.0f);
  fn(n, x.data(), y.data());
  return y;
}

TEST(PointwiseRef, ValuesAndRulesAtTheKinks) {
  const Vec x = {-7.0f, -3.0f, -1.5f, 0.0f, 1.0f, 3.0f, 6.0f, 7.0f, kNaN};
  const int64_t n = static_cast<int64_t>(x.size());
  const Vec ones(x.size(), 1.0f);
  Vec y = apply(n, x, [](int64_t k, const float* in, float* out) {
    ref::clamp_forward(k, in, 0.0f, 6.0f, out);
  });
  EXPECT_EQ(Vec(y.begin(), y.end() - 1), (Vec{0, 0, 0, 0, 1, 3, 6, 6}));
  EXPECT_TRUE(std::isnan(y.back()));
  Vec dx(x.size());
  ref::clamp_backward(n, x.data(), 0.0f, 6.0f, ones.data(), dx.data());
  EXPECT_EQ(dx, (Vec{0, 0, 0, 1, 1, 1, 1, 0, 0}));  // torch: 1 at both bounds, 0 for NaN
  ref::leaky_relu_backward(n, x.data(), 0.1f, ones.data(), dx.data());
  EXPECT_FLOAT_EQ(dx[3], 0.1f);  // torch: the negative slope at 0
  y = apply(n, x,
            [](int64_t k, const float* in, float* out) { ref::hardswish_forward(k, in, out); });
  EXPECT_EQ(Vec(y.begin(), y.end() - 1), (Vec{0, 0, -0.375f, 0, 2.0f / 3, 3, 6, 7}));
  ref::hardswish_backward(n, x.data(), ones.data(), dx.data());
  // torch's hardswish_backward: 0 below -3, x / 3 + 0.5 on [-3, 3], 1 above.
  EXPECT_EQ(Vec(dx.begin(), dx.end() - 1), (Vec{0, -0.5f, 0, 0.5f, 0.5f + 1.0f / 3, 1.5f, 1, 1}));
  y = apply(n, x, [](int64_t k, const float* in, float* out) {
    ref::hardsigmoid_forward(k, in, 0.2f, 0.5f, out);
  });
  EXPECT_EQ(Vec(y.begin(), y.end() - 1),
            (Vec{0, 0, std::fma(0.2f, -1.5f, 0.5f), 0.5f, std::fma(0.2f, 1.0f, 0.5f), 1, 1, 1}));
  ref::hardsigmoid_backward(n, x.data(), 1.0f / 6, 0.5f, ones.data(), dx.data());
  EXPECT_EQ(dx[1], 0.0f);  // torch's Hardsigmoid: 0 at -3 and 3 (open interval)
  EXPECT_EQ(dx[5], 0.0f);
  EXPECT_FLOAT_EQ(dx[4], 1.0f / 6);
  const Vec s = {0.0f, kInf, -kInf, 2.0f, kNaN};
  y = apply(5, s, [](int64_t k, const float* in, float* out) { ref::sigmoid_forward(k, in, out); });
  EXPECT_EQ(Vec(y.begin(), y.begin() + 3), (Vec{0.5f, 1.0f, 0.0f}));
  EXPECT_FLOAT_EQ(y[3], 0.88079708f);
  EXPECT_TRUE(std::isnan(y[4]));
  y = apply(5, s, [](int64_t k, const float* in, float* out) { ref::tanh_forward(k, in, out); });
  EXPECT_EQ(Vec(y.begin(), y.begin() + 3), (Vec{0.0f, 1.0f, -1.0f}));
  EXPECT_FLOAT_EQ(y[3], 0.96402758f);
}

// Random values over several binades with the special values spread through them.
Vec awkward_values(int64_t n, uint32_t seed) {
  Vec v = random_vec(n, seed, -8.0f, 8.0f);
  const float specials[] = {kNaN,   kInf,   -kInf, 0.0f,  -0.0f, 1e-40f, -1e-40f,
                            1e30f,  -1e30f, -3.0f, 3.0f,  6.0f,  -2.5f,  2.5f,
                            -87.5f, -90.0f, 88.7f, -1.5f, 2.0f,  -1e-3f, 1e-3f};
  size_t k = 0;
  for (size_t i = 0; i < v.size(); i += 5) v[i] = specials[k++ % std::size(specials)];
  for (size_t i = 3; i < v.size(); i += 7) v[i] *= 1e-3f;
  return v;
}

// ulp distance of two finite floats of the same sign (or both zero).
int64_t ulps(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  return std::abs(static_cast<int64_t>(ia) - ib);
}

constexpr int64_t kGeluUlps = 8;

struct Sizes {
  int64_t n;
  int threads;
};
// Odd sizes, one vector, tails, and sizes past the threading threshold split at odd offsets.
const Sizes kSizes[] = {{1, 1},  {7, 1},     {8, 1},     {9, 1},
                        {33, 2}, {40001, 2}, {40001, 3}, {65537, 2}};

TEST(Pointwise, FastEqualsReferenceBitForBit) {
  using P2 = void (*)(int64_t, const float*, float, float, float*);
  using P2B = void (*)(int64_t, const float*, float, float, const float*, float*);
  struct Two {
    const char* name;
    P2 ref_f, cpu_f;
    P2B ref_b, cpu_b;
    float a, b;
  };
  const Two two[] = {
      {"clamp", ref::clamp_forward, cpu::clamp_forward, ref::clamp_backward, cpu::clamp_backward,
       -1.5f, 2.0f},
      {"relu6", ref::clamp_forward, cpu::clamp_forward, ref::clamp_backward, cpu::clamp_backward,
       0.0f, 6.0f},
      {"clamp lo > hi", ref::clamp_forward, cpu::clamp_forward, ref::clamp_backward,
       cpu::clamp_backward, 1.0f, -1.0f},
      {"hardsigmoid", ref::hardsigmoid_forward, cpu::hardsigmoid_forward, ref::hardsigmoid_backward,
       cpu::hardsigmoid_backward, 0.2f, 0.5f},
      {"hardsigmoid torch", ref::hardsigmoid_forward, cpu::hardsigmoid_forward,
       ref::hardsigmoid_backward, cpu::hardsigmoid_backward, 1.0f / 6, 0.5f},
  };
  const int saved = omp_get_max_threads();
  uint32_t seed = 2000;
  for (const Sizes& z : kSizes) {
    omp_set_num_threads(z.threads);
    SCOPED_TRACE("n " + std::to_string(z.n) + " threads " + std::to_string(z.threads));
    const Vec x = awkward_values(z.n, seed++), dy = random_vec(z.n, seed++);
    const Vec y_sig = apply(z.n, x, ref::sigmoid_forward);
    const Vec y_tanh = apply(z.n, x, ref::tanh_forward);
    Vec w(x.size()), g(x.size(), 7.0f);
    for (const Two& t : two) {
      SCOPED_TRACE(t.name);
      t.ref_f(z.n, x.data(), t.a, t.b, w.data());
      t.cpu_f(z.n, x.data(), t.a, t.b, g.data());
      EXPECT_TRUE(bit_equal(g, w)) << "forward";
      t.ref_b(z.n, x.data(), t.a, t.b, dy.data(), w.data());
      t.cpu_b(z.n, x.data(), t.a, t.b, dy.data(), g.data());
      EXPECT_TRUE(bit_equal(g, w)) << "backward";
    }
    for (float alpha : {0.01f, -0.5f}) {
      ref::leaky_relu_forward(z.n, x.data(), alpha, w.data());
      cpu::leaky_relu_forward(z.n, x.data(), alpha, g.data());
      EXPECT_TRUE(bit_equal(g, w)) << "leaky_relu";
      ref::leaky_relu_backward(z.n, x.data(), alpha, dy.data(), w.data());
      cpu::leaky_relu_backward(z.n, x.data(), alpha, dy.data(), g.data());
      EXPECT_TRUE(bit_equal(g, w)) << "leaky_relu backward";
    }
    EXPECT_TRUE(
        bit_equal(apply(z.n, x, cpu::hardswish_forward), apply(z.n, x, ref::hardswish_forward)));
    ref::hardswish_backward(z.n, x.data(), dy.data(), w.data());
    cpu::hardswish_backward(z.n, x.data(), dy.data(), g.data());
    EXPECT_TRUE(bit_equal(g, w)) << "hardswish backward";
    ref::sigmoid_backward(z.n, y_sig.data(), dy.data(), w.data());
    cpu::sigmoid_backward(z.n, y_sig.data(), dy.data(), g.data());
    EXPECT_TRUE(bit_equal(g, w)) << "sigmoid backward";
    ref::tanh_backward(z.n, y_tanh.data(), dy.data(), w.data());
    cpu::tanh_backward(z.n, y_tanh.data(), dy.data(), g.data());
    EXPECT_TRUE(bit_equal(g, w)) << "tanh backward";
  }
  omp_set_num_threads(saved);
}

// The fast sigmoid: within 4 ulp of ref's double formula; exactly 0 where ref's value is below
// 2e-38 (x < -87); NaN, +-inf and the saturated ends exact; independent of the thread count.
TEST(Pointwise, FastSigmoidWithinFourUlp) {
  const int saved = omp_get_max_threads();
  uint32_t seed = 3000;
  for (const Sizes& z : kSizes) {
    omp_set_num_threads(z.threads);
    Vec x = awkward_values(z.n, seed++);
    for (size_t i = 1; i < x.size(); i += 5) x[i] *= 12.0f;  // into the saturated ends
    const Vec want = apply(z.n, x, ref::sigmoid_forward), got = apply(z.n, x, cpu::sigmoid_forward);
    int64_t worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << x[i];
        continue;
      }
      if (x[i] < -87.0f) {
        EXPECT_EQ(got[i], 0.0f) << x[i];
        EXPECT_LT(want[i], 2e-38f) << x[i];
        continue;
      }
      ASSERT_GE(got[i], 0.0f) << x[i];
      worst = std::max(worst, ulps(got[i], want[i]));
      EXPECT_LE(ulps(got[i], want[i]), 4)
          << "x " << x[i] << " got " << got[i] << " want " << want[i];
    }
    RecordProperty("worst_ulp_n" + std::to_string(z.n), static_cast<int>(worst));
    omp_set_num_threads(1);
    EXPECT_TRUE(bit_equal(apply(z.n, x, cpu::sigmoid_forward), got)) << "thread count";
    omp_set_num_threads(z.threads);
  }
  omp_set_num_threads(saved);
}

// The fast GELU (cpu/gelu.cpp) on a dense sweep of [-12, 12] against the exact values in double,
// written with erfc (x * Phi(x) = x * erfc(-x / sqrt(2)) / 2): ref's 1 + erf(x / sqrt(2)) cancels
// in double below x of about -5 (relative error 1e-16 / Phi(x)) and is 0 below about -8.3, where
// the fast kernel keeps the tail. Forward and backward within kGeluUlps where the exact value is
// a normal float; the same NaN and infinities as ref; any thread count alike.
TEST(Pointwise, FastGeluWithinAFewUlp) {
  Vec x;
  for (int i = -240000; i <= 240000; ++i) x.push_back(static_cast<float>(i) * 5e-5f);
  const int64_t n = static_cast<int64_t>(x.size());
  const Vec dy(x.size(), 1.0f);
  Vec got_d(x.size());
  const Vec got = apply(n, x, cpu::gelu_forward);
  cpu::gelu_backward(n, x.data(), dy.data(), got_d.data());
  int64_t worst = 0, worst_d = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i], cdf = 0.5 * std::erfc(-v * M_SQRT1_2);
    const double pdf = std::exp(-0.5 * v * v) * 0.5 * M_2_SQRTPI * M_SQRT1_2;
    const float want = static_cast<float>(v * cdf);
    if (std::fabs(want) < std::numeric_limits<float>::min()) {
      EXPECT_LT(std::fabs(got[i]), 1e-37f) << x[i];
    } else {
      ASSERT_EQ(std::signbit(got[i]), std::signbit(want)) << x[i];
      worst = std::max(worst, ulps(got[i], want));
    }
    // The backward sums Phi and x * phi, which cancel near x = -0.75: its error in ulp of the
    // terms' magnitude.
    const double mag = cdf + std::fabs(v * pdf), want_d = cdf + v * pdf;
    if (mag < std::numeric_limits<float>::min()) continue;
    const double err_ulps = std::fabs(got_d[i] - want_d) / (mag * 0x1p-24);
    worst_d = std::max(worst_d, static_cast<int64_t>(std::ceil(err_ulps)));
  }
  EXPECT_LE(worst, kGeluUlps);
  EXPECT_LE(worst_d, kGeluUlps);
  RecordProperty("worst_ulp_forward", static_cast<int>(worst));
  RecordProperty("worst_ulp_backward", static_cast<int>(worst_d));
  std::printf("gelu: worst %lld ulp forward, %lld backward\n", static_cast<long long>(worst),
              static_cast<long long>(worst_d));
  const float inf = std::numeric_limits<float>::infinity();
  const Vec special = {inf, -inf, std::nanf("")};
  const Vec ys = apply(3, special, cpu::gelu_forward), yr = apply(3, special, ref::gelu_forward);
  EXPECT_EQ(ys[0], inf);
  for (int i = 1; i < 3; ++i) EXPECT_TRUE(std::isnan(ys[i]) && std::isnan(yr[i])) << i;
  const int saved = omp_get_max_threads();
  for (const Sizes& z : kSizes) {
    omp_set_num_threads(z.threads);
    const Vec v = awkward_values(z.n, 4000 + static_cast<uint32_t>(z.n));
    const Vec a = apply(z.n, v, cpu::gelu_forward);
    omp_set_num_threads(1);
    EXPECT_TRUE(bit_equal(apply(z.n, v, cpu::gelu_forward), a)) << "thread count";
  }
  omp_set_num_threads(saved);
}

// ---------------------------------------------------------------------------------------------
// prelu and pad2d references

TEST(PreluRef, BackwardMayAliasAndSkipOutputs) {
  const int64_t N = 3, C = 4, L = 5, n = N * C * L;
  Vec x = random_vec(n, 4000);
  x[0] = 0.0f;  // the slope's side
  const Vec slope = random_vec(C, 4001), dy = random_vec(n, 4002);
  Vec dx(n), ds(C);
  ref::prelu_backward(N, C, L, x.data(), slope.data(), dy.data(), dx.data(), ds.data());
  for (int64_t c = 0; c < C; ++c) {
    double want = 0.0;
    for (int64_t b = 0; b < N; ++b)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t i = (b * C + c) * L + l;
        if (x[i] <= 0.0f) want += static_cast<double>(x[i]) * dy[i];
        EXPECT_EQ(dx[i], x[i] > 0.0f ? dy[i] : slope[c] * dy[i]);
      }
    EXPECT_FLOAT_EQ(ds[c], static_cast<float>(want));
  }
  Vec inplace = dy, ds2(C), dx2(n);
  ref::prelu_backward(N, C, L, x.data(), slope.data(), inplace.data(), inplace.data(), ds2.data());
  EXPECT_TRUE(bit_equal(inplace, dx));
  EXPECT_TRUE(bit_equal(ds2, ds));
  ref::prelu_backward(N, C, L, x.data(), slope.data(), dy.data(), dx2.data(), nullptr);
  EXPECT_TRUE(bit_equal(dx2, dx));
  ref::prelu_backward(N, C, L, x.data(), slope.data(), dy.data(), nullptr, ds2.data());
  EXPECT_TRUE(bit_equal(ds2, ds));
}

TEST(PadRef, BackwardIsTheAdjointAndTheBorderHoldsTheValue) {
  Pad2dShape s;
  s.N = 2, s.C = 3, s.H = 4, s.W = 5, s.top = 1, s.left = 3, s.bottom = 2, s.right = 0;
  const int64_t xn = s.N * s.C * s.H * s.W, yn = s.N * s.C * s.P() * s.Q();
  const Vec x = random_vec(xn, 4100), dy = random_vec(yn, 4101);
  Vec y(yn), dx(xn);
  ref::pad2d_forward(s, x.data(), 0.0f, y.data());
  ref::pad2d_backward(s, dy.data(), dx.data());
  double a = 0.0, b = 0.0;
  for (int64_t i = 0; i < yn; ++i) a += static_cast<double>(y[i]) * dy[i];
  for (int64_t i = 0; i < xn; ++i) b += static_cast<double>(x[i]) * dx[i];
  EXPECT_NEAR(a, b, 1e-9);
  ref::pad2d_forward(s, x.data(), 2.5f, y.data());
  int64_t border = 0;
  for (float v : y) border += v == 2.5f;
  EXPECT_EQ(border, yn - xn);
}

}  // namespace
}  // namespace gb::kernels
