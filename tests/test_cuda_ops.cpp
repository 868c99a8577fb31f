// Parity tests for the CUDA elementwise, batch norm, pooling, softmax/cross-entropy, resize,
// reduction, optimizer and strided-copy kernels (kernels/cuda): every kernel against its
// kernels::ref:: twin or the CPU formula on awkward shapes (odd sizes, misaligned pointers,
// padding and strides, broadcasting), plus the determinism promises (two runs bitwise equal).
// Outputs are poisoned before each launch so unwritten elements show up.
// Tolerances (relative_error: ||gpu - ref|| / ||ref||): 1e-5 for float kernels against the
// double-accumulating ref:: loops (batch norm, average pooling forward); 1e-6 where the GPU also
// evaluates in double (GELU, softmax family, resize, sums); bitwise where the GPU performs the
// same float operations in the same order (ReLU rules, add/sub/mul, max pooling, pooling
// backward, copies, optimizer updates).
// Shape letters: N batch, C channels, L positions, H/W input, P/Q or OH/OW output, D classes.
#include <gtest/gtest.h>

#ifdef GB_WITH_CUDA

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/copy.h"
#include "kernels/cuda/device_api.h"
#include "kernels/elementwise.h"
#include "kernels/optim.h"
#include "kernels/pool.h"
#include "kernels/reduce.h"
#include "kernels/resize.h"
#include "kernels/softmax.h"
#include "runtime/optim.h"
#include "runtime/tensor.h"
#include "tests/cuda_test_util.h"

namespace gb {
namespace {

namespace cu = kernels::cuda;
namespace ref = kernels::ref;
using kernels::Pool2dShape;
using testing::DeviceVector;
using testing::random_vector;
using testing::relative_error;
using Vec = std::vector<float>;

// A poisoned device output of n floats (returned as a prvalue: DeviceVector does not move).
struct OutBuffer : DeviceVector<float> {
  explicit OutBuffer(size_t n) : DeviceVector<float>(n) { poison(); }
};
OutBuffer out_buffer(size_t n) { return OutBuffer(n); }

// Index of the first element whose bits differ (-1: identical).
int64_t first_bit_difference(const Vec& a, const Vec& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return static_cast<int64_t>(i);
  return -1;
}

#define EXPECT_BITWISE(got, want)                                                      \
  do {                                                                                 \
    const Vec& got_ = (got);                                                           \
    const Vec& want_ = (want);                                                         \
    ASSERT_EQ(got_.size(), want_.size());                                              \
    const int64_t at_ = first_bit_difference(got_, want_);                             \
    EXPECT_EQ(at_, -1) << "first difference at " << at_ << ": "                        \
                       << (at_ >= 0 ? got_[static_cast<size_t>(at_)] : 0.0f) << " vs " \
                       << (at_ >= 0 ? want_[static_cast<size_t>(at_)] : 0.0f);         \
  } while (0)

#define EXPECT_REL(got, want, tol)                 \
  do {                                             \
    const Vec& got_ = (got);                       \
    const Vec& want_ = (want);                     \
    ASSERT_EQ(got_.size(), want_.size());          \
    EXPECT_LE(relative_error(got_, want_), (tol)); \
  } while (0)

// A device copy of host data placed one float past a 16-byte boundary (misaligned for float4).
class Misaligned {
 public:
  explicit Misaligned(const Vec& host) : buf_(host.size() + 1) {
    if (!host.empty()) {
      kernels::cuda::copy_to_device(buf_.get() + 1, host.data(), host.size() * sizeof(float));
    }
  }
  explicit Misaligned(size_t n) : buf_(n + 1) { buf_.poison(); }
  float* get() const { return buf_.get() + 1; }
  Vec host() const {
    Vec all = buf_.host();
    return Vec(all.begin() + 1, all.end());
  }

 private:
  DeviceVector<float> buf_;
};

const int64_t kSizes[] = {1, 7, 1000003};

// ---------------------------------------------------------------- elementwise

TEST(CudaElementwise, ReluRulesMatchRefBitwise) {
  GB_REQUIRE_GPU();
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n " + std::to_string(n));
    const auto N = static_cast<size_t>(n);
    Vec x = random_vector(N, 1), dy = random_vector(N, 2);
    if (n > 3) x[3] = 0.0f, x[2] = -0.0f;  // zeros of both signs
    Vec y_ref(N), dx_ref(N);
    DeviceVector<float> dx(x), ddy(dy);
    auto y = out_buffer(N), out = out_buffer(N);
    cu::relu_forward(n, dx.get(), y.get());
    ref::relu_forward(n, x.data(), y_ref.data());
    EXPECT_BITWISE(y.host(), y_ref);
    // The backward rules read the forward output.
    cu::relu_backward(n, y.get(), ddy.get(), out.get());
    ref::relu_backward(n, y_ref.data(), dy.data(), dx_ref.data());
    EXPECT_BITWISE(out.host(), dx_ref);
    out.poison();
    cu::relu_backward_guided(n, y.get(), ddy.get(), out.get());
    ref::relu_backward_guided(n, y_ref.data(), dy.data(), dx_ref.data());
    EXPECT_BITWISE(out.host(), dx_ref);
    out.poison();
    cu::relu_backward_deconv(n, y.get(), ddy.get(), out.get());
    ref::relu_backward_deconv(n, y_ref.data(), dy.data(), dx_ref.data());
    EXPECT_BITWISE(out.host(), dx_ref);
    // Misaligned pointers take the scalar path.
    Misaligned mx(x), mo(N);
    cu::relu_forward(n, mx.get(), mo.get());
    EXPECT_BITWISE(mo.host(), y_ref);
    // In place.
    cu::relu_forward(n, dx.get(), dx.get());
    EXPECT_BITWISE(dx.host(), y_ref);
  }
}

TEST(CudaElementwise, ReluPassesNaN) {
  GB_REQUIRE_GPU();
  const Vec x = {1.0f, std::numeric_limits<float>::quiet_NaN(), -2.0f, 0.5f, -0.0f};
  DeviceVector<float> dx(x);
  auto y = out_buffer(x.size());
  cu::relu_forward(5, dx.get(), y.get());
  const Vec h = y.host();
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_TRUE(std::isnan(h[1]));
  EXPECT_EQ(h[2], 0.0f);
  EXPECT_EQ(h[3], 0.5f);
  EXPECT_EQ(h[4], 0.0f);
  EXPECT_FALSE(std::signbit(h[4]));
}

// Tolerance 1e-6: the GPU evaluates erf/exp in double as the ref does.
TEST(CudaElementwise, GeluMatchesRef) {
  GB_REQUIRE_GPU();
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n " + std::to_string(n));
    const auto N = static_cast<size_t>(n);
    const Vec x = random_vector(N, 3, -6.0f, 6.0f), dy = random_vector(N, 4);
    Vec y_ref(N), dx_ref(N);
    ref::gelu_forward(n, x.data(), y_ref.data());
    ref::gelu_backward(n, x.data(), dy.data(), dx_ref.data());
    DeviceVector<float> dx(x), ddy(dy);
    auto y = out_buffer(N), g = out_buffer(N);
    cu::gelu_forward(n, dx.get(), y.get());
    cu::gelu_backward(n, dx.get(), ddy.get(), g.get());
    EXPECT_REL(y.host(), y_ref, 1e-6);
    EXPECT_REL(g.host(), dx_ref, 1e-6);
    Misaligned mx(x), mdy(dy), mo(N);
    cu::gelu_backward(n, mx.get(), mdy.get(), mo.get());
    EXPECT_BITWISE(mo.host(), g.host());
  }
}

TEST(CudaElementwise, ArithmeticMatchesHostBitwise) {
  GB_REQUIRE_GPU();
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n " + std::to_string(n));
    const auto N = static_cast<size_t>(n);
    const Vec a = random_vector(N, 5), b = random_vector(N, 6, -3.0f, 3.0f);
    Vec sum(N), diff(N), prod(N), scaled(N);
    for (size_t i = 0; i < N; ++i) {
      sum[i] = a[i] + b[i];
      diff[i] = a[i] - b[i];
      prod[i] = a[i] * b[i];
      scaled[i] = a[i] * 0.37f;
    }
    DeviceVector<float> da(a), db(b);
    auto c = out_buffer(N);
    cu::add(n, da.get(), db.get(), c.get());
    EXPECT_BITWISE(c.host(), sum);
    c.poison();
    cu::sub(n, da.get(), db.get(), c.get());
    EXPECT_BITWISE(c.host(), diff);
    c.poison();
    cu::mul(n, da.get(), db.get(), c.get());
    EXPECT_BITWISE(c.host(), prod);
    c.poison();
    cu::scale(n, da.get(), 0.37f, c.get());
    EXPECT_BITWISE(c.host(), scaled);
    // Misaligned operands (scalar path) and aliasing (c == a).
    Misaligned ma(a), mb(b), mc(N);
    cu::sub(n, ma.get(), mb.get(), mc.get());
    EXPECT_BITWISE(mc.host(), diff);
    DeviceVector<float> acc(a);
    cu::add_inplace(n, acc.get(), db.get());
    EXPECT_BITWISE(acc.host(), sum);
    cu::mul(n, da.get(), db.get(), da.get());
    EXPECT_BITWISE(da.host(), prod);
    cu::fill(n, c.get(), -2.5f);
    EXPECT_BITWISE(c.host(), Vec(N, -2.5f));
    cu::fill(n, mc.get(), 4.0f);
    EXPECT_BITWISE(mc.host(), Vec(N, 4.0f));
  }
}

struct BroadcastCase {
  std::vector<int64_t> out, a_shape, b_shape;  // operand shapes padded to out's rank
  bool transpose_a = false;                    // a (2-D) stored transposed
};

// Row-major strides of `shape` with 0 on the dims that broadcast against `out`.
std::vector<int64_t> broadcast_strides(const std::vector<int64_t>& shape,
                                       const std::vector<int64_t>& out) {
  std::vector<int64_t> s(shape.size());
  int64_t stride = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    s[d] = (shape[d] == 1 && out[d] != 1) ? 0 : stride;
    stride *= shape[d];
  }
  return s;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t v : shape) n *= v;
  return n;
}

TEST(CudaElementwise, BroadcastBinaryMatchesHost) {
  GB_REQUIRE_GPU();
  const BroadcastCase cases[] = {
      {{3, 4, 5}, {3, 1, 5}, {1, 4, 1}},
      {{2, 3, 4}, {2, 3, 4}, {1, 1, 4}},
      {{7, 1}, {7, 1}, {1, 1}},
      {{}, {}, {}},
      {{64, 33, 17}, {1, 33, 1}, {64, 33, 17}},
      {{2, 1, 3, 1, 5}, {2, 1, 3, 1, 1}, {1, 1, 1, 1, 5}},
      {{5, 3}, {5, 3}, {1, 3}, true},
      {{1000003}, {1000003}, {1000003}},
      {{2, 2, 2, 2, 2, 2, 2, 3}, {2, 1, 2, 1, 2, 1, 2, 1}, {1, 2, 1, 2, 1, 2, 1, 3}},
  };
  int seed = 10;
  for (const auto& c : cases) {
    const int ndim = static_cast<int>(c.out.size());
    SCOPED_TRACE("ndim " + std::to_string(ndim) + " numel " + std::to_string(numel(c.out)));
    const Vec a = random_vector(static_cast<size_t>(numel(c.a_shape)), ++seed);
    const Vec b = random_vector(static_cast<size_t>(numel(c.b_shape)), ++seed);
    std::vector<int64_t> sa = broadcast_strides(c.a_shape, c.out);
    const std::vector<int64_t> sb = broadcast_strides(c.b_shape, c.out);
    if (c.transpose_a) sa = {1, c.a_shape[0]};  // a stored as [3, 5], read as its transpose
    const int64_t total = numel(c.out);
    std::vector<Vec> want(4, Vec(static_cast<size_t>(total)));  // +, -, *, / of a and b
    for (int64_t i = 0; i < total; ++i) {
      int64_t rem = i, oa = 0, ob = 0;
      for (int d = ndim - 1; d >= 0; --d) {
        const int64_t idx = rem % c.out[static_cast<size_t>(d)];
        rem /= c.out[static_cast<size_t>(d)];
        oa += idx * sa[static_cast<size_t>(d)];
        ob += idx * sb[static_cast<size_t>(d)];
      }
      const float x = a[static_cast<size_t>(oa)], y = b[static_cast<size_t>(ob)];
      want[0][static_cast<size_t>(i)] = x + y;
      want[1][static_cast<size_t>(i)] = x - y;
      want[2][static_cast<size_t>(i)] = x * y;
      want[3][static_cast<size_t>(i)] = x / y;
    }
    DeviceVector<float> da(a), db(b);
    const kernels::BinaryOp ops[] = {kernels::BinaryOp::Add, kernels::BinaryOp::Sub,
                                     kernels::BinaryOp::Mul, kernels::BinaryOp::Div};
    for (int k = 0; k < 4; ++k) {
      auto out = out_buffer(static_cast<size_t>(total));
      cu::broadcast_binary(ops[k], ndim, c.out.data(), da.get(), sa.data(), db.get(), sb.data(),
                           out.get());
      EXPECT_BITWISE(out.host(), want[k]);
    }
  }
  const int64_t shape9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_THROW(cu::broadcast_binary(kernels::BinaryOp::Add, 9, shape9, nullptr, shape9, nullptr,
                                    shape9, nullptr),
               std::invalid_argument);
}

// ---------------------------------------------------------------- batch norm

struct BnCase {
  int64_t N, C, L;
};
// Includes M = N*L = 1, odd planes, and channels long enough to be split across blocks.
const BnCase kBnCases[] = {{3, 5, 49},   {1, 3, 1},   {2, 4, 1},
                           {4, 3, 4096}, {16, 8, 64}, {2, 7, 1000}};

// Tolerance 1e-5: float elementwise passes against the ref's double arithmetic.
TEST(CudaBatchnorm, TrainForwardAndBackwardMatchRef) {
  GB_REQUIRE_GPU();
  for (const auto& c : kBnCases) {
    for (bool affine : {true, false}) {
      SCOPED_TRACE("N " + std::to_string(c.N) + " C " + std::to_string(c.C) + " L " +
                   std::to_string(c.L) + (affine ? " affine" : " no affine"));
      const auto n = static_cast<size_t>(c.N * c.C * c.L), C = static_cast<size_t>(c.C);
      // An offset mean makes a one-pass variance lose digits.
      const Vec x = random_vector(n, 21, 2.0f, 4.0f), dy = random_vector(n, 22);
      const Vec gamma = random_vector(C, 23, 0.5f, 1.5f), beta = random_vector(C, 24);
      const float eps = 1e-5f;
      Vec y_ref(n), mean_ref(C), invstd_ref(C), var_ref(C), dx_ref(n), dg_ref(C), db_ref(C);
      const float* g = affine ? gamma.data() : nullptr;
      const float* b = affine ? beta.data() : nullptr;
      ref::batchnorm_forward_train(c.N, c.C, c.L, x.data(), g, b, eps, y_ref.data(),
                                   mean_ref.data(), invstd_ref.data(), var_ref.data());
      ref::batchnorm_backward_train(c.N, c.C, c.L, x.data(), dy.data(), g, mean_ref.data(),
                                    invstd_ref.data(), dx_ref.data(), dg_ref.data(), db_ref.data());
      DeviceVector<float> dx_in(x), ddy(dy), dgamma_in(gamma), dbeta_in(beta);
      const float* dg_ptr = affine ? dgamma_in.get() : nullptr;
      const float* db_ptr = affine ? dbeta_in.get() : nullptr;
      auto y = out_buffer(n), mean = out_buffer(C), invstd = out_buffer(C), var = out_buffer(C);
      cu::batchnorm_forward_train(c.N, c.C, c.L, dx_in.get(), dg_ptr, db_ptr, eps, y.get(),
                                  mean.get(), invstd.get(), var.get());
      EXPECT_REL(y.host(), y_ref, 1e-5);
      EXPECT_REL(mean.host(), mean_ref, 1e-6);
      EXPECT_REL(invstd.host(), invstd_ref, 1e-6);
      EXPECT_REL(var.host(), var_ref, 1e-6);
      // Backward from the reference statistics (the same inputs the ref saw).
      DeviceVector<float> smean(mean_ref), sinv(invstd_ref);
      auto dx = out_buffer(n), dgamma = out_buffer(C), dbeta = out_buffer(C);
      cu::batchnorm_backward_train(c.N, c.C, c.L, dx_in.get(), ddy.get(), dg_ptr, smean.get(),
                                   sinv.get(), dx.get(), affine ? dgamma.get() : nullptr,
                                   affine ? dbeta.get() : nullptr);
      // With M <= 2 values per channel dx is 0 in exact arithmetic (g minus its projection on
      // span{1, xhat}, which is everything), so only rounding residue is left to compare.
      if (c.N * c.L > 2) EXPECT_REL(dx.host(), dx_ref, 1e-5);
      if (affine) {
        EXPECT_REL(dgamma.host(), dg_ref, 1e-5);
        EXPECT_REL(dbeta.host(), db_ref, 1e-5);
      }
      // batch_var may be nullptr.
      y.poison();
      cu::batchnorm_forward_train(c.N, c.C, c.L, dx_in.get(), dg_ptr, db_ptr, eps, y.get(),
                                  mean.get(), invstd.get(), nullptr);
      EXPECT_REL(y.host(), y_ref, 1e-5);
    }
  }
}

// y = act(BN(x) + residual) against ref BN, + residual, ref ReLU; the backward against the ref
// activation rule followed by ref BN backward.
TEST(CudaBatchnorm, FusedActivationMatchesRefChain) {
  GB_REQUIRE_GPU();
  for (const auto& c : kBnCases) {
    SCOPED_TRACE("N " + std::to_string(c.N) + " C " + std::to_string(c.C) + " L " +
                 std::to_string(c.L));
    const auto n = static_cast<size_t>(c.N * c.C * c.L), C = static_cast<size_t>(c.C);
    const Vec x = random_vector(n, 31), dy = random_vector(n, 32), res = random_vector(n, 33);
    const Vec gamma = random_vector(C, 34, 0.5f, 1.5f), beta = random_vector(C, 35);
    const float eps = 1e-3f;
    for (bool with_res : {true, false}) {
      for (bool relu : {true, false}) {
        SCOPED_TRACE(std::string(with_res ? "residual" : "no residual") +
                     (relu ? " relu" : " identity"));
        Vec y_ref(n), mean_ref(C), invstd_ref(C), var_ref(C);
        ref::batchnorm_forward_train(c.N, c.C, c.L, x.data(), gamma.data(), beta.data(), eps,
                                     y_ref.data(), mean_ref.data(), invstd_ref.data(),
                                     var_ref.data());
        if (with_res)
          for (size_t i = 0; i < n; ++i) y_ref[i] += res[i];
        if (relu) ref::relu_forward(static_cast<int64_t>(n), y_ref.data(), y_ref.data());
        DeviceVector<float> dx_in(x), dres(res), dgam(gamma), dbet(beta);
        auto y = out_buffer(n), mean = out_buffer(C), invstd = out_buffer(C), var = out_buffer(C);
        cu::batchnorm_act_forward_train(c.N, c.C, c.L, dx_in.get(), dgam.get(), dbet.get(), eps,
                                        with_res ? dres.get() : nullptr, relu, y.get(), mean.get(),
                                        invstd.get(), var.get());
        EXPECT_REL(y.host(), y_ref, 1e-5);
        EXPECT_REL(var.host(), var_ref, 1e-6);
      }
    }
    // Backward for every activation rule, from the ref forward's output.
    Vec y_ref(n), mean_ref(C), invstd_ref(C);
    ref::batchnorm_forward_train(c.N, c.C, c.L, x.data(), gamma.data(), beta.data(), eps,
                                 y_ref.data(), mean_ref.data(), invstd_ref.data(), nullptr);
    for (size_t i = 0; i < n; ++i) y_ref[i] += res[i];
    ref::relu_forward(static_cast<int64_t>(n), y_ref.data(), y_ref.data());
    DeviceVector<float> dx_in(x), dyv(y_ref), ddy(dy), dgam(gamma), smean(mean_ref),
        sinv(invstd_ref);
    for (auto act : {kernels::ActGrad::Identity, kernels::ActGrad::Relu, kernels::ActGrad::Guided,
                     kernels::ActGrad::Deconv}) {
      SCOPED_TRACE("act " + std::to_string(static_cast<int>(act)));
      Vec g_ref(n), dx_ref(n), dg_ref(C), db_ref(C);
      switch (act) {
        case kernels::ActGrad::Identity:
          g_ref = dy;
          break;
        case kernels::ActGrad::Relu:
          ref::relu_backward(static_cast<int64_t>(n), y_ref.data(), dy.data(), g_ref.data());
          break;
        case kernels::ActGrad::Guided:
          ref::relu_backward_guided(static_cast<int64_t>(n), y_ref.data(), dy.data(), g_ref.data());
          break;
        case kernels::ActGrad::Deconv:
          ref::relu_backward_deconv(static_cast<int64_t>(n), y_ref.data(), dy.data(), g_ref.data());
          break;
      }
      ref::batchnorm_backward_train(c.N, c.C, c.L, x.data(), g_ref.data(), gamma.data(),
                                    mean_ref.data(), invstd_ref.data(), dx_ref.data(),
                                    dg_ref.data(), db_ref.data());
      auto g_pre = out_buffer(n), dx = out_buffer(n), dg = out_buffer(C), db = out_buffer(C);
      cu::batchnorm_act_backward_train(c.N, c.C, c.L, dx_in.get(), dyv.get(), ddy.get(), act,
                                       dgam.get(), smean.get(), sinv.get(), g_pre.get(), dx.get(),
                                       dg.get(), db.get());
      EXPECT_BITWISE(g_pre.host(), g_ref);
      if (c.N * c.L > 2) EXPECT_REL(dx.host(), dx_ref, 1e-5);  // M <= 2: see above
      EXPECT_REL(dg.host(), dg_ref, 1e-5);
      EXPECT_REL(db.host(), db_ref, 1e-5);
    }
  }
}

TEST(CudaBatchnorm, EvalMatchesRef) {
  GB_REQUIRE_GPU();
  for (const auto& c : kBnCases) {
    for (bool affine : {true, false}) {
      SCOPED_TRACE("N " + std::to_string(c.N) + " C " + std::to_string(c.C) + " L " +
                   std::to_string(c.L) + (affine ? " affine" : " no affine"));
      const auto n = static_cast<size_t>(c.N * c.C * c.L), C = static_cast<size_t>(c.C);
      const Vec x = random_vector(n, 41), dy = random_vector(n, 42);
      const Vec gamma = random_vector(C, 43, 0.5f, 1.5f), beta = random_vector(C, 44);
      const Vec rmean = random_vector(C, 45), rvar = random_vector(C, 46, 0.2f, 2.0f);
      const float* g = affine ? gamma.data() : nullptr;
      const float* b = affine ? beta.data() : nullptr;
      Vec y_ref(n), dx_ref(n), dg_ref(C), db_ref(C);
      ref::batchnorm_forward_eval(c.N, c.C, c.L, x.data(), g, b, rmean.data(), rvar.data(), 1e-5f,
                                  y_ref.data());
      ref::batchnorm_backward_eval(c.N, c.C, c.L, x.data(), dy.data(), g, rmean.data(), rvar.data(),
                                   1e-5f, dx_ref.data(), dg_ref.data(), db_ref.data());
      DeviceVector<float> dxin(x), ddy(dy), dgam(gamma), dbet(beta), drm(rmean), drv(rvar);
      auto y = out_buffer(n), dx = out_buffer(n), dg = out_buffer(C), db = out_buffer(C);
      cu::batchnorm_forward_eval(c.N, c.C, c.L, dxin.get(), affine ? dgam.get() : nullptr,
                                 affine ? dbet.get() : nullptr, drm.get(), drv.get(), 1e-5f,
                                 y.get());
      cu::batchnorm_backward_eval(
          c.N, c.C, c.L, dxin.get(), ddy.get(), affine ? dgam.get() : nullptr, drm.get(), drv.get(),
          1e-5f, dx.get(), affine ? dg.get() : nullptr, affine ? db.get() : nullptr);
      EXPECT_REL(y.host(), y_ref, 1e-5);
      EXPECT_REL(dx.host(), dx_ref, 1e-5);
      if (affine) {
        EXPECT_REL(dg.host(), dg_ref, 1e-5);
        EXPECT_REL(db.host(), db_ref, 1e-5);
      }
    }
  }
}

TEST(CudaBatchnorm, TrainingIsBitwiseDeterministic) {
  GB_REQUIRE_GPU();
  const int64_t N = 32, C = 16, L = 1024;  // several blocks per channel
  const auto n = static_cast<size_t>(N * C * L), Cs = static_cast<size_t>(C);
  const Vec x = random_vector(n, 51), dy = random_vector(n, 52), gamma = random_vector(Cs, 53);
  DeviceVector<float> dxin(x), ddy(dy), dgam(gamma), dbet(gamma);
  Vec first[6];
  for (int run = 0; run < 2; ++run) {
    auto y = out_buffer(n), mean = out_buffer(Cs), inv = out_buffer(Cs), var = out_buffer(Cs);
    auto dx = out_buffer(n), dg = out_buffer(Cs), db = out_buffer(Cs), g_pre = out_buffer(n);
    cu::batchnorm_act_forward_train(N, C, L, dxin.get(), dgam.get(), dbet.get(), 1e-5f, nullptr,
                                    true, y.get(), mean.get(), inv.get(), var.get());
    cu::batchnorm_act_backward_train(N, C, L, dxin.get(), y.get(), ddy.get(),
                                     kernels::ActGrad::Relu, dgam.get(), mean.get(), inv.get(),
                                     g_pre.get(), dx.get(), dg.get(), db.get());
    const Vec got[6] = {y.host(), mean.host(), var.host(), dx.host(), dg.host(), db.host()};
    for (int k = 0; k < 6; ++k) {
      if (run == 0) {
        first[k] = got[k];
      } else {
        EXPECT_BITWISE(got[k], first[k]);
      }
    }
  }
}

// ---------------------------------------------------------------- pooling

struct PoolCase {
  int64_t N, C, H, W, R, S, sh, sw, ph, pw;
};
const PoolCase kPoolCases[] = {
    {2, 3, 7, 9, 2, 2, 2, 2, 0, 0},   {1, 2, 7, 7, 3, 3, 1, 1, 1, 1},
    {2, 3, 10, 9, 3, 3, 2, 2, 1, 1},  {1, 1, 11, 8, 3, 2, 3, 3, 1, 0},
    {3, 2, 5, 6, 2, 3, 1, 2, 1, 1},   {1, 1, 1, 1, 1, 1, 1, 1, 0, 0},
    {2, 4, 32, 32, 3, 3, 2, 2, 1, 1}, {1, 1, 9, 9, 2, 2, 3, 3, 1, 1},
};

Pool2dShape pool_shape(const PoolCase& c) {
  Pool2dShape s;
  s.N = c.N, s.C = c.C, s.H = c.H, s.W = c.W, s.R = c.R, s.S = c.S;
  s.stride_h = c.sh, s.stride_w = c.sw, s.pad_h = c.ph, s.pad_w = c.pw;
  return s;
}

std::string pool_name(const PoolCase& c) {
  return std::to_string(c.N) + "x" + std::to_string(c.C) + "x" + std::to_string(c.H) + "x" +
         std::to_string(c.W) + " win " + std::to_string(c.R) + "x" + std::to_string(c.S) +
         " stride " + std::to_string(c.sh) + "," + std::to_string(c.sw) + " pad " +
         std::to_string(c.ph) + "," + std::to_string(c.pw);
}

// Max pooling and both backward passes are the ref's float operations in the ref's order:
// bitwise. Average pooling forward sums in float (ref: double): 1e-6.
TEST(CudaPool, MatchesRef) {
  GB_REQUIRE_GPU();
  for (const auto& c : kPoolCases) {
    SCOPED_TRACE(pool_name(c));
    const Pool2dShape s = pool_shape(c);
    const auto in = static_cast<size_t>(s.N * s.C * s.H * s.W);
    const auto out = static_cast<size_t>(s.N * s.C * s.P() * s.Q());
    for (int data = 0; data < 2; ++data) {
      SCOPED_TRACE(data == 0 ? "random" : "ties (quantised values)");
      Vec x = random_vector(in, 61);
      if (data == 1)
        for (auto& v : x) v = std::round(v * 2.0f);  // many equal maxima
      const Vec dy = random_vector(out, 62);
      Vec y_ref(out), dx_ref(in), ya_ref(out), dxa_ref(in);
      std::vector<int32_t> arg_ref(out);
      ref::maxpool2d_forward(s, x.data(), y_ref.data(), arg_ref.data());
      ref::maxpool2d_backward(s, dy.data(), arg_ref.data(), dx_ref.data());
      ref::avgpool2d_forward(s, x.data(), ya_ref.data());
      ref::avgpool2d_backward(s, dy.data(), dxa_ref.data());
      DeviceVector<float> dxin(x), ddy(dy);
      auto y = out_buffer(out), dx = out_buffer(in), ya = out_buffer(out), dxa = out_buffer(in);
      DeviceVector<int32_t> arg(out);
      arg.poison();
      cu::maxpool2d_forward(s, dxin.get(), y.get(), arg.get());
      EXPECT_BITWISE(y.host(), y_ref);
      EXPECT_EQ(arg.host(), arg_ref);
      cu::maxpool2d_backward(s, ddy.get(), arg.get(), dx.get());
      EXPECT_BITWISE(dx.host(), dx_ref);
      cu::avgpool2d_forward(s, dxin.get(), ya.get());
      EXPECT_REL(ya.host(), ya_ref, 1e-6);
      cu::avgpool2d_backward(s, ddy.get(), dxa.get());
      EXPECT_BITWISE(dxa.host(), dxa_ref);
    }
  }
}

TEST(CudaPool, MaxPoolNaNWins) {
  GB_REQUIRE_GPU();
  Pool2dShape s;
  s.N = 1, s.C = 1, s.H = 2, s.W = 2, s.R = 2, s.S = 2, s.stride_h = 2, s.stride_w = 2;
  const Vec x = {1.0f, std::numeric_limits<float>::quiet_NaN(), 3.0f, 2.0f};
  Vec y_ref(1);
  std::vector<int32_t> arg_ref(1);
  ref::maxpool2d_forward(s, x.data(), y_ref.data(), arg_ref.data());
  DeviceVector<float> dxin(x);
  auto y = out_buffer(1);
  DeviceVector<int32_t> arg(1);
  cu::maxpool2d_forward(s, dxin.get(), y.get(), arg.get());
  EXPECT_TRUE(std::isnan(y.host()[0]));
  EXPECT_EQ(arg.host(), arg_ref);
}

TEST(CudaPool, GlobalAvgPoolMatchesRef) {
  GB_REQUIRE_GPU();
  for (const auto& c : std::vector<BnCase>{{3, 5, 49}, {1, 1, 1}, {2, 3, 100000}, {128, 64, 64}}) {
    SCOPED_TRACE("N " + std::to_string(c.N) + " C " + std::to_string(c.C) + " L " +
                 std::to_string(c.L));
    const auto n = static_cast<size_t>(c.N * c.C * c.L), nc = static_cast<size_t>(c.N * c.C);
    const Vec x = random_vector(n, 71), dy = random_vector(nc, 72);
    Vec y_ref(nc), dx_ref(n);
    ref::global_avgpool_forward(c.N, c.C, c.L, x.data(), y_ref.data());
    ref::global_avgpool_backward(c.N, c.C, c.L, dy.data(), dx_ref.data());
    DeviceVector<float> dxin(x), ddy(dy);
    auto y = out_buffer(nc), dx = out_buffer(n);
    cu::global_avgpool_forward(c.N, c.C, c.L, dxin.get(), y.get());
    cu::global_avgpool_backward(c.N, c.C, c.L, ddy.get(), dx.get());
    EXPECT_REL(y.host(), y_ref, 1e-6);
    EXPECT_BITWISE(dx.host(), dx_ref);
  }
}

// ---------------------------------------------------------------- softmax family

struct RowsCase {
  int64_t N, D;
};
const RowsCase kRowsCases[] = {{128, 10}, {37, 1000}, {5, 1}, {1, 33}, {3, 5000}};

// Tolerance 1e-6: the GPU evaluates the row statistics in double as the ref.
TEST(CudaSoftmax, ForwardAndBackwardMatchRef) {
  GB_REQUIRE_GPU();
  for (const auto& c : kRowsCases) {
    SCOPED_TRACE("N " + std::to_string(c.N) + " D " + std::to_string(c.D));
    const auto n = static_cast<size_t>(c.N * c.D);
    const Vec x = random_vector(n, 81, -8.0f, 8.0f), dy = random_vector(n, 82);
    Vec y_ref(n), ly_ref(n), dx_ref(n), ldx_ref(n);
    ref::softmax_forward(c.N, c.D, x.data(), y_ref.data());
    ref::log_softmax_forward(c.N, c.D, x.data(), ly_ref.data());
    ref::softmax_backward(c.N, c.D, y_ref.data(), dy.data(), dx_ref.data());
    ref::log_softmax_backward(c.N, c.D, ly_ref.data(), dy.data(), ldx_ref.data());
    DeviceVector<float> dxin(x), ddy(dy), dyr(y_ref), dlyr(ly_ref);
    auto y = out_buffer(n), ly = out_buffer(n), dx = out_buffer(n), ldx = out_buffer(n);
    cu::softmax_forward(c.N, c.D, dxin.get(), y.get());
    cu::log_softmax_forward(c.N, c.D, dxin.get(), ly.get());
    cu::softmax_backward(c.N, c.D, dyr.get(), ddy.get(), dx.get());
    cu::log_softmax_backward(c.N, c.D, dlyr.get(), ddy.get(), ldx.get());
    EXPECT_REL(y.host(), y_ref, 1e-6);
    EXPECT_REL(ly.host(), ly_ref, 1e-6);
    EXPECT_REL(dx.host(), dx_ref, 1e-6);
    EXPECT_REL(ldx.host(), ldx_ref, 1e-6);
  }
}

TEST(CudaSoftmax, CrossEntropyMatchesRef) {
  GB_REQUIRE_GPU();
  for (const auto& c : kRowsCases) {
    for (float smoothing : {0.0f, 0.2f}) {
      SCOPED_TRACE("N " + std::to_string(c.N) + " D " + std::to_string(c.D) + " smoothing " +
                   std::to_string(smoothing));
      const auto n = static_cast<size_t>(c.N * c.D);
      const Vec x = random_vector(n, 91, -5.0f, 5.0f);
      std::vector<int64_t> t(static_cast<size_t>(c.N));
      std::mt19937 rng(92);
      for (auto& v : t) v = static_cast<int64_t>(rng() % static_cast<uint32_t>(c.D));
      Vec probs_ref(n), dl_ref(n);
      float loss_ref = 0.0f;
      const float dloss_host = 0.7f;
      ref::cross_entropy_forward(c.N, c.D, x.data(), t.data(), smoothing, probs_ref.data(),
                                 &loss_ref);
      ref::cross_entropy_backward(c.N, c.D, probs_ref.data(), t.data(), smoothing, &dloss_host,
                                  dl_ref.data());
      DeviceVector<float> dxin(x);
      DeviceVector<int64_t> dt(t);
      auto probs = out_buffer(n), dl = out_buffer(n), loss_dev = out_buffer(1);
      cu::cross_entropy_forward(c.N, c.D, dxin.get(), dt.get(), smoothing, probs.get(),
                                loss_dev.get());
      const float loss = loss_dev.host()[0];
      EXPECT_LE(std::fabs(loss - loss_ref), 1e-6 * std::max(1.0f, std::fabs(loss_ref)));
      EXPECT_REL(probs.host(), probs_ref, 1e-6);
      DeviceVector<float> dprobs(probs_ref), dloss(Vec{dloss_host});
      cu::cross_entropy_backward(c.N, c.D, dprobs.get(), dt.get(), smoothing, dloss.get(),
                                 dl.get());
      EXPECT_REL(dl.host(), dl_ref, 1e-6);
    }
  }
}

TEST(CudaSoftmax, CrossEntropyTargetOutOfRangeIsNaN) {
  GB_REQUIRE_GPU();
  const Vec x = random_vector(6, 93);
  DeviceVector<float> dxin(x);
  DeviceVector<int64_t> dt(std::vector<int64_t>{1, 3});  // D = 3: 3 is out of range
  auto probs = out_buffer(6), loss = out_buffer(1);
  cu::cross_entropy_forward(2, 3, dxin.get(), dt.get(), 0.0f, probs.get(), loss.get());
  EXPECT_TRUE(std::isnan(loss.host()[0]));
}

// ---------------------------------------------------------------- resize

struct ResizeCase {
  int64_t N, C, H, W, OH, OW;
};
const ResizeCase kResizeCases[] = {
    {2, 3, 7, 9, 13, 5}, {1, 2, 5, 5, 10, 10}, {1, 1, 17, 11, 4, 3},   {2, 1, 1, 1, 3, 4},
    {1, 2, 6, 6, 6, 6},  {1, 1, 3, 7, 1, 1},   {1, 1, 7, 7, 224, 224}, {2, 2, 32, 32, 7, 9},
};

// Tolerance 1e-6: both blend and accumulate in double.
TEST(CudaResize, MatchesRef) {
  GB_REQUIRE_GPU();
  for (const auto& c : kResizeCases) {
    SCOPED_TRACE(std::to_string(c.H) + "x" + std::to_string(c.W) + " -> " + std::to_string(c.OH) +
                 "x" + std::to_string(c.OW));
    const auto in = static_cast<size_t>(c.N * c.C * c.H * c.W);
    const auto out = static_cast<size_t>(c.N * c.C * c.OH * c.OW);
    const Vec x = random_vector(in, 101), dy = random_vector(out, 102);
    Vec y_ref(out), dx_ref(in);
    ref::bilinear_resize_forward(c.N, c.C, c.H, c.W, c.OH, c.OW, x.data(), y_ref.data());
    ref::bilinear_resize_backward(c.N, c.C, c.H, c.W, c.OH, c.OW, dy.data(), dx_ref.data());
    DeviceVector<float> dxin(x), ddy(dy);
    auto y = out_buffer(out), dx = out_buffer(in);
    cu::bilinear_resize_forward(c.N, c.C, c.H, c.W, c.OH, c.OW, dxin.get(), y.get());
    cu::bilinear_resize_backward(c.N, c.C, c.H, c.W, c.OH, c.OW, ddy.get(), dx.get());
    EXPECT_REL(y.host(), y_ref, 1e-6);
    EXPECT_REL(dx.host(), dx_ref, 1e-6);
    // Adjoint identity on the GPU results: <R x, dy> = <x, R^T dy>.
    const Vec yh = y.host(), dxh = dx.host();
    double lhs = 0.0, rhs = 0.0;
    for (size_t i = 0; i < out; ++i) lhs += static_cast<double>(yh[i]) * dy[i];
    for (size_t i = 0; i < in; ++i) rhs += static_cast<double>(x[i]) * dxh[i];
    EXPECT_NEAR(lhs, rhs, 1e-5 * (std::fabs(lhs) + 1.0));
  }
}

// ---------------------------------------------------------------- reductions

TEST(CudaReduce, SumAllAndMeanAllMatchDoubleSums) {
  GB_REQUIRE_GPU();
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1000003}, int64_t{5000000}}) {
    SCOPED_TRACE("n " + std::to_string(n));
    const Vec x = random_vector(static_cast<size_t>(n), 111, -1.0f, 3.0f);
    double sum = 0.0, sq = 0.0;
    for (float v : x) sum += v, sq += static_cast<double>(v) * v;
    DeviceVector<float> dxin(x);
    auto out = out_buffer(2);
    cu::sum_all(n, dxin.get(), out.get());
    cu::mean_all(n, dxin.get(), out.get() + 1);
    const Vec h = out.host();
    EXPECT_NEAR(h[0], sum, 1e-6 * std::fabs(sum) + 1e-6);
    EXPECT_NEAR(h[1], sum / static_cast<double>(n), 1e-6 * std::fabs(sum / n) + 1e-7);
    DeviceVector<double> acc(std::vector<double>{0.5});
    cu::sum_squares(n, dxin.get(), acc.get(), true);
    EXPECT_NEAR(acc.host()[0], 0.5 + sq, 1e-10 * sq);
    cu::sum_squares(n, dxin.get(), acc.get(), false);
    EXPECT_NEAR(acc.host()[0], sq, 1e-10 * sq);
    // Determinism: the same bits again.
    auto again = out_buffer(1);
    cu::sum_all(n, dxin.get(), again.get());
    EXPECT_BITWISE(again.host(), Vec{h[0]});
  }
  auto out = out_buffer(1);
  cu::sum_all(0, nullptr, out.get());
  EXPECT_EQ(out.host()[0], 0.0f);
}

struct ReduceCase {
  std::vector<int64_t> in, out;
};

TEST(CudaReduce, ReduceSumBroadcastMatchesHost) {
  GB_REQUIRE_GPU();
  const ReduceCase cases[] = {
      {{3, 4, 5}, {3, 1, 5}},
      {{3, 4, 5}, {1, 4, 1}},
      {{3, 4, 5}, {1, 1, 1}},
      {{3, 4, 5}, {3, 4, 5}},
      {{128, 16, 8, 8}, {1, 16, 1, 1}},
      {{1000, 3}, {1, 3}},
      {{5, 70000}, {5, 1}},
      {{70000, 3}, {70000, 1}},
      {{}, {}},
      {{1, 7, 1}, {1, 7, 1}},
      {{2, 3, 1, 4, 5}, {1, 3, 1, 1, 5}},
      {{40000, 2, 3}, {1, 2, 1}},
      {{64, 100, 3}, {64, 1, 3}},
  };
  int seed = 120;
  for (const auto& c : cases) {
    const int ndim = static_cast<int>(c.in.size());
    std::string name;
    for (int64_t v : c.in) name += std::to_string(v) + ",";
    name += " -> ";
    for (int64_t v : c.out) name += std::to_string(v) + ",";
    SCOPED_TRACE(name);
    const Vec x = random_vector(static_cast<size_t>(numel(c.in)), ++seed);
    std::vector<double> acc(static_cast<size_t>(numel(c.out)), 0.0);
    const std::vector<int64_t> so = broadcast_strides(c.out, c.in);
    for (int64_t i = 0; i < numel(c.in); ++i) {
      int64_t rem = i, o = 0;
      for (int d = ndim - 1; d >= 0; --d) {
        const int64_t idx = rem % c.in[static_cast<size_t>(d)];
        rem /= c.in[static_cast<size_t>(d)];
        o += idx * so[static_cast<size_t>(d)];
      }
      acc[static_cast<size_t>(o)] += x[static_cast<size_t>(i)];
    }
    const Vec want(acc.begin(), acc.end());
    DeviceVector<float> dxin(x);
    auto y = out_buffer(want.size());
    cu::reduce_sum_broadcast(ndim, c.in.data(), dxin.get(), c.out.data(), y.get());
    const Vec got = y.host();
    EXPECT_REL(got, want, 1e-6);
    auto again = out_buffer(want.size());
    cu::reduce_sum_broadcast(ndim, c.in.data(), dxin.get(), c.out.data(), again.get());
    EXPECT_BITWISE(again.host(), got);
  }
  // Empty inputs give zeros; bad shapes throw.
  const int64_t in0[2] = {0, 3}, out0[2] = {1, 3}, bad[2] = {2, 3};
  auto y = out_buffer(3);
  cu::reduce_sum_broadcast(2, in0, nullptr, out0, y.get());
  EXPECT_BITWISE(y.host(), Vec(3, 0.0f));
  const int64_t in1[2] = {4, 3};
  EXPECT_THROW(cu::reduce_sum_broadcast(2, in1, nullptr, bad, y.get()), std::invalid_argument);
}

TEST(CudaReduce, ChannelSumMatchesHost) {
  GB_REQUIRE_GPU();
  for (const auto& c : std::vector<BnCase>{{3, 5, 49}, {64, 16, 1024}, {7, 1, 1}, {2, 300, 3}}) {
    SCOPED_TRACE("N " + std::to_string(c.N) + " C " + std::to_string(c.C) + " L " +
                 std::to_string(c.L));
    const Vec x = random_vector(static_cast<size_t>(c.N * c.C * c.L), 131);
    std::vector<double> acc(static_cast<size_t>(c.C), 0.0);
    for (int64_t n = 0; n < c.N; ++n)
      for (int64_t ch = 0; ch < c.C; ++ch)
        for (int64_t l = 0; l < c.L; ++l)
          acc[static_cast<size_t>(ch)] += x[static_cast<size_t>((n * c.C + ch) * c.L + l)];
    DeviceVector<float> dxin(x);
    auto out = out_buffer(static_cast<size_t>(c.C));
    cu::channel_sum(c.N, c.C, c.L, dxin.get(), out.get());
    EXPECT_REL(out.host(), Vec(acc.begin(), acc.end()), 1e-6);
  }
}

// ---------------------------------------------------------------- optimizers

// The SGD / AdamW element updates with the fused multiply-adds of runtime/optim.cpp's
// compiled loop (optim.h), written out so the host compiler cannot regroup them.
void sgd_host(Vec& p, const Vec& g, Vec& buf, float lr, float wd, float mom, float dampening,
              bool nesterov, bool first) {
  const float damp = 1.0f - dampening;
  for (size_t k = 0; k < p.size(); ++k) {
    const float d = std::fma(wd, p[k], g[k]);
    if (mom == 0.0f) {
      p[k] = std::fma(-lr, d, p[k]);
      continue;
    }
    const float scaled = damp * d;
    buf[k] = first ? d : std::fma(mom, buf[k], scaled);
    const float update = nesterov ? std::fma(mom, buf[k], d) : buf[k];
    p[k] = std::fma(-lr, update, p[k]);
  }
}

TEST(CudaOptim, SgdMatchesCpuUpdateBitwise) {
  GB_REQUIRE_GPU();
  struct Cfg {
    float mom, damp, wd;
    bool nesterov;
  };
  for (int64_t n : kSizes) {
    for (const Cfg cfg : {Cfg{0.0f, 0.0f, 5e-4f, false}, Cfg{0.9f, 0.0f, 5e-4f, true},
                          Cfg{0.9f, 0.1f, 1e-4f, false}, Cfg{0.8f, 0.0f, 0.0f, false}}) {
      SCOPED_TRACE("n " + std::to_string(n) + " momentum " + std::to_string(cfg.mom) +
                   " nesterov " + std::to_string(cfg.nesterov));
      const auto N = static_cast<size_t>(n);
      Vec p = random_vector(N, 141), buf(N, 0.0f);
      DeviceVector<float> dp(p);
      DeviceVector<float> dbuf(N);
      dbuf.poison();  // the first step must not read it
      for (int step = 0; step < 3; ++step) {
        const Vec g = random_vector(N, 150 + step);
        DeviceVector<float> dg(g);
        const float lr = 0.1f / static_cast<float>(step + 1);
        sgd_host(p, g, buf, lr, cfg.wd, cfg.mom, cfg.damp, cfg.nesterov, step == 0);
        cu::sgd_update(n, dp.get(), dg.get(), cfg.mom != 0.0f ? dbuf.get() : nullptr, lr, cfg.wd,
                       cfg.mom, cfg.damp, cfg.nesterov, step == 0);
        EXPECT_BITWISE(dp.host(), p);
        if (cfg.mom != 0.0f) EXPECT_BITWISE(dbuf.host(), buf);
      }
    }
  }
}

// The runtime's own CPU optimizers against the CUDA updates over three steps (1e-6: the CPU
// loop's rounding depends on how the host compiler contracts it; on the x86-64-v3 build it is
// the bitwise match checked above).
TEST(CudaOptim, RuntimeCpuOptimizersAgreeWithCudaUpdates) {
  GB_REQUIRE_GPU();
  const int64_t n = 1031;
  const auto N = static_cast<size_t>(n);
  const Vec p0 = random_vector(N, 161);
  {
    Tensor p = Tensor::from_vector({n}, p0);
    p.set_requires_grad(true);
    optim::SGD sgd({{"p", p}}, {0.05f, 0.9f, 0.0f, 5e-4f, true});
    DeviceVector<float> dp(p0), dbuf(N);
    for (int step = 0; step < 3; ++step) {
      const Vec g = random_vector(N, 170 + step);
      p.set_grad(Tensor::from_vector({n}, g));
      sgd.step();
      DeviceVector<float> dg(g);
      cu::sgd_update(n, dp.get(), dg.get(), dbuf.get(), 0.05f, 5e-4f, 0.9f, 0.0f, true, step == 0);
      EXPECT_REL(dp.host(), Vec(p.f32(), p.f32() + n), 1e-6);
    }
  }
  {
    const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 1e-2f;
    Tensor p = Tensor::from_vector({n}, p0);
    p.set_requires_grad(true);
    optim::AdamW adam({{"p", p}}, {lr, b1, b2, eps, wd});
    DeviceVector<float> dp(p0), dm(Vec(N, 0.0f)), dv(Vec(N, 0.0f));
    for (int t = 1; t <= 3; ++t) {
      const Vec g = random_vector(N, 180 + t);
      p.set_grad(Tensor::from_vector({n}, g));
      adam.step();
      const double bc1 = 1.0 - std::pow(static_cast<double>(b1), static_cast<double>(t));
      const double bc2 = 1.0 - std::pow(static_cast<double>(b2), static_cast<double>(t));
      DeviceVector<float> dg(g);
      cu::adamw_update(n, dp.get(), dg.get(), dm.get(), dv.get(), lr, b1, b2, eps, wd,
                       static_cast<float>(lr / bc1), static_cast<float>(std::sqrt(bc2)));
      EXPECT_REL(dp.host(), Vec(p.f32(), p.f32() + n), 1e-6);
    }
  }
}

TEST(CudaOptim, AdamWMatchesCpuUpdateBitwise) {
  GB_REQUIRE_GPU();
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n " + std::to_string(n));
    const auto N = static_cast<size_t>(n);
    const float lr = 3e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.05f;
    Vec p = random_vector(N, 191), m(N, 0.0f), v(N, 0.0f);
    DeviceVector<float> dp(p), dm(m), dv(v);
    for (int t = 1; t <= 3; ++t) {
      const Vec g = random_vector(N, 200 + t);
      const double bc1 = 1.0 - std::pow(static_cast<double>(b1), static_cast<double>(t));
      const double bc2 = 1.0 - std::pow(static_cast<double>(b2), static_cast<double>(t));
      const float step_size = static_cast<float>(lr / bc1);
      const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
      const float decay = std::fma(-lr, wd, 1.0f), omb1 = 1.0f - b1, omb2 = 1.0f - b2;
      for (size_t k = 0; k < N; ++k) {
        p[k] *= decay;
        const float mg = omb1 * g[k];
        m[k] = std::fma(b1, m[k], mg);
        const float vg = (omb2 * g[k]) * g[k];
        v[k] = std::fma(b2, v[k], vg);
        const float denom = std::sqrt(v[k]) / bc2_sqrt + eps;
        const float num = step_size * m[k];
        p[k] -= num / denom;
      }
      DeviceVector<float> dg(g);
      cu::adamw_update(n, dp.get(), dg.get(), dm.get(), dv.get(), lr, b1, b2, eps, wd, step_size,
                       bc2_sqrt);
      EXPECT_BITWISE(dp.host(), p);
      EXPECT_BITWISE(dm.host(), m);
      EXPECT_BITWISE(dv.host(), v);
    }
  }
}

TEST(CudaOptim, SumOfSquares) {
  GB_REQUIRE_GPU();
  double total = 0.0;
  DeviceVector<double> acc(std::vector<double>{0.0});
  for (int64_t n : kSizes) {
    const Vec x = random_vector(static_cast<size_t>(n), 211);
    double sq = 0.0;
    for (float v : x) sq += static_cast<double>(v) * v;
    total += sq;
    DeviceVector<float> dxin(x);
    EXPECT_NEAR(cu::sum_of_squares(n, dxin.get()), sq, 1e-10 * sq);
    cu::sum_of_squares_accumulate(n, dxin.get(), acc.get());
  }
  EXPECT_NEAR(acc.host()[0], total, 1e-10 * total);
}

// ---------------------------------------------------------------- strided copies

// Host twin: dst[dst_off(i)] = src[src_off(i)] over the index space of shape.
template <class T>
void copy_host(const std::vector<int64_t>& shape, const T* src, const std::vector<int64_t>& ss,
               T* dst, const std::vector<int64_t>& ds) {
  const int ndim = static_cast<int>(shape.size());
  for (int64_t i = 0; i < numel(shape); ++i) {
    int64_t rem = i, os = 0, od = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t idx = rem % shape[static_cast<size_t>(d)];
      rem /= shape[static_cast<size_t>(d)];
      os += idx * ss[static_cast<size_t>(d)];
      od += idx * ds[static_cast<size_t>(d)];
    }
    dst[od] = src[os];
  }
}

std::vector<int64_t> contiguous(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size());
  int64_t stride = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    s[d] = stride;
    stride *= shape[d];
  }
  return s;
}

TEST(CudaCopy, ViewsMatchHost) {
  GB_REQUIRE_GPU();
  struct Case {
    std::vector<int64_t> shape, src_strides;
    int64_t src_offset, src_size;
  };
  const Case cases[] = {
      {{5, 7}, {1, 5}, 0, 35},                                       // transpose
      {{2, 3, 4, 5}, {60, 1, 15, 3}, 0, 120},                        // a permutation of [2,5,3,4]
      {{3, 4}, {10, 2}, 11, 60},                                     // strided slice with an offset
      {{4, 3, 5}, {0, 5, 1}, 0, 15},                                 // expand
      {{6, 7}, {-7, 1}, 35, 42},                                     // flipped rows
      {{}, {}, 3, 8},                                                // a single element
      {{1000003}, {1}, 0, 1000003},                                  // contiguous: plain memcpy
      {{2, 1, 3, 1, 2, 1, 2, 2}, {24, 7, 8, 5, 4, 3, 2, 1}, 0, 48},  // 8 dims, size-1 dims
  };
  int seed = 220;
  for (const auto& c : cases) {
    SCOPED_TRACE("ndim " + std::to_string(c.shape.size()));
    const Vec src = random_vector(static_cast<size_t>(c.src_size), ++seed);
    const auto n = static_cast<size_t>(numel(c.shape));
    Vec want(n);
    copy_host(c.shape, src.data() + c.src_offset, c.src_strides, want.data(), contiguous(c.shape));
    DeviceVector<float> dsrc(src);
    auto dst = out_buffer(n);
    cu::strided_copy(static_cast<int>(c.shape.size()), c.shape.data(), dsrc.get() + c.src_offset,
                     c.src_strides.data(), dst.get());
    EXPECT_BITWISE(dst.host(), want);
  }
}

TEST(CudaCopy, IntoSliceAndOtherElementSizes) {
  GB_REQUIRE_GPU();
  // Concat: a [2,3,4] block written into channels 5..7 of a [2,9,4] buffer; the rest untouched.
  const std::vector<int64_t> shape = {2, 3, 4}, src_s = {12, 4, 1}, dst_s = {36, 4, 1};
  const Vec src = random_vector(24, 231);
  Vec want(72, -12345.0f);
  copy_host(shape, src.data(), src_s, want.data() + 5 * 4, dst_s);
  DeviceVector<float> dsrc(src);
  auto dst = out_buffer(72);
  cu::strided_copy(3, shape.data(), dsrc.get(), src_s.data(), dst.get() + 5 * 4, dst_s.data());
  EXPECT_BITWISE(dst.host(), want);
  // int64 labels through a strided gather (every other one), and bytes transposed.
  std::vector<int64_t> labels(20);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(i) * 1000000007LL;
  DeviceVector<int64_t> dl(labels), dout(10);
  dout.poison();
  const int64_t n10[1] = {10}, s2[1] = {2};
  cu::strided_copy(1, n10, dl.get(), s2, dout.get(), nullptr, sizeof(int64_t));
  std::vector<int64_t> want_l(10);
  for (size_t i = 0; i < 10; ++i) want_l[i] = labels[2 * i];
  EXPECT_EQ(dout.host(), want_l);
  std::vector<uint8_t> bytes(12);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 17);
  DeviceVector<uint8_t> db(bytes), dbo(12);
  const int64_t shp[2] = {4, 3}, st[2] = {1, 4};
  cu::strided_copy(2, shp, db.get(), st, dbo.get(), nullptr, 1);
  std::vector<uint8_t> want_b(12);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 3; ++j)
      want_b[static_cast<size_t>(i * 3 + j)] = bytes[static_cast<size_t>(j * 4 + i)];
  EXPECT_EQ(dbo.host(), want_b);
  EXPECT_THROW(cu::strided_copy(2, shp, db.get(), st, dbo.get(), nullptr, 3),
               std::invalid_argument);
}

}  // namespace
}  // namespace gb

#else  // GB_WITH_CUDA

TEST(CudaOps, SkippedWithoutCuda) { GTEST_SKIP() << "built without CUDA"; }

#endif  // GB_WITH_CUDA
