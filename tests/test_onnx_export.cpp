// ONNX export (models/onnx/onnx_export.h) and the op trace under it (runtime/trace.h): a module
// using most exportable ops exported, imported back and compared with itself at a batch size
// that was not traced; the trace's ops, attributes and module paths; and the errors for an op
// without an ONNX form, a tensor computed outside the op API and a batch-dependent graph; the zoo's
// vision transformer (LayerNormalization, MatMul of values, linear layers on tokens as MatMul +
// Add) exported and imported back with its parameter names, and LayerNormalization below opset
// 17 refused.
// Shape letters: N batch, C channels, H/W size, K outputs.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <set>
#include <string>

#include "models/onnx/onnx_export.h"
#include "models/onnx/onnx_import.h"
#include "models/registry.h"
#include "runtime/autograd.h"
#include "runtime/layers.h"
#include "runtime/ops.h"
#include "runtime/rng.h"
#include "runtime/trace.h"
#include "tests/onnx_test_util.h"

namespace gb {
namespace {

using models::export_onnx;
using models::OnnxExportOptions;

// [N, 3, 8, 8] -> [N, 5] through conv, batch norm, PReLU, transposed conv, GELU, division, a
// dilated non-square conv with unequal strides, the
// pointwise activations, arithmetic,
// padding, both poolings with ceil mode, slicing, concatenation, permutation, reduction and a
// linear layer.
class MixedOps : public Module {
 public:
  explicit MixedOps(Generator& gen) {
    conv_ = register_module("conv", std::make_shared<nn::Conv2d>(3, 6, 3, 1, 1));
    bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(6));
    fc_ = register_module("fc", std::make_shared<nn::Linear>(8, 5));
    slope_ = register_parameter("slope", Tensor::uniform({6}, gen, 0.05f, 0.3f));
    up_ = register_parameter("up", Tensor::randn({6, 3, 3, 3}, gen, 0.2f));  // [C, K/2, R, S]
    tall_ = register_parameter("tall", Tensor::randn({6, 6, 3, 1}, gen, 0.3f));
    bn_->local_tensor("running_mean").copy_(Tensor::randn({6}, gen, 0.2f));
    bn_->local_tensor("running_var").copy_(Tensor::uniform({6}, gen, 0.5f, 2.0f));
  }
  std::string type_name() const override { return "MixedOps"; }
  Tensor forward(const Tensor& x) override {
    Tensor h = ops::prelu((*bn_)((*conv_)(x)), slope_);
    ops::ConvTranspose2dOptions up;
    up.stride_h = up.stride_w = 2;
    up.pad_h = up.pad_w = 1;
    up.output_padding_h = 1;
    up.groups = 2;
    h = ops::conv_transpose2d(h, up_, Tensor(), up);  // [N, 6, 16, 15]
    h = ops::gelu(ops::div(h, ops::add(ops::sigmoid(h), ops::sigmoid(h))));
    ops::Conv2dOptions dilated;  // a 3x1 kernel dilated 2 along H, stride 2 along W
    dilated.dilation_h = 2;
    dilated.pad_h = 2;
    dilated.stride_w = 2;
    h = ops::conv2d(h, tall_, Tensor(), dilated);  // [N, 6, 16, 8]
    const Tensor a = ops::sub(ops::clamp(h, -0.5f, 0.7f), ops::leaky_relu(h, 0.2f));
    const Tensor b = ops::mul(ops::hardsigmoid(h, 0.2f, 0.5f), ops::hardswish(h));
    h = ops::scale(ops::add(a, b), 1.5f);
    h = ops::pad2d(h, 1, 0, 0, 1, 0.25f);  // [N, 6, 17, 9]
    h = ops::avg_pool2d(h, {3, 3, 2, 2, 1, 1, true, false});
    h = ops::max_pool2d(h, 2, 1, 0);
    h = ops::concat({h, ops::slice(h, 1, 1, 5, 2)}, 1);  // 8 channels
    h = ops::tanh(ops::sigmoid(h));
    h = ops::permute(ops::permute(h, {0, 2, 3, 1}), {0, 3, 1, 2});
    return ops::log_softmax((*fc_)(ops::mean(h, {2, 3}, false)));
  }

 private:
  std::shared_ptr<nn::Conv2d> conv_;
  std::shared_ptr<nn::BatchNorm2d> bn_;
  std::shared_ptr<nn::Linear> fc_;
  Tensor slope_, up_, tall_;
};

OnnxExportOptions options_for(int64_t c, int64_t hw) {
  OnnxExportOptions o;
  o.input_chw = {c, hw, hw};
  return o;
}

TEST(OnnxExport, ImportGivesBackTheModelAtAnUntracedBatchSize) {
  Generator gen(5);
  MixedOps model(gen);
  const models::OnnxExport out = export_onnx(model, options_for(3, 8));
  EXPECT_GT(out.nodes, 20);
  EXPECT_EQ(out.op_types.at("PRelu"), 1);
  EXPECT_TRUE(model.is_training());  // eval only while exporting
  const models::ImportedModel back = models::import_onnx_bytes(out.bytes, "mixed.onnx");
  EXPECT_EQ(back.num_classes, 5);
  auto rebuilt = build_graph_module(back);
  ASSERT_NE(rebuilt->find("conv"), nullptr);  // node names carry the module paths back
  const Tensor x = Tensor::randn({4, 3, 8, 8}, gen);
  model.eval();
  NoGradGuard no_grad;
  EXPECT_LT(max_abs_diff((*rebuilt)(x), model(x)), 1e-5f);
}

TEST(OnnxExport, VisionTransformerRoundTripsWithItsNames) {
  manual_seed(9);
  models::ModelConfig cfg;
  cfg.width = 0.25f;  // D = 32
  cfg.image_size = 16;
  auto vit = models::build_model("vit", cfg);
  const models::OnnxExport out = export_onnx(*vit, options_for(3, 16));
  EXPECT_EQ(out.op_types.at("LayerNormalization"), 13);  // 2 per block and the final norm
  EXPECT_EQ(out.op_types.at("MatMul"), 6 * 2 + 6 * 4);   // scores, weighted sums; 4 linears
  const models::ImportedModel back = models::import_onnx_bytes(out.bytes, "vit.onnx");
  std::set<std::string> names;
  for (const auto& [name, t] : back.tensors) names.insert(name);
  for (const auto& [name, t] : vit->named_parameters()) EXPECT_TRUE(names.count(name)) << name;
  EXPECT_EQ(names.size(), vit->named_parameters().size());
  auto rebuilt = build_graph_module(back);
  Generator gen(3);
  const Tensor x = Tensor::randn({3, 3, 16, 16}, gen);
  vit->eval();
  NoGradGuard no_grad;
  EXPECT_LT(max_abs_diff((*rebuilt)(x), (*vit)(x)), 1e-5f);
  OnnxExportOptions old = options_for(3, 16);
  old.opset = 16;
  try {
    export_onnx(*vit, old);
    ADD_FAILURE() << "opset 16 exported a LayerNormalization";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("opset 17"), std::string::npos) << e.what();
  }
}

TEST(OnnxExport, WritesTheBatchSymbolicOrFixedAndTheMetadata) {
  Generator gen(6);
  MixedOps model(gen);
  OnnxExportOptions o = options_for(3, 8);
  o.metadata = {{"glassbox.model", "mixed"}};
  o.tensor_names = {{"fc.weight", "classifier.weight"}};
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(export_onnx(model, o).bytes));
  EXPECT_EQ(proto.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  EXPECT_EQ(proto.metadata_props(0).value(), "mixed");
  bool renamed = false;
  for (const auto& init : proto.graph().initializer())
    renamed |= init.name() == "classifier.weight";
  EXPECT_TRUE(renamed);
  o.batch = 7;
  ASSERT_TRUE(proto.ParseFromString(export_onnx(model, o).bytes));
  EXPECT_EQ(proto.graph().input(0).type().tensor_type().shape().dim(0).dim_value(), 7);
  EXPECT_EQ(proto.graph().output(0).type().tensor_type().shape().dim(0).dim_value(), 7);
}

TEST(OpTrace, RecordsOpsAttributesAndModulesOnlyWhileActive) {
  Generator gen(7);
  nn::Conv2d conv(2, 3, 3, 2, 1);
  const Tensor x = Tensor::randn({1, 2, 5, 5}, gen);
  OpTrace trace;
  {
    TraceScope scope(trace);
    EXPECT_TRUE(tracing());
    ops::relu(conv(x));
  }
  EXPECT_FALSE(tracing());
  ops::relu(x);  // not recorded
  ASSERT_EQ(trace.ops.size(), 2u);
  EXPECT_EQ(trace.ops[0].op, OpId::Conv2d);
  EXPECT_EQ(trace.ops[0].attrs.at("stride"), (std::vector<double>{2, 2}));
  EXPECT_EQ(trace.ops[0].attrs.at("padding"), (std::vector<double>{1, 1}));
  EXPECT_EQ(trace.ops[0].attrs.at("dilation"), (std::vector<double>{1, 1}));
  EXPECT_TRUE(trace.ops[0].inputs[0].same(x));
  EXPECT_TRUE(trace.ops[1].inputs[0].same(trace.ops[0].output));
  EXPECT_EQ(trace.ops[1].op, OpId::Relu);
  EXPECT_EQ(trace.ops[1].module, "");
  TraceScope scope(trace);
  NoGradGuard no_grad;
  EXPECT_THROW(ops::conv2d_fused(x, conv.local_tensor("weight"), Tensor(), Tensor(), Tensor(), true,
                                 {2, 1, 1}),
               std::logic_error);
}

// A module whose forward is `f`.
class Lambda : public Module {
 public:
  explicit Lambda(std::function<Tensor(const Tensor&)> f) : f_(std::move(f)) {}
  std::string type_name() const override { return "Lambda"; }
  Tensor forward(const Tensor& x) override { return f_(x); }

 private:
  std::function<Tensor(const Tensor&)> f_;
};

std::string export_error(Module& m) {
  try {
    export_onnx(m, options_for(1, 4));
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "no error";
}

TEST(OnnxExport, RefusesWhatItCannotWriteFaithfully) {
  Lambda resize([](const Tensor& x) { return ops::flatten(ops::bilinear_resize(x, 2, 2)); });
  EXPECT_NE(export_error(resize).find("op 'bilinear_resize'"), std::string::npos)
      << export_error(resize);
  Lambda outside([](const Tensor& x) { return ops::flatten(ops::relu(x.clone())); });
  EXPECT_NE(export_error(outside).find("computed outside the op API"), std::string::npos)
      << export_error(outside);
  Lambda by_batch([](const Tensor& x) {
    const Tensor f = ops::flatten(x);
    return x.size(0) == 2 ? ops::relu(f) : f;
  });
  EXPECT_NE(export_error(by_batch).find("depends on the batch size"), std::string::npos)
      << export_error(by_batch);
  Lambda ok([](const Tensor& x) { return ops::flatten(x); });
  OnnxExportOptions bad = options_for(1, 4);
  bad.opset = 12;
  EXPECT_THROW(export_onnx(ok, bad), std::invalid_argument);
}

}  // namespace
}  // namespace gb
