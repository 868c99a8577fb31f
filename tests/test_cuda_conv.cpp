// Parity of the CUDA convolution (kernels/conv2d.h) and GEMM / linear (kernels/gemm.h,
// kernels/linear.h) kernels against the double-accumulating references (kernels::ref::, or a double
// host loop for sgemm), on awkward shapes: odd sizes, strides with odd inputs, large and asymmetric
// padding, 1x1 / 3x3 / 7x7 / non-square kernels, groups and depthwise (whose hand-written kernels
// are cuda/conv_depthwise.cu: 3x3 and 5x5, strides 1-3, C = 1 and 17), channel counts that are not
// multiples of the 64 x 64 x 16 tiles, and ResNet-20-sized layers. Also: bitwise determinism of
// backward-weight (split-K) and the cuDNN backend when glassbox was built with it.
// Shape letters: N batch, C/K input/output channels, H/W input, P/Q output, R/S kernel, G groups.
//
// Tolerance: relative_error (||gpu - ref|| / ||ref||) < 1e-5. The kernels accumulate in fp32;
// the longest reductions here (backward-weight of the ResNet-20 layers, N*P*Q = 32768) are split
// into chunks of at most a few hundred terms summed in fp32, which keeps the error near 1e-6.
// cuDNN's algorithms (FFT / Winograd among them) get 1e-4.
#ifdef GB_WITH_CUDA

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cuda/device_api.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"
#include "tests/cuda_test_util.h"

namespace gb {
namespace {

using kernels::Conv2dShape;
using testing::DeviceVector;
using testing::random_vector;
using testing::relative_error;

constexpr double kTol = 1e-5;       // fp32 kernels against double references
constexpr double kCudnnTol = 1e-4;  // cuDNN (its algorithm choice is its own)

Conv2dShape make_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S,
                       int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                       int64_t groups) {
  Conv2dShape s;
  s.N = N;
  s.C = C;
  s.H = H;
  s.W = W;
  s.K = K;
  s.R = R;
  s.S = S;
  s.stride_h = stride_h;
  s.stride_w = stride_w;
  s.pad_h = pad_h;
  s.pad_w = pad_w;
  s.groups = groups;
  return s;
}

std::string describe(const Conv2dShape& s) {
  return "N=" + std::to_string(s.N) + " C=" + std::to_string(s.C) + " H=" + std::to_string(s.H) +
         " W=" + std::to_string(s.W) + " K=" + std::to_string(s.K) + " R=" + std::to_string(s.R) +
         " S=" + std::to_string(s.S) + " stride=" + std::to_string(s.stride_h) + "x" +
         std::to_string(s.stride_w) + " pad=" + std::to_string(s.pad_h) + "x" +
         std::to_string(s.pad_w) + " G=" + std::to_string(s.groups);
}

struct ConvCase {
  Conv2dShape s;
  bool bias;  // forward with a bias / backward-weight with db
};

// The awkward shapes every direction is checked on.
std::vector<ConvCase> conv_cases() {
  return {
      // Odd everything, 3x3 pad 1 stride 1.
      {make_shape(3, 5, 7, 9, 6, 3, 3, 1, 1, 1, 1, 1), true},
      {make_shape(3, 5, 7, 9, 6, 3, 3, 1, 1, 1, 1, 1), false},
      // Stride 2 on odd inputs, pad 0 and pad 1.
      {make_shape(3, 5, 7, 9, 6, 3, 3, 2, 2, 0, 0, 1), true},
      {make_shape(3, 5, 7, 9, 6, 3, 3, 2, 2, 1, 1, 1), false},
      // Padding larger than the kernel reach (pad 3 with 3x3), stride 2.
      {make_shape(3, 5, 7, 9, 6, 3, 3, 2, 2, 3, 3, 1), true},
      // 1x1, stride 1 and stride 2 (the ResNet shortcut).
      {make_shape(3, 5, 7, 9, 6, 1, 1, 1, 1, 0, 0, 1), true},
      {make_shape(3, 5, 7, 9, 6, 1, 1, 2, 2, 0, 0, 1), false},
      // 7x7 stride 2 pad 3 (the ImageNet stem), odd input.
      {make_shape(2, 3, 15, 13, 8, 7, 7, 2, 2, 3, 3, 1), true},
      // Non-square 5x3 kernel, different strides and pads per axis.
      {make_shape(3, 5, 11, 9, 6, 5, 3, 1, 2, 2, 1, 1), true},
      {make_shape(2, 4, 10, 7, 3, 5, 3, 3, 1, 0, 2, 1), false},
      // Groups 2.
      {make_shape(3, 6, 7, 9, 10, 3, 3, 1, 1, 1, 1, 2), true},
      {make_shape(2, 8, 9, 7, 4, 3, 3, 2, 2, 1, 1, 2), false},
      // Depthwise (C = K = G; cuda/conv_depthwise.cu), stride 1 and 2.
      {make_shape(3, 5, 7, 9, 5, 3, 3, 1, 1, 1, 1, 5), true},
      {make_shape(2, 7, 9, 8, 7, 3, 3, 2, 2, 1, 1, 7), false},
      {make_shape(3, 17, 7, 9, 17, 3, 3, 1, 1, 1, 1, 17), true},    // C 17, batch 3
      {make_shape(2, 4, 11, 10, 4, 5, 5, 2, 2, 2, 2, 4), true},     // 5x5 s2 p2
      {make_shape(3, 1, 7, 9, 1, 3, 3, 1, 1, 1, 1, 1), true},       // C = 1 (groups 1)
      {make_shape(2, 3, 10, 13, 3, 5, 3, 1, 2, 2, 1, 3), false},    // 5x3, strides 1 and 2
      {make_shape(2, 3, 5, 6, 3, 3, 3, 3, 3, 3, 3, 3), true},       // stride 3, pad beyond reach
      {make_shape(4, 32, 56, 56, 32, 3, 3, 1, 1, 1, 1, 32), true},  // MobileNetV2-sized
      {make_shape(2, 96, 28, 28, 96, 3, 3, 2, 2, 1, 1, 96), false},
      // K and C not multiples of 64 / 16: several M tiles, ragged reduction steps.
      {make_shape(2, 19, 6, 5, 70, 3, 3, 1, 1, 1, 1, 1), true},
      {make_shape(2, 70, 5, 6, 19, 3, 3, 1, 1, 1, 1, 1), false},
      {make_shape(1, 130, 3, 3, 129, 1, 1, 1, 1, 0, 0, 1), true},
      // ResNet-20 sized: 16 -> 16 3x3 pad 1, and the stride-2 16 -> 32 transition.
      {make_shape(32, 16, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1), true},
      {make_shape(32, 16, 32, 32, 32, 3, 3, 2, 2, 1, 1, 1), false},
      {make_shape(32, 16, 32, 32, 32, 1, 1, 2, 2, 0, 0, 1), false},
      // Shapes that select the large double-buffered tiles (128x128, 128x64, 64x128) on a
      // 132-SM GPU, with ragged edges, odd kernels, strides and groups.
      {make_shape(32, 128, 16, 16, 256, 3, 3, 1, 1, 1, 1, 1), false},
      {make_shape(4, 130, 9, 11, 131, 5, 3, 1, 2, 2, 1, 1), true},
      {make_shape(8, 64, 15, 13, 200, 3, 3, 2, 2, 1, 1, 1), true},
      {make_shape(8, 256, 8, 8, 256, 1, 1, 1, 1, 0, 0, 2), false},
      {make_shape(2, 8, 9, 9, 256, 3, 3, 1, 1, 1, 1, 1), true},
      {make_shape(1, 400, 9, 9, 16, 3, 3, 1, 1, 1, 1, 1), false},
  };
}

size_t x_size(const Conv2dShape& s) { return static_cast<size_t>(s.N * s.C * s.H * s.W); }
size_t w_size(const Conv2dShape& s) {
  return static_cast<size_t>(s.K * s.C_per_group() * s.R * s.S);
}
size_t y_size(const Conv2dShape& s) { return static_cast<size_t>(s.N * s.K * s.P() * s.Q()); }

enum class Impl { HandWritten, TopLevel };

// Runs forward, backward-input and backward-weight of one case on the GPU and on ref::; the
// relative errors must stay under tol. TopLevel goes through the backend dispatch.
void check_conv_case(const ConvCase& c, Impl impl, double tol) {
  namespace cu = kernels::cuda;
  const Conv2dShape& s = c.s;
  SCOPED_TRACE(describe(s) + (c.bias ? " with bias" : " without bias"));
  const auto x = random_vector(x_size(s), 11);
  const auto w = random_vector(w_size(s), 12);
  const auto b = random_vector(static_cast<size_t>(s.K), 13);
  const auto dy = random_vector(y_size(s), 14);

  std::vector<float> y_ref(y_size(s)), dx_ref(x_size(s)), dw_ref(w_size(s)),
      db_ref(static_cast<size_t>(s.K));
  kernels::ref::conv2d_forward(s, x.data(), w.data(), c.bias ? b.data() : nullptr, y_ref.data());
  kernels::ref::conv2d_backward_input(s, dy.data(), w.data(), dx_ref.data());
  kernels::ref::conv2d_backward_weight(s, x.data(), dy.data(), dw_ref.data(),
                                       c.bias ? db_ref.data() : nullptr);

  DeviceVector<float> dx_in(x), dw_in(w), db_in(b), ddy(dy);
  DeviceVector<float> y(y_size(s)), dx(x_size(s)), dw(w_size(s)), db(static_cast<size_t>(s.K));
  y.poison();
  dx.poison();
  dw.poison();
  db.poison();
  const float* bias = c.bias ? db_in.get() : nullptr;
  float* db_out = c.bias ? db.get() : nullptr;
  if (impl == Impl::HandWritten) {
    cu::handwritten::conv2d_forward(s, dx_in.get(), dw_in.get(), bias, y.get());
    cu::handwritten::conv2d_backward_input(s, ddy.get(), dw_in.get(), dx.get());
    cu::handwritten::conv2d_backward_weight(s, dx_in.get(), ddy.get(), dw.get(), db_out);
  } else {
    cu::conv2d_forward(s, dx_in.get(), dw_in.get(), bias, y.get());
    cu::conv2d_backward_input(s, ddy.get(), dw_in.get(), dx.get());
    cu::conv2d_backward_weight(s, dx_in.get(), ddy.get(), dw.get(), db_out);
  }
  EXPECT_LT(relative_error(y.host(), y_ref), tol) << "forward";
  EXPECT_LT(relative_error(dx.host(), dx_ref), tol) << "backward-input";
  EXPECT_LT(relative_error(dw.host(), dw_ref), tol) << "backward-weight";
  if (c.bias) {
    EXPECT_LT(relative_error(db.host(), db_ref), tol) << "backward-weight db";
  } else {
    // db == nullptr: the poisoned buffer must be left alone.
    for (float v : db.host()) ASSERT_EQ(v, -12345.0f) << "db written although nullptr";
  }
}

TEST(CudaConv, HandWrittenMatchesReference) {
  GB_REQUIRE_GPU();
  for (const ConvCase& c : conv_cases()) check_conv_case(c, Impl::HandWritten, kTol);
}

TEST(CudaConv, DefaultBackendIsHandWritten) {
  GB_REQUIRE_GPU();
  ASSERT_EQ(kernels::cuda::conv_backend(), kernels::cuda::ConvBackend::HandWritten);
  check_conv_case({make_shape(3, 5, 7, 9, 6, 3, 3, 2, 2, 1, 1, 1), true}, Impl::TopLevel, kTol);
}

TEST(CudaConv, BackwardWeightIsBitwiseDeterministic) {
  GB_REQUIRE_GPU();
  // Split-K shapes (long N*P*Q, few tiles) and a grouped one.
  for (const Conv2dShape& s : {make_shape(32, 16, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1),
                               make_shape(32, 16, 32, 32, 32, 3, 3, 2, 2, 1, 1, 1),
                               make_shape(8, 6, 17, 15, 10, 3, 3, 1, 1, 1, 1, 2),
                               make_shape(8, 24, 28, 28, 24, 3, 3, 1, 1, 1, 1, 24),  // depthwise
                               make_shape(32, 128, 16, 16, 256, 3, 3, 1, 1, 1, 1, 1)}) {
    SCOPED_TRACE(describe(s));
    const auto x = random_vector(x_size(s), 21);
    const auto dy = random_vector(y_size(s), 22);
    DeviceVector<float> dx_in(x), ddy(dy);
    std::vector<float> first_dw, first_db;
    for (int run = 0; run < 2; ++run) {
      DeviceVector<float> dw(w_size(s)), db(static_cast<size_t>(s.K));
      dw.poison();
      db.poison();
      kernels::cuda::handwritten::conv2d_backward_weight(s, dx_in.get(), ddy.get(), dw.get(),
                                                         db.get());
      const auto hdw = dw.host(), hdb = db.host();
      if (run == 0) {
        first_dw = hdw;
        first_db = hdb;
      } else {
        ASSERT_EQ(0, std::memcmp(first_dw.data(), hdw.data(), hdw.size() * sizeof(float)));
        ASSERT_EQ(0, std::memcmp(first_db.data(), hdb.data(), hdb.size() * sizeof(float)));
      }
    }
  }
}

// Restores the hand-written backend when a test leaves (also on a failed assertion).
struct BackendGuard {
  ~BackendGuard() { kernels::cuda::set_conv_backend(kernels::cuda::ConvBackend::HandWritten); }
};

TEST(CudaConv, CudnnBackendMatchesReference) {
  GB_REQUIRE_GPU();
  if (!kernels::cuda::cudnn_available()) GTEST_SKIP() << "built without cuDNN";
  BackendGuard guard;
  kernels::cuda::set_conv_backend(kernels::cuda::ConvBackend::Cudnn);
  ASSERT_EQ(kernels::cuda::conv_backend(), kernels::cuda::ConvBackend::Cudnn);
  for (const ConvCase& c : conv_cases()) check_conv_case(c, Impl::TopLevel, kCudnnTol);
}

TEST(CudaConv, CudnnBackendWithoutCudnnThrows) {
  GB_REQUIRE_GPU();
  if (kernels::cuda::cudnn_available()) GTEST_SKIP() << "built with cuDNN";
  BackendGuard guard;
  kernels::cuda::set_conv_backend(kernels::cuda::ConvBackend::Cudnn);
  const Conv2dShape s = make_shape(1, 1, 3, 3, 1, 3, 3, 1, 1, 0, 0, 1);
  DeviceVector<float> x(9), w(9), y(1);
  EXPECT_THROW(kernels::cuda::conv2d_forward(s, x.get(), w.get(), nullptr, y.get()),
               std::runtime_error);
}

// ---- sgemm and linear ----

// C = alpha op(A) op(B) + beta C in double on the host, same storage conventions as sgemm.
std::vector<float> host_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                             const std::vector<float>& A, int64_t lda, const std::vector<float>& B,
                             int64_t ldb, float beta, const std::vector<float>& C0, int64_t ldc) {
  std::vector<float> C = C0;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double a = ta ? A[k * lda + m] : A[m * lda + k];
        const double b = tb ? B[n * ldb + k] : B[k * ldb + n];
        acc += a * b;
      }
      double v = alpha * acc;
      if (beta != 0.0f) v += static_cast<double>(beta) * C0[m * ldc + n];
      C[m * ldc + n] = static_cast<float>(v);
    }
  }
  return C;
}

TEST(CudaGemm, SgemmAllTransposesOddSizes) {
  GB_REQUIRE_GPU();
  const int64_t sizes[] = {1, 17, 130};
  uint32_t seed = 100;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (int64_t M : sizes) {
        for (int64_t N : sizes) {
          for (int64_t K : sizes) {
            // Row strides with a little slack on odd combinations.
            const int64_t pad = (M + N + K) % 2;
            const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
            const int64_t a_rows = ta ? K : M, b_rows = tb ? N : K;
            const auto A = random_vector(static_cast<size_t>(a_rows * lda), seed++);
            const auto B = random_vector(static_cast<size_t>(b_rows * ldb), seed++);
            auto C0 = random_vector(static_cast<size_t>(M * ldc), seed++);
            for (float beta : {0.0f, 0.5f}) {
              SCOPED_TRACE("ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) +
                           " M=" + std::to_string(M) + " N=" + std::to_string(N) +
                           " K=" + std::to_string(K) + " beta=" + std::to_string(beta));
              const float alpha = 0.75f;
              std::vector<float> c_init = C0;
              // beta == 0 must not read C: start from NaN.
              if (beta == 0.0f)
                for (int64_t m = 0; m < M; ++m)
                  for (int64_t n = 0; n < N; ++n)
                    c_init[m * ldc + n] = std::numeric_limits<float>::quiet_NaN();
              const auto want = host_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc);
              DeviceVector<float> dA(A), dB(B), dC(c_init);
              kernels::cuda::sgemm(ta, tb, M, N, K, alpha, dA.get(), lda, dB.get(), ldb, beta,
                                   dC.get(), ldc);
              const auto got = dC.host();
              EXPECT_LT(relative_error(got, want), kTol);
              // The slack columns past N stay untouched.
              for (int64_t m = 0; m < M; ++m)
                for (int64_t n = N; n < ldc; ++n)
                  ASSERT_EQ(std::memcmp(&got[m * ldc + n], &c_init[m * ldc + n], 4), 0);
            }
          }
        }
      }
    }
  }
}

// Sizes that select each large tile (128x128, 128x64, 64x128), every transpose combination.
TEST(CudaGemm, SgemmLargeTiles) {
  GB_REQUIRE_GPU();
  struct Dims {
    int64_t M, N, K;
  };
  uint32_t seed = 900;
  for (const Dims d : {Dims{1200, 1500, 37}, Dims{1500, 100, 21}, Dims{70, 2900, 19}}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        SCOPED_TRACE("ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) +
                     " M=" + std::to_string(d.M) + " N=" + std::to_string(d.N));
        const int64_t lda = ta ? d.M : d.K, ldb = tb ? d.K : d.N, ldc = d.N;
        const auto A = random_vector(static_cast<size_t>((ta ? d.K : d.M) * lda), seed++);
        const auto B = random_vector(static_cast<size_t>((tb ? d.N : d.K) * ldb), seed++);
        const std::vector<float> C0(static_cast<size_t>(d.M * ldc), 0.0f);
        const auto want = host_gemm(ta, tb, d.M, d.N, d.K, 1.0f, A, lda, B, ldb, 0.0f, C0, ldc);
        DeviceVector<float> dA(A), dB(B), dC(C0.size());
        dC.poison();
        kernels::cuda::sgemm(ta, tb, d.M, d.N, d.K, 1.0f, dA.get(), lda, dB.get(), ldb, 0.0f,
                             dC.get(), ldc);
        EXPECT_LT(relative_error(dC.host(), want), kTol);
      }
    }
  }
}

TEST(CudaGemm, LinearMatchesReference) {
  GB_REQUIRE_GPU();
  struct Dims {
    int64_t N, I, O;
  };
  for (const Dims d : {Dims{7, 130, 17}, Dims{33, 5, 70}, Dims{1, 1, 1}, Dims{128, 64, 10}}) {
    for (bool with_bias : {true, false}) {
      for (bool with_dx : {true, false}) {
        SCOPED_TRACE("N=" + std::to_string(d.N) + " I=" + std::to_string(d.I) +
                     " O=" + std::to_string(d.O) + " bias=" + std::to_string(with_bias) +
                     " dx=" + std::to_string(with_dx));
        const auto x = random_vector(static_cast<size_t>(d.N * d.I), 31);
        const auto w = random_vector(static_cast<size_t>(d.O * d.I), 32);
        const auto b = random_vector(static_cast<size_t>(d.O), 33);
        const auto dy = random_vector(static_cast<size_t>(d.N * d.O), 34);
        std::vector<float> y_ref(static_cast<size_t>(d.N * d.O)), dx_ref(x.size()),
            dw_ref(w.size()), db_ref(b.size());
        kernels::ref::linear_forward(d.N, d.I, d.O, x.data(), w.data(),
                                     with_bias ? b.data() : nullptr, y_ref.data());
        kernels::ref::linear_backward(d.N, d.I, d.O, x.data(), w.data(), dy.data(), dx_ref.data(),
                                      dw_ref.data(), db_ref.data());

        DeviceVector<float> dxin(x), dwin(w), dbin(b), ddy(dy);
        DeviceVector<float> y(y_ref.size()), dx(x.size()), dw(w.size()), db(b.size());
        y.poison();
        dx.poison();
        dw.poison();
        db.poison();
        kernels::cuda::linear_forward(d.N, d.I, d.O, dxin.get(), dwin.get(),
                                      with_bias ? dbin.get() : nullptr, y.get());
        kernels::cuda::linear_backward(d.N, d.I, d.O, dxin.get(), dwin.get(), ddy.get(),
                                       with_dx ? dx.get() : nullptr, dw.get(),
                                       with_bias ? db.get() : nullptr);
        EXPECT_LT(relative_error(y.host(), y_ref), kTol) << "forward";
        EXPECT_LT(relative_error(dw.host(), dw_ref), kTol) << "dw";
        if (with_dx) {
          EXPECT_LT(relative_error(dx.host(), dx_ref), kTol) << "dx";
        } else {
          for (float v : dx.host()) ASSERT_EQ(v, -12345.0f) << "dx written although nullptr";
        }
        if (with_bias) {
          EXPECT_LT(relative_error(db.host(), db_ref), kTol) << "db";
        } else {
          for (float v : db.host()) ASSERT_EQ(v, -12345.0f) << "db written although nullptr";
        }
      }
    }
  }
}

}  // namespace
}  // namespace gb

#else  // !GB_WITH_CUDA

#include <gtest/gtest.h>

TEST(CudaConv, Skipped) { GTEST_SKIP() << "built without CUDA"; }

#endif  // GB_WITH_CUDA
