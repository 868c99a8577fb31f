// ONNX converters for the elementwise, shape and constant operators: Add, Sub, Mul, Div, Concat,
// Split, Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Softmax, LogSoftmax, ReduceMean,
// Dropout, Identity, Constant, Shape, Gather, Cast. Operators whose inputs are all constants are
// folded at import (the Shape -> Gather -> Unsqueeze -> Concat chains exporters build a flatten's
// shape from); on graph values they become graph nodes. A graph value keeps its batch dim first:
// an operator that would move or merge it is an error naming the node.
// Shape letters: N batch.
#include <algorithm>
#include <cmath>

#include "kernels/float_formats.h"
#include "models/onnx/onnx_converters.h"
#include "runtime/ops.h"

namespace gb::models::onnx_import {
namespace {

int64_t normalize_axis(ImportContext& ctx, const onnx::NodeProto& node, int64_t axis,
                       int64_t rank) {
  if (axis < -rank || axis >= rank) ctx.fail(node, "axis " + std::to_string(axis) + " out of range");
  return axis < 0 ? axis + rank : axis;
}

// Integer values of a constant input (axes, shapes, indices).
std::vector<int64_t> const_ints(ImportContext& ctx, const onnx::NodeProto& node, int input) {
  const ConstValue& c = ctx.constant(node, input);
  std::vector<int64_t> out;
  for (double v : c.data) out.push_back(static_cast<int64_t>(v));
  return out;
}

// axes from the attribute (older opsets) or from input 1 (newer ones), if given.
std::vector<int64_t> axes_of(ImportContext& ctx, const onnx::NodeProto& node) {
  if (has_attr(node, "axes")) return attr_ints(node, "axes");
  if (node.input_size() > 1 && !node.input(1).empty()) return const_ints(ctx, node, 1);
  return {};
}

bool has_batch(const ConstValue& c) {
  for (double v : c.data) {
    if (v == static_cast<double>(kBatchDim)) return true;
  }
  return false;
}

// c[i] of a constant broadcast to `n` elements (same size or a single value).
double at_broadcast(const ConstValue& c, size_t i) { return c.data.size() == 1 ? c.data[0] : c.data[i]; }

// Add / Sub / Mul / Div of two constants, same shape or one a single value.
void fold_arith(ImportContext& ctx, const onnx::NodeProto& node) {
  const ConstValue &a = ctx.constant(node, 0), &b = ctx.constant(node, 1);
  if (has_batch(a) || has_batch(b)) ctx.fail(node, "arithmetic on the batch size is not supported");
  if (a.data.size() != b.data.size() && a.data.size() != 1 && b.data.size() != 1) {
    ctx.fail(node, "folding constants of shapes " + shape_str(a.shape) + " and " +
                       shape_str(b.shape) + " (only equal shapes or a single value)");
  }
  ConstValue out;
  out.shape = a.data.size() >= b.data.size() ? a.shape : b.shape;
  out.is_int = a.is_int && b.is_int;
  const std::string& op = node.op_type();
  for (size_t i = 0; i < std::max(a.data.size(), b.data.size()); ++i) {
    const double x = at_broadcast(a, i), y = at_broadcast(b, i);
    double v = op == "Add" ? x + y : op == "Sub" ? x - y : op == "Mul" ? x * y : x / y;
    if (out.is_int && op == "Div") v = std::trunc(x / y);
    out.data.push_back(out.is_int ? v : static_cast<double>(static_cast<float>(v)));
  }
  ctx.set_const(node.output(0), std::move(out));
}

void arith(ImportContext& ctx, const onnx::NodeProto& node) {
  const bool a_const = ctx.is_const(node.input(0)), b_const = ctx.is_const(node.input(1));
  if (a_const && b_const) return fold_arith(ctx, node);
  const std::string& op = node.op_type();
  // A graph value times or divided by one constant number: a scale node.
  const int c_input = a_const ? 0 : (b_const ? 1 : -1);
  if (c_input >= 0 && (op == "Mul" || (op == "Div" && c_input == 1)) &&
      ctx.constant(node, c_input).data.size() == 1) {
    const double c = ctx.constant(node, c_input).data[0];
    const float factor = static_cast<float>(op == "Mul" ? c : 1.0 / c);
    ctx.add_node(node, "scale", {{"factor", {factor}}}, {ctx.value_name(node, 1 - c_input)}, {},
                 [factor](const std::vector<Tensor>& in) { return ops::scale(in[0], factor); });
    return;
  }
  // Otherwise a broadcasting node of two values (a constant operand becomes a buffer).
  const std::string gop = op == "Add" ? "add" : op == "Sub" ? "sub" : op == "Mul" ? "mul" : "div";
  ctx.add_node(node, gop, {}, {ctx.value_name(node, 0), ctx.value_name(node, 1)}, {},
               [gop](const std::vector<Tensor>& in) {
                 return gop == "add"   ? ops::add(in[0], in[1])
                        : gop == "sub" ? ops::sub(in[0], in[1])
                        : gop == "mul" ? ops::mul(in[0], in[1])
                                       : ops::div(in[0], in[1]);
               });
}

void concat(ImportContext& ctx, const onnx::NodeProto& node) {
  bool all_const = true;
  for (int i = 0; i < node.input_size(); ++i) all_const = all_const && ctx.is_const(node.input(i));
  if (all_const) {
    ConstValue out;
    out.is_int = true;
    for (int i = 0; i < node.input_size(); ++i) {
      const ConstValue& c = ctx.constant(node, i);
      if (c.shape.size() > 1) ctx.fail(node, "folding a Concat of constants of rank > 1");
      out.is_int = out.is_int && c.is_int;
      out.data.insert(out.data.end(), c.data.begin(), c.data.end());
    }
    out.shape = {static_cast<int64_t>(out.data.size())};
    ctx.set_const(node.output(0), std::move(out));
    return;
  }
  const int64_t rank = ctx.sample(node, 0).dim();
  const int64_t axis = normalize_axis(ctx, node, attr_int(node, "axis", 0), rank);
  if (axis == 0) ctx.fail(node, "Concat along the batch dim is not supported");
  std::vector<std::string> inputs;
  for (int i = 0; i < node.input_size(); ++i) inputs.push_back(ctx.value_name(node, i));
  ctx.add_node(node, "concat", {{"axis", {double(axis)}}}, inputs,
               {}, [axis](const std::vector<Tensor>& in) { return ops::concat(in, axis); });
}

// A graph value reshaped to [N, dims...] (dims may hold one -1). A flatten to [N, F] is stored
// as [N, -1], so that a pruned model's narrower F follows.
void add_reshape(ImportContext& ctx, const onnx::NodeProto& node, std::vector<int64_t> dims) {
  if (dims.size() == 1) dims = {-1};
  std::vector<double> attr(dims.begin(), dims.end());
  ctx.add_node(node, "reshape", {{"shape", attr}}, {ctx.value_name(node, 0)}, {},
               [dims](const std::vector<Tensor>& in) {
                 Shape s{in[0].size(0)};
                 s.insert(s.end(), dims.begin(), dims.end());
                 return ops::reshape(in[0], s);
               });
}

void flatten(ImportContext& ctx, const onnx::NodeProto& node) {
  const Tensor& x = ctx.sample(node, 0);
  const int64_t axis = normalize_axis(ctx, node, attr_int(node, "axis", 1), x.dim() + 1);
  if (axis != 1) ctx.fail(node, "Flatten with axis " + std::to_string(axis) + " (only 1: [N, -1])");
  add_reshape(ctx, node, {x.numel() / x.size(0)});
}

// Reshape of a graph value. The target's first entry must be the batch: the batch marker of a
// folded Shape, 0 (copy), -1 with every other entry fixed, or 1 (a file exported at batch 1).
void reshape(ImportContext& ctx, const onnx::NodeProto& node) {
  if (ctx.is_const(node.input(0))) ctx.fail(node, "Reshape of a constant is not supported");
  const Tensor& x = ctx.sample(node, 0);
  std::vector<int64_t> target = const_ints(ctx, node, 1);
  const bool allow_zero = attr_int(node, "allowzero", 0) != 0;
  if (target.empty()) ctx.fail(node, "Reshape to a scalar");
  int minus_ones = 0;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0 && !allow_zero) {
      if (static_cast<int64_t>(i) >= x.dim()) ctx.fail(node, "shape entry 0 past the input rank");
      target[i] = i == 0 ? kBatchDim : x.size(static_cast<int64_t>(i));
    }
    if (target[i] == -1) ++minus_ones;
  }
  const bool batch_first = target[0] == kBatchDim || target[0] == 1 ||
                           (target[0] == -1 && minus_ones == 1);
  if (!batch_first) ctx.fail(node, "Reshape that does not keep the batch dim first");
  std::vector<int64_t> dims(target.begin() + 1, target.end());
  for (int64_t d : dims) {
    if (d == kBatchDim || d < -1) ctx.fail(node, "Reshape moves the batch dim");
  }
  add_reshape(ctx, node, dims);
}

// Transpose of a constant (a weight transposed for a MatMul), folded.
void fold_transpose(ImportContext& ctx, const onnx::NodeProto& node) {
  const ConstValue& c = ctx.constant(node, 0);
  if (c.is_int) ctx.fail(node, "Transpose of an integer constant is not supported");
  std::vector<int64_t> perm = attr_ints(node, "perm");
  const int64_t r = static_cast<int64_t>(c.shape.size());
  if (perm.empty()) {
    for (int64_t i = r - 1; i >= 0; --i) perm.push_back(i);
  }
  if (static_cast<int64_t>(perm.size()) != r) ctx.fail(node, "perm does not match the rank");
  const Tensor t = ops::contiguous(ops::permute(c.as_tensor(), perm));
  ConstValue out{t.shape(), {}, false};
  for (float v : t.to_vector()) out.data.push_back(v);
  ctx.set_const(node.output(0), std::move(out));
}

void transpose(ImportContext& ctx, const onnx::NodeProto& node) {
  if (ctx.is_const(node.input(0))) return fold_transpose(ctx, node);
  const Tensor& x = ctx.sample(node, 0);
  std::vector<int64_t> perm = attr_ints(node, "perm");
  if (perm.empty()) ctx.fail(node, "Transpose without perm reverses the batch dim away");
  if (static_cast<int64_t>(perm.size()) != x.dim() || perm[0] != 0) {
    ctx.fail(node, "Transpose must keep the batch dim first (perm[0] = 0)");
  }
  std::vector<double> attr(perm.begin(), perm.end());
  ctx.add_node(node, "permute", {{"perm", attr}}, {ctx.value_name(node, 0)}, {},
               [perm](const std::vector<Tensor>& in) { return ops::permute(in[0], perm); });
}

// Squeeze / Unsqueeze: of a constant, folded; of a graph value, a reshape keeping the batch.
void squeeze(ImportContext& ctx, const onnx::NodeProto& node) {
  const bool unsqueeze = node.op_type() == "Unsqueeze";
  const bool is_const = ctx.is_const(node.input(0));
  Shape shape = is_const ? ctx.constant(node, 0).shape : ctx.sample(node, 0).shape();
  std::vector<int64_t> axes = axes_of(ctx, node);
  const int64_t out_rank = static_cast<int64_t>(shape.size()) +
                           (unsqueeze ? static_cast<int64_t>(axes.size()) : 0);
  for (int64_t& a : axes) a = normalize_axis(ctx, node, a, unsqueeze ? out_rank : shape.size());
  std::sort(axes.begin(), axes.end());
  if (!is_const && !axes.empty() && axes[0] == 0) ctx.fail(node, "squeezes the batch dim");
  if (unsqueeze) {
    for (int64_t a : axes) shape.insert(shape.begin() + a, 1);
  } else if (axes.empty()) {
    if (!is_const) ctx.fail(node, "Squeeze without axes of a graph value");
    std::erase(shape, 1);
  } else {
    for (auto a = axes.rbegin(); a != axes.rend(); ++a) {
      if (shape[*a] != 1) ctx.fail(node, "squeezes a dim of size " + std::to_string(shape[*a]));
      shape.erase(shape.begin() + *a);
    }
  }
  if (is_const) {
    ConstValue c = ctx.constant(node, 0);
    c.shape = shape;
    ctx.set_const(node.output(0), std::move(c));
    return;
  }
  add_reshape(ctx, node, std::vector<int64_t>(shape.begin() + 1, shape.end()));
}

void softmax(ImportContext& ctx, const onnx::NodeProto& node) {
  const Tensor& x = ctx.sample(node, 0);
  const int64_t axis =
      normalize_axis(ctx, node, attr_int(node, "axis", ctx.opset() >= 13 ? -1 : 1), x.dim());
  if (axis != x.dim() - 1 || axis == 0) ctx.fail(node, "softmax over a dim other than the last");
  const bool log = node.op_type() == "LogSoftmax";
  ctx.add_node(node, log ? "log_softmax" : "softmax", {}, {ctx.value_name(node, 0)}, {},
               [log](const std::vector<Tensor>& in) {
                 return log ? ops::log_softmax(in[0]) : ops::softmax(in[0]);
               });
}

void reduce_mean(ImportContext& ctx, const onnx::NodeProto& node) {
  const Tensor& x = ctx.sample(node, 0);
  std::vector<int64_t> axes = axes_of(ctx, node);
  if (axes.empty()) ctx.fail(node, "ReduceMean over all dims (the batch included)");
  for (int64_t& a : axes) {
    a = normalize_axis(ctx, node, a, x.dim());
    if (a == 0) ctx.fail(node, "ReduceMean over the batch dim");
  }
  const bool keep = attr_int(node, "keepdims", 1) != 0;
  std::vector<double> dims(axes.begin(), axes.end());
  ctx.add_node(node, "mean", {{"dims", dims}, {"keepdim", {keep ? 1.0 : 0.0}}},
               {ctx.value_name(node, 0)}, {}, [axes, keep](const std::vector<Tensor>& in) {
                 return ops::mean(in[0], axes, keep);
               });
}

// Split of a graph value along a non-batch axis: one slice node per output.
void split(ImportContext& ctx, const onnx::NodeProto& node) {
  const Tensor& x = ctx.sample(node, 0);
  const int64_t axis = normalize_axis(ctx, node, attr_int(node, "axis", 0), x.dim());
  if (axis == 0) ctx.fail(node, "Split along the batch dim");
  std::vector<int64_t> sizes = has_attr(node, "split") ? attr_ints(node, "split")
                               : (node.input_size() > 1 && !node.input(1).empty())
                                   ? const_ints(ctx, node, 1)
                                   : std::vector<int64_t>();
  const int64_t parts = node.output_size();
  if (sizes.empty()) {
    if (x.size(axis) % parts != 0) ctx.fail(node, "Split into unequal parts without 'split'");
    sizes.assign(static_cast<size_t>(parts), x.size(axis) / parts);
  }
  if (static_cast<int64_t>(sizes.size()) != parts) ctx.fail(node, "split sizes != outputs");
  int64_t start = 0;
  for (int64_t i = 0; i < parts; ++i) {
    onnx::NodeProto one = node;
    one.clear_output();
    one.add_output(node.output(static_cast<int>(i)));
    std::string name = node.name();
    if (i > 0) name += '_' + std::to_string(i);
    one.set_name(name);
    const int64_t end = start + sizes[static_cast<size_t>(i)];
    ctx.add_node(one, "slice", {{"dim", {double(axis)}}, {"start", {double(start)}},
                                {"end", {double(end)}}},
                 {ctx.value_name(node, 0)}, {}, [axis, start, end](const std::vector<Tensor>& in) {
                   return ops::slice(in[0], axis, start, end);
                 });
    start = end;
  }
}

// One axis of an ONNX Slice, resolved against the axis size: start and end clamped into [0, n],
// negative values counted from the end; INT64_MAX ends are "to the end".
struct SliceRange {
  int64_t axis, start, end, step;
};

int64_t clamp_index(double v, int64_t n) {
  if (v < 0) v += static_cast<double>(n);
  return static_cast<int64_t>(std::clamp(v, 0.0, static_cast<double>(n)));
}

std::vector<SliceRange> slice_ranges(ImportContext& ctx, const onnx::NodeProto& node,
                                     const Shape& shape) {
  const ConstValue &starts = ctx.constant(node, 1), &ends = ctx.constant(node, 2);
  const auto rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> axes, steps;
  if (node.input_size() > 3 && !node.input(3).empty()) axes = const_ints(ctx, node, 3);
  if (node.input_size() > 4 && !node.input(4).empty()) steps = const_ints(ctx, node, 4);
  if (axes.empty()) {
    for (size_t i = 0; i < starts.data.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(axes.size(), 1);
  if (starts.data.size() != axes.size() || ends.data.size() != axes.size() ||
      steps.size() != axes.size()) {
    ctx.fail(node, "starts, ends, axes and steps differ in length");
  }
  std::vector<SliceRange> out;
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t axis = normalize_axis(ctx, node, axes[i], rank);
    const int64_t n = shape[static_cast<size_t>(axis)];
    if (steps[i] < 1) ctx.fail(node, "Slice steps below 1 are not supported");
    const int64_t start = clamp_index(starts.data[i], n), end = clamp_index(ends.data[i], n);
    if (start == 0 && end == n && steps[i] == 1) continue;  // the whole axis
    out.push_back({axis, start, std::max(start, end), steps[i]});
  }
  return out;
}

// A Slice of a 1-D constant, folded.
void fold_slice(ImportContext& ctx, const onnx::NodeProto& node) {
  const ConstValue& c = ctx.constant(node, 0);
  if (c.shape.size() != 1) ctx.fail(node, "folding a Slice of a constant of rank > 1");
  const auto ranges = slice_ranges(ctx, node, Shape(c.shape));
  ConstValue out = c;
  if (!ranges.empty()) {
    out.data.clear();
    const SliceRange& r = ranges[0];
    for (int64_t i = r.start; i < r.end; i += r.step) out.data.push_back(c.data[size_t(i)]);
    out.shape = {static_cast<int64_t>(out.data.size())};
  }
  ctx.set_const(node.output(0), std::move(out));
}

// Slice of a graph value: one slice node per sliced axis, never the batch axis.
void slice(ImportContext& ctx, const onnx::NodeProto& node) {
  if (ctx.is_const(node.input(0))) return fold_slice(ctx, node);
  const auto ranges = slice_ranges(ctx, node, ctx.sample(node, 0).shape());
  if (ranges.empty()) return ctx.alias(node.output(0), node.input(0));
  std::string value = ctx.value_name(node, 0);
  for (size_t i = 0; i < ranges.size(); ++i) {
    const SliceRange r = ranges[i];
    if (r.axis == 0) ctx.fail(node, "Slice along the batch dim is not supported");
    onnx::NodeProto one = node;
    one.clear_output();
    one.add_output(i + 1 == ranges.size() ? node.output(0)
                                          : node.output(0) + "_axis" + std::to_string(i));
    if (i > 0) one.set_name(node.name() + "_" + std::to_string(i));
    ctx.add_node(one, "slice",
                 {{"dim", {double(r.axis)}},
                  {"start", {double(r.start)}},
                  {"end", {double(r.end)}},
                  {"step", {double(r.step)}}},
                 {value}, {}, [r](const std::vector<Tensor>& in) {
                   return ops::slice(in[0], r.axis, r.start, r.end, r.step);
                 });
    value = one.output(0);
  }
}

void identity(ImportContext& ctx, const onnx::NodeProto& node) {
  if (node.op_type() == "Dropout") {
    for (int i = 1; i < node.output_size(); ++i) {
      if (!node.output(i).empty()) ctx.fail(node, "Dropout's mask output is used");
    }
    if (attr_int(node, "training_mode", 0) != 0) ctx.fail(node, "training_mode=1");
  }
  ctx.alias(node.output(0), node.input(0));
}

void constant(ImportContext& ctx, const onnx::NodeProto& node) {
  ConstValue c;
  if (const onnx::TensorProto* t = attr_tensor(node, "value")) {
    try {
      c = read_tensor(*t);
    } catch (const std::runtime_error& e) {
      ctx.fail(node, e.what());
    }
  } else if (has_attr(node, "value_float")) {
    c.data = {attr_float(node, "value_float", 0.0f)};
  } else if (has_attr(node, "value_floats")) {
    ctx.fail(node, "value_floats is not supported (use value)");
  } else if (has_attr(node, "value_int")) {
    c.data = {static_cast<double>(attr_int(node, "value_int", 0))};
    c.is_int = true;
  } else if (has_attr(node, "value_ints")) {
    for (int64_t v : attr_ints(node, "value_ints")) c.data.push_back(static_cast<double>(v));
    c.shape = {static_cast<int64_t>(c.data.size())};
    c.is_int = true;
  } else {
    ctx.fail(node, "Constant without a value, value_float, value_int or value_ints attribute");
  }
  ctx.set_const(node.output(0), std::move(c));
}

// Shape of a graph value: [batch marker, dims...] (start / end of opset 15 applied).
void shape(ImportContext& ctx, const onnx::NodeProto& node) {
  Shape s;
  bool batch = false;
  if (ctx.is_const(node.input(0))) {
    s = ctx.constant(node, 0).shape;
  } else {
    s = ctx.sample(node, 0).shape();
    batch = true;
  }
  const int64_t rank = static_cast<int64_t>(s.size());
  int64_t start = attr_int(node, "start", 0), end = attr_int(node, "end", rank);
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
  ConstValue c;
  c.is_int = true;
  for (int64_t i = start; i < end; ++i) {
    c.data.push_back(static_cast<double>(batch && i == 0 ? kBatchDim : s[static_cast<size_t>(i)]));
  }
  c.shape = {static_cast<int64_t>(c.data.size())};
  ctx.set_const(node.output(0), std::move(c));
}

// Gather of a constant 1-D tensor (a folded shape) at constant indices.
void gather(ImportContext& ctx, const onnx::NodeProto& node) {
  if (!ctx.is_const(node.input(0))) ctx.fail(node, "Gather of a graph value is not supported");
  const ConstValue& data = ctx.constant(node, 0);
  const ConstValue& idx = ctx.constant(node, 1);
  if (data.shape.size() != 1 || attr_int(node, "axis", 0) != 0) {
    ctx.fail(node, "Gather is folded only on a 1-D constant along axis 0");
  }
  ConstValue out;
  out.is_int = data.is_int;
  out.shape = idx.shape;
  const auto n = static_cast<int64_t>(data.data.size());
  for (double v : idx.data) {
    int64_t i = static_cast<int64_t>(v);
    if (i < 0) i += n;
    if (i < 0 || i >= n) ctx.fail(node, "index " + std::to_string(i) + " out of range");
    out.data.push_back(data.data[static_cast<size_t>(i)]);
  }
  ctx.set_const(node.output(0), std::move(out));
}

// A float value rounded to `to` (FLOAT16 or BFLOAT16) and widened back, as ONNX's Cast does.
double through_half(double v, int64_t to) {
  const auto f = static_cast<float>(v);
  return to == onnx::TensorProto::FLOAT16 ? kernels::float_from_f16(kernels::f16_from_float(f))
                                          : kernels::float_from_bf16(kernels::bf16_from_float(f));
}

// Casts of constants are folded (a cast to float16 or bfloat16 rounds the values as onnxruntime
// does); a graph value cast to a float type keeps its float32 values, with a note for 16 bits.
void cast(ImportContext& ctx, const onnx::NodeProto& node) {
  const int64_t to = attr_int(node, "to", 0);
  const bool to_int = to == onnx::TensorProto::INT64 || to == onnx::TensorProto::INT32;
  const bool to_half = to == onnx::TensorProto::FLOAT16 || to == onnx::TensorProto::BFLOAT16;
  const bool to_float =
      to_half || to == onnx::TensorProto::FLOAT || to == onnx::TensorProto::DOUBLE;
  if (!to_int && !to_float) ctx.fail(node, "Cast to element type " + std::to_string(to));
  if (!ctx.is_const(node.input(0))) {
    if (!to_float) ctx.fail(node, "Cast of a graph value to an integer type");
    if (to_half) {
      ctx.note(std::string("Cast nodes to ") + half_name(static_cast<int>(to)) +
               " of computed values are imported as the identity: glassbox computes in float32");
    }
    return ctx.alias(node.output(0), node.input(0));
  }
  ConstValue c = ctx.constant(node, 0);
  if (to_int && !c.is_int) {
    for (double& v : c.data) v = std::trunc(v);
  }
  if (to_half) {
    for (double& v : c.data) v = through_half(v, to);
  }
  c.is_int = to_int;
  ctx.set_const(node.output(0), std::move(c));
}

}  // namespace

void add_shape_converters(ConverterTable& table) {
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) table[op] = arith;
  table["Concat"] = concat;
  table["Split"] = split;
  table["Slice"] = slice;
  table["Flatten"] = flatten;
  table["Reshape"] = reshape;
  table["Transpose"] = transpose;
  table["Squeeze"] = squeeze;
  table["Unsqueeze"] = squeeze;
  table["Softmax"] = softmax;
  table["LogSoftmax"] = softmax;
  table["ReduceMean"] = reduce_mean;
  table["Dropout"] = identity;
  table["Identity"] = identity;
  table["Constant"] = constant;
  table["Shape"] = shape;
  table["Gather"] = gather;
  table["Cast"] = cast;
}

}  // namespace gb::models::onnx_import
