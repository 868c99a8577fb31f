// Tests for kernels/: the reference kernels against hand-computed values, adjoint identities and
// finite differences; every fast cpu:: kernel against its ref:: twin over awkward shapes; and the
// determinism promises (bit-identical results for a fixed thread count).
//
// Tolerance model (fast vs reference): element i passes when
//   |fast_i - ref_i| <= kAbsTol + kRelTol * mag_i,
// where mag_i is the magnitude the float rounding error scales with. For the (bi)linear ops
// (GEMM, conv, linear) mag_i is the same op applied to |inputs| (e.g. |alpha| (|op(A)| |op(B)|)_ij
// + |beta| |C_ij|), i.e. the sum of absolute terms, so cancellation cannot make the check
// vacuous or spuriously fail. For batchnorm mag is the largest |ref| in the tensor (dx, y) or the
// sum of absolute terms (dgamma, dbeta). Reference kernels accumulate in double, so the
// difference is the fast kernel's float error, about sqrt(depth) * 2^-24 * mag in practice.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/cpu/conv_direct.h"
#include "kernels/cpu/conv_winograd.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"
#include "kernels/pool.h"
#include "kernels/resize.h"
#include "kernels/shapes.h"
#include "kernels/softmax.h"
#include "tests/kernel_test_util.h"

namespace gb::kernels {
namespace {
using namespace test;  // NOLINT: the shared kernel-test helpers


// ---------------------------------------------------------------------------------------------
// GEMM

struct GemmCase {
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  int64_t pad;  // extra elements on every leading dimension
};

std::string describe(const GemmCase& c) {
  std::ostringstream os;
  os << "ta=" << c.ta << " tb=" << c.tb << " M=" << c.M << " N=" << c.N << " K=" << c.K
     << " alpha=" << c.alpha << " beta=" << c.beta << " pad=" << c.pad;
  return os.str();
}

using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                        const float*, int64_t, float, float*, int64_t);

// Checks cpu::sgemm and cpu::sgemm_parallel against one reference product.
::testing::AssertionResult check_gemm(const GemmCase& c, uint32_t seed) {
  const int64_t a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const int64_t b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const int64_t lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.N + c.pad;
  const Vec A = random_vec(a_rows * lda, seed), B = random_vec(b_rows * ldb, seed + 1);
  Vec C0 = random_vec(c.M * ldc, seed + 2);
  if (c.beta == 0.0f) std::fill(C0.begin(), C0.end(), std::nanf(""));  // must not be read
  Vec want = C0;
  ref::sgemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, want.data(),
             ldc);
  const Vec absA = abs_vec(A), absB = abs_vec(B);
  Vec absC = c.beta == 0.0f ? Vec(C0.size(), 0.0f) : abs_vec(C0);
  ref::sgemm(c.ta, c.tb, c.M, c.N, c.K, std::fabs(c.alpha), absA.data(), lda, absB.data(), ldb,
             std::fabs(c.beta), absC.data(), ldc);
  for (GemmFn fast : {GemmFn{cpu::sgemm}, GemmFn{cpu::sgemm_parallel}}) {
    const char* name = fast == cpu::sgemm ? "sgemm: " : "sgemm_parallel: ";
    Vec got = C0;
    fast(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, got.data(), ldc);
    // Only the M x N window of C is compared; the padding columns must be untouched.
    Vec g, w, m;
    for (int64_t i = 0; i < c.M; ++i) {
      for (int64_t j = 0; j < ldc; ++j) {
        const size_t at = static_cast<size_t>(i * ldc + j);
        if (j >= c.N) {
          if (std::memcmp(&got[at], &C0[at], sizeof(float)) != 0)
            return ::testing::AssertionFailure()
                   << name << "padding of C written at " << i << "," << j;
          continue;
        }
        g.push_back(got[at]);
        w.push_back(want[at]);
        m.push_back(absC[at]);
      }
    }
    ::testing::AssertionResult close = all_close(g, w, m);
    if (!close) return ::testing::AssertionFailure() << name << close.message();
  }
  return ::testing::AssertionSuccess();
}

// Runs fn under each GEMM micro-kernel this CPU supports (AVX2 always, AVX-512 where present),
// then restores the automatic choice.
template <typename Fn>
void for_each_gemm_isa(Fn fn) {
  for (cpu::GemmIsa isa : {cpu::GemmIsa::Avx2, cpu::GemmIsa::Avx512}) {
    if (!cpu::set_gemm_isa(isa)) continue;
    SCOPED_TRACE(cpu::gemm_isa_name(isa));
    fn();
  }
  cpu::set_gemm_isa(cpu::GemmIsa::Auto);
}

TEST(Gemm, IsaSelection) {
  EXPECT_TRUE(cpu::set_gemm_isa(cpu::GemmIsa::Avx2));
  EXPECT_EQ(cpu::gemm_isa(), cpu::GemmIsa::Avx2);
  const bool avx512 = cpu::gemm_isa_supported(cpu::GemmIsa::Avx512);
  EXPECT_EQ(cpu::set_gemm_isa(cpu::GemmIsa::Avx512), avx512);
  EXPECT_EQ(cpu::gemm_isa(), avx512 ? cpu::GemmIsa::Avx512 : cpu::GemmIsa::Avx2);
  EXPECT_TRUE(cpu::set_gemm_isa(cpu::GemmIsa::Auto));
  EXPECT_EQ(cpu::gemm_isa(), avx512 ? cpu::GemmIsa::Avx512 : cpu::GemmIsa::Avx2);
  RecordProperty("gemm_avx512", avx512 ? "tested" : "not supported by this CPU");
}

TEST(Gemm, OddSizesAllTransposesMatchReference) {
  const int64_t sizes[] = {1, 3, 7, 17, 33, 65, 130};
  const float alphas[] = {1.0f, 0.5f, -1.5f};
  const float betas[] = {0.0f, 1.0f, 0.25f};
  for_each_gemm_isa([&] {
    uint32_t seed = 1;
    int variant = 0;
    for (int t = 0; t < 4; ++t) {
      for (int64_t M : sizes) {
        for (int64_t N : sizes) {
          for (int64_t K : sizes) {
            ++variant;
            const GemmCase c{(t & 1) != 0,
                             (t & 2) != 0,
                             M,
                             N,
                             K,
                             alphas[variant % 3],
                             betas[(variant / 3) % 3],
                             (variant % 4 == 0) ? 3 : 0};
            ASSERT_TRUE(check_gemm(c, seed++)) << describe(c);
          }
        }
      }
    }
  });
}

TEST(Gemm, BlockBoundariesAndParallelMatchReference) {
  // Sizes straddling the cache blocks and tiles of both micro-kernels (AVX2: 6x16 tile, MC=72,
  // KC=512, NC=2048; AVX-512: 12x32 tile, MC=144, KC=384, NC=3072).
  const GemmCase shapes[] = {
      {false, false, 150, 40, 600, 1.0f, 0.0f, 5}, {false, false, 73, 99, 1030, 0.7f, 0.3f, 0},
      {false, false, 13, 3100, 70, 1.0f, 1.0f, 1}, {false, false, 145, 33, 513, -1.0f, 0.0f, 2},
      {false, false, 6, 16, 256, 1.0f, 0.0f, 0},   {false, false, 12, 32, 512, 2.0f, -1.0f, 7},
      {false, false, 200, 1, 300, 1.0f, 0.0f, 0},  {false, false, 1, 200, 300, 1.0f, 0.5f, 0},
      {false, false, 517, 33, 70, 1.0f, 0.0f, 0},  {false, false, 37, 45, 0, 1.0f, 0.5f, 1},
      {false, false, 37, 45, 20, 0.0f, 2.0f, 0},   {false, false, 12, 32, 384, 1.0f, 0.5f, 0},
      {false, false, 25, 65, 769, 1.0f, 0.0f, 3},  {false, false, 290, 47, 385, 0.5f, 1.0f, 0},
  };
  for_each_gemm_isa([&] {
    uint32_t seed = 1000;
    for (const GemmCase& base : shapes) {
      for (int t = 0; t < 4; ++t) {
        GemmCase c = base;
        c.ta = (t & 1) != 0;
        c.tb = (t & 2) != 0;
        ASSERT_TRUE(check_gemm(c, seed++)) << describe(c);
      }
    }
  });
}

TEST(Gemm, ParallelIsBitIdenticalToSerialForAnyThreadCount) {
  // Splits along M (tall C) and along N (wide or square C), over one or several K slices and
  // N panels; each C element is one thread's FMA chain.
  const int64_t shapes[][3] = {{130, 517, 300}, {517, 33, 270},  {64, 64, 64},   {144, 3100, 800},
                               {700, 40, 800},  {20, 6500, 800}, {256, 256, 700}};
  for_each_gemm_isa([&] {
    for (const auto& s : shapes) {
      const int64_t M = s[0], N = s[1], K = s[2];
      const Vec A = random_vec(M * K, 7), B = random_vec(K * N, 8), C0 = random_vec(M * N, 9);
      Vec serial = C0;
      cpu::sgemm(false, true, M, N, K, 0.5f, A.data(), K, B.data(), K, 0.75f, serial.data(), N);
      for (int threads : {1, 2, 3}) {
        Vec par = C0;
        with_threads(threads, [&] {
          cpu::sgemm_parallel(false, true, M, N, K, 0.5f, A.data(), K, B.data(), K, 0.75f,
                              par.data(), N);
        });
        EXPECT_TRUE(bit_equal(serial, par)) << "M=" << M << " N=" << N << " threads=" << threads;
      }
    }
  });
}

TEST(GemmRef, HandComputed) {
  // [1 2 3; 4 5 6] * [1 0; 0 1; 1 1] = [4 5; 10 11]; alpha 2, beta 0.5 onto C = [1 1; 1 1].
  const Vec A = {1, 2, 3, 4, 5, 6}, B = {1, 0, 0, 1, 1, 1};
  Vec C = {1, 1, 1, 1};
  ref::sgemm(false, false, 2, 2, 3, 2.0f, A.data(), 3, B.data(), 2, 0.5f, C.data(), 2);
  EXPECT_EQ(C, (Vec{8.5f, 10.5f, 20.5f, 22.5f}));
  // A^T with A stored 3x2: A^T = [1 3 5; 2 4 6]; A^T * A^T^T = A^T A.
  const Vec S = {1, 2, 3, 4, 5, 6};
  Vec D(4);
  ref::sgemm(true, false, 2, 2, 3, 1.0f, S.data(), 2, S.data(), 2, 0.0f, D.data(), 2);
  EXPECT_EQ(D, (Vec{35, 44, 44, 56}));
}

// ---------------------------------------------------------------------------------------------
// Convolution

Conv2dShape conv_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S,
                       int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t G) {
  Conv2dShape s;
  s.N = N, s.C = C, s.H = H, s.W = W, s.K = K, s.R = R, s.S = S;
  s.stride_h = sh, s.stride_w = sw, s.pad_h = ph, s.pad_w = pw, s.groups = G;
  return s;
}

std::string describe(const Conv2dShape& s) {
  std::ostringstream os;
  os << "N" << s.N << " C" << s.C << " " << s.H << "x" << s.W << " K" << s.K << " " << s.R << "x"
     << s.S << " stride " << s.stride_h << "," << s.stride_w << " pad " << s.pad_h << "," << s.pad_w
     << " G" << s.groups;
  return os.str();
}

const std::vector<Conv2dShape>& conv_cases() {
  static const std::vector<Conv2dShape> cases = {
      conv_shape(1, 3, 7, 7, 5, 3, 3, 1, 1, 1, 1, 1),     // batch 1, pad 1
      conv_shape(2, 4, 17, 13, 6, 3, 3, 2, 2, 1, 1, 2),   // groups 2, non-square, stride 2
      conv_shape(3, 8, 9, 9, 8, 3, 3, 1, 1, 1, 1, 8),     // depthwise
      conv_shape(2, 6, 9, 11, 12, 3, 3, 2, 2, 0, 0, 6),   // depthwise x2, stride 2, pad 0
      conv_shape(2, 16, 8, 8, 32, 1, 1, 1, 1, 0, 0, 1),   // 1x1 direct path
      conv_shape(2, 16, 8, 6, 32, 1, 1, 1, 1, 0, 0, 2),   // 1x1 direct path, grouped
      conv_shape(1, 7, 33, 33, 3, 1, 1, 2, 2, 0, 0, 1),   // 1x1 stride 2 (skips pixels)
      conv_shape(2, 3, 10, 12, 4, 5, 3, 2, 1, 2, 1, 1),   // 5x3 kernel, mixed stride/pad
      conv_shape(1, 1, 3, 3, 1, 3, 3, 1, 1, 0, 0, 1),     // one output pixel
      conv_shape(5, 6, 16, 16, 12, 3, 3, 1, 1, 1, 1, 3),  // N > threads, groups 3
      conv_shape(1, 65, 7, 7, 130, 3, 3, 1, 1, 1, 1, 1),  // deep: CRS = 585
      conv_shape(4, 3, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1),  // CIFAR stem
      conv_shape(2, 5, 1, 17, 3, 1, 3, 1, 2, 0, 1, 1),    // H = 1
      conv_shape(3, 4, 6, 6, 4, 7, 7, 1, 1, 3, 3, 1),     // kernel larger than the input
      conv_shape(2, 2, 11, 10, 3, 2, 2, 3, 3, 1, 0, 1),   // even kernel, stride 3
      // Stride-1 shapes for the padded-flat kernels (conv_direct.h):
      conv_shape(6, 5, 9, 7, 7, 3, 3, 1, 1, 1, 1, 1),      // N >= 2 threads, K % 4 != 0
      conv_shape(5, 3, 12, 9, 6, 5, 5, 1, 1, 2, 0, 1),     // 5x5, asymmetric padding
      conv_shape(8, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1),    // ResNet stage-3 like
      conv_shape(3, 2, 5, 4, 9, 2, 2, 1, 1, 1, 1, 1),      // even kernel, full padding
      conv_shape(4, 16, 16, 16, 32, 3, 3, 2, 2, 1, 1, 1),  // ResNet downsampling (phases)
      conv_shape(5, 8, 15, 13, 12, 1, 3, 2, 2, 0, 1, 1),   // 1x3 stride 2, odd sizes (phases)
      conv_shape(2, 3, 14, 11, 5, 5, 5, 3, 2, 2, 2, 1),    // 5x5, strides 3 and 2
  };
  return cases;
}

TEST(Conv, ForwardMatchesReference) {
  uint32_t seed = 100;
  for (const Conv2dShape& s : conv_cases()) {
    SCOPED_TRACE(describe(s));
    const Vec x = random_vec(s.N * s.C * s.H * s.W, seed++);
    const Vec w = random_vec(s.K * s.C_per_group() * s.R * s.S, seed++);
    const Vec b = random_vec(s.K, seed++);
    const int64_t y_size = s.N * s.K * s.P() * s.Q();
    for (bool with_bias : {true, false}) {
      Vec want(y_size), got(y_size, std::nanf("")), mag(y_size);
      const float* bias = with_bias ? b.data() : nullptr;
      ref::conv2d_forward(s, x.data(), w.data(), bias, want.data());
      cpu::conv2d_forward(s, x.data(), w.data(), bias, got.data());
      const Vec ax = abs_vec(x), aw = abs_vec(w), ab = abs_vec(b);
      ref::conv2d_forward(s, ax.data(), aw.data(), with_bias ? ab.data() : nullptr, mag.data());
      EXPECT_TRUE(all_close(got, want, mag)) << "bias " << with_bias;
    }
  }
}

TEST(Conv, BackwardInputMatchesReference) {
  uint32_t seed = 200;
  for (const Conv2dShape& s : conv_cases()) {
    SCOPED_TRACE(describe(s));
    const Vec dy = random_vec(s.N * s.K * s.P() * s.Q(), seed++);
    const Vec w = random_vec(s.K * s.C_per_group() * s.R * s.S, seed++);
    const int64_t x_size = s.N * s.C * s.H * s.W;
    Vec want(x_size), got(x_size, std::nanf("")), mag(x_size);
    ref::conv2d_backward_input(s, dy.data(), w.data(), want.data());
    cpu::conv2d_backward_input(s, dy.data(), w.data(), got.data());
    const Vec ady = abs_vec(dy), aw = abs_vec(w);
    ref::conv2d_backward_input(s, ady.data(), aw.data(), mag.data());
    EXPECT_TRUE(all_close(got, want, mag));
  }
}

TEST(Conv, BackwardWeightMatchesReference) {
  uint32_t seed = 300;
  for (const Conv2dShape& s : conv_cases()) {
    SCOPED_TRACE(describe(s));
    const Vec x = random_vec(s.N * s.C * s.H * s.W, seed++);
    const Vec dy = random_vec(s.N * s.K * s.P() * s.Q(), seed++);
    const int64_t w_size = s.K * s.C_per_group() * s.R * s.S;
    Vec want(w_size), got(w_size, std::nanf("")), mag(w_size);
    Vec db_want(s.K), db_got(s.K, std::nanf("")), db_mag(s.K);
    ref::conv2d_backward_weight(s, x.data(), dy.data(), want.data(), db_want.data());
    cpu::conv2d_backward_weight(s, x.data(), dy.data(), got.data(), db_got.data());
    const Vec ax = abs_vec(x), ady = abs_vec(dy);
    ref::conv2d_backward_weight(s, ax.data(), ady.data(), mag.data(), db_mag.data());
    EXPECT_TRUE(all_close(got, want, mag)) << "dw";
    EXPECT_TRUE(all_close(db_got, db_want, db_mag)) << "db";
    // db may be skipped.
    Vec got2(w_size);
    cpu::conv2d_backward_weight(s, x.data(), dy.data(), got2.data(), nullptr);
    EXPECT_TRUE(bit_equal(got, got2));
  }
}

TEST(Conv, DeterministicForFixedThreadCount) {
  const Conv2dShape s = conv_shape(7, 6, 12, 12, 8, 3, 3, 1, 1, 1, 1, 2);
  const Vec x = random_vec(s.N * s.C * s.H * s.W, 1), w = random_vec(s.K * 3 * 9, 2);
  const Vec dy = random_vec(s.N * s.K * s.P() * s.Q(), 3);
  const int64_t w_size = s.K * s.C_per_group() * 9;
  for (int threads : {1, 2, 3}) {
    Vec dw1(w_size), dw2(w_size), db1(s.K), db2(s.K);
    with_threads(threads, [&] {
      cpu::conv2d_backward_weight(s, x.data(), dy.data(), dw1.data(), db1.data());
      cpu::conv2d_backward_weight(s, x.data(), dy.data(), dw2.data(), db2.data());
    });
    EXPECT_TRUE(bit_equal(dw1, dw2)) << "threads " << threads;
    EXPECT_TRUE(bit_equal(db1, db2)) << "threads " << threads;
  }
  // Forward and backward-input give each output element to one thread: thread-count invariant.
  const int64_t y_size = s.N * s.K * s.P() * s.Q(), x_size = s.N * s.C * s.H * s.W;
  Vec y1(y_size), y3(y_size), dx1(x_size), dx3(x_size);
  with_threads(1, [&] {
    cpu::conv2d_forward(s, x.data(), w.data(), nullptr, y1.data());
    cpu::conv2d_backward_input(s, dy.data(), w.data(), dx1.data());
  });
  with_threads(3, [&] {
    cpu::conv2d_forward(s, x.data(), w.data(), nullptr, y3.data());
    cpu::conv2d_backward_input(s, dy.data(), w.data(), dx3.data());
  });
  EXPECT_TRUE(bit_equal(y1, y3));
  EXPECT_TRUE(bit_equal(dx1, dx3));
}

TEST(Conv, CallableFromInsideAParallelRegion) {
  const Conv2dShape s = conv_shape(3, 4, 9, 9, 6, 3, 3, 2, 2, 1, 1, 1);
  const Vec w = random_vec(s.K * s.C * 9, 11);
  const int64_t x_size = s.N * s.C * s.H * s.W, y_size = s.N * s.K * s.P() * s.Q();
  std::vector<Vec> xs, want, got;
  for (int t = 0; t < 2; ++t) {
    xs.push_back(random_vec(x_size, 20 + t));
    want.emplace_back(y_size);
    got.emplace_back(y_size);
    ref::conv2d_forward(s, xs[t].data(), w.data(), nullptr, want[t].data());
  }
#pragma omp parallel for num_threads(2)
  for (int t = 0; t < 2; ++t)
    cpu::conv2d_forward(s, xs[t].data(), w.data(), nullptr, got[t].data());
  for (int t = 0; t < 2; ++t) EXPECT_TRUE(all_close(got[t], want[t], {}, 1e-5, 1e-5));
}

TEST(ConvRef, HandComputed2x2CrossCorrelation) {
  // x = [1 2 3; 4 5 6; 7 8 9], w = [1 2; 3 4], bias 0.5: cross-correlation (no kernel flip).
  const Conv2dShape s = conv_shape(1, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0, 1);
  const Vec x = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w = {1, 2, 3, 4}, b = {0.5f};
  Vec y(4);
  ref::conv2d_forward(s, x.data(), w.data(), b.data(), y.data());
  EXPECT_EQ(y, (Vec{37.5f, 47.5f, 67.5f, 77.5f}));
  const Vec dy = {1, 1, 1, 1};
  Vec dw(4), db(1), dx(9);
  ref::conv2d_backward_weight(s, x.data(), dy.data(), dw.data(), db.data());
  EXPECT_EQ(dw, (Vec{12, 16, 24, 28}));
  EXPECT_EQ(db, (Vec{4}));
  ref::conv2d_backward_input(s, dy.data(), w.data(), dx.data());
  EXPECT_EQ(dx, (Vec{1, 3, 2, 4, 10, 6, 3, 7, 4}));
}

TEST(ConvRef, HandComputed3x3LaplacianWithPadding) {
  const Conv2dShape s = conv_shape(1, 1, 3, 3, 1, 3, 3, 1, 1, 1, 1, 1);
  const Vec x = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w = {0, 1, 0, 1, -4, 1, 0, 1, 0};
  Vec y(9);
  ref::conv2d_forward(s, x.data(), w.data(), nullptr, y.data());
  EXPECT_EQ(y, (Vec{2, 1, -4, -3, 0, -7, -16, -11, -22}));
  // Stride 2 keeps the corners.
  const Conv2dShape s2 = conv_shape(1, 1, 3, 3, 1, 3, 3, 2, 2, 1, 1, 1);
  Vec y2(4);
  ref::conv2d_forward(s2, x.data(), w.data(), nullptr, y2.data());
  EXPECT_EQ(y2, (Vec{2, -4, -16, -22}));
}

TEST(ConvRef, BackwardKernelsAreAdjointsOfForward) {
  // <conv(x, w), dy> = <x, dconv_input(dy, w)> = <w, dconv_weight(x, dy)>.
  uint32_t seed = 400;
  for (const Conv2dShape& s : conv_cases()) {
    SCOPED_TRACE(describe(s));
    const Vec x = random_vec(s.N * s.C * s.H * s.W, seed++);
    const Vec w = random_vec(s.K * s.C_per_group() * s.R * s.S, seed++);
    const Vec dy = random_vec(s.N * s.K * s.P() * s.Q(), seed++);
    Vec y(dy.size()), dx(x.size()), dw(w.size());
    ref::conv2d_forward(s, x.data(), w.data(), nullptr, y.data());
    ref::conv2d_backward_input(s, dy.data(), w.data(), dx.data());
    ref::conv2d_backward_weight(s, x.data(), dy.data(), dw.data(), nullptr);
    const double lhs = dot(y, dy);
    EXPECT_NEAR(dot(x, dx), lhs, 1e-4 * (1.0 + std::fabs(lhs)));
    EXPECT_NEAR(dot(w, dw), lhs, 1e-4 * (1.0 + std::fabs(lhs)));
  }
}

// ---------------------------------------------------------------------------------------------
// Linear

TEST(Linear, MatchesReference) {
  const int64_t shapes[][3] = {{1, 1, 1},    {1, 7, 3},      {3, 17, 65},  {33, 130, 7},
                               {65, 3, 130}, {128, 300, 10}, {2, 513, 257}};
  uint32_t seed = 500;
  for (const auto& sh : shapes) {
    const int64_t N = sh[0], I = sh[1], O = sh[2];
    SCOPED_TRACE("N=" + std::to_string(N) + " I=" + std::to_string(I) + " O=" + std::to_string(O));
    const Vec x = random_vec(N * I, seed++), w = random_vec(O * I, seed++);
    const Vec b = random_vec(O, seed++), dy = random_vec(N * O, seed++);
    const Vec ax = abs_vec(x), aw = abs_vec(w), ab = abs_vec(b), ady = abs_vec(dy);
    for (bool with_bias : {true, false}) {
      Vec want(N * O), got(N * O, std::nanf("")), mag(N * O);
      ref::linear_forward(N, I, O, x.data(), w.data(), with_bias ? b.data() : nullptr, want.data());
      cpu::linear_forward(N, I, O, x.data(), w.data(), with_bias ? b.data() : nullptr, got.data());
      ref::linear_forward(N, I, O, ax.data(), aw.data(), with_bias ? ab.data() : nullptr,
                          mag.data());
      EXPECT_TRUE(all_close(got, want, mag)) << "forward, bias " << with_bias;
    }
    Vec dx_w(N * I), dw_w(O * I), db_w(O), dx_g(N * I), dw_g(O * I), db_g(O);
    Vec dx_m(N * I), dw_m(O * I), db_m(O);
    ref::linear_backward(N, I, O, x.data(), w.data(), dy.data(), dx_w.data(), dw_w.data(),
                         db_w.data());
    cpu::linear_backward(N, I, O, x.data(), w.data(), dy.data(), dx_g.data(), dw_g.data(),
                         db_g.data());
    ref::linear_backward(N, I, O, ax.data(), aw.data(), ady.data(), dx_m.data(), dw_m.data(),
                         db_m.data());
    EXPECT_TRUE(all_close(dx_g, dx_w, dx_m)) << "dx";
    EXPECT_TRUE(all_close(dw_g, dw_w, dw_m)) << "dw";
    EXPECT_TRUE(all_close(db_g, db_w, db_m)) << "db";
    // Any output may be skipped.
    Vec dw_only(O * I);
    cpu::linear_backward(N, I, O, x.data(), w.data(), dy.data(), nullptr, dw_only.data(), nullptr);
    EXPECT_TRUE(bit_equal(dw_only, dw_g));
  }
}

// ---------------------------------------------------------------------------------------------
// Batch normalisation

TEST(BatchNorm, TrainForwardAndBackwardMatchReference) {
  const int64_t shapes[][3] = {{2, 3, 1}, {1, 5, 7}, {4, 17, 33}, {3, 2, 130}, {8, 16, 1024}};
  uint32_t seed = 600;
  const float eps = 1e-5f;
  for (const auto& sh : shapes) {
    const int64_t N = sh[0], C = sh[1], L = sh[2], n = N * C * L;
    SCOPED_TRACE("N=" + std::to_string(N) + " C=" + std::to_string(C) + " L=" + std::to_string(L));
    const Vec x = random_vec(n, seed++, 2.0f, 4.0f);  // mean far from 0: tests cancellation
    const Vec dy = random_vec(n, seed++);
    const Vec gamma = random_vec(C, seed++, 0.5f, 1.5f), beta = random_vec(C, seed++);
    for (bool affine : {true, false}) {
      const float* g = affine ? gamma.data() : nullptr;
      const float* b = affine ? beta.data() : nullptr;
      Vec y_w(n), m_w(C), is_w(C), v_w(C), y_g(n), m_g(C), is_g(C), v_g(C);
      ref::batchnorm_forward_train(N, C, L, x.data(), g, b, eps, y_w.data(), m_w.data(),
                                   is_w.data(), v_w.data());
      cpu::batchnorm_forward_train(N, C, L, x.data(), g, b, eps, y_g.data(), m_g.data(),
                                   is_g.data(), v_g.data());
      const float y_max = *std::max_element(
          y_w.begin(), y_w.end(), [](float p, float q) { return std::fabs(p) < std::fabs(q); });
      EXPECT_TRUE(all_close(y_g, y_w, Vec(n, std::fabs(y_max)), 1e-5, 1e-5)) << "y";
      EXPECT_TRUE(all_close(m_g, m_w, {}, 1e-6, 1e-6)) << "mean";
      EXPECT_TRUE(all_close(is_g, is_w, {}, 0.0, 1e-4)) << "invstd";
      EXPECT_TRUE(all_close(v_g, v_w, {}, 1e-7, 1e-4)) << "batch_var";

      // Backward from the reference's saved statistics so both see identical inputs.
      Vec dx_w(n), dg_w(C), db_w(C), dx_g(n), dg_g(C), db_g(C);
      ref::batchnorm_backward_train(N, C, L, x.data(), dy.data(), g, m_w.data(), is_w.data(),
                                    dx_w.data(), dg_w.data(), db_w.data());
      cpu::batchnorm_backward_train(N, C, L, x.data(), dy.data(), g, m_w.data(), is_w.data(),
                                    dx_g.data(), dg_g.data(), db_g.data());
      float dx_max = 0.0f;
      for (float v : dx_w) dx_max = std::max(dx_max, std::fabs(v));
      EXPECT_TRUE(all_close(dx_g, dx_w, Vec(n, dx_max), 1e-6, 1e-4)) << "dx";
      if (affine) {
        Vec dg_m(C, 0.0f), db_m(C, 0.0f);  // sums of absolute terms
        for (int64_t i = 0; i < n; ++i) {
          const int64_t c = (i / L) % C;
          db_m[c] += std::fabs(dy[i]);
          dg_m[c] += std::fabs(dy[i] * (x[i] - m_w[c]) * is_w[c]);
        }
        EXPECT_TRUE(all_close(dg_g, dg_w, dg_m)) << "dgamma";
        EXPECT_TRUE(all_close(db_g, db_w, db_m)) << "dbeta";
      }
    }
  }
}

TEST(BatchNorm, FusedResidualActivationMatchesReferencePieces) {
  // batchnorm_act_*: BN, + residual, ReLU forward; the ReLU rule (fused one-pass path) and the
  // interpretability rules (three-pass path) backward, against ref BN composed by hand.
  const int64_t shapes[][3] = {{2, 3, 1}, {4, 17, 33}, {8, 16, 1024}};
  uint32_t seed = 680;
  for (const auto& sh : shapes) {
    const int64_t N = sh[0], C = sh[1], L = sh[2], n = N * C * L;
    SCOPED_TRACE("N=" + std::to_string(N) + " C=" + std::to_string(C) + " L=" + std::to_string(L));
    const Vec x = random_vec(n, seed++, -3.0f, 5.0f), r = random_vec(n, seed++);
    const Vec dy = random_vec(n, seed++);
    const Vec gamma = random_vec(C, seed++, 0.5f, 1.5f), beta = random_vec(C, seed++);
    Vec bn(n), m_w(C), is_w(C), v_w(C);
    ref::batchnorm_forward_train(N, C, L, x.data(), gamma.data(), beta.data(), 1e-5f, bn.data(),
                                 m_w.data(), is_w.data(), v_w.data());
    Vec y_w(n), y_g(n), m_g(C), is_g(C), v_g(C);
    for (int64_t i = 0; i < n; ++i) y_w[i] = std::max(bn[i] + r[i], 0.0f);
    cpu::batchnorm_act_forward_train(N, C, L, x.data(), gamma.data(), beta.data(), 1e-5f, r.data(),
                                     true, y_g.data(), m_g.data(), is_g.data(), v_g.data());
    EXPECT_TRUE(all_close(y_g, y_w, Vec(n, 8.0f), 1e-5, 1e-5)) << "y";
    EXPECT_TRUE(all_close(v_g, v_w, {}, 1e-7, 1e-4)) << "batch_var";
    for (ActGrad act : {ActGrad::Relu, ActGrad::Guided, ActGrad::Identity}) {
      Vec g(n);
      for (int64_t i = 0; i < n; ++i) {
        const bool open =
            act == ActGrad::Identity || (y_w[i] > 0.0f && (act == ActGrad::Relu || dy[i] > 0.0f));
        g[i] = open ? dy[i] : 0.0f;
      }
      Vec dx_w(n), dg_w(C), db_w(C), dx_g(n), g_g(n), dg_g(C), db_g(C);
      ref::batchnorm_backward_train(N, C, L, x.data(), g.data(), gamma.data(), m_w.data(),
                                    is_w.data(), dx_w.data(), dg_w.data(), db_w.data());
      cpu::batchnorm_act_backward_train(N, C, L, x.data(), y_g.data(), dy.data(), act, gamma.data(),
                                        m_g.data(), is_g.data(), g_g.data(), dx_g.data(),
                                        dg_g.data(), db_g.data());
      const int a = static_cast<int>(act);
      EXPECT_TRUE(bit_equal(g_g, g)) << "g_pre, act " << a;
      float dx_max = 0.0f;
      for (float v : dx_w) dx_max = std::max(dx_max, std::fabs(v));
      EXPECT_TRUE(all_close(dx_g, dx_w, Vec(n, dx_max), 1e-6, 1e-4)) << "dx, act " << a;
      EXPECT_TRUE(all_close(db_g, db_w, Vec(C, static_cast<float>(N * L)), 1e-6, 1e-5))
          << "dbeta, act " << a;
      EXPECT_TRUE(all_close(dg_g, dg_w, Vec(C, 8.0f * N * L), 1e-6, 1e-5)) << "dgamma, act " << a;
    }
  }
}

TEST(BatchNorm, EvalForwardAndBackwardMatchReference) {
  const int64_t shapes[][3] = {{2, 3, 1}, {1, 5, 7}, {4, 17, 33}, {8, 16, 1024}};
  uint32_t seed = 650;
  const float eps = 1e-5f;
  for (const auto& sh : shapes) {
    const int64_t N = sh[0], C = sh[1], L = sh[2], n = N * C * L;
    SCOPED_TRACE("N=" + std::to_string(N) + " C=" + std::to_string(C) + " L=" + std::to_string(L));
    const Vec x = random_vec(n, seed++, -2.0f, 4.0f), dy = random_vec(n, seed++);
    const Vec gamma = random_vec(C, seed++, 0.5f, 1.5f), beta = random_vec(C, seed++);
    const Vec mean = random_vec(C, seed++), var = random_vec(C, seed++, 0.1f, 2.0f);
    for (bool affine : {true, false}) {
      const float* g = affine ? gamma.data() : nullptr;
      const float* b = affine ? beta.data() : nullptr;
      Vec y_w(n), y_g(n, std::nanf(""));
      ref::batchnorm_forward_eval(N, C, L, x.data(), g, b, mean.data(), var.data(), eps,
                                  y_w.data());
      cpu::batchnorm_forward_eval(N, C, L, x.data(), g, b, mean.data(), var.data(), eps,
                                  y_g.data());
      EXPECT_TRUE(all_close(y_g, y_w, Vec(n, 8.0f), 1e-6, 1e-5)) << "y";
      Vec dx_w(n), dg_w(C), db_w(C), dx_g(n, std::nanf("")), dg_g(C), db_g(C);
      ref::batchnorm_backward_eval(N, C, L, x.data(), dy.data(), g, mean.data(), var.data(), eps,
                                   dx_w.data(), dg_w.data(), db_w.data());
      cpu::batchnorm_backward_eval(N, C, L, x.data(), dy.data(), g, mean.data(), var.data(), eps,
                                   dx_g.data(), dg_g.data(), db_g.data());
      EXPECT_TRUE(all_close(dx_g, dx_w, Vec(n, 4.0f), 1e-6, 1e-5)) << "dx";
      if (affine) {
        EXPECT_TRUE(all_close(dg_g, dg_w, Vec(C, 8.0f * N * L), 1e-6, 1e-5)) << "dgamma";
        EXPECT_TRUE(all_close(db_g, db_w, Vec(C, 1.0f * N * L), 1e-6, 1e-5)) << "dbeta";
      }
    }
  }
}

TEST(Elementwise, FastKernelsEqualTheLoopsBitForBit) {
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{100003}}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    const Vec a = random_vec(n, 700), b = random_vec(n, 701);
    Vec y(n), want(n), dx(n);
    cpu::relu_forward(n, a.data(), y.data());
    ref::relu_forward(n, a.data(), want.data());
    EXPECT_EQ(0, std::memcmp(y.data(), want.data(), sizeof(float) * static_cast<size_t>(n)));
    cpu::relu_backward(n, y.data(), b.data(), dx.data());
    ref::relu_backward(n, y.data(), b.data(), want.data());
    EXPECT_EQ(0, std::memcmp(dx.data(), want.data(), sizeof(float) * static_cast<size_t>(n)));
    cpu::add(n, a.data(), b.data(), y.data());
    cpu::sub(n, a.data(), b.data(), dx.data());
    Vec prod(n);
    cpu::mul(n, a.data(), b.data(), prod.data());
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(y[i], a[i] + b[i]);
      ASSERT_EQ(dx[i], a[i] - b[i]);
      ASSERT_EQ(prod[i], a[i] * b[i]);
    }
  }
}

// Checks forward(s, x, w, epilogue, y) against ref conv followed by the epilogue by hand, for
// every combination of residual and ReLU (scale and shift always on).
template <typename Forward>
void check_epilogue(const Conv2dShape& s, uint32_t seed, double rel_tol, Forward forward) {
  SCOPED_TRACE(describe(s));
  const Vec x = random_vec(s.N * s.C * s.H * s.W, seed++);
  const Vec w = random_vec(s.K * s.C * s.R * s.S, seed++);
  const Vec scale = random_vec(s.K, seed++, 0.5f, 2.0f), shift = random_vec(s.K, seed++);
  const int64_t y_size = s.N * s.K * s.P() * s.Q(), plane = s.P() * s.Q();
  const Vec residual = random_vec(y_size, seed++);
  Vec conv(y_size), mag(y_size);
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
      Vec got(y_size, std::nanf("")), want(y_size), m(y_size);
      forward(s, x.data(), w.data(), ep, got.data());
      for (int64_t i = 0; i < y_size; ++i) {
        const int64_t k = (i / plane) % s.K;
        const float v = conv[i] * scale[k] + shift[k] + (with_residual ? residual[i] : 0.0f);
        want[i] = relu ? std::max(v, 0.0f) : v;
        m[i] = mag[i] * scale[k] + 2.0f;
      }
      EXPECT_TRUE(all_close(got, want, m, kAbsTol, rel_tol))
          << "residual " << with_residual << " relu " << relu;
    }
  }
}

TEST(ConvDirect, EpilogueAppliesScaleShiftResidualAndRelu) {
  uint32_t seed = 800;
  for (const Conv2dShape& s : {conv_shape(5, 6, 9, 9, 10, 3, 3, 1, 1, 1, 1, 1),
                               conv_shape(1, 4, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1)}) {
    ASSERT_TRUE(cpu::conv2d_direct_applicable(s));
    check_epilogue(s, seed, kRelTol, cpu::conv2d_direct_forward);
    seed += 5;
  }
}

// Winograd F(4x4, 3x3): maps that are not multiples of the 4x4 tile, 1x1 maps, channel counts
// that are not multiples of the 16-wide GEMM tile, groups of images that end mid-batch. The
// transforms' constants (up to 8 and 1/24) cost a few float ulps of the tile's magnitude, hence a
// looser relative bound than the direct kernels' 1e-5.
constexpr double kWinogradRelTol = 3e-5;

// Forces a convolution algorithm for one scope (Auto skips Winograd on small batches).
struct ForceConvAlgorithm {
  explicit ForceConvAlgorithm(cpu::ConvAlgorithm a) { cpu::set_conv_algorithm(a); }
  ~ForceConvAlgorithm() { cpu::set_conv_algorithm(cpu::ConvAlgorithm::Auto); }
  ForceConvAlgorithm(const ForceConvAlgorithm&) = delete;
  ForceConvAlgorithm& operator=(const ForceConvAlgorithm&) = delete;
};

const std::vector<Conv2dShape>& winograd_cases() {
  static const std::vector<Conv2dShape> cases = {
      conv_shape(1, 8, 4, 4, 8, 3, 3, 1, 1, 1, 1, 1),      // one tile
      conv_shape(3, 16, 7, 5, 24, 3, 3, 1, 1, 1, 1, 1),    // partial tiles, K % 16 != 0
      conv_shape(2, 24, 13, 9, 8, 3, 3, 1, 1, 1, 1, 1),    // odd sizes, K = 8
      conv_shape(5, 8, 1, 1, 16, 3, 3, 1, 1, 1, 1, 1),     // 1x1 map: only the centre tap
      conv_shape(2, 40, 6, 11, 40, 3, 3, 1, 1, 1, 1, 1),   // wide and short
      conv_shape(7, 16, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1),  // ResNet stage 1, several groups
      conv_shape(9, 64, 8, 8, 32, 3, 3, 1, 1, 1, 1, 1),    // many images per group, C != K
      conv_shape(2, 8, 2, 9, 64, 3, 3, 1, 1, 1, 1, 1),     // H < tile
      // Channel counts that are not multiples of 8 (pruned networks): padded blocks inside.
      conv_shape(3, 11, 9, 7, 13, 3, 3, 1, 1, 1, 1, 1),
      conv_shape(2, 8, 6, 5, 9, 3, 3, 1, 1, 1, 1, 1),
      conv_shape(5, 23, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1),
      conv_shape(2, 45, 4, 4, 37, 3, 3, 1, 1, 1, 1, 1),
      conv_shape(3, 136, 5, 6, 130, 3, 3, 1, 1, 1, 1, 1),  // > 128x128: backward-weight splits xi
      conv_shape(1, 16, 13, 10, 16, 3, 3, 1, 1, 1, 1, 1),  // one image: rows split over threads
  };
  return cases;
}

TEST(ConvWinograd, AppliesOnlyTo3x3Stride1Pad1WithAtLeast8Channels) {
  EXPECT_TRUE(cpu::conv2d_winograd_applicable(conv_shape(1, 16, 8, 8, 32, 3, 3, 1, 1, 1, 1, 1)));
  EXPECT_TRUE(cpu::conv2d_winograd_applicable(conv_shape(1, 11, 8, 8, 13, 3, 3, 1, 1, 1, 1, 1)));
  EXPECT_FALSE(cpu::conv2d_winograd_applicable(conv_shape(1, 3, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1)));
  EXPECT_FALSE(cpu::conv2d_winograd_applicable(conv_shape(1, 16, 8, 8, 7, 3, 3, 1, 1, 1, 1, 1)));
  EXPECT_FALSE(cpu::conv2d_winograd_applicable(conv_shape(1, 16, 8, 8, 16, 3, 3, 2, 2, 1, 1, 1)));
  EXPECT_FALSE(cpu::conv2d_winograd_applicable(conv_shape(1, 16, 8, 8, 16, 3, 3, 1, 1, 0, 0, 1)));
  EXPECT_FALSE(cpu::conv2d_winograd_applicable(conv_shape(1, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 2)));
  EXPECT_FALSE(cpu::conv2d_winograd_applicable(conv_shape(1, 16, 8, 8, 16, 5, 5, 1, 1, 2, 2, 1)));
  const Conv2dShape s = conv_shape(8, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1);  // 32 tiles
  EXPECT_EQ(std::string(cpu::conv2d_kernel_name(s)).rfind("winograd", 0), 0u);
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::PaddedFlat);
  EXPECT_EQ(std::string(cpu::conv2d_kernel_name(s)), "padded-flat");
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::Auto);
  cpu::ConvAlgorithm parsed{};
  EXPECT_TRUE(cpu::parse_conv_algorithm("winograd", &parsed));
  EXPECT_EQ(parsed, cpu::ConvAlgorithm::Winograd);
  EXPECT_FALSE(cpu::parse_conv_algorithm("fft", &parsed));
  // Auto takes it only with 32 or more 4x4 tiles in the batch; forced, wherever it applies.
  const Conv2dShape one_small = conv_shape(1, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1);    // 4 tiles
  const Conv2dShape eight_small = conv_shape(8, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1);  // 32 tiles
  EXPECT_FALSE(cpu::conv2d_winograd_worthwhile(one_small));
  EXPECT_TRUE(cpu::conv2d_winograd_worthwhile(eight_small));
  EXPECT_EQ(std::string(cpu::conv2d_kernel_name(one_small)), "padded-flat");
  EXPECT_EQ(std::string(cpu::conv2d_kernel_name(eight_small)).rfind("winograd", 0), 0u);
  ForceConvAlgorithm forced(cpu::ConvAlgorithm::Winograd);
  EXPECT_EQ(std::string(cpu::conv2d_kernel_name(one_small)).rfind("winograd", 0), 0u);
}

TEST(ConvWinograd, ForwardAndBackwardsMatchReference) {
  ForceConvAlgorithm forced(cpu::ConvAlgorithm::Winograd);
  uint32_t seed = 900;
  for (const Conv2dShape& s : winograd_cases()) {
    SCOPED_TRACE(describe(s));
    ASSERT_TRUE(cpu::conv2d_winograd_applicable(s));
    const int64_t x_size = s.N * s.C * s.H * s.W, y_size = s.N * s.K * s.H * s.W;
    const Vec x = random_vec(x_size, seed++), w = random_vec(s.K * s.C * 9, seed++);
    const Vec dy = random_vec(y_size, seed++), b = random_vec(s.K, seed++);
    const Vec ax = abs_vec(x), aw = abs_vec(w), ady = abs_vec(dy), ab = abs_vec(b);
    Vec want(y_size), got(y_size, std::nanf("")), mag(y_size);
    ref::conv2d_forward(s, x.data(), w.data(), b.data(), want.data());
    ref::conv2d_forward(s, ax.data(), aw.data(), ab.data(), mag.data());
    cpu::conv2d_forward(s, x.data(), w.data(), b.data(), got.data());
    EXPECT_TRUE(all_close(got, want, mag, kAbsTol, kWinogradRelTol)) << "forward";
    Vec dx_want(x_size), dx_got(x_size, std::nanf("")), dx_mag(x_size);
    ref::conv2d_backward_input(s, dy.data(), w.data(), dx_want.data());
    ref::conv2d_backward_input(s, ady.data(), aw.data(), dx_mag.data());
    cpu::conv2d_backward_input(s, dy.data(), w.data(), dx_got.data());
    EXPECT_TRUE(all_close(dx_got, dx_want, dx_mag, kAbsTol, kWinogradRelTol)) << "backward-input";
    ASSERT_TRUE(cpu::conv2d_winograd_backward_weight_applicable(s));
    const int64_t w_size = s.K * s.C * 9;
    Vec dw_want(w_size), dw_got(w_size, std::nanf("")), dw_mag(w_size);
    Vec db_want(s.K), db_got(s.K, std::nanf("")), db_mag(s.K);
    ref::conv2d_backward_weight(s, x.data(), dy.data(), dw_want.data(), db_want.data());
    ref::conv2d_backward_weight(s, ax.data(), ady.data(), dw_mag.data(), db_mag.data());
    cpu::conv2d_winograd_backward_weight(s, x.data(), dy.data(), dw_got.data(), db_got.data());
    EXPECT_TRUE(all_close(dw_got, dw_want, dw_mag, kAbsTol, kWinogradRelTol)) << "dw";
    EXPECT_TRUE(all_close(db_got, db_want, db_mag)) << "db";
    Vec dw_again(w_size);
    cpu::conv2d_winograd_backward_weight(s, x.data(), dy.data(), dw_again.data(), nullptr);
    EXPECT_TRUE(bit_equal(dw_got, dw_again)) << "dw without db, run again";
  }
  // Wider layers than 512 x 512 keep their weight gradient on the padded-flat kernel.
  EXPECT_TRUE(cpu::conv2d_winograd_backward_weight_applicable(
      conv_shape(1, 512, 4, 4, 512, 3, 3, 1, 1, 1, 1, 1)));
  EXPECT_FALSE(cpu::conv2d_winograd_backward_weight_applicable(
      conv_shape(1, 1024, 4, 4, 512, 3, 3, 1, 1, 1, 1, 1)));
}

TEST(ConvWinograd, EpilogueAppliesScaleShiftResidualAndRelu) {
  // 13 and 21 channels: partial channel blocks, per-channel scale/shift past a block's end.
  check_epilogue(conv_shape(3, 13, 10, 7, 21, 3, 3, 1, 1, 1, 1, 1), 950, kWinogradRelTol,
                 cpu::conv2d_winograd_forward);
}

// The capped ReLU of the epilogue, min(max(v, 0), cap) (ReLU6 for cap 6), in every CPU path that
// stores a fused output, through the dispatch of cpu::conv2d_forward_fused, against
// ref::conv2d_forward_fused with and without a residual. A NaN (from the residual) passes ReLU
// and the cap in every path, as in ref.
TEST(ConvFused, EveryCpuPathCapsTheReluAsTheReference) {
  struct PathCase {
    const char* kernel;  // cpu::conv2d_kernel_name's forward
    Conv2dShape s;
    cpu::ConvAlgorithm algorithm;
  };
  const PathCase cases[] = {
      {"im2col+gemm", conv_shape(2, 4, 9, 9, 6, 3, 3, 1, 1, 1, 1, 2), cpu::ConvAlgorithm::Auto},
      {"gemm-1x1", conv_shape(2, 8, 7, 5, 12, 1, 1, 1, 1, 0, 0, 1), cpu::ConvAlgorithm::Auto},
      {"padded-flat", conv_shape(2, 4, 9, 9, 6, 3, 3, 1, 1, 1, 1, 1), cpu::ConvAlgorithm::Auto},
      {"winograd", conv_shape(3, 13, 10, 7, 21, 3, 3, 1, 1, 1, 1, 1), cpu::ConvAlgorithm::Winograd},
      {"depthwise", conv_shape(2, 6, 11, 13, 6, 3, 3, 2, 2, 1, 1, 6), cpu::ConvAlgorithm::Auto}};
  constexpr float kCap = 0.75f;
  uint32_t seed = 990;
  for (const PathCase& c : cases) {
    const Conv2dShape& s = c.s;
    const bool winograd = std::string(c.kernel) == "winograd";
    SCOPED_TRACE(std::string(c.kernel) + " " + describe(s));
    ForceConvAlgorithm forced(c.algorithm);
    ASSERT_EQ(std::string(cpu::conv2d_kernel_name(s)).rfind(c.kernel, 0), 0u)
        << cpu::conv2d_kernel_name(s);
    const int64_t Cg = s.C / s.groups, y_size = s.N * s.K * s.P() * s.Q();
    const Vec x = random_vec(s.N * s.C * s.H * s.W, seed++);
    const Vec w = random_vec(s.K * Cg * s.R * s.S, seed++);
    const Vec scale = random_vec(s.K, seed++, 0.5f, 2.0f), shift = random_vec(s.K, seed++);
    Vec residual = random_vec(y_size, seed++);
    Vec mag(y_size);
    ref::conv2d_forward(s, abs_vec(x).data(), abs_vec(w).data(), nullptr, mag.data());
    for (int64_t i = 0; i < y_size; ++i) mag[i] = mag[i] * 2.0f + 2.0f;  // scale <= 2, |shift| <= 1
    ConvEpilogue ep;
    ep.scale = scale.data();
    ep.shift = shift.data();
    ep.relu = true;
    ep.relu_cap = kCap;
    for (bool with_residual : {false, true}) {
      ep.residual = with_residual ? residual.data() : nullptr;
      Vec got(y_size, std::nanf("")), want(y_size);
      cpu::conv2d_forward_fused(s, x.data(), w.data(), ep, got.data());
      ref::conv2d_forward_fused(s, x.data(), w.data(), ep, want.data());
      EXPECT_TRUE(all_close(got, want, mag, kAbsTol, winograd ? kWinogradRelTol : kRelTol))
          << "residual " << with_residual;
      const auto capped = std::count(want.begin(), want.end(), kCap);
      EXPECT_GT(capped, 0);  // the cap is reached, and not everywhere
      EXPECT_LT(capped + std::count(want.begin(), want.end(), 0.0f), y_size);
    }
    // NaN in the residual at the first and the last output.
    residual.front() = residual.back() = std::nanf("");
    ep.residual = residual.data();
    Vec got(y_size), uncapped(y_size), want(y_size);
    cpu::conv2d_forward_fused(s, x.data(), w.data(), ep, got.data());
    ref::conv2d_forward_fused(s, x.data(), w.data(), ep, want.data());
    ConvEpilogue relu_only = ep;
    relu_only.relu_cap = std::numeric_limits<float>::infinity();
    cpu::conv2d_forward_fused(s, x.data(), w.data(), relu_only, uncapped.data());
    EXPECT_TRUE(std::isnan(want.front()) && std::isnan(want.back()));
    for (int64_t i : {int64_t{0}, y_size - 1}) {
      EXPECT_TRUE(std::isnan(got[i])) << "at " << i;
      EXPECT_TRUE(std::isnan(uncapped[i])) << "at " << i;
    }
  }
}

TEST(ConvWinograd, BitIdenticalForAnyThreadCountAndInsideParallelRegions) {
  // N = 11: threads take groups of images; N = 1 (one image explained): threads split its tile
  // rows. Either way each output element comes from one thread in a fixed order.
  ForceConvAlgorithm forced(cpu::ConvAlgorithm::Winograd);
  for (int64_t N : {11, 1}) {
    const Conv2dShape s = conv_shape(N, 16, 12, 12, 32, 3, 3, 1, 1, 1, 1, 1);
    SCOPED_TRACE(describe(s));
    const int64_t x_size = s.N * s.C * s.H * s.W, y_size = s.N * s.K * s.H * s.W;
    const Vec x = random_vec(x_size, 960), w = random_vec(s.K * s.C * 9, 961);
    const Vec dy = random_vec(y_size, 962);
    Vec y1(y_size), dx1(x_size), dw1(s.K * s.C * 9);
    with_threads(1, [&] {
      cpu::conv2d_forward(s, x.data(), w.data(), nullptr, y1.data());
      cpu::conv2d_backward_input(s, dy.data(), w.data(), dx1.data());
    });
    for (int threads : {2, 3}) {
      Vec y(y_size), dx(x_size), dw(s.K * s.C * 9), dw_again(s.K * s.C * 9);
      with_threads(threads, [&] {
        cpu::conv2d_forward(s, x.data(), w.data(), nullptr, y.data());
        cpu::conv2d_backward_input(s, dy.data(), w.data(), dx.data());
        cpu::conv2d_backward_weight(s, x.data(), dy.data(), dw.data(), nullptr);
        cpu::conv2d_backward_weight(s, x.data(), dy.data(), dw_again.data(), nullptr);
      });
      EXPECT_TRUE(bit_equal(y, y1)) << "threads " << threads;
      EXPECT_TRUE(bit_equal(dx, dx1)) << "threads " << threads;
      EXPECT_TRUE(bit_equal(dw, dw_again)) << "threads " << threads;  // fixed count: repeatable
    }
    std::vector<Vec> ys(2, Vec(y_size));
#pragma omp parallel for num_threads(2)
    for (int t = 0; t < 2; ++t) cpu::conv2d_forward(s, x.data(), w.data(), nullptr, ys[t].data());
    EXPECT_TRUE(bit_equal(ys[0], y1));
    EXPECT_TRUE(bit_equal(ys[1], y1));
  }
}

TEST(BatchNormRef, StatisticsAndEvalByHand) {
  // One channel, values 1..4: mean 2.5, biased var 1.25, unbiased var 5/3.
  const Vec x = {1, 2, 3, 4};
  const Vec gamma = {2.0f}, beta = {0.5f};
  Vec y(4), mean(1), invstd(1), var(1);
  ref::batchnorm_forward_train(2, 1, 2, x.data(), gamma.data(), beta.data(), 0.0f, y.data(),
                               mean.data(), invstd.data(), var.data());
  EXPECT_FLOAT_EQ(mean[0], 2.5f);
  EXPECT_FLOAT_EQ(invstd[0], static_cast<float>(1.0 / std::sqrt(1.25)));
  EXPECT_FLOAT_EQ(var[0], 5.0f / 3.0f);
  EXPECT_FLOAT_EQ(y[0], static_cast<float>(-1.5 / std::sqrt(1.25) * 2.0 + 0.5));
  // Eval mode uses the running statistics.
  const Vec rm = {1.0f}, rv = {4.0f};
  ref::batchnorm_forward_eval(2, 1, 2, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(),
                              0.0f, y.data());
  EXPECT_EQ(y, (Vec{0.5f, 1.5f, 2.5f, 3.5f}));
  const Vec dy = {1, 1, 1, 1};
  Vec dx(4), dg(1), db(1);
  ref::batchnorm_backward_eval(2, 1, 2, x.data(), dy.data(), gamma.data(), rm.data(), rv.data(),
                               0.0f, dx.data(), dg.data(), db.data());
  EXPECT_EQ(dx, (Vec{1, 1, 1, 1}));
  EXPECT_FLOAT_EQ(dg[0], 3.0f);  // sum of (x - 1) / 2
  EXPECT_FLOAT_EQ(db[0], 4.0f);
}

TEST(BatchNormRef, TrainBackwardMatchesFiniteDifferences) {
  // Directional derivative of L(x, gamma, beta) = sum(v * y) along random directions.
  const int64_t N = 3, C = 2, L = 5, n = N * C * L;
  const Vec x = random_vec(n, 1), v = random_vec(n, 2), u = random_vec(n, 3);
  const Vec gamma = {1.5f, 0.7f}, beta = {0.1f, -0.2f};
  const float eps = 1e-5f;
  auto loss = [&](const Vec& xx) {
    Vec y(n), m(C), is(C);
    ref::batchnorm_forward_train(N, C, L, xx.data(), gamma.data(), beta.data(), eps, y.data(),
                                 m.data(), is.data(), nullptr);
    return dot(y, v);
  };
  Vec y(n), m(C), is(C), dx(n), dg(C), db(C);
  ref::batchnorm_forward_train(N, C, L, x.data(), gamma.data(), beta.data(), eps, y.data(),
                               m.data(), is.data(), nullptr);
  ref::batchnorm_backward_train(N, C, L, x.data(), v.data(), gamma.data(), m.data(), is.data(),
                                dx.data(), dg.data(), db.data());
  const float h = 1e-2f;
  Vec xp = x, xm = x;
  for (int64_t i = 0; i < n; ++i) xp[i] += h * u[i], xm[i] -= h * u[i];
  const double fd = (loss(xp) - loss(xm)) / (2.0 * h);
  EXPECT_NEAR(dot(dx, u), fd, 2e-3 * (1.0 + std::fabs(fd)));
  // dgamma[c] = sum v * xhat, dbeta[c] = sum v.
  for (int64_t c = 0; c < C; ++c) {
    double sv = 0.0, svx = 0.0;
    for (int64_t nn = 0; nn < N; ++nn)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t i = (nn * C + c) * L + l;
        sv += v[i];
        svx += v[i] * (y[i] - beta[c]) / gamma[c];
      }
    EXPECT_NEAR(db[c], sv, 1e-5);
    EXPECT_NEAR(dg[c], svx, 1e-4);
  }
}

// ---------------------------------------------------------------------------------------------
// Pooling

Pool2dShape pool_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t R, int64_t S,
                       int64_t stride, int64_t pad) {
  Pool2dShape s;
  s.N = N, s.C = C, s.H = H, s.W = W, s.R = R, s.S = S;
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = pad;
  return s;
}

TEST(PoolRef, MaxPoolByHand) {
  // 4x4 plane, 2x2 windows, stride 2. Ties go to the first position in row-major window order.
  const Vec x = {1, 5, 2, 2,  //
                 3, 4, 2, 1,  //
                 0, 0, 9, 8,  //
                 7, 0, 8, 9};
  const Pool2dShape s = pool_shape(1, 1, 4, 4, 2, 2, 2, 0);
  Vec y(4);
  std::vector<int32_t> arg(4);
  ref::maxpool2d_forward(s, x.data(), y.data(), arg.data());
  EXPECT_EQ(y, (Vec{5, 2, 7, 9}));
  EXPECT_EQ(arg, (std::vector<int32_t>{1, 2, 12, 10}));
  const Vec dy = {1, 2, 3, 4};
  Vec dx(16);
  ref::maxpool2d_backward(s, dy.data(), arg.data(), dx.data());
  Vec want(16, 0.0f);
  want[1] = 1, want[2] = 2, want[12] = 3, want[10] = 4;
  EXPECT_EQ(dx, want);
}

TEST(PoolRef, MaxPoolPaddingNeverWinsAndOverlapsAccumulate) {
  // All-negative plane with pad 1: a zero pad would win if padding took part.
  const Vec x = {-5, -4, -3, -2, -1, -6, -7, -8, -9};
  const Pool2dShape s = pool_shape(1, 1, 3, 3, 3, 3, 2, 1);  // 2x2 output, overlapping windows
  Vec y(4);
  std::vector<int32_t> arg(4);
  ref::maxpool2d_forward(s, x.data(), y.data(), arg.data());
  EXPECT_EQ(y, (Vec{-1, -1, -1, -1}));
  EXPECT_EQ(arg, (std::vector<int32_t>{4, 4, 4, 4}));
  const Vec dy = {1, 2, 3, 4};
  Vec dx(9);
  ref::maxpool2d_backward(s, dy.data(), arg.data(), dx.data());
  EXPECT_EQ(dx, (Vec{0, 0, 0, 0, 10, 0, 0, 0, 0}));
}

TEST(PoolRef, AvgPoolCountsPaddingAndBackwardIsAdjoint) {
  const Vec ones(9, 1.0f);
  const Pool2dShape s = pool_shape(1, 1, 3, 3, 3, 3, 1, 1);
  Vec y(9);
  ref::avgpool2d_forward(s, ones.data(), y.data());
  const float c = 4.0f / 9, e = 6.0f / 9;
  const Vec want = {c, e, c, e, 1, e, c, e, c};
  for (int i = 0; i < 9; ++i) EXPECT_FLOAT_EQ(y[i], want[i]) << i;
  // <avgpool(x), dy> = <x, avgpool_backward(dy)> on awkward shapes.
  const Pool2dShape shapes[] = {pool_shape(2, 3, 7, 9, 3, 3, 2, 1),
                                pool_shape(1, 2, 8, 8, 2, 2, 2, 0),
                                pool_shape(1, 1, 5, 4, 3, 2, 1, 1)};
  uint32_t seed = 700;
  for (const Pool2dShape& ps : shapes) {
    const Vec x = random_vec(ps.N * ps.C * ps.H * ps.W, seed++);
    const Vec dy = random_vec(ps.N * ps.C * ps.P() * ps.Q(), seed++);
    Vec yy(dy.size()), dx(x.size());
    ref::avgpool2d_forward(ps, x.data(), yy.data());
    ref::avgpool2d_backward(ps, dy.data(), dx.data());
    EXPECT_NEAR(dot(yy, dy), dot(x, dx), 1e-5);
  }
}

TEST(PoolRef, GlobalAvgPool) {
  const Vec x = {1, 2, 3, 4, 10, 20, 30, 40};  // N=1, C=2, L=4
  Vec y(2), dx(8);
  ref::global_avgpool_forward(1, 2, 4, x.data(), y.data());
  EXPECT_EQ(y, (Vec{2.5f, 25.0f}));
  const Vec dy = {4, 8};
  ref::global_avgpool_backward(1, 2, 4, dy.data(), dx.data());
  EXPECT_EQ(dx, (Vec{1, 1, 1, 1, 2, 2, 2, 2}));
}

// Fast pooling against the reference. Max pooling (values and argmax), average pooling and both
// backward passes make the same comparisons and additions in the same order as ref::, so they
// must match bit for bit; global average pooling sums in SIMD order (mag: the mean of |x|).

// Values on a grid of quarters, so that windows hold ties (the first maximum must win).
Vec quarter_grid(int64_t n, uint32_t seed) {
  Vec v = random_vec(n, seed, -2.0f, 2.0f);
  for (float& x : v) x = std::round(x * 4.0f) / 4.0f;
  return v;
}

Pool2dShape pool_shape_rs(int64_t N, int64_t C, int64_t H, int64_t W, int64_t R, int64_t S,
                          int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w) {
  Pool2dShape s = pool_shape(N, C, H, W, R, S, stride_h, pad_h);
  s.stride_w = stride_w;
  s.pad_w = pad_w;
  return s;
}

std::string describe(const Pool2dShape& s) {
  std::ostringstream os;
  os << "N=" << s.N << " C=" << s.C << " " << s.H << "x" << s.W << " window " << s.R << "x" << s.S
     << " stride " << s.stride_h << "," << s.stride_w << " pad " << s.pad_h << "," << s.pad_w;
  return os.str();
}

// Every valid combination of the awkward maps and windows (a window may not exceed the padded
// map, and padding is at most half the window, as the runtime requires). Rows 17 and 33 wide
// reach the 8-wide register path of the fast kernels for strides 1, 2 and 3 (gather), with a
// last block that overlaps the previous one.
std::vector<Pool2dShape> fast_pool_cases() {
  const int64_t maps[][2] = {{7, 5}, {1, 1}, {33, 17}, {17, 33}, {8, 8}, {4, 9}};
  // R, S, stride_h, stride_w, pad_h, pad_w
  const int64_t windows[][6] = {{2, 2, 2, 2, 0, 0}, {3, 3, 2, 2, 1, 1}, {3, 3, 1, 1, 1, 1},
                                {3, 2, 3, 1, 1, 1}, {2, 3, 1, 3, 0, 1}, {1, 1, 2, 2, 0, 0}};
  std::vector<Pool2dShape> cases;
  for (int64_t N : {1, 3}) {
    for (int64_t C : {1, 5}) {
      for (const auto& m : maps) {
        for (const auto& w : windows) {
          const Pool2dShape s = pool_shape_rs(N, C, m[0], m[1], w[0], w[1], w[2], w[3], w[4], w[5]);
          if (s.H + 2 * s.pad_h < s.R || s.W + 2 * s.pad_w < s.S) continue;
          cases.push_back(s);
        }
      }
    }
  }
  return cases;
}

TEST(Pool, MaxPoolForwardAndBackwardEqualReferenceBitForBit) {
  uint32_t seed = 1200;
  for (const Pool2dShape& s : fast_pool_cases()) {
    SCOPED_TRACE(describe(s));
    const int64_t xn = s.N * s.C * s.H * s.W, yn = s.N * s.C * s.P() * s.Q();
    Vec x = quarter_grid(xn, seed++);
    if (xn > 5) x[5] = std::nanf("");  // a NaN wins its windows
    const Vec dy = random_vec(yn, seed++);
    Vec y_w(yn), y_g(yn, 7.0f), dx_w(xn), dx_g(xn, 7.0f);
    std::vector<int32_t> a_w(yn), a_g(yn, 7);
    ref::maxpool2d_forward(s, x.data(), y_w.data(), a_w.data());
    cpu::maxpool2d_forward(s, x.data(), y_g.data(), a_g.data());
    EXPECT_TRUE(bit_equal(y_g, y_w)) << "y";
    EXPECT_EQ(a_g, a_w) << "argmax";
    ref::maxpool2d_backward(s, dy.data(), a_w.data(), dx_w.data());
    cpu::maxpool2d_backward(s, dy.data(), a_w.data(), dx_g.data());
    EXPECT_TRUE(bit_equal(dx_g, dx_w)) << "dx";
  }
}

TEST(Pool, AvgPoolForwardAndBackwardEqualReferenceBitForBit) {
  uint32_t seed = 1300;
  for (const Pool2dShape& s : fast_pool_cases()) {
    SCOPED_TRACE(describe(s));
    const int64_t xn = s.N * s.C * s.H * s.W, yn = s.N * s.C * s.P() * s.Q();
    const Vec x = random_vec(xn, seed++), dy = random_vec(yn, seed++);
    Vec y_w(yn), y_g(yn, 7.0f), dx_w(xn), dx_g(xn, 7.0f);
    ref::avgpool2d_forward(s, x.data(), y_w.data());
    cpu::avgpool2d_forward(s, x.data(), y_g.data());
    EXPECT_TRUE(bit_equal(y_g, y_w)) << "y";
    ref::avgpool2d_backward(s, dy.data(), dx_w.data());
    cpu::avgpool2d_backward(s, dy.data(), dx_g.data());
    EXPECT_TRUE(bit_equal(dx_g, dx_w)) << "dx";
  }
}

TEST(Pool, GlobalAvgPoolMatchesReference) {
  uint32_t seed = 1400;
  for (int64_t N : {1, 3}) {
    for (int64_t C : {1, 5}) {
      for (int64_t L : {1, 64, 1000}) {
        SCOPED_TRACE("N=" + std::to_string(N) + " C=" + std::to_string(C) +
                     " L=" + std::to_string(L));
        const Vec x = random_vec(N * C * L, seed++, -1.0f, 3.0f), dy = random_vec(N * C, seed++);
        Vec y_w(N * C), y_g(N * C, 7.0f), mag(N * C), dx_w(N * C * L), dx_g(N * C * L, 7.0f);
        ref::global_avgpool_forward(N, C, L, x.data(), y_w.data());
        cpu::global_avgpool_forward(N, C, L, x.data(), y_g.data());
        ref::global_avgpool_forward(N, C, L, abs_vec(x).data(), mag.data());
        EXPECT_TRUE(all_close(y_g, y_w, mag)) << "y";
        ref::global_avgpool_backward(N, C, L, dy.data(), dx_w.data());
        cpu::global_avgpool_backward(N, C, L, dy.data(), dx_g.data());
        EXPECT_TRUE(bit_equal(dx_g, dx_w)) << "dx";
      }
    }
  }
}

TEST(Pool, BitIdenticalForAnyThreadCount) {
  // 4*16*33*17 floats: above the threading threshold.
  const Pool2dShape s = pool_shape(4, 16, 33, 17, 3, 3, 2, 1);
  const int64_t xn = s.N * s.C * s.H * s.W, yn = s.N * s.C * s.P() * s.Q(), L = s.H * s.W;
  const Vec x = quarter_grid(xn, 1500), dy = random_vec(yn, 1501),
            gdy = random_vec(s.N * s.C, 1502);
  struct Out {
    Vec ym, dxm, ya, dxa, yg, dxg;
    std::vector<int32_t> arg;
  };
  auto run = [&](int threads) {
    Out o{Vec(yn), Vec(xn), Vec(yn), Vec(xn), Vec(s.N * s.C), Vec(xn), std::vector<int32_t>(yn)};
    with_threads(threads, [&] {
      cpu::maxpool2d_forward(s, x.data(), o.ym.data(), o.arg.data());
      cpu::maxpool2d_backward(s, dy.data(), o.arg.data(), o.dxm.data());
      cpu::avgpool2d_forward(s, x.data(), o.ya.data());
      cpu::avgpool2d_backward(s, dy.data(), o.dxa.data());
      cpu::global_avgpool_forward(s.N, s.C, L, x.data(), o.yg.data());
      cpu::global_avgpool_backward(s.N, s.C, L, gdy.data(), o.dxg.data());
    });
    return o;
  };
  const Out one = run(1), three = run(3);
  EXPECT_TRUE(bit_equal(three.ym, one.ym));
  EXPECT_EQ(three.arg, one.arg);
  EXPECT_TRUE(bit_equal(three.dxm, one.dxm));
  EXPECT_TRUE(bit_equal(three.ya, one.ya));
  EXPECT_TRUE(bit_equal(three.dxa, one.dxa));
  EXPECT_TRUE(bit_equal(three.yg, one.yg));
  EXPECT_TRUE(bit_equal(three.dxg, one.dxg));
}

// ---------------------------------------------------------------------------------------------
// Activations (reference only)

TEST(ActivationRef, ReluAndItsBackwardRules) {
  const Vec x = {-2, -0.5f, 0, 0.5f, 3};
  Vec y(5), dx(5);
  ref::relu_forward(5, x.data(), y.data());
  EXPECT_EQ(y, (Vec{0, 0, 0, 0.5f, 3}));
  const Vec dy = {1, -1, 1, -1, 1};
  ref::relu_backward(5, y.data(), dy.data(), dx.data());
  EXPECT_EQ(dx, (Vec{0, 0, 0, -1, 1}));
  ref::relu_backward_guided(5, y.data(), dy.data(), dx.data());
  EXPECT_EQ(dx, (Vec{0, 0, 0, 0, 1}));
  ref::relu_backward_deconv(5, y.data(), dy.data(), dx.data());
  EXPECT_EQ(dx, (Vec{1, 0, 1, 0, 1}));
}

TEST(ActivationRef, GeluValuesAndDerivative) {
  const Vec x = {0.0f, 1.0f, -1.0f, 2.5f};
  Vec y(4);
  ref::gelu_forward(4, x.data(), y.data());
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_NEAR(y[1], 0.841344746, 1e-7);
  EXPECT_NEAR(y[2], -0.158655254, 1e-7);
  EXPECT_NEAR(y[3], 2.48447583, 1e-6);
  const Vec pts = random_vec(64, 5, -4.0f, 4.0f), ones(64, 1.0f);
  Vec d(64);
  ref::gelu_backward(64, pts.data(), ones.data(), d.data());
  for (int i = 0; i < 64; ++i) {
    const double h = 1e-3, v = pts[i];
    auto gelu = [](double t) { return 0.5 * t * (1.0 + std::erf(t / std::sqrt(2.0))); };
    EXPECT_NEAR(d[i], (gelu(v + h) - gelu(v - h)) / (2 * h), 1e-5) << v;
  }
  Vec d0(1);
  const float zero = 0.0f, one = 1.0f;
  ref::gelu_backward(1, &zero, &one, d0.data());
  EXPECT_FLOAT_EQ(d0[0], 0.5f);
}

// ---------------------------------------------------------------------------------------------
// Bilinear resize (reference only)

TEST(ResizeRef, IdentityWhenSizesMatch) {
  const Vec x = random_vec(2 * 3 * 5 * 7, 1);
  Vec y(x.size()), dx(x.size());
  ref::bilinear_resize_forward(2, 3, 5, 7, 5, 7, x.data(), y.data());
  EXPECT_EQ(y, x);
  ref::bilinear_resize_backward(2, 3, 5, 7, 5, 7, x.data(), dx.data());
  EXPECT_EQ(dx, x);
}

TEST(ResizeRef, KnownUpsampleAndDownsample) {
  // PyTorch: F.interpolate([[0, 1], [2, 3]], size=4, mode="bilinear", align_corners=False).
  const Vec x = {0, 1, 2, 3};
  Vec y(16);
  ref::bilinear_resize_forward(1, 1, 2, 2, 4, 4, x.data(), y.data());
  EXPECT_EQ(y, (Vec{0.0f, 0.25f, 0.75f, 1.0f, 0.5f, 0.75f, 1.25f, 1.5f,  //
                    1.5f, 1.75f, 2.25f, 2.5f, 2.0f, 2.25f, 2.75f, 3.0f}));
  // Halving samples the centre of each 2x2 block: the block mean.
  const Vec big = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  Vec small(4);
  ref::bilinear_resize_forward(1, 1, 4, 4, 2, 2, big.data(), small.data());
  EXPECT_EQ(small, (Vec{2.5f, 4.5f, 10.5f, 12.5f}));
}

TEST(ResizeRef, BackwardIsAdjointOfForward) {
  const int64_t sizes[][4] = {{5, 7, 11, 3}, {3, 3, 8, 8}, {9, 4, 2, 5}, {1, 6, 4, 13}};
  uint32_t seed = 800;
  for (const auto& sz : sizes) {
    const int64_t H = sz[0], W = sz[1], OH = sz[2], OW = sz[3];
    const Vec x = random_vec(2 * H * W, seed++), dy = random_vec(2 * OH * OW, seed++);
    Vec y(dy.size()), dx(x.size());
    ref::bilinear_resize_forward(2, 1, H, W, OH, OW, x.data(), y.data());
    ref::bilinear_resize_backward(2, 1, H, W, OH, OW, dy.data(), dx.data());
    EXPECT_NEAR(dot(y, dy), dot(x, dx), 1e-5) << H << "x" << W << " -> " << OH << "x" << OW;
  }
}

}  // namespace
}  // namespace gb::kernels
