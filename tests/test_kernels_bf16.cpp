// The bf16 forward precision (kernels/precision.h): the per-thread setting and its scope, and the
// bf16 Winograd forward against the float64 reference under a rounding model written here.
// Shape letters: N batch, C/K channels in/out, H/W map size; a tile is 4x4 outputs read from a
// 6x6 input patch; xi a point of the 6x6 Winograd domain.
// The model: every Winograd-domain operand U = G g G^T and V = B^T d B is rounded once to bf16
// (unit roundoff u = 2^-8), so each product u*v carries a relative error of at most 2u + u^2,
// and the output transform A^T [.] A adds the errors with the absolute values of its
// coefficients. Per output: |y_bf16 - y| <= (2u + u^2) * (|A^T| (sum_c |U| (.) |V|) |A|) plus the
// float32 path's own error (3e-5 of sum |w| |x|, as in test_kernels.cpp). The bound is computed
// from the actual |U| and |V| of each tile in double.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/conv2d.h"
#include "kernels/cpu/conv_winograd.h"
#include "kernels/precision.h"

namespace gb::kernels {
namespace {

using test::abs_vec;
using test::bit_equal;
using test::random_vec;
using test::Vec;
using test::with_threads;

using Mat6 = std::array<std::array<double, 6>, 6>;

constexpr double kBT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                              {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
constexpr double kG[6][3] = {{0.25, 0, 0},
                             {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                             {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                             {1.0 / 24, 1.0 / 12, 1.0 / 6},
                             {1.0 / 24, -1.0 / 12, 1.0 / 6},
                             {0, 0, 1}};
constexpr double kAT[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
constexpr double kUnitRoundoff = 1.0 / 256;  // bf16: 8 significant bits
constexpr double kProductError = 2 * kUnitRoundoff + kUnitRoundoff * kUnitRoundoff;

Conv2dShape winograd_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K) {
  Conv2dShape s;
  s.N = N, s.C = C, s.H = H, s.W = W, s.K = K, s.R = 3, s.S = 3, s.pad_h = 1, s.pad_w = 1;
  return s;
}

struct ForceWinograd {
  ForceWinograd() { cpu::set_conv_algorithm(cpu::ConvAlgorithm::Winograd); }
  ~ForceWinograd() { cpu::set_conv_algorithm(cpu::ConvAlgorithm::Auto); }
  ForceWinograd(const ForceWinograd&) = delete;
  ForceWinograd& operator=(const ForceWinograd&) = delete;
};

// |U| for filter (k, c): |G g G^T|.
Mat6 abs_filter_transform(const Vec& w, int64_t C, int64_t k, int64_t c) {
  const float* g = w.data() + (k * C + c) * 9;
  double gg[6][3] = {};
  for (int i = 0; i < 6; ++i)
    for (int s = 0; s < 3; ++s)
      for (int r = 0; r < 3; ++r) gg[i][s] += kG[i][r] * g[r * 3 + s];
  Mat6 u{};
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) {
      double sum = 0;
      for (int s = 0; s < 3; ++s) sum += gg[i][s] * kG[j][s];
      u[i][j] = std::fabs(sum);
    }
  return u;
}

// |V| for image n, channel c, tile (ty, tx): |B^T d B| of the zero-padded 6x6 patch.
Mat6 abs_input_transform(const Conv2dShape& s, const Vec& x, int64_t n, int64_t c, int64_t ty,
                         int64_t tx) {
  double d[6][6] = {};
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) {
      const int64_t h = 4 * ty - 1 + i, ww = 4 * tx - 1 + j;
      if (h >= 0 && h < s.H && ww >= 0 && ww < s.W)
        d[i][j] = x[((n * s.C + c) * s.H + h) * s.W + ww];
    }
  double bd[6][6] = {};
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j)
      for (int r = 0; r < 6; ++r) bd[i][j] += kBT[i][r] * d[r][j];
  Mat6 v{};
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) {
      double sum = 0;
      for (int r = 0; r < 6; ++r) sum += bd[i][r] * kBT[j][r];
      v[i][j] = std::fabs(sum);
    }
  return v;
}

// The model's bound on |y_bf16 - y| for every output of s (x [N,C,H,W], w [K,C,3,3]).
Vec rounding_bound(const Conv2dShape& s, const Vec& x, const Vec& w) {
  const int64_t TH = (s.H + 3) / 4, TW = (s.W + 3) / 4;
  std::vector<Mat6> u(static_cast<size_t>(s.K * s.C));
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t c = 0; c < s.C; ++c) u[k * s.C + c] = abs_filter_transform(w, s.C, k, c);
  Vec bound(static_cast<size_t>(s.N * s.K * s.H * s.W));
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t ty = 0; ty < TH; ++ty)
      for (int64_t tx = 0; tx < TW; ++tx) {
        std::vector<Mat6> v(static_cast<size_t>(s.C));
        for (int64_t c = 0; c < s.C; ++c) v[c] = abs_input_transform(s, x, n, c, ty, tx);
        for (int64_t k = 0; k < s.K; ++k) {
          Mat6 m{};
          for (int64_t c = 0; c < s.C; ++c)
            for (int i = 0; i < 6; ++i)
              for (int j = 0; j < 6; ++j) m[i][j] += u[k * s.C + c][i][j] * v[c][i][j];
          for (int oi = 0; oi < 4; ++oi)
            for (int oj = 0; oj < 4; ++oj) {
              const int64_t h = 4 * ty + oi, ww = 4 * tx + oj;
              if (h >= s.H || ww >= s.W) continue;
              double sum = 0;
              for (int i = 0; i < 6; ++i)
                for (int j = 0; j < 6; ++j)
                  sum += std::fabs(kAT[oi][i]) * m[i][j] * std::fabs(kAT[oj][j]);
              bound[((n * s.K + k) * s.H + h) * s.W + ww] = static_cast<float>(kProductError * sum);
            }
        }
      }
  return bound;
}

TEST(ForwardPrecision, IsPerThreadAndScoped) {
  EXPECT_EQ(forward_precision(), ForwardPrecision::Fp32);
  EXPECT_STREQ(forward_precision_name(ForwardPrecision::Bf16), "bf16");
  if (!bf16_supported()) {
    try {
      set_forward_precision(ForwardPrecision::Bf16);
      FAIL() << "bf16 accepted on a CPU without AVX512-BF16";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("AVX512-BF16"), std::string::npos) << e.what();
    }
    EXPECT_EQ(forward_precision(), ForwardPrecision::Fp32);
    return;
  }
  {
    ForwardPrecisionScope scope(ForwardPrecision::Bf16);
    EXPECT_EQ(forward_precision(), ForwardPrecision::Bf16);
    ForwardPrecision other = ForwardPrecision::Bf16;
    std::thread([&other] { other = forward_precision(); }).join();
    EXPECT_EQ(other, ForwardPrecision::Fp32);  // another thread keeps its own setting
  }
  EXPECT_EQ(forward_precision(), ForwardPrecision::Fp32);
}

// Awkward shapes: partial tiles, channel counts off the 8/16 blocks, one image (tile rows split
// across threads), several image groups.
TEST(ConvWinogradBf16, ForwardIsWithinTheRoundingModelAndDeterministic) {
  if (!bf16_supported()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  ForceWinograd forced;
  uint32_t seed = 1700;
  for (const Conv2dShape& s : {winograd_shape(1, 8, 4, 4, 8), winograd_shape(3, 16, 7, 5, 24),
                               winograd_shape(2, 11, 9, 7, 13), winograd_shape(1, 16, 13, 10, 16),
                               winograd_shape(9, 64, 8, 8, 32), winograd_shape(4, 16, 32, 32, 16),
                               winograd_shape(2, 24, 6, 6, 40)}) {  // K = 40: an 8-column rest
    SCOPED_TRACE(::testing::Message()
                 << "N" << s.N << " C" << s.C << " " << s.H << "x" << s.W << " K" << s.K);
    ASSERT_TRUE(cpu::conv2d_winograd_applicable(s));
    const int64_t y_size = s.N * s.K * s.H * s.W;
    const Vec x = random_vec(s.N * s.C * s.H * s.W, seed++), w = random_vec(s.K * s.C * 9, seed++);
    const Vec b = random_vec(s.K, seed++);
    Vec want(y_size), mag(y_size), fp32(y_size), got(y_size), got_one_thread(y_size);
    ref::conv2d_forward(s, x.data(), w.data(), b.data(), want.data());
    const Vec ax = abs_vec(x), aw = abs_vec(w), ab = abs_vec(b);
    ref::conv2d_forward(s, ax.data(), aw.data(), ab.data(), mag.data());
    cpu::conv2d_forward(s, x.data(), w.data(), b.data(), fp32.data());
    {
      ForwardPrecisionScope bf16(ForwardPrecision::Bf16);
      cpu::conv2d_forward(s, x.data(), w.data(), b.data(), got.data());
      with_threads(
          1, [&] { cpu::conv2d_forward(s, x.data(), w.data(), b.data(), got_one_thread.data()); });
    }
    EXPECT_TRUE(bit_equal(got, got_one_thread)) << "thread count changed the bf16 result";
    const Vec bound = rounding_bound(s, x, w);
    double worst = 0, largest_change = 0;
    for (int64_t i = 0; i < y_size; ++i) {
      const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
      const double tol = bound[i] + 3e-5 * mag[i] + 1e-6;
      worst = std::max(worst, err / tol);
      largest_change = std::max(largest_change,
                                std::fabs(static_cast<double>(got[i]) - fp32[i]) / (mag[i] + 1e-6));
    }
    EXPECT_LE(worst, 1.0) << "error beyond the rounding model";
    // bf16 really ran: the result moved by more than the float32 path's own error.
    EXPECT_GT(largest_change, 1e-4);
  }
}

TEST(ConvWinogradBf16, BackwardPassesIgnoreThePrecision) {
  if (!bf16_supported()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  ForceWinograd forced;
  const Conv2dShape s = winograd_shape(2, 16, 9, 9, 24);
  const Vec dy = random_vec(s.N * s.K * s.H * s.W, 1800), w = random_vec(s.K * s.C * 9, 1801);
  const Vec x = random_vec(s.N * s.C * s.H * s.W, 1802);
  Vec dx32(s.N * s.C * s.H * s.W), dx(dx32.size()), dw32(w.size()), dw(w.size());
  cpu::conv2d_backward_input(s, dy.data(), w.data(), dx32.data());
  cpu::conv2d_backward_weight(s, x.data(), dy.data(), dw32.data(), nullptr);
  ForwardPrecisionScope bf16(ForwardPrecision::Bf16);
  cpu::conv2d_backward_input(s, dy.data(), w.data(), dx.data());
  cpu::conv2d_backward_weight(s, x.data(), dy.data(), dw.data(), nullptr);
  EXPECT_TRUE(bit_equal(dx, dx32));
  EXPECT_TRUE(bit_equal(dw, dw32));
}

}  // namespace
}  // namespace gb::kernels
