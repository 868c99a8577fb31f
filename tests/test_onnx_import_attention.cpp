// ONNX import of transformer-style graphs as torch.onnx writes them (ModelProtos built node by
// node): nn.Linear on tokens as MatMul with a folded [I, O] initializer plus Add of the bias (one
// linear node with both tensors), LayerNormalization over the last axis without a bias, and
// self-attention as MatMul of two values, Softmax and MatMul again; the imported model against
// the same computation written with runtime ops, the node kinds and tensor names; a Transpose of
// a constant folded; and the errors for LayerNormalization over another axis and MatMul of
// values of different ranks. Shape letters: N batch, C channels, T tokens, D width.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <set>
#include <string>

#include "models/onnx/onnx_import.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/rng.h"
#include "tests/onnx_test_util.h"

namespace gb {
namespace {

using models::import_onnx_bytes;

struct TokenGraph {
  std::string bytes;
  Tensor w, b, scale;  // w [I, O] as torch.onnx folds it
};

// x [N,2,4,4] -> tokens [N,16,2] -> linear to D = 6 -> LayerNormalization (no bias) -> one
// attention head (scores n n^T, softmax, times n) -> mean over tokens [N,6].
TokenGraph token_graph(int64_t ln_axis, bool bad_matmul) {
  Generator gen(11);
  ProtoBuilder p({-1, 2, 4, 4}, 17);
  TokenGraph g;
  p.ints("shape", {0, 2, 16});
  p.node("Reshape", {"x", "shape"}, "flat");
  ProtoBuilder::attr_ints(p.node("Transpose", {"flat"}, "tokens"), "perm", {0, 2, 1});
  g.w = p.weight("onnx::MatMul_7", Tensor::randn({2, 6}, gen, 0.5f));
  g.b = p.weight("blocks.0.fc.bias", Tensor::randn({6}, gen, 0.1f));
  p.node("MatMul", {"tokens", "onnx::MatMul_7"}, "mm", "/blocks.0/fc/MatMul");
  p.node("Add", {"mm", "blocks.0.fc.bias"}, "h", "/blocks.0/fc/Add");
  g.scale = p.weight("blocks.0.norm.weight", Tensor::uniform({6}, gen, 0.5f, 1.5f));
  auto* ln = p.node("LayerNormalization", {"h", "blocks.0.norm.weight"}, "n");
  ProtoBuilder::attr_int(ln, "axis", ln_axis);
  ProtoBuilder::attr_ints(p.node("Transpose", {"n"}, "nt"), "perm", {0, 2, 1});
  if (bad_matmul) {  // [N,16,6] x [N,96]
    p.ints("flat_shape", {0, 96});
    p.node("Reshape", {"h", "flat_shape"}, "h_flat");
  }
  p.node("MatMul", {"n", bad_matmul ? "h_flat" : "nt"}, "s", "/blocks.0/attn/MatMul");
  ProtoBuilder::attr_int(p.node("Softmax", {"s"}, "attn"), "axis", -1);
  p.node("MatMul", {"attn", "n"}, "o", "/blocks.0/attn/MatMul_1");
  auto* mean = p.node("ReduceMean", {"o"}, "y");
  ProtoBuilder::attr_ints(mean, "axes", {1});
  ProtoBuilder::attr_int(mean, "keepdims", 0);
  g.bytes = p.bytes("y");
  return g;
}

TEST(OnnxImportAttention, TokenLinearLayerNormAndAttentionMatchTheOps) {
  const TokenGraph g = token_graph(-1, false);
  const models::ImportedModel m = import_onnx_bytes(g.bytes, "tokens.onnx");
  std::multiset<std::string> kinds;
  for (const auto& n : m.graph.nodes) kinds.insert(n.op);
  EXPECT_EQ(kinds.count("linear"), 1u);
  EXPECT_EQ(kinds.count("layer_norm"), 1u);
  EXPECT_EQ(kinds.count("matmul"), 2u);
  EXPECT_EQ(kinds.count("add"), 0u) << "the bias Add is part of the linear node";
  std::set<std::string> names;
  for (const auto& [name, t] : m.tensors) names.insert(name);
  for (const char* want : {"blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.0.norm.weight"}) {
    EXPECT_TRUE(names.count(want)) << want;
  }
  auto net = build_graph_module(m);
  Generator gen(12);
  const Tensor x = Tensor::randn({3, 2, 4, 4}, gen);
  NoGradGuard no_grad;
  const Tensor tokens = ops::transpose(ops::reshape(x, {3, 2, 16}), 1, 2);
  const Tensor h = ops::add(ops::matmul(tokens, g.w), g.b);
  const Tensor n = ops::layer_norm(h, g.scale, Tensor(), 1e-5f);
  const Tensor attn = ops::softmax(ops::matmul(n, ops::transpose(n, 1, 2)));
  const Tensor want = ops::mean(ops::matmul(attn, n), {1});
  EXPECT_LT(max_abs_diff((*net)(x), want), 1e-5f);
}

TEST(OnnxImportAttention, UnsupportedFormsNameTheNode) {
  try {
    import_onnx_bytes(token_graph(1, false).bytes, "axis.onnx");
    ADD_FAILURE() << "LayerNormalization over axis 1 imported";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("last axis"), std::string::npos) << e.what();
  }
  try {
    import_onnx_bytes(token_graph(-1, true).bytes, "ranks.onnx");
    ADD_FAILURE() << "MatMul of values of different ranks imported";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("batched alike"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gb
