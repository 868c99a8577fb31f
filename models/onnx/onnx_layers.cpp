// ONNX converters for the layers: Conv, ConvTranspose, BatchNormalization, LayerNormalization,
// Gemm, MatMul, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, Relu. Each checks every
// attribute it is given against what the runtime op computes and names the attribute when glassbox
// cannot follow it. Shape letters: N batch, C input channels, H/W size, K output channels, R/S
// kernel, I/O features.
#include <tuple>

#include "models/onnx/onnx_converters.h"
#include "runtime/ops.h"

namespace gb::models::onnx_import {
namespace {

// Two values [h, w] of a 2-D attribute, `fallback` on both axes when it is absent.
std::pair<int64_t, int64_t> two(ImportContext& ctx, const onnx::NodeProto& node, const char* name,
                                int64_t fallback) {
  const std::vector<int64_t> v = attr_ints(node, name);
  if (v.empty()) return {fallback, fallback};
  if (v.size() != 2) ctx.fail(node, std::string("attribute ") + name + " must hold two values");
  return {v[0], v[1]};
}

// [top, left, bottom, right] padding from `pads` or auto_pad (SAME_UPPER puts the odd pixel at
// the end, SAME_LOWER at the start), for input [H, W], a (dilated) kernel spanning rh x rw pixels
// and strides sh, sw.
std::vector<int64_t> four_pads(ImportContext& ctx, const onnx::NodeProto& node, const Tensor& x,
                               int64_t rh, int64_t rw, int64_t sh, int64_t sw) {
  const std::string auto_pad = attr_string(node, "auto_pad", "NOTSET");
  if (auto_pad == "VALID") return {0, 0, 0, 0};
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    std::vector<int64_t> p(4);
    for (int axis = 0; axis < 2; ++axis) {
      const int64_t r = axis == 0 ? rh : rw, s = axis == 0 ? sh : sw;
      const int64_t size = x.size(2 + axis), out = (size + s - 1) / s;
      const int64_t total = std::max<int64_t>((out - 1) * s + r - size, 0);
      const int64_t small = total / 2, large = total - small;
      p[static_cast<size_t>(axis)] = auto_pad == "SAME_UPPER" ? small : large;
      p[static_cast<size_t>(axis + 2)] = auto_pad == "SAME_UPPER" ? large : small;
    }
    return p;
  }
  if (auto_pad != "NOTSET") ctx.fail(node, "unknown auto_pad '" + auto_pad + "'");
  std::vector<int64_t> pads = attr_ints(node, "pads");
  if (pads.empty()) return {0, 0, 0, 0};
  if (pads.size() != 4) ctx.fail(node, "attribute pads must hold four values");
  return pads;
}

// One padding for all four sides, or a failure naming the attribute.
int64_t symmetric_pad(ImportContext& ctx, const onnx::NodeProto& node, const Tensor& x, int64_t r,
                      int64_t s) {
  const std::vector<int64_t> p = four_pads(ctx, node, x, r, r, s, s);
  if (p[0] != p[1] || p[0] != p[2] || p[0] != p[3]) {
    ctx.fail(node, "padding must be the same on all four sides here");
  }
  return p[0];
}

// A pad2d node before `node` (zeros, [top, left, bottom, right]); returns the padded value.
std::string add_pad_node(ImportContext& ctx, const onnx::NodeProto& node, const std::string& input,
                         const std::vector<int64_t>& p) {
  onnx::NodeProto pad = node;
  pad.clear_output();
  pad.add_output(node.output(0) + "__pad");
  const size_t slash = node.name().rfind('/');  // "/stem/Conv" -> "/stem/pad/Pad"
  pad.set_name(slash == std::string::npos ? node.name() + "_pad"
                                          : node.name().substr(0, slash) + "/pad/Pad");
  ctx.add_node(pad, "pad2d",
               {{"pads", {double(p[0]), double(p[1]), double(p[2]), double(p[3])}}, {"value", {0.0}}},
               {input}, {}, [p](const std::vector<Tensor>& in) {
                 return ops::pad2d(in[0], p[0], p[1], p[2], p[3], 0.0f);
               });
  return pad.output(0);
}

void require_unit_dilation(ImportContext& ctx, const onnx::NodeProto& node) {
  for (int64_t d : attr_ints(node, "dilations")) {
    if (d != 1) ctx.fail(node, "attribute dilations other than 1 is not supported yet");
  }
}

Tensor optional_const(ImportContext& ctx, const onnx::NodeProto& node, int input) {
  if (node.input_size() <= input || node.input(input).empty()) return Tensor();
  return ctx.constant(node, input).as_tensor();
}

// The graph attributes of a conv2d node: one value where both axes agree (the zoo's square layers
// keep their form), [h, w] otherwise; dilation only when it is not 1.
GraphAttrs conv_attrs(const Tensor& x, const Tensor& w, const ops::Conv2dOptions& o,
                      bool has_bias) {
  auto hw = [](int64_t h, int64_t v) {
    return h == v ? std::vector<double>{double(h)} : std::vector<double>{double(h), double(v)};
  };
  GraphAttrs a{{"in_channels", {double(x.size(1))}}, {"out_channels", {double(w.size(0))}},
               {"kernel", hw(w.size(2), w.size(3))}, {"stride", hw(o.stride_h, o.stride_w)},
               {"padding", hw(o.pad_h, o.pad_w)},    {"groups", {double(o.groups)}},
               {"bias", {has_bias ? 1.0 : 0.0}}};
  if (o.dilation_h != 1 || o.dilation_w != 1) a["dilation"] = hw(o.dilation_h, o.dilation_w);
  return a;
}

void conv(ImportContext& ctx, const onnx::NodeProto& node) {
  const Tensor& x = ctx.sample(node, 0);
  if (x.dim() != 4) ctx.fail(node, "input must be [N,C,H,W], got " + shape_str(x.shape()));
  const Tensor w = ctx.constant(node, 1).as_tensor();
  if (w.dim() != 4) ctx.fail(node, "weight must be [K,C/groups,R,S]");
  const auto [kh, kw] = two(ctx, node, "kernel_shape", 0);
  if ((kh != 0 || kw != 0) && (kh != w.size(2) || kw != w.size(3))) {
    ctx.fail(node, "kernel_shape disagrees with the weight");
  }
  ops::Conv2dOptions opt;
  std::tie(opt.stride_h, opt.stride_w) = two(ctx, node, "strides", 1);
  std::tie(opt.dilation_h, opt.dilation_w) = two(ctx, node, "dilations", 1);
  opt.groups = attr_int(node, "group", 1);
  const int64_t span_h = (w.size(2) - 1) * opt.dilation_h + 1;
  const int64_t span_w = (w.size(3) - 1) * opt.dilation_w + 1;
  const std::vector<int64_t> pads =
      four_pads(ctx, node, x, span_h, span_w, opt.stride_h, opt.stride_w);
  std::string input = ctx.value_name(node, 0);
  if (pads[0] == pads[2] && pads[1] == pads[3]) {  // the same at both ends of each axis
    opt.pad_h = pads[0];
    opt.pad_w = pads[1];
  } else {  // uneven: a pad2d node, then no padding
    input = add_pad_node(ctx, node, input, pads);
  }
  const Tensor b = optional_const(ctx, node, 2);
  GraphAttrs a = conv_attrs(x, w, opt, b.defined());
  std::vector<std::pair<std::string, Tensor>> weights{{"weight", w}};
  std::map<std::string, std::string> sources{{"weight", node.input(1)}};
  if (b.defined()) {
    weights.emplace_back("bias", b);
    sources["bias"] = node.input(2);
  }
  ctx.add_node(node, "conv2d", a, {input}, weights,
               [w, b, opt](const std::vector<Tensor>& in) { return ops::conv2d(in[0], w, b, opt); },
               node.input(1));
  ctx.set_sources(sources);
}

// Per-axis padding of a ConvTranspose from pads (equal at both ends of an axis) or, where
// output_shape is given, from the total padding it implies (split evenly).
std::pair<int64_t, int64_t> transpose_pads(ImportContext& ctx, const onnx::NodeProto& node,
                                           const Tensor& x, const std::vector<int64_t>& k,
                                           const std::vector<int64_t>& s,
                                           const std::vector<int64_t>& op) {
  const std::string auto_pad = attr_string(node, "auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID") {
    ctx.fail(node, "auto_pad " + auto_pad + " is not supported on ConvTranspose (NOTSET only)");
  }
  const std::vector<int64_t> out = attr_ints(node, "output_shape");
  if (!out.empty()) {
    if (out.size() != 2) ctx.fail(node, "attribute output_shape must hold two values (H, W)");
    std::vector<int64_t> p(2);
    for (size_t a = 0; a < 2; ++a) {
      const int64_t in = x.size(2 + static_cast<int64_t>(a));
      const int64_t total = s[a] * (in - 1) + op[a] + k[a] - out[a];
      if (total < 0 || total % 2 != 0) {
        ctx.fail(node, "attribute output_shape needs uneven or negative padding (not supported)");
      }
      p[a] = total / 2;
    }
    return {p[0], p[1]};
  }
  const std::vector<int64_t> pads =
      auto_pad == "VALID" ? std::vector<int64_t>{} : attr_ints(node, "pads");
  if (pads.empty()) return {0, 0};
  if (pads.size() != 4 || pads[0] != pads[2] || pads[1] != pads[3]) {
    ctx.fail(node,
             "attribute pads must hold four values, equal at the start and end of each "
             "axis (asymmetric ConvTranspose pads are not supported)");
  }
  return {pads[0], pads[1]};
}

void conv_transpose(ImportContext& ctx, const onnx::NodeProto& node) {
  const Tensor& x = ctx.sample(node, 0);
  if (x.dim() != 4) ctx.fail(node, "input must be [N,C,H,W], got " + shape_str(x.shape()));
  const Tensor w = ctx.constant(node, 1).as_tensor();
  if (w.dim() != 4) ctx.fail(node, "weight must be [C,K/groups,R,S]");
  require_unit_dilation(ctx, node);
  const auto [kh, kw] = two(ctx, node, "kernel_shape", 0);
  if ((kh != 0 || kw != 0) && (kh != w.size(2) || kw != w.size(3))) {
    ctx.fail(node, "kernel_shape disagrees with the weight");
  }
  const auto [sh, sw] = two(ctx, node, "strides", 1);
  const auto [oph, opw] = two(ctx, node, "output_padding", 0);
  const auto [ph, pw] = transpose_pads(ctx, node, x, {w.size(2), w.size(3)}, {sh, sw}, {oph, opw});
  const int64_t groups = attr_int(node, "group", 1);
  const Tensor b = optional_const(ctx, node, 2);
  ops::ConvTranspose2dOptions opt;
  opt.stride_h = sh, opt.stride_w = sw, opt.pad_h = ph, opt.pad_w = pw;
  opt.output_padding_h = oph, opt.output_padding_w = opw, opt.groups = groups;
  auto hw = [](int64_t h, int64_t v) { return std::vector<double>{double(h), double(v)}; };
  GraphAttrs a{{"in_channels", {double(w.size(0))}},
               {"out_channels", {double(w.size(1) * groups)}},
               {"kernel", hw(w.size(2), w.size(3))},
               {"stride", hw(sh, sw)},
               {"padding", hw(ph, pw)},
               {"output_padding", hw(oph, opw)},
               {"groups", {double(groups)}},
               {"bias", {b.defined() ? 1.0 : 0.0}}};
  std::vector<std::pair<std::string, Tensor>> weights{{"weight", w}};
  std::map<std::string, std::string> sources{{"weight", node.input(1)}};
  if (b.defined()) {
    weights.emplace_back("bias", b);
    sources["bias"] = node.input(2);
  }
  ctx.add_node(
      node, "conv_transpose2d", a, {ctx.value_name(node, 0)}, weights,
      [w, b, opt](const std::vector<Tensor>& in) {
        return ops::conv_transpose2d(in[0], w, b, opt);
      },
      node.input(1));
  ctx.set_sources(sources);
}

void batch_norm(ImportContext& ctx, const onnx::NodeProto& node) {
  if (attr_int(node, "training_mode", 0) != 0) ctx.fail(node, "training_mode=1 is not supported");
  const Tensor& x = ctx.sample(node, 0);
  const Tensor scale = ctx.constant(node, 1).as_tensor(), bias = ctx.constant(node, 2).as_tensor();
  const Tensor mean = ctx.constant(node, 3).as_tensor(), var = ctx.constant(node, 4).as_tensor();
  const int64_t c = x.dim() >= 2 ? x.size(1) : 0;
  for (const Tensor* t : {&scale, &bias, &mean, &var}) {
    if (t->dim() != 1 || t->size(0) != c) ctx.fail(node, "scale, B, mean and var must be [C]");
  }
  const float eps = attr_float(node, "epsilon", 1e-5f);
  // ONNX: running = running * momentum + batch * (1 - momentum); glassbox follows PyTorch.
  const float momentum = 1.0f - attr_float(node, "momentum", 0.9f);
  GraphAttrs a{{"channels", {double(c)}}, {"eps", {eps}}, {"momentum", {momentum}}};
  std::vector<std::pair<std::string, Tensor>> weights{
      {"weight", scale},        {"bias", bias},
      {"running_mean", mean},   {"running_var", var},
      {"num_batches_tracked", Tensor::zeros({}, DType::I64)}};
  ctx.add_node(node, "batch_norm2d", a, {ctx.value_name(node, 0)}, weights,
               [=](const std::vector<Tensor>& in) {
                 return ops::batch_norm(in[0], scale, bias, mean, var, false, momentum, eps);
               },
               node.input(1));
  ctx.set_sources({{"weight", node.input(1)},
                   {"bias", node.input(2)},
                   {"running_mean", node.input(3)},
                   {"running_var", node.input(4)}});
}

// A linear layer y = x w^T + b from Gemm (with transA 0; input [N, I]) or MatMul with a constant
// right side (input [N, I] or [N, ..., I], as torch.onnx writes nn.Linear on tokens; the
// MatMul + Add pattern of onnx_patterns.cpp passes the Add's bias as a third input).
void linear(ImportContext& ctx, const onnx::NodeProto& node) {
  const Tensor& x = ctx.sample(node, 0);
  const bool gemm = node.op_type() == "Gemm";
  if (gemm ? x.dim() != 2 : x.dim() < 2) {
    ctx.fail(node, std::string("input must be ") + (gemm ? "[N, I]" : "[N, ..., I]") + ", got " +
                       shape_str(x.shape()));
  }
  if (gemm && attr_int(node, "transA", 0) != 0) ctx.fail(node, "transA=1 is not supported");
  const Tensor b_in = ctx.constant(node, 1).as_tensor();
  const bool trans_b = gemm && attr_int(node, "transB", 0) != 0;
  Tensor w = trans_b ? b_in : ops::contiguous(ops::transpose(b_in, 0, 1));
  const float alpha = gemm ? attr_float(node, "alpha", 1.0f) : 1.0f;
  if (alpha != 1.0f) w = ops::scale(w, alpha);
  if (w.dim() != 2 || w.size(1) != x.size(-1)) ctx.fail(node, "weight does not match the input");
  Tensor b = optional_const(ctx, node, 2);  // Gemm's C, or the bias a MatMul + Add pattern adds
  if (b.defined()) {
    if (b.numel() != w.size(0)) ctx.fail(node, "C must hold one value per output");
    b = ops::scale(ops::reshape(b, {w.size(0)}), attr_float(node, "beta", 1.0f));
  }
  GraphAttrs a{{"in_features", {double(w.size(1))}}, {"out_features", {double(w.size(0))}},
               {"bias", {b.defined() ? 1.0 : 0.0}}};
  std::vector<std::pair<std::string, Tensor>> weights{{"weight", w.detach()}};
  if (b.defined()) weights.emplace_back("bias", b.detach());
  ctx.add_node(node, "linear", a, {ctx.value_name(node, 0)}, weights,
               [w, b](const std::vector<Tensor>& in) { return ops::linear(in[0], w, b); },
               node.input(1));
  if (alpha == 1.0f && trans_b) ctx.set_sources({{"weight", node.input(1)}});
}

// MatMul: with a constant right side a linear layer; of two graph values (attention scores and
// their weighted sums) a matmul node (ops::matmul: equal leading dims).
void matmul(ImportContext& ctx, const onnx::NodeProto& node) {
  if (ctx.is_const(node.input(1))) return linear(ctx, node);
  if (ctx.is_const(node.input(0))) ctx.fail(node, "a constant left operand is not supported");
  const Tensor& a = ctx.sample(node, 0);
  const Tensor& b = ctx.sample(node, 1);
  if (a.dim() < 3 || a.dim() != b.dim()) {
    ctx.fail(node, "operands must be batched alike ([N, ..., M, K] x [N, ..., K, N']), got " +
                       shape_str(a.shape()) + " and " + shape_str(b.shape()));
  }
  ctx.add_node(node, "matmul", {}, {ctx.value_name(node, 0), ctx.value_name(node, 1)}, {},
               [](const std::vector<Tensor>& in) { return ops::matmul(in[0], in[1]); });
}

// LayerNormalization (opset 17) over the last axis, scale and optional bias constant.
void layer_norm(ImportContext& ctx, const onnx::NodeProto& node) {
  const Tensor& x = ctx.sample(node, 0);
  const int64_t axis = attr_int(node, "axis", -1);
  if (axis != -1 && axis != x.dim() - 1) ctx.fail(node, "only the last axis (-1) is supported");
  for (int i = 1; i < node.output_size(); ++i) {
    if (!node.output(i).empty()) ctx.fail(node, "the Mean and InvStdDev outputs are not supported");
  }
  const int64_t d = x.size(-1);
  const Tensor scale = ops::reshape(ctx.constant(node, 1).as_tensor(), {-1});
  Tensor bias = optional_const(ctx, node, 2);
  if (bias.defined()) bias = ops::reshape(bias, {-1});
  if (scale.numel() != d || (bias.defined() && bias.numel() != d)) {
    ctx.fail(node, "scale and bias must hold one value per feature of the last axis");
  }
  const float eps = attr_float(node, "epsilon", 1e-5f);
  std::vector<std::pair<std::string, Tensor>> weights{
      {"weight", scale.detach()}, {"bias", bias.defined() ? bias.detach() : Tensor::zeros({d})}};
  ctx.add_node(
      node, "layer_norm", {{"features", {double(d)}}, {"eps", {eps}}}, {ctx.value_name(node, 0)},
      weights,
      [scale, bias, eps](const std::vector<Tensor>& in) {
        return ops::layer_norm(in[0], scale, bias, eps);
      },
      node.input(1));
  std::map<std::string, std::string> sources{{"weight", node.input(1)}};
  if (bias.defined()) sources["bias"] = node.input(2);
  ctx.set_sources(sources);
}

// Per-axis padding [pad_h, pad_w] of a pool, from `pads` [top, left, bottom, right] (equal
// begin and end on each axis) or auto_pad.
std::pair<int64_t, int64_t> pool_pads(ImportContext& ctx, const onnx::NodeProto& node,
                                      const Tensor& x, int64_t kh, int64_t kw, int64_t sh,
                                      int64_t sw) {
  const std::string auto_pad = attr_string(node, "auto_pad", "NOTSET");
  if (auto_pad != "NOTSET") {
    if (kh != kw || sh != sw || x.size(2) != x.size(3)) {
      ctx.fail(node, "auto_pad on non-square pooling is not supported yet");
    }
    const int64_t p = symmetric_pad(ctx, node, x, kh, sh);
    return {p, p};
  }
  const std::vector<int64_t> pads = attr_ints(node, "pads");
  if (pads.empty()) return {0, 0};
  if (pads.size() != 4 || pads[0] != pads[2] || pads[1] != pads[3]) {
    ctx.fail(node, "attribute pads must be equal at the start and end of each axis (asymmetric "
                   "pooling pads are not supported yet)");
  }
  return {pads[0], pads[1]};
}

void pool(ImportContext& ctx, const onnx::NodeProto& node) {
  const Tensor& x = ctx.sample(node, 0);
  if (x.dim() != 4) ctx.fail(node, "input must be [N,C,H,W]");
  require_unit_dilation(ctx, node);
  if (attr_int(node, "storage_order", 0) != 0) ctx.fail(node, "storage_order=1 is not supported");
  const std::vector<int64_t> k = attr_ints(node, "kernel_shape");
  if (k.size() != 2) ctx.fail(node, "kernel_shape must hold two values");
  std::vector<int64_t> s = attr_ints(node, "strides");
  if (s.empty()) s = {1, 1};
  if (s.size() != 2) ctx.fail(node, "strides must hold two values");
  const auto [ph, pw] = pool_pads(ctx, node, x, k[0], k[1], s[0], s[1]);
  const bool max = node.op_type() == "MaxPool";
  const bool ceil = attr_int(node, "ceil_mode", 0) != 0;
  const bool include_pad = max || attr_int(node, "count_include_pad", 0) != 0;
  const ops::Pool2dOptions opt{k[0], k[1], s[0], s[1], ph, pw, ceil, include_pad};
  GraphAttrs a{{"kernel", {double(k[0]), double(k[1])}},
               {"stride", {double(s[0]), double(s[1])}},
               {"padding", {double(ph), double(pw)}},
               {"ceil_mode", {ceil ? 1.0 : 0.0}},
               {"count_include_pad", {include_pad ? 1.0 : 0.0}}};
  ctx.add_node(node, max ? "max_pool2d" : "avg_pool2d", a, {ctx.value_name(node, 0)}, {},
               [=](const std::vector<Tensor>& in) {
                 return max ? ops::max_pool2d(in[0], opt) : ops::avg_pool2d(in[0], opt);
               });
}

void global_max_pool(ImportContext& ctx, const onnx::NodeProto& node) {
  if (ctx.sample(node, 0).dim() != 4) ctx.fail(node, "input must be [N,C,H,W]");
  ctx.add_node(node, "global_max_pool", {}, {ctx.value_name(node, 0)}, {},
               [](const std::vector<Tensor>& in) {
                 return ops::max_pool2d(in[0], {in[0].size(2), in[0].size(3), 1, 1, 0, 0});
               });
}

void global_avg_pool(ImportContext& ctx, const onnx::NodeProto& node) {
  if (ctx.sample(node, 0).dim() != 4) ctx.fail(node, "input must be [N,C,H,W]");
  ctx.add_node(node, "global_avg_pool", {{"keepdims", {1.0}}}, {ctx.value_name(node, 0)}, {},
               [](const std::vector<Tensor>& in) {
                 const Tensor y = ops::global_avg_pool(in[0]);
                 return ops::reshape(y, {y.size(0), y.size(1), 1, 1});
               });
}

void relu(ImportContext& ctx, const onnx::NodeProto& node) {
  ctx.add_node(node, "relu", {}, {ctx.value_name(node, 0)}, {},
               [](const std::vector<Tensor>& in) { return ops::relu(in[0]); });
}

}  // namespace

void add_linear(ImportContext& ctx, const onnx::NodeProto& node) { linear(ctx, node); }

void add_layer_converters(ConverterTable& table) {
  table["Conv"] = conv;
  table["ConvTranspose"] = conv_transpose;
  table["BatchNormalization"] = batch_norm;
  table["Gemm"] = linear;
  table["MatMul"] = matmul;
  table["LayerNormalization"] = layer_norm;
  table["MaxPool"] = pool;
  table["AveragePool"] = pool;
  table["GlobalAveragePool"] = global_avg_pool;
  table["GlobalMaxPool"] = global_max_pool;
  table["Relu"] = relu;
}

}  // namespace gb::models::onnx_import
