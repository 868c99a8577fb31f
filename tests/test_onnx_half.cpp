// ONNX import of half-precision models (models/onnx/onnx_import.h): float16 and bfloat16
// initializers (raw_data and int32_data forms) widened exactly, so a model storing 16-bit weights
// and casting them to float equals the same ops on the widened weights with no note; a model that
// computes in float16 (a float16 input, Casts to 16 bits of computed values) imported to compute
// in float32 with notes saying so; constants cast to 16 bits rounded as ONNX says; other input
// types refused. Shape letters: N batch, C channels, H/W size, K classes.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "kernels/float_formats.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/rng.h"
#include "tests/onnx_test_util.h"

namespace gb {
namespace {

using models::import_onnx_bytes;
using models::ImportedModel;

// A 16-bit initializer holding t rounded to `type` (FLOAT16 or BFLOAT16), as raw_data or as
// int32_data; returns the widened values (what the import must read).
Tensor half_weight(ProtoBuilder& b, const std::string& name, const Tensor& t, int type, bool raw) {
  auto* init = b.graph()->add_initializer();
  init->set_name(name);
  init->set_data_type(type);
  for (int64_t d : t.shape()) init->add_dims(d);
  std::string bytes;
  std::vector<float> widened;
  for (float v : t.to_vector()) {
    const uint16_t h = type == onnx::TensorProto::FLOAT16 ? kernels::f16_from_float(v)
                                                          : kernels::bf16_from_float(v);
    widened.push_back(type == onnx::TensorProto::FLOAT16 ? kernels::float_from_f16(h)
                                                         : kernels::float_from_bf16(h));
    if (raw) {
      bytes.push_back(static_cast<char>(h & 0xff));
      bytes.push_back(static_cast<char>(h >> 8));
    } else {
      init->add_int32_data(h);
    }
  }
  if (raw) init->set_raw_data(bytes);
  return Tensor::from_vector(t.shape(), widened);
}

onnx::NodeProto* cast_node(ProtoBuilder& b, const std::string& in, const std::string& out, int to) {
  auto* n = b.node("Cast", {in}, out);
  ProtoBuilder::attr_int(n, "to", to);
  return n;
}

// conv 3x3 (pad 1) -> relu -> global average pool -> flatten -> Gemm, on the given names.
std::string conv_gemm_model(ProtoBuilder& b, const std::string& x, const std::string& w,
                            const std::string& fw) {
  auto* conv = b.node("Conv", {x, w}, "c");
  ProtoBuilder::attr_ints(conv, "pads", {1, 1, 1, 1});
  b.node("Relu", {"c"}, "r");
  b.node("GlobalAveragePool", {"r"}, "g");
  b.node("Flatten", {"g"}, "f");
  auto* gemm = b.node("Gemm", {"f", fw}, "logits");
  ProtoBuilder::attr_int(gemm, "transB", 1);
  return b.bytes("logits");
}

Tensor conv_gemm_ops(const Tensor& x, const Tensor& w, const Tensor& fw) {
  Tensor h = ops::relu(ops::conv2d(x, w, Tensor(), {1, 1, 1}));
  return ops::linear(ops::global_avg_pool(h), fw, Tensor());
}

TEST(OnnxHalf, SixteenBitWeightsCastToFloatImportExactlyWithoutANote) {
  Generator gen(21);
  ProtoBuilder b({-1, 3, 6, 6});
  const Tensor w = half_weight(b, "conv.weight_h", Tensor::randn({4, 3, 3, 3}, gen, 0.4f),
                               onnx::TensorProto::FLOAT16, /*raw=*/true);
  const Tensor fw = half_weight(b, "fc.weight_h", Tensor::randn({5, 4}, gen, 0.5f),
                                onnx::TensorProto::BFLOAT16, /*raw=*/false);
  cast_node(b, "conv.weight_h", "conv.weight", onnx::TensorProto::FLOAT);
  cast_node(b, "fc.weight_h", "fc.weight", onnx::TensorProto::FLOAT);
  const ImportedModel m =
      import_onnx_bytes(conv_gemm_model(b, "x", "conv.weight", "fc.weight"), "weights16.onnx");
  EXPECT_TRUE(m.notes.empty());
  auto model = build_graph_module(m);
  const Tensor x = Tensor::randn({2, 3, 6, 6}, gen);
  NoGradGuard no_grad;
  EXPECT_LT(max_abs_diff((*model)(x), conv_gemm_ops(x, w, fw)), 1e-6f);
}

TEST(OnnxHalf, AFloat16ModelComputesInFloat32WithNotes) {
  Generator gen(22);
  ProtoBuilder b({-1, 3, 6, 6});
  b.graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::FLOAT16);
  const Tensor w = half_weight(b, "conv.weight", Tensor::randn({4, 3, 3, 3}, gen, 0.4f),
                               onnx::TensorProto::FLOAT16, /*raw=*/true);
  const Tensor fw = half_weight(b, "fc.weight", Tensor::randn({5, 4}, gen, 0.5f),
                                onnx::TensorProto::FLOAT16, /*raw=*/false);
  cast_node(b, "x", "x16", onnx::TensorProto::FLOAT16);  // a cast of a computed value
  const ImportedModel m =
      import_onnx_bytes(conv_gemm_model(b, "x16", "conv.weight", "fc.weight"), "model16.onnx");
  ASSERT_EQ(m.notes.size(), 2u);
  EXPECT_NE(m.notes[0].find("the model computes in float16 (input 'x'); glassbox imports it to "
                            "compute in float32"),
            std::string::npos)
      << m.notes[0];
  EXPECT_NE(m.notes[1].find("Cast nodes to float16 of computed values are imported as the "
                            "identity"),
            std::string::npos)
      << m.notes[1];
  auto model = build_graph_module(m);
  const Tensor x = Tensor::randn({2, 3, 6, 6}, gen);
  NoGradGuard no_grad;
  EXPECT_LT(max_abs_diff((*model)(x), conv_gemm_ops(x, w, fw)), 1e-6f);
}

TEST(OnnxHalf, ConstantsCastTo16BitsAreRoundedAndOtherInputTypesRefused) {
  Generator gen(23);
  ProtoBuilder b({-1, 3, 6, 6});
  const Tensor w = Tensor::randn({4, 3, 3, 3}, gen, 0.4f);
  b.weight("conv.weight32", w);
  const Tensor fw = b.weight("fc.weight32", Tensor::randn({5, 4}, gen, 0.5f));
  cast_node(b, "conv.weight32", "conv.weight", onnx::TensorProto::BFLOAT16);
  cast_node(b, "fc.weight32", "fc.weight16", onnx::TensorProto::FLOAT16);
  cast_node(b, "fc.weight16", "fc.weight", onnx::TensorProto::FLOAT);
  const ImportedModel m =
      import_onnx_bytes(conv_gemm_model(b, "x", "conv.weight", "fc.weight"), "rounded.onnx");
  EXPECT_TRUE(m.notes.empty());
  auto model = build_graph_module(m);
  const Tensor x = Tensor::randn({2, 3, 6, 6}, gen);
  NoGradGuard no_grad;
  const Tensor w_bf16 = ops::cast(ops::cast(w, DType::BF16), DType::F32);
  const Tensor fw_f16 = ops::cast(ops::cast(fw, DType::F16), DType::F32);
  EXPECT_LT(max_abs_diff((*model)(x), conv_gemm_ops(x, w_bf16, fw_f16)), 1e-6f);
  EXPECT_GT(max_abs_diff((*model)(x), conv_gemm_ops(x, w, fw)), 1e-5f);  // the rounding shows

  ProtoBuilder ints({1, 3, 4, 4});
  ints.graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::INT64);
  ints.node("Relu", {"x"}, "y");
  try {
    import_onnx_bytes(ints.bytes("y"), "ints.onnx");
    FAIL() << "an int64 input was imported";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "ints.onnx: input 'x' must be a float, float16 or bfloat16 tensor"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace gb
