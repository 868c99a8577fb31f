// The transformer ops and layers: matmul and layer_norm against hand-computed values, matmul's
// in-place reading of transposed operands (no copy dispatched) and its shared 2-D operand, errors
// naming the op; the layers of runtime/transformer.h: shapes and names, attention rows that sum
// to 1, attention equal to the same computation written with the ops, the pre-norm block's
// residual form, gradient checks of attention and a whole block through the op table (both CPU
// kernel sets), and nn::Linear on [N,T,D] tokens.
// Shape letters: N batch, T tokens, D width, Hd heads, M/K/N matrix sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "runtime/autograd.h"
#include "runtime/layers.h"
#include "runtime/op_table.h"
#include "runtime/ops.h"
#include "runtime/rng.h"
#include "runtime/transformer.h"
#include "tests/gradcheck.h"
#include "tests/ops_test_util.h"

namespace gb {
namespace {
using test::expect_error_naming;
using test::iota;
using test::values_near;

Tensor randn(const Shape& shape, uint64_t seed, float stddev = 1.0f) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, stddev);
}

TEST(MatMul, BatchedValuesByHand) {
  // [2,2,3] x [2,3,1]: batch 0 rows (0 1 2), (3 4 5) times (1 1 1)^T; batch 1 times (1 0 -1)^T.
  const Tensor a = iota({2, 2, 3});
  const Tensor b = Tensor::from_vector({2, 3, 1}, {1, 1, 1, 1, 0, -1});
  EXPECT_TRUE(values_near(ops::matmul(a, b), {3, 12, -2, -2}));
}

TEST(MatMul, TransposedOperandIsReadInPlace) {
  const Tensor q = randn({2, 3, 4}, 1), k = randn({2, 5, 4}, 2);
  DispatchLog log;
  const Tensor s = ops::matmul(q, ops::transpose(k, -2, -1));
  EXPECT_FALSE(log.saw(OpId::Copy, Backend::CpuFast)) << "k^T was copied";
  const Tensor want = ops::matmul(q, ops::contiguous(ops::transpose(k, -2, -1)));
  EXPECT_TRUE(values_near(s, want.to_vector(), 1e-6));
  EXPECT_EQ(s.shape(), (Shape{2, 3, 5}));
}

TEST(MatMul, SharedTwoDimensionalOperand) {
  // [2,3,4] x [4,5]: each batch against the same matrix, as the batch of 2-D products.
  const Tensor a = randn({2, 3, 4}, 3), w = randn({4, 5}, 4);
  const Tensor y = ops::matmul(a, w);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 5}));
  for (int64_t b = 0; b < 2; ++b) {
    const Tensor ab = ops::reshape(ops::slice(a, 0, b, b + 1), {3, 4});
    const Tensor yb = ops::reshape(ops::slice(y, 0, b, b + 1), {3, 5});
    EXPECT_TRUE(values_near(yb, ops::matmul(ab, w).to_vector(), 1e-6));
  }
  // The shared operand's gradient sums over the batches: d sum(y) / dw[k, n] = sum_b,m a.
  Tensor wl = w.clone().set_requires_grad(true);
  const Tensor g = grad(ops::sum(ops::matmul(a, wl)), {wl})[0];
  const Tensor col = ops::sum(a, {0, 1});  // [4]
  for (int64_t k = 0; k < 4; ++k) {
    for (int64_t n = 0; n < 5; ++n) {
      EXPECT_NEAR(g.to_vector()[static_cast<size_t>(k * 5 + n)],
                  col.to_vector()[static_cast<size_t>(k)], 1e-5);
    }
  }
}

TEST(MatMul, ErrorsNameTheOp) {
  expect_error_naming([] { ops::matmul(Tensor::ones({3}), Tensor::ones({3, 2})); }, "matmul");
  expect_error_naming([] { ops::matmul(Tensor::ones({2, 3}), Tensor::ones({2, 2})); }, "inner");
  expect_error_naming(
      [] {
        ops::matmul(Tensor::ones({2, 2, 3}), Tensor::ones({3, 3, 2}));
      },
      "leading");
}

TEST(LayerNorm, ValuesByHand) {
  // Row (1 2 3 4): mean 2.5, biased variance 1.25; eps 0 -> (x - 2.5) / sqrt(1.25).
  const Tensor x = Tensor::from_vector({1, 4}, {1, 2, 3, 4});
  const float r = 1.0f / std::sqrt(1.25f);
  EXPECT_TRUE(
      values_near(ops::layer_norm(x, {}, {}, 0.0f), {-1.5f * r, -0.5f * r, 0.5f * r, 1.5f * r}));
  const Tensor w = Tensor::from_vector({4}, {1, 2, 3, 4}),
               b = Tensor::from_vector({4}, {0, 1, 0, 1});
  EXPECT_TRUE(values_near(ops::layer_norm(x, w, b, 0.0f),
                          {-1.5f * r, -1.0f * r + 1, 1.5f * r, 6.0f * r + 1}));
  for (const CpuKernelMode mode : {CpuKernelMode::Fast, CpuKernelMode::Reference}) {
    CpuKernelModeGuard guard(mode);
    EXPECT_TRUE(
        values_near(ops::layer_norm(x, {}, {}, 0.0f), {-1.5f * r, -0.5f * r, 0.5f * r, 1.5f * r}));
  }
}

TEST(LayerNorm, ErrorsNameTheOp) {
  expect_error_naming(
      [] {
        ops::layer_norm(Tensor::ones({2, 3}), Tensor::ones({4}), {});
      },
      "layer_norm");
  expect_error_naming([] { ops::layer_norm(Tensor::ones({2, 3}), {}, {}, -1.0f); }, "eps");
}

TEST(Linear, TokensKeepTheirLeadingDims) {
  manual_seed(3);
  nn::Linear fc(4, 6);
  const Tensor x = randn({2, 5, 4}, 5);
  const Tensor y = fc(x);
  ASSERT_EQ(y.shape(), (Shape{2, 5, 6}));
  const Tensor flat = fc(ops::reshape(x, {10, 4}));
  EXPECT_TRUE(values_near(y, flat.to_vector(), 1e-6));
}

TEST(Attention, ShapesNamesAndRowsThatSumToOne) {
  manual_seed(4);
  nn::TransformerBlock block(8, 2, 16);
  Tensor seen;
  block.find("attn.softmax")->add_forward_hook([&](Module&, const Tensor&, const Tensor& y) {
    seen = y;
    return Tensor();
  });
  const Tensor y = block(randn({3, 5, 8}, 6));
  EXPECT_EQ(y.shape(), (Shape{3, 5, 8}));
  ASSERT_TRUE(seen.defined());
  ASSERT_EQ(seen.shape(), (Shape{3, 2, 5, 5}));
  const Tensor rows = ops::sum(seen, {3});
  EXPECT_TRUE(values_near(rows, std::vector<float>(30, 1.0f), 1e-6));
  std::vector<std::string> names;
  for (const auto& [name, t] : block.named_parameters()) names.push_back(name);
  const std::vector<std::string> want = {"norm1.weight",  "norm1.bias",       "attn.qkv.weight",
                                         "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
                                         "norm2.weight",  "norm2.bias",       "mlp.fc1.weight",
                                         "mlp.fc1.bias",  "mlp.fc2.weight",   "mlp.fc2.bias"};
  EXPECT_EQ(names, want);
  EXPECT_THROW(nn::MultiHeadSelfAttention(10, 3), std::invalid_argument);
  expect_error_naming([&] { (*block.find("attn"))(randn({3, 8}, 7)); }, "MultiHeadSelfAttention");
}

// The attention written out with the ops, head by head: softmax(q_h k_h^T / sqrt(Dh)) v_h.
TEST(Attention, EqualsTheComputationHeadByHead) {
  manual_seed(5);
  nn::MultiHeadSelfAttention attn(6, 2);
  const Tensor x = randn({2, 4, 6}, 7);
  const Tensor y = attn(x);
  const Tensor qkv = ops::linear(x, attn.find("qkv")->local_tensor("weight"),
                                 attn.find("qkv")->local_tensor("bias"));  // [2,4,18]
  std::vector<Tensor> heads;
  for (int64_t h = 0; h < 2; ++h) {
    const auto cut = [&](int64_t part) {
      return ops::slice(qkv, 2, part * 6 + h * 3, part * 6 + h * 3 + 3);
    };
    const Tensor q = ops::contiguous(cut(0)), k = ops::contiguous(cut(1)),
                 v = ops::contiguous(cut(2));
    const Tensor kt = ops::contiguous(ops::transpose(k, 1, 2));
    const Tensor p = ops::softmax(ops::scale(ops::matmul(q, kt), 1.0f / std::sqrt(3.0f)));
    heads.push_back(ops::matmul(p, v));
  }
  const Tensor merged = ops::concat(heads, 2);
  const Tensor want = ops::linear(merged, attn.find("proj")->local_tensor("weight"),
                                  attn.find("proj")->local_tensor("bias"));
  EXPECT_TRUE(values_near(y, want.to_vector(), 1e-5));
}

TEST(Attention, GradientsMatchCentralDifferences) {
  for (const CpuKernelMode mode : {CpuKernelMode::Fast, CpuKernelMode::Reference}) {
    CpuKernelModeGuard guard(mode);
    manual_seed(6);
    auto attn = std::make_shared<nn::MultiHeadSelfAttention>(4, 2);
    const test::TensorFn f = [attn](const std::vector<Tensor>& v) { return (*attn)(v[0]); };
    EXPECT_TRUE(test::gradcheck(f, {randn({2, 3, 4}, 8)}));
    auto block = std::make_shared<nn::TransformerBlock>(4, 2, 8);
    const test::TensorFn g = [block](const std::vector<Tensor>& v) { return (*block)(v[0]); };
    EXPECT_TRUE(test::gradcheck(g, {randn({2, 3, 4}, 9)}));
  }
}

TEST(Attention, GradientWithRespectToTheAttentionProbabilities) {
  manual_seed(7);
  nn::TransformerBlock block(8, 2, 16);
  Tensor probs;
  block.find("attn.softmax")->add_forward_hook([&](Module&, const Tensor&, const Tensor& y) {
    probs = y;
    return Tensor();
  });
  const Tensor x = randn({2, 5, 8}, 10).set_requires_grad(true);
  const Tensor y = block(x);
  const Tensor g = grad(ops::sum(y), {probs})[0];
  EXPECT_EQ(g.shape(), (Shape{2, 2, 5, 5}));
  double mag = 0.0;
  for (float v : g.to_vector()) mag += std::fabs(v);
  EXPECT_GT(mag, 0.0);
}

TEST(PatchEmbedding, TokensInRowMajorPatchOrder) {
  manual_seed(8);
  nn::PatchEmbedding pe(1, 3, 2);
  const Tensor img = randn({1, 1, 4, 6}, 11);
  const Tensor t = pe(img);
  ASSERT_EQ(t.shape(), (Shape{1, 6, 3}));
  const Tensor conv = (*pe.find("proj"))(img);  // [1,3,2,3]
  const std::vector<float> cv = conv.to_vector(), tv = t.to_vector();
  for (int64_t p = 0; p < 6; ++p) {
    for (int64_t d = 0; d < 3; ++d) {
      EXPECT_FLOAT_EQ(tv[static_cast<size_t>(p * 3 + d)], cv[static_cast<size_t>(d * 6 + p)]);
    }
  }
  expect_error_naming([&] { pe(randn({1, 1, 5, 6}, 12)); }, "PatchEmbedding");
}

}  // namespace
}  // namespace gb
