// The ONNX nodes of each traced op (models/onnx/onnx_export.h): a table from op-table row to a
// writer. Ops without a writer (losses, optimizer updates, training-mode batch norm, the fused
// inference ops, bilinear resize) are errors naming the op and its module.
// Shape letters: N batch, C channels, H/W height/width, K output channels, R/S kernel size.
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "models/onnx/onnx_export_graph.h"

namespace gb::models::onnx_export {
namespace {

using Writer = void (*)(ExportStep&);

[[noreturn]] void unsupported(const ExportStep& s, const std::string& why) {
  throw std::runtime_error("onnx export: " + describe(s.op) + ": " + why);
}

// The input i's value, or a constant made from `fill` (C values) when the optional input is absent.
std::string input_or(ExportStep& s, size_t i, const char* base, float fill, int64_t c) {
  if (i < s.inputs.size() && !s.inputs[i].empty()) return s.inputs[i];
  return s.graph.float_constant(s.op.module + "." + base,
                                std::vector<float>(static_cast<size_t>(c), fill), {c});
}

void conv2d(ExportStep& s) {
  const Shape& w = s.op.inputs[1].shape();  // [K, C/groups, R, S]
  const auto pad = s.ints("padding");
  std::vector<std::string> in = {s.inputs[0], s.inputs[1]};
  if (!s.inputs[2].empty()) in.push_back(s.inputs[2]);
  auto& n = s.node("Conv", in, s.output);
  set_ints(n, "kernel_shape", {w[2], w[3]});
  set_ints(n, "strides", s.ints("stride"));
  set_ints(n, "pads", {pad[0], pad[1], pad[0], pad[1]});
  set_ints(n, "dilations", s.ints("dilation"));
  set_int(n, "group", s.ints("groups")[0]);
}

void conv_transpose2d(ExportStep& s) {
  const Shape& w = s.op.inputs[1].shape();  // [C, K/groups, R, S]
  const auto stride = s.ints("stride"), pad = s.ints("padding");
  std::vector<std::string> in = {s.inputs[0], s.inputs[1]};
  if (!s.inputs[2].empty()) in.push_back(s.inputs[2]);
  auto& n = s.node("ConvTranspose", in, s.output);
  set_ints(n, "kernel_shape", {w[2], w[3]});
  set_ints(n, "strides", stride);
  set_ints(n, "pads", {pad[0], pad[1], pad[0], pad[1]});
  set_ints(n, "output_padding", s.ints("output_padding"));
  set_ints(n, "dilations", {1, 1});
  set_int(n, "group", s.ints("groups")[0]);
}

// [N, I]: Gemm with transB. Tokens [N, T, I]: MatMul with the transposed weight (a Transpose of
// the weight initializer, which keeps its name and layout), then Add of the bias, as torch.onnx
// writes nn.Linear on such inputs.
void linear(ExportStep& s) {
  if (s.op.inputs[0].dim() != 2) {
    auto& t = s.node("Transpose", {s.inputs[1]});
    set_ints(t, "perm", {1, 0});
    const std::string wt = t.output(0);
    if (s.inputs[2].empty()) {
      s.node("MatMul", {s.inputs[0], wt}, s.output);
      return;
    }
    const std::string prod = s.node("MatMul", {s.inputs[0], wt}).output(0);
    s.node("Add", {prod, s.inputs[2]}, s.output);
    return;
  }
  std::vector<std::string> in = {s.inputs[0], s.inputs[1]};
  if (!s.inputs[2].empty()) in.push_back(s.inputs[2]);
  set_int(s.node("Gemm", in, s.output), "transB", 1);
}

void matmul(ExportStep& s) { s.node("MatMul", {s.inputs[0], s.inputs[1]}, s.output); }

// LayerNormalization (opset 17) over the last axis; a missing weight is written as ones.
void layer_norm(ExportStep& s) {
  if (s.graph.opset() < 17) unsupported(s, "LayerNormalization needs opset 17 or later");
  const int64_t d = s.op.inputs[0].size(-1);
  std::vector<std::string> in = {s.inputs[0], input_or(s, 1, "weight", 1.0f, d)};
  if (!s.inputs[2].empty()) in.push_back(s.inputs[2]);
  auto& n = s.node("LayerNormalization", in, s.output);
  set_int(n, "axis", -1);
  set_float(n, "epsilon", static_cast<float>(s.number("epsilon")));
}

void batch_norm(ExportStep& s) {  // inputs x, gamma, beta, running_mean, running_var
  const int64_t c = s.op.inputs[0].size(1);
  const std::vector<std::string> in = {s.inputs[0], input_or(s, 1, "weight", 1.0f, c),
                                       input_or(s, 2, "bias", 0.0f, c), s.inputs[3], s.inputs[4]};
  set_float(s.node("BatchNormalization", in, s.output), "epsilon",
            static_cast<float>(s.number("epsilon")));
}

void simple(ExportStep& s, const char* op_type) { s.node(op_type, {s.inputs[0]}, s.output); }
void relu(ExportStep& s) { simple(s, "Relu"); }
void sigmoid(ExportStep& s) { simple(s, "Sigmoid"); }
void tanh_op(ExportStep& s) { simple(s, "Tanh"); }
void hardswish(ExportStep& s) { simple(s, "HardSwish"); }
void copy(ExportStep& s) { simple(s, "Identity"); }
void softmax(ExportStep& s) { set_int(s.node("Softmax", {s.inputs[0]}, s.output), "axis", -1); }
void log_softmax(ExportStep& s) {
  set_int(s.node("LogSoftmax", {s.inputs[0]}, s.output), "axis", -1);
}

// The exact GELU as torch.onnx writes it below opset 20: x * 0.5 * (1 + erf(x / sqrt(2))).
void gelu(ExportStep& s) {
  const std::string& x = s.inputs[0];
  const std::string base = s.op.module + ".gelu";
  const auto scalar = [&](float v) { return s.graph.float_constant(base, {v}, {}); };
  const std::string div = s.node("Div", {x, scalar(static_cast<float>(std::sqrt(2.0)))}).output(0);
  const std::string erf = s.node("Erf", {div}).output(0);
  const std::string plus = s.node("Add", {erf, scalar(1.0f)}).output(0);
  const std::string times = s.node("Mul", {x, plus}).output(0);
  s.node("Mul", {times, scalar(0.5f)}, s.output);
}

void clamp(ExportStep& s) {
  const std::string base = s.op.module + ".clip";
  const auto bound = [&](const char* name) {
    return s.graph.float_constant(base, {static_cast<float>(s.number(name))}, {});
  };
  s.node("Clip", {s.inputs[0], bound("lo"), bound("hi")}, s.output);
}

void leaky_relu(ExportStep& s) {
  set_float(s.node("LeakyRelu", {s.inputs[0]}, s.output), "alpha",
            static_cast<float>(s.number("alpha")));
}

void hardsigmoid(ExportStep& s) {
  auto& n = s.node("HardSigmoid", {s.inputs[0]}, s.output);
  set_float(n, "alpha", static_cast<float>(s.number("alpha")));
  set_float(n, "beta", static_cast<float>(s.number("beta")));
}

// The slope [C] broadcast over [N, C, ...] is written with shape [C, 1, ...] (ONNX broadcasts
// from the right; torch.onnx writes it so); a slope of one value works as is.
void prelu(ExportStep& s) {
  const Tensor& x = s.op.inputs[0];
  const Tensor& slope = s.op.inputs[1];
  if (slope.numel() > 1 && x.dim() > 2) {
    std::vector<int64_t> dims(static_cast<size_t>(x.dim() - 1), 1);
    dims[0] = slope.numel();
    if (s.graph.bound(slope) != s.inputs[1]) unsupported(s, "the slope must be a parameter");
    s.graph.reshape_parameter(s.inputs[1], dims);
  }
  s.node("PRelu", {s.inputs[0], s.inputs[1]}, s.output);
}

void pool(ExportStep& s, const char* op_type) {
  const auto kernel = s.ints("kernel"), stride = s.ints("stride"), pad = s.ints("padding");
  auto& n = s.node(op_type, {s.inputs[0]}, s.output);
  set_ints(n, "kernel_shape", kernel);
  set_ints(n, "strides", stride);
  set_ints(n, "pads", {pad[0], pad[1], pad[0], pad[1]});
  set_int(n, "ceil_mode", s.ints("ceil_mode")[0]);
  if (std::string(op_type) == "AveragePool") {
    set_int(n, "count_include_pad", s.ints("count_include_pad")[0]);
  }
}
void max_pool(ExportStep& s) { pool(s, "MaxPool"); }
void avg_pool(ExportStep& s) { pool(s, "AveragePool"); }

void global_avg_pool(ExportStep& s) {  // [N, C, H, W] -> [N, C]
  const std::string pooled = s.node("GlobalAveragePool", {s.inputs[0]}).output(0);
  set_int(s.node("Flatten", {pooled}, s.output), "axis", 1);
}

void add(ExportStep& s) { s.node("Add", {s.inputs[0], s.inputs[1]}, s.output); }
void sub(ExportStep& s) { s.node("Sub", {s.inputs[0], s.inputs[1]}, s.output); }
void mul(ExportStep& s) { s.node("Mul", {s.inputs[0], s.inputs[1]}, s.output); }
void div(ExportStep& s) { s.node("Div", {s.inputs[0], s.inputs[1]}, s.output); }

void scale(ExportStep& s) {
  const std::string factor =
      s.graph.float_constant(s.op.module + ".scale", {static_cast<float>(s.number("factor"))}, {});
  s.node("Mul", {s.inputs[0], factor}, s.output);
}

void concat(ExportStep& s) {
  set_int(s.node("Concat", s.inputs, s.output), "axis", s.ints("dim")[0]);
}

void pad2d(ExportStep& s) {       // ONNX pads: begins of every axis, then ends
  const auto p = s.ints("pads");  // top, left, bottom, right
  const std::string pads =
      s.graph.int_constant(s.op.module + ".pads", {0, 0, p[0], p[1], 0, 0, p[2], p[3]}, {8});
  const std::string value = s.graph.float_constant(s.op.module + ".pad_value",
                                                   {static_cast<float>(s.number("value"))}, {});
  s.node("Pad", {s.inputs[0], pads, value}, s.output);
}

// The target shape from the two traces: a dimension that differs between them follows the batch,
// written 0 (copy the input's) at position 0 when the batch stays first, else -1.
std::vector<int64_t> reshape_target(const ExportStep& s) {
  const Shape& a = s.op.output.shape();
  const Shape& b = s.op_b.output.shape();
  const Shape& in_a = s.op.inputs[0].shape();
  const Shape& in_b = s.op_b.inputs[0].shape();
  if (a.size() != b.size()) unsupported(s, "its rank depends on the batch size");
  std::vector<int64_t> target(a.begin(), a.end());
  bool inferred = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    if (i == 0 && a[0] == in_a[0] && b[0] == in_b[0]) {
      target[0] = 0;
    } else if (!inferred) {
      target[i] = -1;
      inferred = true;
    } else {
      unsupported(s, "more than one dimension of its result depends on the batch size");
    }
  }
  return target;
}

void reshape(ExportStep& s) {
  const Shape& in = s.op.inputs[0].shape();
  const Shape& out = s.op.output.shape();
  const auto target = reshape_target(s);
  if (out.size() == 2 && target[0] == 0 && in.size() > 2) {  // [N, ...] -> [N, prod(...)]
    set_int(s.node("Flatten", {s.inputs[0]}, s.output), "axis", 1);
    return;
  }
  const std::string shape =
      s.graph.int_constant(s.op.module + ".shape", target, {static_cast<int64_t>(target.size())});
  s.node("Reshape", {s.inputs[0], shape}, s.output);
}

void permute(ExportStep& s) {
  auto perm = s.ints("dims");
  for (auto& d : perm) d = d < 0 ? d + s.op.inputs[0].dim() : d;
  set_ints(s.node("Transpose", {s.inputs[0]}, s.output), "perm", perm);
}

// The end of a slice that reaches the end of a batch-sized dimension is "to the end".
void slice(ExportStep& s) {
  const int64_t dim = s.ints("dim")[0];
  int64_t end = s.ints("end")[0];
  const int64_t end_b = static_cast<int64_t>(s.op_b.attrs.at("end")[0]);
  if (end != end_b) {
    if (end != s.op.inputs[0].size(dim) || end_b != s.op_b.inputs[0].size(dim)) {
      unsupported(s, "its bounds depend on the batch size");
    }
    end = std::numeric_limits<int64_t>::max();
  }
  auto& g = s.graph;
  const std::string base = s.op.module + ".slice";
  s.node("Slice",
         {s.inputs[0], g.int_constant(base, {s.ints("start")[0]}, {1}),
          g.int_constant(base, {end}, {1}), g.int_constant(base, {dim}, {1}),
          g.int_constant(base, {s.ints("step")[0]}, {1})},
         s.output);
}

void reduce(ExportStep& s, const char* op_type) {
  const auto dims = s.ints("dims");
  const bool axes_input = std::string(op_type) == "ReduceSum" || s.graph.opset() >= 18;
  std::vector<std::string> in = {s.inputs[0]};
  if (axes_input) {
    in.push_back(
        s.graph.int_constant(s.op.module + ".axes", dims, {static_cast<int64_t>(dims.size())}));
  }
  auto& n = s.node(op_type, in, s.output);
  if (!axes_input) set_ints(n, "axes", dims);
  set_int(n, "keepdims", s.ints("keepdim")[0]);
}
void sum(ExportStep& s) { reduce(s, "ReduceSum"); }
void mean(ExportStep& s) { reduce(s, "ReduceMean"); }

std::array<Writer, kOpCount> make_writers() {
  std::array<Writer, kOpCount> w{};
  const auto set = [&w](OpId op, Writer f) { w[static_cast<size_t>(op)] = f; };
  set(OpId::Conv2d, conv2d);
  set(OpId::ConvTranspose2d, conv_transpose2d);
  set(OpId::Linear, linear);
  set(OpId::MatMul, matmul);
  set(OpId::LayerNorm, layer_norm);
  set(OpId::BatchNorm2d, batch_norm);
  set(OpId::Relu, relu);
  set(OpId::Gelu, gelu);
  set(OpId::Clamp, clamp);
  set(OpId::LeakyRelu, leaky_relu);
  set(OpId::Sigmoid, sigmoid);
  set(OpId::Tanh, tanh_op);
  set(OpId::HardSigmoid, hardsigmoid);
  set(OpId::HardSwish, hardswish);
  set(OpId::PRelu, prelu);
  set(OpId::MaxPool2d, max_pool);
  set(OpId::AvgPool2d, avg_pool);
  set(OpId::GlobalAvgPool, global_avg_pool);
  set(OpId::Add, add);
  set(OpId::Sub, sub);
  set(OpId::Mul, mul);
  set(OpId::Div, div);
  set(OpId::Scale, scale);
  set(OpId::Concat, concat);
  set(OpId::Pad2d, pad2d);
  set(OpId::Reshape, reshape);
  set(OpId::Permute, permute);
  set(OpId::Slice, slice);
  set(OpId::Copy, copy);
  set(OpId::Softmax, softmax);
  set(OpId::LogSoftmax, log_softmax);
  set(OpId::Sum, sum);
  set(OpId::Mean, mean);
  return w;
}

}  // namespace

void write_op(ExportStep& step) {
  static const std::array<Writer, kOpCount> writers = make_writers();
  if (!step.op.op) unsupported(step, "a custom node has no ONNX form");
  const Writer w = writers[static_cast<size_t>(*step.op.op)];
  if (w == nullptr) unsupported(step, "ONNX export does not support this op");
  w(step);
}

}  // namespace gb::models::onnx_export
