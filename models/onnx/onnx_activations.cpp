// ONNX converters for the pointwise activations: Clip (ReLU6 and other bounds), LeakyRelu,
// Sigmoid, Tanh, HardSigmoid, HardSwish, PRelu; and Pad (constant mode on H and W).
// Shape letters: N batch, C channels, H/W height/width.
#include <algorithm>
#include <limits>

#include "models/onnx/onnx_converters.h"
#include "runtime/ops.h"

namespace gb::models::onnx_import {
namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

void unary(ImportContext& ctx, const onnx::NodeProto& node, const std::string& op, GraphAttrs a,
           const Fn& fn) {
  ctx.add_node(node, op, std::move(a), {ctx.value_name(node, 0)}, {}, fn);
}

// A scalar from an optional constant input, or `fallback`.
float optional_scalar(ImportContext& ctx, const onnx::NodeProto& node, int input, float fallback) {
  if (node.input_size() <= input || node.input(input).empty()) return fallback;
  const ConstValue& c = ctx.constant(node, input);
  if (c.data.size() != 1) ctx.fail(node, "input " + std::to_string(input) + " must be a scalar");
  return static_cast<float>(c.data[0]);
}

// A missing bound is the largest finite float (JSON, where the graph is stored, has no
// infinity): the same clamp for every finite input.
void clip(ImportContext& ctx, const onnx::NodeProto& node) {
  const float big = std::numeric_limits<float>::max();
  float lo = attr_float(node, "min", -big), hi = attr_float(node, "max", big);
  lo = std::max(optional_scalar(ctx, node, 1, lo), -big);
  hi = std::min(optional_scalar(ctx, node, 2, hi), big);
  unary(ctx, node, "clamp", {{"lo", {lo}}, {"hi", {hi}}},
        [lo, hi](const std::vector<Tensor>& in) { return ops::clamp(in[0], lo, hi); });
}

void leaky_relu(ImportContext& ctx, const onnx::NodeProto& node) {
  const float alpha = attr_float(node, "alpha", 0.01f);
  unary(ctx, node, "leaky_relu", {{"alpha", {alpha}}},
        [alpha](const std::vector<Tensor>& in) { return ops::leaky_relu(in[0], alpha); });
}

void hard_sigmoid(ImportContext& ctx, const onnx::NodeProto& node) {
  const float alpha = attr_float(node, "alpha", 0.2f), beta = attr_float(node, "beta", 0.5f);
  unary(ctx, node, "hardsigmoid", {{"alpha", {alpha}}, {"beta", {beta}}},
        [=](const std::vector<Tensor>& in) { return ops::hardsigmoid(in[0], alpha, beta); });
}

void simple(ImportContext& ctx, const onnx::NodeProto& node) {
  const std::string& t = node.op_type();
  const std::string op = t == "Sigmoid" ? "sigmoid" : t == "Tanh" ? "tanh" : "hardswish";
  unary(ctx, node, op, {}, [op](const std::vector<Tensor>& in) {
    return op == "sigmoid" ? ops::sigmoid(in[0]) : op == "tanh" ? ops::tanh(in[0])
                                                                : ops::hardswish(in[0]);
  });
}

// PRelu with a constant slope of C values (shape [C], [C,1,1] or [1,C,1,1]) or one value.
void prelu(ImportContext& ctx, const onnx::NodeProto& node) {
  const Tensor& x = ctx.sample(node, 0);
  Tensor slope = ctx.constant(node, 1).as_tensor();
  const int64_t c = slope.numel();
  if (c != 1 && (x.dim() < 2 || c != x.size(1))) {
    ctx.fail(node, "slope must hold one value or one per channel, got " + shape_str(slope.shape()));
  }
  slope = ops::reshape(slope, {c});
  ctx.add_node(node, "prelu", {{"channels", {double(c)}}}, {ctx.value_name(node, 0)},
               {{"weight", slope}},
               [slope](const std::vector<Tensor>& in) { return ops::prelu(in[0], slope); },
               node.input(1));
  ctx.set_sources({{"weight", node.input(1)}});
}

// Pad in constant mode on H and W of [N,C,H,W] (all-zero pads: nothing).
void pad(ImportContext& ctx, const onnx::NodeProto& node) {
  const std::string mode = attr_string(node, "mode", "constant");
  std::vector<int64_t> pads;
  if (has_attr(node, "pads")) {
    pads = attr_ints(node, "pads");
  } else {
    for (double v : ctx.constant(node, 1).data) pads.push_back(static_cast<int64_t>(v));
  }
  bool zero = true;
  for (int64_t p : pads) zero = zero && p == 0;
  if (zero) return ctx.alias(node.output(0), node.input(0));
  if (mode != "constant") ctx.fail(node, "Pad mode '" + mode + "' is not supported (constant only)");
  if (node.input_size() > 3 && !node.input(3).empty()) ctx.fail(node, "Pad with axes");
  const float value = has_attr(node, "value") ? attr_float(node, "value", 0.0f)
                                              : optional_scalar(ctx, node, 2, 0.0f);
  // pads: [x1_begin, x2_begin, ..., x1_end, x2_end, ...] over the 4 dims.
  if (pads.size() != 8 || pads[0] || pads[1] || pads[4] || pads[5]) {
    ctx.fail(node, "Pad only on H and W of a 4-D input is supported");
  }
  for (int64_t p : pads) {
    if (p < 0) ctx.fail(node, "negative pads (cropping) are not supported");
  }
  const int64_t t = pads[2], l = pads[3], b = pads[6], r = pads[7];
  unary(ctx, node, "pad2d",
        {{"pads", {double(t), double(l), double(b), double(r)}}, {"value", {value}}},
        [=](const std::vector<Tensor>& in) { return ops::pad2d(in[0], t, l, b, r, value); });
}

}  // namespace

void add_activation_converters(ConverterTable& table) {
  table["Clip"] = clip;
  table["LeakyRelu"] = leaky_relu;
  table["HardSigmoid"] = hard_sigmoid;
  table["Sigmoid"] = simple;
  table["Tanh"] = simple;
  table["HardSwish"] = simple;
  table["PRelu"] = prelu;
  table["Pad"] = pad;
}

}  // namespace gb::models::onnx_import
