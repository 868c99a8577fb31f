// ONNX import (models/onnx/onnx_import.h): ModelProtos built here node by node, imported, and the
// graph model's outputs compared with the same computation written with runtime ops; the folded
// shape chains; the graph spec's JSON round trip; and every kind of bad input giving one clear
// error that names the cause (and the node). Shape letters: N batch, C channels, H/W size, K classes.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "models/graph/graph_module.h"
#include "models/onnx/onnx_import.h"
#include "runtime/autograd.h"
#include "runtime/fusion.h"
#include "runtime/op_table.h"
#include "runtime/ops.h"
#include "runtime/rng.h"
#include "tests/onnx_test_util.h"

namespace gb {
namespace {

using models::import_onnx_bytes;
using models::ImportedModel;

// The imported model with its tensors loaded, in eval mode.
std::shared_ptr<models::GraphModule> build(const ImportedModel& m) {
  return build_graph_module(m);
}

TEST(OnnxImport, ResidualCnnMatchesTheSameOpsWrittenByHand) {
  Generator gen(7);
  ProtoBuilder b({-1, 3, 8, 8});
  const Tensor w1 = b.weight("stem.conv.weight", Tensor::randn({4, 3, 3, 3}, gen, 0.3f));
  const Tensor b1 = b.weight("stem.conv.bias", Tensor::randn({4}, gen, 0.1f));
  const Tensor g = b.weight("bn.scale", Tensor::uniform({4}, gen, 0.5f, 1.5f));
  const Tensor be = b.weight("bn.b", Tensor::randn({4}, gen, 0.1f));
  const Tensor mu = b.weight("bn.mean", Tensor::randn({4}, gen, 0.1f));
  const Tensor var = b.weight("bn.var", Tensor::uniform({4}, gen, 0.5f, 2.0f));
  const Tensor w2 = b.weight("block.conv.weight", Tensor::randn({4, 4, 1, 1}, gen, 0.3f));
  const Tensor fw = b.weight("fc.weight", Tensor::randn({5, 4}, gen, 0.5f));
  const Tensor fb = b.weight("fc.bias", Tensor::randn({5}, gen, 0.1f));
  auto* conv = b.node("Conv", {"x", "stem.conv.weight", "stem.conv.bias"}, "c1");
  ProtoBuilder::attr_ints(conv, "pads", {1, 1, 1, 1});
  ProtoBuilder::attr_ints(conv, "kernel_shape", {3, 3});
  b.node("BatchNormalization", {"c1", "bn.scale", "bn.b", "bn.mean", "bn.var"}, "n1");
  b.node("Relu", {"n1"}, "r1", "/stem/relu/Relu");
  auto* pool = b.node("MaxPool", {"r1"}, "p1");
  ProtoBuilder::attr_ints(pool, "kernel_shape", {2, 2});
  ProtoBuilder::attr_ints(pool, "strides", {2, 2});
  b.node("Conv", {"p1", "block.conv.weight"}, "c2");
  b.node("Add", {"c2", "p1"}, "s");
  b.node("GlobalAveragePool", {"s"}, "gap");
  b.node("Flatten", {"gap"}, "f");
  auto* gemm = b.node("Gemm", {"f", "fc.weight", "fc.bias"}, "logits");
  ProtoBuilder::attr_int(gemm, "transB", 1);
  const ImportedModel m = import_onnx_bytes(b.bytes("logits"), "test.onnx");
  EXPECT_EQ(m.num_classes, 5);
  EXPECT_EQ(m.graph.input_chw, (std::vector<int64_t>{3, 8, 8}));
  EXPECT_EQ(m.graph.source_names.at("stem.conv.weight"), "stem.conv.weight");
  auto model = build(m);
  ASSERT_NE(model->find("stem.relu"), nullptr);  // the scoped node name became the path
  const Tensor x = Tensor::randn({3, 3, 8, 8}, gen);
  NoGradGuard no_grad;
  Tensor h = ops::conv2d(x, w1, b1, {1, 1, 1});
  h = ops::relu(ops::batch_norm(h, g, be, mu, var, false, 0.1f, 1e-5f));
  h = ops::max_pool2d(h, 2, 2, 0);
  h = ops::add(ops::conv2d(h, w2, Tensor(), {1, 0, 1}), h);
  const Tensor want = ops::linear(ops::global_avg_pool(h), fw, fb);
  {
    DispatchLog log;  // inference: conv+bn+relu and conv+add run fused
    EXPECT_LT(max_abs_diff((*model)(x), want), 1e-5f);
    EXPECT_TRUE(log.saw(OpId::Conv2dFused, Backend::CpuFast));
    EXPECT_FALSE(log.saw(OpId::Add, Backend::CpuFast));
  }
  nn::set_op_fusion(false);
  DispatchLog log;
  EXPECT_LT(max_abs_diff((*model)(x), want), 1e-5f);
  EXPECT_FALSE(log.saw(OpId::Conv2dFused, Backend::CpuFast));
  EXPECT_TRUE(log.saw(OpId::Add, Backend::CpuFast));
  nn::set_op_fusion(true);
}

TEST(OnnxImport, FoldsTheShapeChainOfAFlattenAndSplitsAndConcats) {
  Generator gen(3);
  ProtoBuilder b({-1, 4, 2, 2}, 11);
  const Tensor fw = b.weight("fc.weight", Tensor::randn({16, 3}, gen));  // MatMul: [I, O]
  b.ints("zero", {0});
  b.ints("minus_one", {-1});
  b.node("Split", {"x"}, "a")->add_output("b");
  ProtoBuilder::attr_int(b.graph()->mutable_node(0), "axis", 1);
  b.node("Concat", {"b", "a"}, "ba");
  ProtoBuilder::attr_int(b.graph()->mutable_node(1), "axis", 1);
  b.node("Shape", {"ba"}, "shape");
  b.node("Gather", {"shape", "zero"}, "n");  // [1]-shaped indices: [1]-shaped result
  b.node("Concat", {"n", "minus_one"}, "target");
  ProtoBuilder::attr_int(b.graph()->mutable_node(4), "axis", 0);
  b.node("Reshape", {"ba", "target"}, "flat");
  b.node("MatMul", {"flat", "fc.weight"}, "y");
  b.node("Softmax", {"y"}, "p");
  ProtoBuilder::attr_int(b.graph()->mutable_node(7), "axis", 1);  // opset 11: axis 1 of 2-D
  const ImportedModel m = import_onnx_bytes(b.bytes("p"), "chain.onnx");
  for (const auto& n : m.graph.nodes) EXPECT_NE(n.op, "gather") << "folded at import";
  auto model = build(m);
  const Tensor x = Tensor::randn({2, 4, 2, 2}, gen);
  NoGradGuard no_grad;
  const Tensor ba = ops::concat({ops::slice(x, 1, 2, 4), ops::slice(x, 1, 0, 2)}, 1);
  const Tensor want = ops::softmax(ops::linear(ops::reshape(ba, {2, 16}),
                                               ops::contiguous(ops::transpose(fw, 0, 1)), Tensor()));
  EXPECT_LT(max_abs_diff((*model)(x), want), 1e-6f);
}

TEST(OnnxImport, GraphSpecSurvivesJson) {
  Generator gen(1);
  ProtoBuilder b({1, 3, 4, 4});
  b.weight("w", Tensor::randn({2, 3, 1, 1}, gen));
  b.weight("k", Tensor::randn({1, 2, 1, 1}, gen));
  b.node("Conv", {"x", "w"}, "c");
  b.node("Mul", {"c", "k"}, "m");
  b.node("ReduceMean", {"m"}, "y");
  ProtoBuilder::attr_ints(b.graph()->mutable_node(2), "axes", {2, 3});
  ProtoBuilder::attr_int(b.graph()->mutable_node(2), "keepdims", 0);
  b.node("Clip", {"y"}, "clipped");  // no bounds: no infinity may reach the JSON
  const ImportedModel m = import_onnx_bytes(b.bytes("clipped"), "j.onnx");
  EXPECT_EQ(m.graph.constants.size(), 1u);  // k, a constant the Mul reads
  const nlohmann::json j = m.graph;
  EXPECT_EQ(nlohmann::json::parse(j.dump()).get<models::GraphSpec>(), m.graph);  // as stored
}

TEST(OnnxImport, ActivationsPaddingAndCeilModePools) {
  Generator gen(5);
  ProtoBuilder b({-1, 2, 7, 7});
  const Tensor w = b.weight("conv.weight", Tensor::randn({3, 2, 3, 3}, gen, 0.5f));
  const Tensor slope = b.weight("act.slope", Tensor::uniform({3, 1, 1}, gen, 0.1f, 0.3f));
  b.weight("lo", Tensor::full({}, 0.0f));
  b.weight("hi", Tensor::full({}, 0.5f));
  b.ints("pads", {0, 0, 1, 0, 0, 0, 0, 2});
  auto* conv = b.node("Conv", {"x", "conv.weight"}, "c", "/conv/Conv");
  ProtoBuilder::attr_ints(conv, "strides", {2, 2});
  ProtoBuilder::attr_ints(conv, "pads", {0, 0, 1, 1});  // tf2onnx's SAME at stride 2
  b.node("PRelu", {"c", "act.slope"}, "p");
  b.node("Pad", {"p", "pads"}, "pd");
  auto* pool = b.node("MaxPool", {"pd"}, "mp");
  ProtoBuilder::attr_ints(pool, "kernel_shape", {2, 2});
  ProtoBuilder::attr_ints(pool, "strides", {2, 2});
  ProtoBuilder::attr_int(pool, "ceil_mode", 1);
  b.node("Sigmoid", {"mp"}, "s");
  b.node("Clip", {"s", "lo", "hi"}, "k");
  b.node("GlobalMaxPool", {"k"}, "g");
  b.node("Flatten", {"g"}, "y");
  const ImportedModel m = import_onnx_bytes(b.bytes("y"), "act.onnx");
  auto model = build(m);
  const Tensor x = Tensor::randn({2, 2, 7, 7}, gen);
  NoGradGuard no_grad;
  Tensor h = ops::conv2d(ops::pad2d(x, 0, 0, 1, 1, 0.0f), w, Tensor(), {2, 0, 1});
  h = ops::pad2d(ops::prelu(h, ops::reshape(slope, {3})), 1, 0, 0, 2, 0.0f);
  h = ops::max_pool2d(h, {2, 2, 2, 2, 0, 0, true, true});
  h = ops::clamp(ops::sigmoid(h), 0.0f, 0.5f);
  const Tensor want = ops::reshape(ops::max_pool2d(h, {h.size(2), h.size(3), 1, 1, 0, 0}), {2, 3});
  EXPECT_LT(max_abs_diff((*model)(x), want), 1e-6f);
}

TEST(OnnxImport, DivOfTwoComputedValuesAndOfAConstantByAValue) {
  Generator gen(6);
  ProtoBuilder b({-1, 3, 5, 5});
  const Tensor w = b.weight("conv.weight", Tensor::randn({4, 3, 3, 3}, gen, 0.4f));
  const Tensor k = b.weight("k", Tensor::randn({1, 4, 1, 1}, gen));
  b.weight("one", Tensor::full({}, 1.0f));
  b.weight("two", Tensor::full({}, 2.0f));
  b.node("Conv", {"x", "conv.weight"}, "c");
  b.node("Sigmoid", {"c"}, "s");
  b.node("Add", {"s", "one"}, "d");         // in (1, 2): a computed divisor away from zero
  b.node("Div", {"c", "d"}, "q");           // value / value
  b.node("Div", {"k", "d"}, "r");           // constant [1,C,1,1] / value
  b.node("Div", {"q", "two"}, "h");         // value / scalar constant: a scale node
  b.node("Add", {"h", "r"}, "sum");
  b.node("GlobalAveragePool", {"sum"}, "g");
  b.node("Flatten", {"g"}, "y");
  const ImportedModel m = import_onnx_bytes(b.bytes("y"), "div.onnx");
  int divs = 0;
  for (const auto& n : m.graph.nodes) divs += n.op == "div";
  EXPECT_EQ(divs, 2);
  auto model = build(m);
  const Tensor x = Tensor::randn({2, 3, 5, 5}, gen);
  const Tensor c = ops::conv2d(x, w, Tensor(), {1, 0, 1});
  const Tensor d = ops::add(ops::sigmoid(c), Tensor::full({}, 1.0f));
  const Tensor sum = ops::add(ops::scale(ops::div(c, d), 0.5f), ops::div(k, d));
  const Tensor want = ops::global_avg_pool(sum);
  NoGradGuard no_grad;
  EXPECT_LT(max_abs_diff((*model)(x), want), 1e-6f);
}

std::string import_error(const std::string& bytes, const models::OnnxImportOptions& opt = {});

// x -> Conv -> GELU as x * 0.5 * (1 + Erf(x / sqrt(2))) in one of its node orders -> pool.
enum class GeluOrder { TorchDiv, MulByInverse, HalfFirst, HalfOfSum };
std::string gelu_model(GeluOrder order, bool extra_reader = false) {
  Generator gen(9);
  ProtoBuilder b({-1, 2, 4, 4});
  b.weight("conv.weight", Tensor::randn({3, 2, 3, 3}, gen, 0.8f));
  b.node("Conv", {"x", "conv.weight"}, "c", "/conv/Conv");
  b.scalar("half", 0.5f);
  b.weight("one", Tensor::full({}, 1.0f));
  if (order == GeluOrder::MulByInverse) {
    b.weight("inv_sqrt2", Tensor::full({}, 0.70710677f));
    b.node("Mul", {"inv_sqrt2", "c"}, "scaled", "/act/Mul");
  } else {
    b.scalar("sqrt2", 1.4142135f);
    b.node("Div", {"c", "sqrt2"}, "scaled", "/act/Div");
  }
  b.node("Erf", {"scaled"}, "e", "/act/Erf");
  b.node("Add",
         order == GeluOrder::HalfFirst ? std::vector<std::string>{"one", "e"}
                                       : std::vector<std::string>{"e", "one"},
         "a", "/act/Add");
  if (order == GeluOrder::HalfFirst) {  // (x * 0.5) * a
    b.node("Mul", {"c", "half"}, "h", "/act/Mul_1");
    b.node("Mul", {"h", "a"}, "g", "/act/Mul_2");
  } else if (order == GeluOrder::HalfOfSum) {  // x * (a * 0.5)
    b.node("Mul", {"half", "a"}, "h", "/act/Mul_1");
    b.node("Mul", {"c", "h"}, "g", "/act/Mul_2");
  } else {  // (x * a) * 0.5, torch.onnx's order
    b.node("Mul", {"c", "a"}, "h", "/act/Mul_1");
    b.node("Mul", {"h", "half"}, "g", "/act/Mul_2");
  }
  b.node("GlobalAveragePool", {"g"}, "p");
  if (extra_reader) b.node("Add", {"p", "e"}, "p2");  // the Erf's value is read outside
  b.node("Flatten", {extra_reader ? "p2" : "p"}, "y");
  return b.bytes("y");
}

TEST(OnnxImport, ExactGeluPatternsFoldIntoOneGeluNode) {
  Generator gen(9);
  const Tensor w = Tensor::randn({3, 2, 3, 3}, gen, 0.8f);  // as gelu_model draws it
  const Tensor x = Tensor::randn({2, 2, 4, 4}, gen);
  NoGradGuard no_grad;
  const Tensor want = ops::global_avg_pool(ops::gelu(ops::conv2d(x, w, Tensor(), {1, 0, 1})));
  for (GeluOrder order :
       {GeluOrder::TorchDiv, GeluOrder::MulByInverse, GeluOrder::HalfFirst, GeluOrder::HalfOfSum}) {
    SCOPED_TRACE(static_cast<int>(order));
    const ImportedModel m = import_onnx_bytes(gelu_model(order), "gelu.onnx");
    std::vector<std::string> ops_seen;
    for (const auto& n : m.graph.nodes) ops_seen.push_back(n.op);
    EXPECT_EQ(ops_seen, (std::vector<std::string>{"conv2d", "gelu", "global_avg_pool", "reshape"}));
    EXPECT_EQ(m.graph.nodes[1].path, "act");  // named from the Erf's scope
    auto model = build(m);
    EXPECT_LT(max_abs_diff((*model)(x), want), 1e-6f);
  }
}

TEST(OnnxImport, AnErfOutsideTheGeluPatternIsNamed) {
  const std::string e = import_error(gelu_model(GeluOrder::TorchDiv, /*extra_reader=*/true));
  EXPECT_NE(e.find("node '/act/Erf' (Erf): Erf is imported only as part of the exact GELU"),
            std::string::npos)
      << e;
}

TEST(OnnxImport, ConvTransposeWithStridesPaddingOutputPaddingGroupsAndOutputShape) {
  Generator gen(11);
  ProtoBuilder b({-1, 3, 4, 5});
  const Tensor w1 = b.weight("up1.weight", Tensor::randn({3, 4, 3, 3}, gen, 0.4f));
  const Tensor b1 = b.weight("up1.bias", Tensor::randn({4}, gen, 0.1f));
  const Tensor w2 = b.weight("up2.weight", Tensor::randn({4, 1, 2, 3}, gen, 0.4f));
  auto* up1 = b.node("ConvTranspose", {"x", "up1.weight", "up1.bias"}, "u1", "/up1/ConvTranspose");
  ProtoBuilder::attr_ints(up1, "strides", {2, 2});
  ProtoBuilder::attr_ints(up1, "pads", {1, 1, 1, 1});
  ProtoBuilder::attr_ints(up1, "output_padding", {1, 0});
  ProtoBuilder::attr_ints(up1, "kernel_shape", {3, 3});
  b.node("Relu", {"u1"}, "r");
  // Grouped (2 groups of 2 -> 2), non-square kernel, strides (1, 2), size from output_shape:
  // H: 1*(8-1) + 2 - 7 = 2 total -> pad 1; W: 2*(9-1) + 3 - 17 = 2 -> pad 1.
  auto* up2 = b.node("ConvTranspose", {"r", "up2.weight"}, "u2", "/up2/ConvTranspose");
  ProtoBuilder::attr_int(up2, "group", 2);
  ProtoBuilder::attr_ints(up2, "strides", {1, 2});
  ProtoBuilder::attr_ints(up2, "output_shape", {7, 17});
  b.node("GlobalAveragePool", {"u2"}, "g");
  b.node("Flatten", {"g"}, "y");
  const ImportedModel m = import_onnx_bytes(b.bytes("y"), "up.onnx");
  EXPECT_EQ(m.graph.source_names.at("up1.weight"), "up1.weight");
  auto model = build(m);
  ASSERT_NE(model->find("up1"), nullptr);
  const Tensor x = Tensor::randn({2, 3, 4, 5}, gen);
  ops::ConvTranspose2dOptions o1;
  o1.stride_h = o1.stride_w = 2;
  o1.pad_h = o1.pad_w = 1;
  o1.output_padding_h = 1;
  ops::ConvTranspose2dOptions o2;
  o2.groups = 2;
  o2.stride_w = 2;
  o2.pad_h = o2.pad_w = 1;
  NoGradGuard no_grad;
  const Tensor u1 = ops::relu(ops::conv_transpose2d(x, w1, b1, o1));
  EXPECT_EQ(u1.shape(), (Shape{2, 4, 8, 9}));
  const Tensor u2 = ops::conv_transpose2d(u1, w2, Tensor(), o2);
  EXPECT_EQ(u2.shape(), (Shape{2, 2, 7, 17}));
  EXPECT_LT(max_abs_diff((*model)(x), ops::global_avg_pool(u2)), 1e-6f);

  ProtoBuilder same({1, 2, 4, 4});
  same.weight("w", Tensor::randn({2, 2, 3, 3}, gen));
  auto* t = same.node("ConvTranspose", {"x", "w"}, "t", "/up/ConvTranspose");
  auto* a = t->add_attribute();
  a->set_name("auto_pad");
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s("SAME_UPPER");
  same.node("GlobalAveragePool", {"t"}, "g");
  same.node("Flatten", {"g"}, "y");
  const std::string e = import_error(same.bytes("y"));
  EXPECT_NE(e.find("node '/up/ConvTranspose' (ConvTranspose): auto_pad SAME_UPPER"),
            std::string::npos)
      << e;
}

TEST(OnnxImport, ConvDilationNonSquareKernelsAndPerAxisStridesAndPads) {
  Generator gen(12);
  ProtoBuilder b({-1, 3, 9, 8});
  const Tensor w1 = b.weight("c1.weight", Tensor::randn({4, 3, 3, 3}, gen, 0.4f));
  const Tensor g = b.weight("bn.scale", Tensor::uniform({4}, gen, 0.5f, 1.5f));
  const Tensor be = b.weight("bn.b", Tensor::randn({4}, gen, 0.1f));
  const Tensor mu = b.weight("bn.mean", Tensor::randn({4}, gen, 0.1f));
  const Tensor var = b.weight("bn.var", Tensor::uniform({4}, gen, 0.5f, 2.0f));
  const Tensor w2 = b.weight("c2.weight", Tensor::randn({5, 4, 3, 1}, gen, 0.4f));
  const Tensor b2 = b.weight("c2.bias", Tensor::randn({5}, gen, 0.1f));
  const Tensor w3 = b.weight("c3.weight", Tensor::randn({5, 1, 3, 3}, gen, 0.4f));
  auto* c1 = b.node("Conv", {"x", "c1.weight"}, "h1", "/c1/Conv");
  ProtoBuilder::attr_ints(c1, "dilations", {2, 2});
  ProtoBuilder::attr_ints(c1, "pads", {2, 2, 2, 2});
  b.node("BatchNormalization", {"h1", "bn.scale", "bn.b", "bn.mean", "bn.var"}, "n1");
  b.node("Relu", {"n1"}, "r1");
  auto* c2 = b.node("Conv", {"r1", "c2.weight", "c2.bias"}, "h2", "/c2/Conv");
  ProtoBuilder::attr_ints(c2, "kernel_shape", {3, 1});
  ProtoBuilder::attr_ints(c2, "strides", {1, 2});
  ProtoBuilder::attr_ints(c2, "pads", {1, 0, 1, 0});
  // Depthwise, dilation (2, 1), stride 2, SAME_UPPER on 9x4: uneven pads become a pad node.
  auto* c3 = b.node("Conv", {"h2", "c3.weight"}, "h3", "/c3/Conv");
  ProtoBuilder::attr_int(c3, "group", 5);
  ProtoBuilder::attr_ints(c3, "dilations", {2, 1});
  ProtoBuilder::attr_ints(c3, "strides", {2, 2});
  auto* a = c3->add_attribute();
  a->set_name("auto_pad");
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s("SAME_UPPER");
  b.node("GlobalAveragePool", {"h3"}, "gap");
  b.node("Flatten", {"gap"}, "y");
  const ImportedModel m = import_onnx_bytes(b.bytes("y"), "dil.onnx");
  auto model = build(m);
  const Tensor x = Tensor::randn({2, 3, 9, 8}, gen);
  ops::Conv2dOptions o1(1, 2, 1);
  o1.dilation_h = o1.dilation_w = 2;
  ops::Conv2dOptions o2;
  o2.stride_w = 2;
  o2.pad_h = 1;
  ops::Conv2dOptions o3(2, 0, 5);
  o3.dilation_h = 2;
  NoGradGuard no_grad;
  Tensor h = ops::relu(
      ops::batch_norm(ops::conv2d(x, w1, Tensor(), o1), g, be, mu, var, false, 0.1f, 1e-5f));
  h = ops::conv2d(h, w2, b2, o2);
  EXPECT_EQ(h.shape(), (Shape{2, 5, 9, 4}));
  // SAME_UPPER, out = ceil(in / 2): H 9 -> 5 needs (5-1)*2 + 5 - 9 = 4 (2, 2); W 4 -> 2 needs
  // (2-1)*2 + 3 - 4 = 1 (0 before, 1 after).
  h = ops::conv2d(ops::pad2d(h, 2, 0, 2, 1), w3, Tensor(), o3);
  EXPECT_EQ(h.shape(), (Shape{2, 5, 5, 2}));
  const Tensor want = ops::global_avg_pool(h);
  {
    DispatchLog log;  // the dilated conv + BN + ReLU still fuse
    EXPECT_LT(max_abs_diff((*model)(x), want), 1e-5f);
    EXPECT_TRUE(log.saw(OpId::Conv2dFused, Backend::CpuFast));
  }
  nn::set_op_fusion(false);
  EXPECT_LT(max_abs_diff((*model)(x), want), 1e-5f);
  nn::set_op_fusion(true);
  const nlohmann::json j = m.graph;  // per-axis attributes survive the checkpoint's JSON
  EXPECT_EQ(nlohmann::json::parse(j.dump()).get<models::GraphSpec>(), m.graph);
}

// MobileNetV2's pattern as torch.onnx writes it (BN folded into the conv bias, ReLU6 as Clip(0, 6)
// with constant bounds), plus a conv + BN + Clip(0, 6), a conv + add + Clip with only a lower
// bound 0, and a Clip(-1, 6) that must not fuse: the capped ReLU runs in conv2d_fused's
// epilogue, equal to the unfused nodes and to the ops written by hand.
TEST(OnnxImport, ConvClipZeroToSixRunsFused) {
  Generator gen(13);
  ProtoBuilder b({-1, 3, 9, 9});
  const Tensor w1 = b.weight("c1.weight", Tensor::randn({8, 3, 3, 3}, gen, 1.0f));
  const Tensor b1 = b.weight("c1.bias", Tensor::randn({8}, gen, 1.0f));
  const Tensor w2 = b.weight("c2.weight", Tensor::randn({8, 1, 3, 3}, gen, 1.0f));
  const Tensor g = b.weight("bn.scale", Tensor::uniform({8}, gen, 0.5f, 1.5f));
  const Tensor be = b.weight("bn.b", Tensor::randn({8}, gen, 1.0f));
  const Tensor mu = b.weight("bn.mean", Tensor::randn({8}, gen, 0.1f));
  const Tensor var = b.weight("bn.var", Tensor::uniform({8}, gen, 0.5f, 2.0f));
  const Tensor w3 = b.weight("c3.weight", Tensor::randn({8, 8, 1, 1}, gen, 1.0f));
  const Tensor b3 = b.weight("c3.bias", Tensor::randn({8}, gen, 1.0f));
  b.scalar("zero", 0.0f);
  b.scalar("six", 6.0f);
  auto* c1 = b.node("Conv", {"x", "c1.weight", "c1.bias"}, "h1", "/c1/Conv");
  ProtoBuilder::attr_ints(c1, "pads", {1, 1, 1, 1});
  b.node("Clip", {"h1", "zero", "six"}, "r1", "/r1/Clip");
  auto* c2 = b.node("Conv", {"r1", "c2.weight"}, "h2", "/c2/Conv");  // depthwise, stride 2
  ProtoBuilder::attr_int(c2, "group", 8);
  ProtoBuilder::attr_ints(c2, "strides", {2, 2});
  ProtoBuilder::attr_ints(c2, "pads", {1, 1, 1, 1});
  b.node("BatchNormalization", {"h2", "bn.scale", "bn.b", "bn.mean", "bn.var"}, "n2");
  b.node("Clip", {"n2", "zero", "six"}, "r2", "/r2/Clip");
  b.node("Conv", {"r2", "c3.weight", "c3.bias"}, "h3", "/c3/Conv");  // 1x1
  b.node("Add", {"h3", "r2"}, "s3");
  b.node("Clip", {"s3", "zero"}, "r3", "/r3/Clip");  // no upper bound
  b.node("GlobalAveragePool", {"r3"}, "gap");
  b.node("Flatten", {"gap"}, "y");
  const ImportedModel m = import_onnx_bytes(b.bytes("y"), "relu6.onnx");
  auto model = build(m);
  const Tensor x = Tensor::randn({2, 3, 9, 9}, gen, 2.0f);
  NoGradGuard no_grad;
  auto above_six = [](const Tensor& t) {
    const auto v = t.to_vector();
    return std::count_if(v.begin(), v.end(), [](float e) { return e > 6.0f; });
  };
  Tensor h = ops::conv2d(x, w1, b1, {1, 1, 1});
  EXPECT_GT(above_six(h), 0);  // the caps are reached
  h = ops::batch_norm(ops::conv2d(ops::relu6(h), w2, Tensor(), {2, 1, 8}), g, be, mu, var, false,
                      0.1f, 1e-5f);
  EXPECT_GT(above_six(h), 0);
  h = ops::relu6(h);
  h = ops::relu(ops::add(ops::conv2d(h, w3, b3, {1, 0, 1}), h));
  const Tensor want = ops::global_avg_pool(h);
  Tensor fused;
  {
    DispatchLog log;
    fused = (*model)(x);
    EXPECT_TRUE(log.saw(OpId::Conv2dFused, Backend::CpuFast));
    EXPECT_FALSE(log.saw(OpId::Conv2d, Backend::CpuFast));
    EXPECT_FALSE(log.saw(OpId::Clamp, Backend::CpuFast));
    EXPECT_FALSE(log.saw(OpId::Add, Backend::CpuFast));
  }
  EXPECT_LT(max_abs_diff(fused, want), 1e-5f);
  nn::set_op_fusion(false);
  {
    DispatchLog log;
    EXPECT_LT(max_abs_diff((*model)(x), fused), 1e-5f);
    EXPECT_TRUE(log.saw(OpId::Clamp, Backend::CpuFast));
    EXPECT_FALSE(log.saw(OpId::Conv2dFused, Backend::CpuFast));
  }
  nn::set_op_fusion(true);

  ProtoBuilder b2({-1, 3, 9, 9});  // Clip(-1, 6) is no capped ReLU: conv and clamp stay apart
  b2.weight("c1.weight", w1);
  b2.scalar("lo", -1.0f);
  b2.scalar("six", 6.0f);
  b2.node("Conv", {"x", "c1.weight"}, "h1", "/c1/Conv");
  b2.node("Clip", {"h1", "lo", "six"}, "r1", "/r1/Clip");
  b2.node("GlobalAveragePool", {"r1"}, "gap");
  b2.node("Flatten", {"gap"}, "y");
  auto model2 = build(import_onnx_bytes(b2.bytes("y"), "clip.onnx"));
  DispatchLog log;
  const Tensor want2 = ops::global_avg_pool(ops::clamp(ops::conv2d(x, w1, Tensor()), -1.0f, 6.0f));
  EXPECT_LT(max_abs_diff((*model2)(x), want2), 1e-5f);
  EXPECT_TRUE(log.saw(OpId::Clamp, Backend::CpuFast));
  EXPECT_FALSE(log.saw(OpId::Conv2dFused, Backend::CpuFast));
}

TEST(OnnxImport, ChannelOverridesNarrowAConvAndTheLayersAfterIt) {
  Generator gen(4);
  ProtoBuilder b({-1, 3, 6, 6});
  b.weight("stem.weight", Tensor::randn({8, 3, 3, 3}, gen));
  for (const char* n : {"bn.scale", "bn.b", "bn.mean", "bn.var"}) {
    b.weight(n, Tensor::uniform({8}, gen, 0.5f, 1.5f));
  }
  b.weight("dw.weight", Tensor::randn({8, 1, 3, 3}, gen));
  b.weight("fc.weight", Tensor::randn({5, 8}, gen));
  b.node("Conv", {"x", "stem.weight"}, "c");
  b.node("BatchNormalization", {"c", "bn.scale", "bn.b", "bn.mean", "bn.var"}, "n");
  ProtoBuilder::attr_int(b.node("Conv", {"n", "dw.weight"}, "d"), "group", 8);
  b.node("GlobalAveragePool", {"d"}, "g");
  b.node("Flatten", {"g"}, "f");
  ProtoBuilder::attr_int(b.node("Gemm", {"f", "fc.weight"}, "y"), "transB", 1);
  const ImportedModel m = import_onnx_bytes(b.bytes("y"), "narrow.onnx");
  models::ModelConfig cfg;
  cfg.num_classes = 5;
  cfg.image_size = 6;
  cfg.graph = m.graph;
  cfg.channels = {{"stem", 3}};
  const ModulePtr narrow = models::build_graph_model(cfg);
  std::map<std::string, Shape> shapes;
  for (const auto& [n, t] : narrow->named_parameters()) shapes[n] = t.shape();
  EXPECT_EQ(shapes.at("stem.weight"), (Shape{3, 3, 3, 3}));
  EXPECT_EQ(shapes.at("n.weight"), (Shape{3}));  // the BN node, named from its scope "/n/"
  EXPECT_EQ(shapes.at("dw.weight"), (Shape{3, 1, 3, 3}));  // depthwise follows
  EXPECT_EQ(shapes.at("fc.weight"), (Shape{5, 3}));
  NoGradGuard no_grad;
  EXPECT_EQ((*narrow)(Tensor::zeros({2, 3, 6, 6})).shape(), (Shape{2, 5}));
  cfg.channels = {{"nothing", 3}};
  EXPECT_THROW(models::build_graph_model(cfg), std::invalid_argument);
}

// The error of importing `bytes`, or "" if it imports.
std::string import_error(const std::string& bytes, const models::OnnxImportOptions& opt) {
  try {
    import_onnx_bytes(bytes, "bad.onnx", opt);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

std::string tiny_model(int64_t opset = 13, std::vector<int64_t> shape = {1, 3, 4, 4},
                       const std::string& op = "Relu") {
  ProtoBuilder b(shape, opset);
  b.node(op, {"x"}, "r", "/block/act/" + op);
  b.node("GlobalAveragePool", {"r"}, "g");
  b.node("Flatten", {"g"}, "y");
  return b.bytes("y");
}

TEST(OnnxImport, BadFilesGiveOneClearError) {
  EXPECT_EQ(import_error(tiny_model()), "");
  const std::string good = tiny_model();
  EXPECT_NE(import_error(good.substr(0, good.size() / 2)).find("truncated or corrupt"),
            std::string::npos);
  EXPECT_NE(import_error("not a model at all").find("bad.onnx: not a readable ONNX model"),
            std::string::npos);
  EXPECT_NE(import_error(tiny_model(10)).find("opset 10"), std::string::npos);
  EXPECT_NE(import_error(tiny_model(19)).find("opset 19"), std::string::npos);
  const std::string op = import_error(tiny_model(13, {1, 3, 4, 4}, "Elu"));
  EXPECT_NE(op.find("node '/block/act/Elu' (Elu): operator Elu is not supported"),
            std::string::npos)
      << op;
  // A symbolic H: --input-size is needed, and must agree with the fixed dims.
  const std::string symbolic = tiny_model(13, {-1, 3, -1, 4});
  EXPECT_NE(import_error(symbolic).find("--input-size"), std::string::npos);
  models::OnnxImportOptions opt;
  opt.input_chw = std::vector<int64_t>{3, 4, 4};
  EXPECT_EQ(import_error(symbolic, opt), "");
  opt.input_chw = std::vector<int64_t>{3, 4, 5};
  EXPECT_NE(import_error(symbolic, opt).find("disagrees"), std::string::npos);
}

TEST(OnnxImport, UnsupportedAttributesAndExternalDataAreNamed) {
  ProtoBuilder b({1, 3, 8, 8});
  Generator gen(2);
  b.weight("w", Tensor::randn({2, 3, 3, 3}, gen));
  auto* conv = b.node("ConvTranspose", {"x", "w"}, "c", "/stem/ConvTranspose");
  ProtoBuilder::attr_ints(conv, "dilations", {1, 2});
  b.node("GlobalAveragePool", {"c"}, "g");
  b.node("Flatten", {"g"}, "y");
  const std::string e = import_error(b.bytes("y"));
  EXPECT_NE(e.find("node '/stem/ConvTranspose' (ConvTranspose): attribute dilations"),
            std::string::npos)
      << e;

  ProtoBuilder ext({1, 3, 4, 4});
  auto* init = ext.graph()->add_initializer();
  init->set_name("w");
  init->set_data_type(onnx::TensorProto::FLOAT);
  init->add_dims(1);
  init->set_data_location(onnx::TensorProto::EXTERNAL);
  ext.node("Relu", {"x"}, "y");
  EXPECT_NE(import_error(ext.bytes("y")).find("tensor 'w' keeps its data in an external file"),
            std::string::npos);
}

}  // namespace
}  // namespace gb
