// Tests for the differentiable op API (runtime/ops.h): forward values against hand-computed
// numbers (under both the reference and the fast CPU kernels where they differ), semantics the
// harness cannot see (fused forms equal the composed ops, running statistics, dropout's mask and
// stream, sum_to's graph), and errors that name the op. Gradients by central differences, fast
// against reference kernels and determinism are the conformance harness's
// (tests/test_op_conformance.cpp). Shape letters: N batch, C channels, H/W height/width, K output
// channels, R kernel size, I/O linear features, D last-dimension features.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/op_table.h"
#include "runtime/ops.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"
#include "tests/gradcheck.h"
#include "tests/ops_test_util.h"

namespace gb {
namespace {

using test::for_each_cpu_mode;
using Ts = std::vector<Tensor>;
using Vec = std::vector<float>;

Tensor randn(const Shape& shape, uint64_t seed, float stddev = 1.0f) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, stddev);
}

using test::iota;

using test::values_near;

using test::expect_error_naming;

// ---------------------------------------------------------------------------------------------
// conv2d

TEST(Ops, Conv2dForwardValues) {
  // 3x3 input 1..9, all-ones 3x3 kernel, stride 2, padding 1: each output sums a 2x2 corner.
  const Tensor x = iota({1, 1, 3, 3}, 1.0f);
  const Tensor w = Tensor::ones({1, 1, 3, 3});
  const Tensor b = Tensor::full({1}, 0.5f);
  for_each_cpu_mode([&] {
    EXPECT_TRUE(values_near(ops::conv2d(x, w, b, {2, 1, 1}), {12.5f, 16.5f, 24.5f, 28.5f}));
    // Valid 2x2 all-ones: sums of 2x2 blocks.
    EXPECT_TRUE(values_near(ops::conv2d(x, Tensor::ones({1, 1, 2, 2}), Tensor()),
                            {12.0f, 16.0f, 24.0f, 28.0f}));
  });
  // Depthwise: each channel is scaled by its own 1x1 weight.
  const Tensor x2 = iota({1, 2, 1, 2}, 1.0f);  // channel 0: [1,2], channel 1: [3,4]
  const Tensor w2 = Tensor::from_vector({2, 1, 1, 1}, {2.0f, -1.0f});
  EXPECT_TRUE(values_near(ops::conv2d(x2, w2, Tensor(), {1, 0, 2}), {2, 4, -3, -4}));
  EXPECT_EQ(
      ops::conv2d(randn({2, 3, 5, 7}, 1), randn({4, 3, 3, 3}, 2), Tensor(), {2, 1, 1}).shape(),
      (Shape{2, 4, 3, 4}));
}

// ---------------------------------------------------------------------------------------------
// linear

TEST(Ops, LinearForwardValues) {
  // y = x w^T + b
  const Tensor x = Tensor::from_vector({2, 3}, {1, 2, 3, -1, 0, 1});
  const Tensor w = Tensor::from_vector({2, 3}, {1, 0, -1, 0.5f, 0.5f, 0.5f});
  const Tensor b = Tensor::from_vector({2}, {10, 20});
  for_each_cpu_mode([&] {
    EXPECT_TRUE(values_near(ops::linear(x, w, b), {8.0f, 23.0f, 8.0f, 20.0f}));
    EXPECT_TRUE(values_near(ops::linear(x, w, Tensor()), {-2.0f, 3.0f, -2.0f, 0.0f}));
  });
}

// ---------------------------------------------------------------------------------------------
// batch_norm

// batch_norm_act with ReLU equals relu(batch_norm(x) + residual) in values, gradients of every
// input, running statistics, and under each ReLU backward rule of the op table.
TEST(Ops, BatchNormActEqualsTheComposedOps) {
  const Tensor x = randn({4, 3, 5, 6}, 41, 2.0f), res = randn({4, 3, 5, 6}, 42);
  const Tensor gamma = randn({3}, 43), beta = randn({3}, 44), seed = randn({4, 3, 5, 6}, 45);
  for (ReluRule rule : {ReluRule::Standard, ReluRule::Guided, ReluRule::Deconv}) {
    for_each_cpu_mode([&] {
      SCOPED_TRACE("rule " + std::to_string(static_cast<int>(rule)));
      ReluRuleGuard guard(rule);
      Ts fused_in = {x.clone(), gamma.clone(), beta.clone(), res.clone()};
      Ts plain_in = {x.clone(), gamma.clone(), beta.clone(), res.clone()};
      for (auto* set : {&fused_in, &plain_in})
        for (auto& t : *set) t.set_requires_grad(true);
      Tensor rm1 = Tensor::zeros({3}), rv1 = Tensor::ones({3});
      Tensor rm2 = Tensor::zeros({3}), rv2 = Tensor::ones({3});
      const Tensor y1 =
          ops::batch_norm_act(fused_in[0], fused_in[1], fused_in[2], rm1, rv1, fused_in[3], true);
      const Tensor y2 = ops::relu(ops::add(
          ops::batch_norm(plain_in[0], plain_in[1], plain_in[2], rm2, rv2, true), plain_in[3]));
      EXPECT_TRUE(values_near(y1, y2.to_vector(), 1e-5));
      EXPECT_TRUE(values_near(rm1, rm2.to_vector(), 1e-6));
      EXPECT_TRUE(values_near(rv1, rv2.to_vector(), 1e-6));
      const Ts g1 = grad(y1, fused_in, seed), g2 = grad(y2, plain_in, seed);
      for (size_t i = 0; i < g1.size(); ++i) {
        SCOPED_TRACE("input " + std::to_string(i));
        EXPECT_TRUE(values_near(g1[i], g2[i].to_vector(), 1e-4));
      }
    });
  }
}

TEST(Ops, Conv2dFusedEqualsConvBatchNormAddRelu) {
  struct Case {
    Shape x, w;
    ops::Conv2dOptions opt;
  };
  const std::vector<Case> cases = {{{3, 4, 9, 9}, {6, 4, 3, 3}, {1, 1, 1}},   // padded-flat
                                   {{2, 4, 9, 8}, {6, 4, 3, 3}, {2, 1, 1}},   // phases
                                   {{2, 4, 8, 8}, {6, 4, 1, 1}, {2, 0, 1}},   // im2col + GEMM
                                   {{2, 4, 8, 8}, {6, 2, 3, 3}, {1, 1, 2}}};  // grouped
  uint64_t seed = 50;
  for (const Case& c : cases) {
    const Tensor x = randn(c.x, seed++), w = randn(c.w, seed++);
    const Tensor y0 = ops::conv2d(x, w, {}, c.opt);
    const Tensor scale = randn({c.w[0]}, seed++), shift = randn({c.w[0]}, seed++);
    const Tensor res = randn(y0.shape(), seed++);
    for_each_cpu_mode([&] {
      NoGradGuard ng;
      // The epilogue composed from ops: conv * scale + shift (+ residual) (then ReLU).
      const Tensor conv = ops::conv2d(x, w, {}, c.opt);
      const Tensor affine = ops::add(ops::mul(conv, ops::reshape(scale, {1, c.w[0], 1, 1})),
                                     ops::reshape(shift, {1, c.w[0], 1, 1}));
      for (bool with_res : {false, true}) {
        for (bool relu : {false, true}) {
          Tensor want = with_res ? ops::add(affine, res) : affine;
          if (relu) want = ops::relu(want);
          const Tensor got =
              ops::conv2d_fused(x, w, scale, shift, with_res ? res : Tensor(), relu, c.opt);
          EXPECT_TRUE(values_near(got, want.to_vector(), 1e-5))
              << "residual " << with_res << " relu " << relu;
          if (!relu) continue;  // ReLU capped at 1.5: clamp(v, 0, 1.5), ReLU6's form
          const Tensor capped =
              ops::conv2d_fused(x, w, scale, shift, with_res ? res : Tensor(), true, c.opt, 1.5f);
          EXPECT_TRUE(values_near(capped, ops::clamp(want, 0.0f, 1.5f).to_vector(), 1e-5))
              << "residual " << with_res << " cap 1.5";
        }
      }
    });
  }
}

TEST(Ops, Conv2dFusedReluCapMustBePositiveAndComeWithRelu) {
  const Tensor x = randn({1, 2, 5, 5}, 1), w = randn({3, 2, 3, 3}, 2);
  NoGradGuard ng;
  for (float cap : {0.0f, -1.0f, std::nanf("")}) {
    expect_error_naming([&] { ops::conv2d_fused(x, w, {}, {}, {}, true, {}, cap); },
                        "conv2d_fused");
  }
  expect_error_naming([&] { ops::conv2d_fused(x, w, {}, {}, {}, false, {}, 6.0f); },
                      "conv2d_fused");
  EXPECT_EQ(ops::conv2d_fused(x, w, {}, {}, {}, true, {}, 6.0f).shape(), (Shape{1, 3, 3, 3}));
}

TEST(Ops, BatchNormTrainingValuesAndRunningStats) {
  const int64_t N = 3, C = 2, L = 4;
  const Tensor x = randn({N, C, 2, 2}, 11, 3.0f);
  const Tensor gamma = Tensor::from_vector({C}, {1.5f, -0.5f});
  const Tensor beta = Tensor::from_vector({C}, {0.25f, 2.0f});
  const Vec rm0 = {0.5f, -0.2f}, rv0 = {2.0f, 0.7f};
  const float momentum = 0.3f, eps = 1e-5f;
  const Vec xv = x.to_vector();
  for_each_cpu_mode([&] {
    Tensor rm = Tensor::from_vector({C}, rm0), rv = Tensor::from_vector({C}, rv0);
    const Tensor y = ops::batch_norm(x, gamma, beta, rm, rv, true, momentum, eps);
    const Vec yv = y.to_vector();
    for (int64_t c = 0; c < C; ++c) {
      double mean = 0.0, sq = 0.0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t l = 0; l < L; ++l) mean += xv[static_cast<size_t>((n * C + c) * L + l)];
      mean /= N * L;
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t l = 0; l < L; ++l) {
          const double d = xv[static_cast<size_t>((n * C + c) * L + l)] - mean;
          sq += d * d;
        }
      }
      const double biased = sq / (N * L), unbiased = sq / (N * L - 1);
      // y uses the biased batch variance.
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t l = 0; l < L; ++l) {
          const size_t i = static_cast<size_t>((n * C + c) * L + l);
          const double want =
              (xv[i] - mean) / std::sqrt(biased + eps) * gamma.to_vector()[c] + beta.to_vector()[c];
          EXPECT_NEAR(yv[i], want, 1e-5 * (1 + std::fabs(want)));
        }
      }
      // PyTorch: running = (1 - momentum) * running + momentum * batch (unbiased variance).
      const size_t cc = static_cast<size_t>(c);
      EXPECT_NEAR(rm.to_vector()[cc], (1 - momentum) * rm0[cc] + momentum * mean, 1e-5);
      EXPECT_NEAR(rv.to_vector()[cc], (1 - momentum) * rv0[cc] + momentum * unbiased, 1e-5);
    }
  });
}

TEST(Ops, BatchNormEvalValuesUseRunningStats) {
  const Tensor x = Tensor::from_vector({2, 2}, {1.0f, 2.0f, 3.0f, -4.0f});  // [N,C]
  Tensor rm = Tensor::from_vector({2}, {1.0f, -1.0f});
  Tensor rv = Tensor::from_vector({2}, {4.0f, 0.25f});
  const Tensor gamma = Tensor::from_vector({2}, {2.0f, 1.0f});
  const Tensor beta = Tensor::from_vector({2}, {0.0f, 1.0f});
  const float eps = 1e-5f;
  const Tensor y = ops::batch_norm(x, gamma, beta, rm, rv, false, 0.1f, eps);
  const float s0 = 2.0f / std::sqrt(4.0f + eps), s1 = 1.0f / std::sqrt(0.25f + eps);
  EXPECT_TRUE(values_near(y, {0.0f * s0, 3.0f * s1 + 1.0f, 2.0f * s0, -3.0f * s1 + 1.0f}));
  // Eval leaves the running statistics alone.
  EXPECT_TRUE(values_near(rm, {1.0f, -1.0f}, 0.0));
  EXPECT_TRUE(values_near(rv, {4.0f, 0.25f}, 0.0));
}

// ---------------------------------------------------------------------------------------------
// Activations

TEST(Ops, ReluValuesAndZeroGradAtZero) {
  Tensor x = Tensor::from_vector({4}, {-1.0f, 0.0f, 2.0f, -0.0f});
  EXPECT_TRUE(values_near(ops::relu(x), {0.0f, 0.0f, 2.0f, 0.0f}, 0.0));
  x.set_requires_grad(true);
  ops::sum(ops::relu(x)).backward();
  EXPECT_TRUE(values_near(x.grad(), {0.0f, 0.0f, 1.0f, 0.0f}, 0.0));  // PyTorch: 0 at 0
}

TEST(Ops, GeluValues) {
  // Exact (erf) GELU: x * Phi(x).
  EXPECT_TRUE(values_near(ops::gelu(Tensor::from_vector({4}, {0.0f, 1.0f, -1.0f, 2.0f})),
                          {0.0f, 0.8413447f, -0.1586553f, 1.9544997f}, 1e-6));
}

// ---------------------------------------------------------------------------------------------
// Pooling

struct PoolCase {
  int64_t kernel, stride, padding;
};

TEST(Ops, MaxPoolForwardValues) {
  const Tensor x = iota({1, 1, 4, 4});  // 0..15
  EXPECT_TRUE(values_near(ops::max_pool2d(x, 2), {5, 7, 13, 15}, 0.0));
  EXPECT_TRUE(values_near(ops::max_pool2d(x, 3, 2, 1), {5, 7, 13, 15}, 0.0));
  // All negative with padding: padded positions never win (they are -inf, not 0).
  const Tensor neg = iota({1, 1, 4, 4}, -1.0f, -1.0f);  // x(i,j) = -(4i+j) - 1
  EXPECT_TRUE(values_near(ops::max_pool2d(neg, 3, 2, 1), {-1, -2, -5, -6}, 0.0));
  // Overlapping windows (stride 1 < kernel 2): the shared maximum gets both gradients.
  Tensor x2 = Tensor::from_vector({1, 1, 2, 3}, {0, 9, 1, 2, 3, 4});
  x2.set_requires_grad(true);
  Tensor y = ops::max_pool2d(x2, 2, 1, 0);
  EXPECT_TRUE(values_near(y, {9, 9}, 0.0));
  ops::sum(y).backward();
  EXPECT_TRUE(values_near(x2.grad(), {0, 2, 0, 0, 0, 0}, 0.0));
}

TEST(Ops, AvgPoolForwardValuesCountPadding) {
  const Tensor x = iota({1, 1, 4, 4});
  EXPECT_TRUE(values_near(ops::avg_pool2d(x, 2), {2.5f, 4.5f, 10.5f, 12.5f}));
  // Padded positions count in the divisor (count_include_pad=True): always / 9.
  EXPECT_TRUE(
      values_near(ops::avg_pool2d(x, 3, 2, 1), {10.0f / 9, 24.0f / 9, 51.0f / 9, 90.0f / 9}));
}

TEST(Ops, GlobalAvgPoolValues) {
  const Tensor y = ops::global_avg_pool(iota({1, 2, 2, 2}));
  EXPECT_EQ(y.shape(), (Shape{1, 2}));
  EXPECT_TRUE(values_near(y, {1.5f, 5.5f}));
}

// ---------------------------------------------------------------------------------------------
// Broadcasting elementwise ops

// Index into a contiguous tensor of `shape` broadcast against out index `idx` (right-aligned).
int64_t broadcast_offset(const Shape& shape, const Shape& out, const std::vector<int64_t>& idx) {
  int64_t off = 0;
  const size_t lead = out.size() - shape.size();
  const Shape st = contiguous_strides(shape);
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] != 1) off += idx[lead + d] * st[d];
  }
  return off;
}

// Expected a (op) b by explicit index arithmetic.
Vec broadcast_reference(const Tensor& a, const Tensor& b, const Shape& out,
                        const std::function<float(float, float)>& op) {
  const Vec va = a.to_vector(), vb = b.to_vector();
  Vec r(static_cast<size_t>(shape_numel(out)));
  std::vector<int64_t> idx(out.size(), 0);
  for (size_t i = 0; i < r.size(); ++i) {
    int64_t rem = static_cast<int64_t>(i);
    for (size_t d = out.size(); d-- > 0;) {
      idx[d] = rem % out[d];
      rem /= out[d];
    }
    r[i] = op(va[static_cast<size_t>(broadcast_offset(a.shape(), out, idx))],
              vb[static_cast<size_t>(broadcast_offset(b.shape(), out, idx))]);
  }
  return r;
}

TEST(Ops, BroadcastingAddSubMulDivValues) {
  const Shape big{2, 3, 4, 5};
  const Tensor a = randn(big, 1);
  struct Binop {
    const char* name;
    Tensor (*fn)(const Tensor&, const Tensor&);
    float (*ref)(float, float);
  };
  const Binop binops[] = {
      {"add", ops::add, [](float p, float q) { return p + q; }},
      {"sub", ops::sub, [](float p, float q) { return p - q; }},
      {"mul", ops::mul, [](float p, float q) { return p * q; }},
      {"div", ops::div, [](float p, float q) { return p / q; }},
  };
  for (const Shape& small :
       {Shape{3, 1, 1}, Shape{1}, Shape{2, 1, 4, 1}, Shape{5}, Shape{}, Shape{2, 3, 4, 5}}) {
    const Tensor b = randn(small, 2);
    for (const Binop& op : binops) {
      SCOPED_TRACE(std::string(op.name) + " with " + shape_str(small));
      const Tensor y = op.fn(a, b), y2 = op.fn(b, a);
      EXPECT_EQ(y.shape(), big);
      EXPECT_EQ(y2.shape(), big);
      EXPECT_TRUE(values_near(y, broadcast_reference(a, b, big, op.ref), 0.0));
      EXPECT_TRUE(values_near(y2, broadcast_reference(b, a, big, op.ref), 0.0));
    }
  }
  // Both sides broadcast: [3,1] (op) [1,4] -> [3,4].
  const Tensor c = randn({3, 1}, 3), d = randn({1, 4}, 4);
  EXPECT_TRUE(values_near(ops::sub(c, d),
                          broadcast_reference(c, d, {3, 4}, [](float p, float q) { return p - q; }),
                          0.0));
}

TEST(Ops, DivGradientsByHand) {
  // y = a / b with b broadcast over rows: da = dy / b, db = -sum over rows of dy * a / b^2.
  for_each_cpu_mode([] {
    Tensor a = Tensor::from_vector({2, 2}, {1, 2, 3, 4});
    Tensor b = Tensor::from_vector({2}, {2, -4});
    a.set_requires_grad(true);
    b.set_requires_grad(true);
    const Tensor y = ops::div(a, b);
    EXPECT_TRUE(values_near(y, {0.5f, -0.5f, 1.5f, -1.0f}, 0.0));
    const Ts g = grad(y, {a, b}, Tensor::from_vector({2, 2}, {1, 1, 2, 1}));
    EXPECT_TRUE(values_near(g[0], {0.5f, -0.25f, 1.0f, -0.25f}, 1e-7));
    // db0 = -(1*1 + 2*3) / 4 = -1.75; db1 = -(1*2 + 1*4) / 16 = -0.375.
    EXPECT_TRUE(values_near(g[1], {-1.75f, -0.375f}, 1e-7));
  });
  // Only a's gradient: b's is skipped, a's is unchanged.
  Tensor a = Tensor::from_vector({2}, {3, 6});
  a.set_requires_grad(true);
  const Ts g = grad(ops::div(a, Tensor::from_vector({1}, {3})), {a}, Tensor::full({2}, 1.0f));
  EXPECT_TRUE(values_near(g[0], {1.0f / 3.0f, 1.0f / 3.0f}, 1e-7));
}

TEST(Ops, ScaleValues) {
  EXPECT_TRUE(
      values_near(ops::scale(Tensor::from_vector({3}, {1, -2, 0.5f}), 3.0f), {3, -6, 1.5f}));
}

// ---------------------------------------------------------------------------------------------
// concat and views

TEST(Ops, ConcatValues) {
  const Tensor a = randn({2, 3, 4}, 1), b = randn({2, 1, 4}, 2), c = randn({2, 2, 4}, 3);
  // Values: [[0,1],[2,3]] ++ [[4],[5]] along dim 1; and along dim 0.
  const Tensor p = iota({2, 2}), q = iota({2, 1}, 4.0f);
  const Tensor y = ops::concat({p, q}, 1);
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_TRUE(values_near(y, {0, 1, 4, 2, 3, 5}, 0.0));
  EXPECT_TRUE(values_near(ops::concat({p, iota({1, 2}, 7.0f)}, 0), {0, 1, 2, 3, 7, 8}, 0.0));
  // Non-contiguous inputs are read in logical order.
  EXPECT_TRUE(values_near(ops::concat({ops::transpose(p, 0, 1), q}, 1), {0, 2, 4, 1, 3, 5}, 0.0));
}

TEST(Ops, ReshapeAndFlattenValues) {
  const Tensor x = randn({2, 3, 4}, 1);
  // A non-contiguous input is copied first.
  const Tensor r = ops::reshape(iota({2, 3}), {3, -1});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_TRUE(values_near(r, {0, 1, 2, 3, 4, 5}, 0.0));
  EXPECT_EQ(ops::flatten(iota({2, 3, 4, 5})).shape(), (Shape{2, 60}));
  EXPECT_EQ(ops::flatten(iota({2, 3, 4, 5}), 2).shape(), (Shape{2, 3, 20}));
  // A contiguous reshape shares storage.
  const Tensor base = iota({2, 3});
  EXPECT_EQ(ops::reshape(base, {6}).storage(), base.storage());
  EXPECT_TRUE(
      values_near(ops::reshape(ops::transpose(iota({2, 3}), 0, 1), {6}), {0, 3, 1, 4, 2, 5}, 0.0));
}

TEST(Ops, PermuteTransposeValues) {
  const Tensor x = randn({2, 3, 4}, 1);
  // permute: y[i,j,k] = x[j,k,i] for dims {2,0,1}.
  const Tensor t = iota({2, 3, 4});
  const Tensor y = ops::permute(t, {2, 0, 1});
  EXPECT_EQ(y.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(y.storage(), t.storage());
  const Vec yv = y.to_vector(), tv = t.to_vector();
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t k = 0; k < 3; ++k)
        EXPECT_EQ(yv[static_cast<size_t>((i * 2 + j) * 3 + k)],
                  tv[static_cast<size_t>((j * 3 + k) * 4 + i)]);
  EXPECT_TRUE(values_near(ops::transpose(iota({2, 3}), 0, 1), {0, 3, 1, 4, 2, 5}, 0.0));
}

TEST(Ops, SliceValues) {
  const Tensor t = iota({2, 5});
  EXPECT_TRUE(values_near(ops::slice(t, 1, 0, 5, 2), {0, 2, 4, 5, 7, 9}, 0.0));
  EXPECT_TRUE(values_near(ops::slice(t, 1, 1, 4, 2), {1, 3, 6, 8}, 0.0));
  EXPECT_TRUE(values_near(ops::slice(t, 0, -1, 2), {5, 6, 7, 8, 9}, 0.0));
  EXPECT_EQ(ops::slice(t, 1, 1, 4, 2).storage(), t.storage());
}

TEST(Ops, ContiguousValues) {
  const Tensor t = ops::transpose(iota({2, 3}), 0, 1);
  EXPECT_FALSE(t.is_contiguous());
  const Tensor c = ops::contiguous(t);
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_TRUE(values_near(c, {0, 3, 1, 4, 2, 5}, 0.0));
  EXPECT_TRUE(ops::contiguous(c).same(c));  // already contiguous: the same tensor
}

// ---------------------------------------------------------------------------------------------
// dropout

TEST(Ops, DropoutMaskScaleAndGrad) {
  const float p = 0.3f;
  Tensor x = Tensor::ones({4, 50});
  x.set_requires_grad(true);
  Generator gen(7);
  const Tensor y = ops::dropout(x, p, true, gen);
  const Vec mask = y.to_vector();  // x = 1, so y is the mask times 1/(1-p)
  int zeros = 0;
  for (float m : mask) {
    EXPECT_TRUE(m == 0.0f || std::fabs(m - 1.0f / (1.0f - p)) < 1e-6f) << m;
    zeros += m == 0.0f;
  }
  EXPECT_GT(zeros, 30);  // expected 60 of 200
  EXPECT_LT(zeros, 90);
  const Tensor seed = randn({4, 50}, 3);
  gb::backward(y, seed);
  const Vec g = x.grad().to_vector(), s = seed.to_vector();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_FLOAT_EQ(g[i], s[i] * mask[i]);
  // The counter advanced by one draw per element.
  EXPECT_EQ(gen.counter(), 200u);
}

TEST(Ops, DropoutIsReproducibleFromASeededGenerator) {
  const Tensor x = randn({5, 40}, 2);
  Generator g1(99), g2(99), g3(100);
  const Vec a = ops::dropout(x, 0.5f, true, g1).to_vector();
  const Vec b = ops::dropout(x, 0.5f, true, g2).to_vector();
  const Vec c = ops::dropout(x, 0.5f, true, g3).to_vector();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // The next call draws fresh counters: a different mask.
  EXPECT_NE(ops::dropout(x, 0.5f, true, g1).to_vector(), a);
}

TEST(Ops, DropoutIdentityWhenPZeroOrEval) {
  Tensor x = randn({3, 4}, 1);
  x.set_requires_grad(true);
  Generator gen(1);
  const Tensor y0 = ops::dropout(x, 0.0f, true, gen);
  const Tensor ye = ops::dropout(x, 0.5f, false, gen);
  EXPECT_EQ(y0.to_vector(), x.to_vector());
  EXPECT_EQ(ye.to_vector(), x.to_vector());
  EXPECT_EQ(gen.counter(), 0u);  // no draws
  ops::sum(ops::add(y0, ye)).backward();
  EXPECT_TRUE(values_near(x.grad(), Vec(12, 2.0f), 0.0));
}

// ---------------------------------------------------------------------------------------------
// softmax, log_softmax, cross_entropy

TEST(Ops, SoftmaxValues) {
  const Tensor x = Tensor::from_vector({2, 3}, {1, 2, 3, 1000, 1000, 1000});
  EXPECT_TRUE(values_near(ops::softmax(x),
                          {0.09003057f, 0.24472847f, 0.66524096f, 1.0f / 3, 1.0f / 3, 1.0f / 3}));
  EXPECT_TRUE(values_near(ops::log_softmax(x), {-2.40760596f, -1.40760596f, -0.40760596f,
                                                -1.0986123f, -1.0986123f, -1.0986123f}));
}

double cross_entropy_by_hand(const Tensor& logits, const std::vector<int64_t>& t, double eps) {
  const int64_t N = logits.size(0), D = logits.size(1);
  const Vec v = logits.to_vector();
  double total = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    double lse = 0.0;
    for (int64_t d = 0; d < D; ++d) lse += std::exp(static_cast<double>(v[n * D + d]));
    lse = std::log(lse);
    double mean_nll = 0.0;
    for (int64_t d = 0; d < D; ++d) mean_nll += (lse - v[n * D + d]) / D;
    const double nll = lse - v[n * D + t[static_cast<size_t>(n)]];
    total += (1.0 - eps) * nll + eps * mean_nll;
  }
  return total / N;
}

TEST(Ops, CrossEntropyValues) {
  const Tensor logits = randn({4, 5}, 1, 1.5f);
  const std::vector<int64_t> labels = {1, 0, 4, 2};
  const Tensor targets = Tensor::from_labels(labels);
  for (float eps : {0.0f, 0.1f}) {
    SCOPED_TRACE("label_smoothing " + std::to_string(eps));
    const Tensor loss = ops::cross_entropy(logits, targets, eps);
    EXPECT_EQ(loss.numel(), 1);
    EXPECT_NEAR(loss.item(), cross_entropy_by_hand(logits, labels, eps), 1e-5);
  }
  // Two equal logits: -log(1/2).
  EXPECT_NEAR(ops::cross_entropy(Tensor::zeros({1, 2}), Tensor::from_labels({0})).item(),
              std::log(2.0), 1e-6);
}

// ---------------------------------------------------------------------------------------------
// bilinear_resize

TEST(Ops, BilinearResizeValues) {
  // PyTorch F.interpolate([[1,2],[3,4]], size=4, mode="bilinear", align_corners=False).
  const Tensor x = Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4});
  EXPECT_TRUE(values_near(ops::bilinear_resize(x, 4, 4),
                          {1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f,
                           3.5f, 3.0f, 3.25f, 3.75f, 4.0f}));
  // Halving samples the centre of each 2x2 block: the block average.
  EXPECT_TRUE(
      values_near(ops::bilinear_resize(iota({1, 1, 4, 4}), 2, 2), {2.5f, 4.5f, 10.5f, 12.5f}));
  // Same size: identity.
  const Tensor r = randn({2, 2, 3, 5}, 4);
  EXPECT_TRUE(values_near(ops::bilinear_resize(r, 3, 5), r.to_vector(), 1e-6));
  EXPECT_EQ(ops::bilinear_resize(r, 4, 7).shape(), (Shape{2, 2, 4, 7}));
}

// ---------------------------------------------------------------------------------------------
// Reductions

TEST(Ops, SumMeanValues) {
  const Tensor x = iota({2, 3});  // [[0,1,2],[3,4,5]]
  EXPECT_FLOAT_EQ(ops::sum(x).item(), 15.0f);
  EXPECT_EQ(ops::sum(x).dim(), 0);
  EXPECT_FLOAT_EQ(ops::mean(x).item(), 2.5f);
  EXPECT_TRUE(values_near(ops::sum(x, {0}), {3, 5, 7}, 0.0));
  EXPECT_TRUE(values_near(ops::sum(x, {1}), {3, 12}, 0.0));
  EXPECT_TRUE(values_near(ops::mean(x, {-1}), {1, 4}, 0.0));
  EXPECT_EQ(ops::sum(x, {1}).shape(), (Shape{2}));
  EXPECT_EQ(ops::sum(x, {1}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(ops::mean(x, {0, 1}, true).shape(), (Shape{1, 1}));
  EXPECT_TRUE(values_near(ops::mean(iota({2, 2, 2}), {0, 2}), {2.5f, 4.5f}));
}

TEST(Ops, SumToValues) {
  const Tensor g = iota({2, 3});
  EXPECT_TRUE(values_near(ops::sum_to(g, {3}), {3, 5, 7}, 0.0));
  EXPECT_TRUE(values_near(ops::sum_to(g, {2, 1}), {3, 12}, 0.0));
  EXPECT_TRUE(values_near(ops::sum_to(g, {1}), {15}, 0.0));
  EXPECT_EQ(ops::sum_to(g, {1, 3}).shape(), (Shape{1, 3}));
  EXPECT_TRUE(ops::sum_to(g, {2, 3}).same(g));
  // Public and therefore differentiable: it must not silently cut the graph.
  EXPECT_THROW(ops::sum_to(g, {4}), std::invalid_argument);
  EXPECT_THROW(ops::sum_to(g, {1, 2, 3}), std::invalid_argument);
}

TEST(Ops, SumGradRespectsTheSeedViewOffset) {
  // A seed that is a view with a storage offset (row 1 of a [2,3] tensor).
  Tensor x = iota({3});
  x.set_requires_grad(true);
  const Tensor y = ops::sum(ops::reshape(x, {1, 3}), {0});  // [3]
  const Tensor seeds = Tensor::from_vector({2, 3}, {9, 9, 9, 1, 2, 3});
  const Tensor seed = ops::reshape(ops::slice(seeds, 0, 1, 2), {3});
  ASSERT_EQ(seed.offset(), 3);
  gb::backward(y, seed);
  EXPECT_TRUE(values_near(x.grad(), {1, 2, 3}, 0.0));
}

// ---------------------------------------------------------------------------------------------
// Errors and the op table

TEST(Ops, ShapeErrorsNameTheOp) {
  const Tensor x4 = randn({2, 3, 5, 5}, 1), x3 = randn({3, 5, 5}, 2);
  const Tensor labels = Tensor::from_labels({0, 1});
  const Tensor ints = Tensor::zeros({2, 3}, DType::I64);
  expect_error_naming([&] { ops::conv2d(x3, randn({4, 3, 3, 3}, 3), {}); }, "conv2d");
  expect_error_naming([&] { ops::conv2d(x4, randn({4, 2, 3, 3}, 3), {}); }, "conv2d");
  expect_error_naming([&] { ops::conv2d(x4, randn({4, 3, 3, 3}, 3), randn({3}, 4)); }, "conv2d");
  expect_error_naming([&] { ops::conv2d(x4, randn({4, 1, 3, 3}, 3), {}, {1, 0, 2}); }, "conv2d");
  expect_error_naming([&] { ops::conv2d(x4, randn({4, 3, 7, 7}, 3), {}); }, "conv2d");
  expect_error_naming([&] { ops::conv2d(x4, randn({4, 3, 3, 3}, 3), {}, {0, 0, 1}); }, "conv2d");
  // A window larger than the input with a stride that would round the output size up to 1.
  expect_error_naming([&] { ops::conv2d(x4, randn({4, 3, 7, 7}, 3), {}, {3, 0, 1}); }, "conv2d");
  expect_error_naming([&] { ops::linear(randn({2, 5}, 1), randn({3, 4}, 2), {}); }, "linear");
  expect_error_naming(
      [&] {
        ops::linear(randn({2, 4}, 1), randn({3, 4}, 2), randn({4}, 3));
      },
      "linear");
  expect_error_naming([&] { ops::linear(randn({4}, 1), randn({3, 4}, 2), {}); }, "linear");
  expect_error_naming([&] { ops::batch_norm(x4, randn({2}, 1), {}, {}, {}, true); }, "batch_norm");
  expect_error_naming([&] { ops::batch_norm(x3, {}, {}, {}, {}, true); }, "batch_norm");
  expect_error_naming([&] { ops::batch_norm(x4, {}, {}, {}, {}, false); }, "batch_norm");
  expect_error_naming([&] { ops::relu(ints); }, "relu");
  expect_error_naming([&] { ops::gelu(Tensor()); }, "gelu");
  expect_error_naming([&] { ops::max_pool2d(x3, 2); }, "max_pool2d");
  expect_error_naming([&] { ops::max_pool2d(x4, 7); }, "max_pool2d");
  expect_error_naming([&] { ops::avg_pool2d(x4, 2, 1, 2); }, "avg_pool2d");
  expect_error_naming([&] { ops::avg_pool2d(x4, 6, 3); }, "avg_pool2d");
  expect_error_naming([&] { ops::global_avg_pool(randn({2, 3}, 1)); }, "global_avg_pool");
  expect_error_naming([&] { ops::add(randn({2, 3}, 1), randn({4}, 2)); }, "add");
  expect_error_naming([&] { ops::sub(randn({2, 3}, 1), randn({2, 2}, 2)); }, "sub");
  expect_error_naming([&] { ops::mul(randn({2, 3}, 1), ints); }, "mul");
  expect_error_naming([&] { ops::div(randn({2, 3}, 1), randn({4}, 2)); }, "div");
  expect_error_naming([&] { ops::scale(ints, 2.0f); }, "scale");
  expect_error_naming([&] { ops::concat({randn({2, 3}, 1), randn({3, 3}, 2)}, 1); }, "concat");
  expect_error_naming([&] { ops::concat({randn({2, 3}, 1), randn({2, 3, 1}, 2)}, 0); }, "concat");
  expect_error_naming([&] { ops::concat({}, 0); }, "concat");
  expect_error_naming([&] { ops::reshape(randn({2, 3}, 1), {4, 2}); }, "reshape");
  expect_error_naming([&] { ops::reshape(randn({2, 3}, 1), {-1, -1}); }, "reshape");
  expect_error_naming([&] { ops::flatten(randn({2, 3}, 1), 3); }, "flatten");
  expect_error_naming([&] { ops::permute(randn({2, 3}, 1), {0}); }, "permute");
  expect_error_naming([&] { ops::permute(randn({2, 3}, 1), {0, 0}); }, "permute");
  expect_error_naming([&] { ops::transpose(randn({2, 3}, 1), 0, 2); }, "transpose");
  expect_error_naming([&] { ops::slice(randn({2, 3}, 1), 2, 0, 1); }, "slice");
  expect_error_naming([&] { ops::slice(randn({2, 3}, 1), 1, 2, 1); }, "slice");
  expect_error_naming([&] { ops::slice(randn({2, 3}, 1), 1, 0, 3, 0); }, "slice");
  Generator gen(1);
  expect_error_naming([&] { ops::dropout(x4, 1.0f, true, gen); }, "dropout");
  expect_error_naming([&] { ops::dropout(x4, -0.1f, true, gen); }, "dropout");
  expect_error_naming([&] { ops::softmax(ints); }, "softmax");
  expect_error_naming([&] { ops::log_softmax(ints); }, "log_softmax");
  expect_error_naming(
      [&] {
        ops::cross_entropy(randn({2, 3}, 1), Tensor::from_labels({0}));
      },
      "cross_entropy");
  expect_error_naming(
      [&] {
        ops::cross_entropy(randn({2, 3}, 1), Tensor::from_labels({0, 3}));
      },
      "cross_entropy");
  expect_error_naming(
      [&] {
        ops::cross_entropy(randn({2, 3}, 1), randn({2}, 2));
      },
      "cross_entropy");
  expect_error_naming([&] { ops::cross_entropy(randn({2, 3}, 1), labels, 1.0f); }, "cross_entropy");
  expect_error_naming([&] { ops::bilinear_resize(x4, 0, 3); }, "bilinear_resize");
  expect_error_naming([&] { ops::bilinear_resize(x3, 2, 3); }, "bilinear_resize");
  expect_error_naming([&] { ops::sum(randn({2, 3}, 1), {2}); }, "sum");
  expect_error_naming([&] { ops::mean(randn({2, 3}, 1), {-3}); }, "mean");
}

#ifndef GB_WITH_CUDA
TEST(Ops, CudaTensorsAreRefusedInACpuBuild) {
  EXPECT_THROW(Tensor::empty({2}, DType::F32, Device{DeviceType::Cuda, 0}), std::runtime_error);
}
#endif

}  // namespace
}  // namespace gb
