// GraphOp: one node of a graph model that is not a layer with weights, run from a table of ops
// (name -> inputs, attribute check, computation). The attributes each op takes:
//   max_pool2d, avg_pool2d  kernel stride padding (one value, or [h, w] each), optional ceil_mode
//                 and count_include_pad (0/1; defaults 0 and 1)
//   global_avg_pool  keepdims (1: [N,C,1,1] as ONNX; 0: [N,C])
//   global_max_pool  (none; [N,C,1,1])
//   reshape       shape (the dims after the batch dim, one may be -1)
//   slice         dim start end (a range of one non-batch dim)
//   permute       perm (all dims; perm[0] = 0, the batch stays first)
//   concat        axis
//   mean          dims keepdim
//   scale         factor
//   clamp         lo hi (+-inf for a missing bound)
//   leaky_relu    alpha;  hardsigmoid  alpha beta
//   pad2d         pads [top, left, bottom, right] value
//   prelu         channels (its parameter "weight" [channels] is the slope)
//   relu gelu sigmoid tanh hardswish softmax log_softmax add sub mul div matmul   (none; the
//                 softmax family over the last dim; matmul of two values, ops::matmul)
// Shape letters: N batch, C channels, H/W height/width.
#include <functional>
#include <limits>
#include <stdexcept>
#include <utility>

#include "models/graph/graph_module.h"
#include "runtime/ops.h"

namespace gb::models {
namespace {

[[noreturn]] void bad_node(const std::string& op, const std::string& what) {
  throw std::invalid_argument("graph op '" + op + "': " + what);
}

struct Attrs {
  const GraphAttrs& a;
  const std::string& op;
  const std::vector<double>& all(const std::string& name) const {
    const auto it = a.find(name);
    if (it == a.end() || it->second.empty()) bad_node(op, "missing attribute '" + name + "'");
    return it->second;
  }
  int64_t i(const std::string& name) const { return static_cast<int64_t>(all(name)[0]); }
  float f(const std::string& name) const { return static_cast<float>(all(name)[0]); }
  std::vector<int64_t> ints(const std::string& name) const {
    std::vector<int64_t> out;
    for (double v : all(name)) out.push_back(static_cast<int64_t>(v));
    return out;
  }
  int64_t i_or(const std::string& name, int64_t fallback) const {
    return a.count(name) && !a.at(name).empty() ? i(name) : fallback;
  }
  // [h, w] from one value or two.
  std::pair<int64_t, int64_t> hw(const std::string& name) const {
    const std::vector<int64_t> v = ints(name);
    if (v.size() > 2) bad_node(op, "attribute '" + name + "' takes one or two values");
    return {v[0], v.size() == 2 ? v[1] : v[0]};
  }
};

ops::Pool2dOptions pool_options(const Attrs& a) {
  const auto [kh, kw] = a.hw("kernel");
  const auto [sh, sw] = a.hw("stride");
  const auto [ph, pw] = a.hw("padding");
  return {kh, kw, sh, sw, ph, pw, a.i_or("ceil_mode", 0) != 0,
          a.i_or("count_include_pad", 1) != 0};
}

using Inputs = std::vector<Tensor>;
struct OpSpec {
  int inputs;  // 1, 2, or -1 (any number >= 1)
  std::function<void(const Attrs&)> check;
  std::function<Tensor(const Attrs&, const Inputs&, const Tensor& weight)> run;
};

void no_check(const Attrs&) {}

Tensor pointwise(const std::string& op, const Attrs& a, const Tensor& x) {
  if (op == "relu") return ops::relu(x);
  if (op == "gelu") return ops::gelu(x);
  if (op == "sigmoid") return ops::sigmoid(x);
  if (op == "tanh") return ops::tanh(x);
  if (op == "hardswish") return ops::hardswish(x);
  if (op == "clamp") return ops::clamp(x, a.f("lo"), a.f("hi"));
  if (op == "leaky_relu") return ops::leaky_relu(x, a.f("alpha"));
  if (op == "hardsigmoid") return ops::hardsigmoid(x, a.f("alpha"), a.f("beta"));
  if (op == "softmax") return ops::softmax(x);
  if (op == "log_softmax") return ops::log_softmax(x);
  if (op == "scale") return ops::scale(x, a.f("factor"));
  bad_node(op, "not a pointwise op");
}

OpSpec pointwise_spec(std::vector<std::string> attrs) {
  return {1, [attrs](const Attrs& a) { for (const auto& n : attrs) a.all(n); },
          [](const Attrs& a, const Inputs& in, const Tensor&) { return pointwise(a.op, a, in[0]); }};
}

OpSpec binary_spec(Tensor (*fn)(const Tensor&, const Tensor&)) {
  return {2, no_check, [fn](const Attrs&, const Inputs& in, const Tensor&) {
            return fn(in[0], in[1]);
          }};
}

Tensor global_avg_pool(const Attrs& a, const Inputs& in, const Tensor&) {
  const Tensor y = ops::global_avg_pool(in[0]);
  return a.i_or("keepdims", 0) != 0 ? ops::reshape(y, {y.size(0), y.size(1), 1, 1}) : y;
}

Tensor global_max_pool(const Attrs&, const Inputs& in, const Tensor&) {
  const Tensor& x = in[0];
  return ops::max_pool2d(x, {x.size(2), x.size(3), 1, 1, 0, 0});
}

Tensor reshape(const Attrs& a, const Inputs& in, const Tensor&) {
  Shape shape{in[0].size(0)};
  for (int64_t d : a.ints("shape")) shape.push_back(d);
  return ops::reshape(in[0], shape);
}

Tensor pad2d(const Attrs& a, const Inputs& in, const Tensor&) {
  const std::vector<int64_t> p = a.ints("pads");
  return ops::pad2d(in[0], p[0], p[1], p[2], p[3], a.f("value"));
}

const std::map<std::string, OpSpec>& op_specs() {
  static const std::map<std::string, OpSpec> specs = {
      {"relu", pointwise_spec({})},
      {"gelu", pointwise_spec({})},
      {"sigmoid", pointwise_spec({})},
      {"tanh", pointwise_spec({})},
      {"hardswish", pointwise_spec({})},
      {"softmax", pointwise_spec({})},
      {"log_softmax", pointwise_spec({})},
      {"clamp", pointwise_spec({"lo", "hi"})},
      {"leaky_relu", pointwise_spec({"alpha"})},
      {"hardsigmoid", pointwise_spec({"alpha", "beta"})},
      {"scale", pointwise_spec({"factor"})},
      {"max_pool2d", {1, [](const Attrs& a) { pool_options(a); },
                      [](const Attrs& a, const Inputs& in, const Tensor&) {
                        return ops::max_pool2d(in[0], pool_options(a));
                      }}},
      {"avg_pool2d", {1, [](const Attrs& a) { pool_options(a); },
                      [](const Attrs& a, const Inputs& in, const Tensor&) {
                        return ops::avg_pool2d(in[0], pool_options(a));
                      }}},
      {"global_avg_pool", {1, no_check, global_avg_pool}},
      {"global_max_pool", {1, no_check, global_max_pool}},
      {"reshape", {1, [](const Attrs& a) { a.all("shape"); }, reshape}},
      {"permute", {1, [](const Attrs& a) {
                     if (a.ints("perm")[0] != 0) bad_node(a.op, "perm must keep the batch first");
                   },
                   [](const Attrs& a, const Inputs& in, const Tensor&) {
                     return ops::permute(in[0], a.ints("perm"));
                   }}},
      {"slice", {1, [](const Attrs& a) {
                   if (a.i("dim") < 1) bad_node(a.op, "dim must not be the batch dim");
                   a.i("start");
                   a.i("end");
                   if (a.i_or("step", 1) < 1) bad_node(a.op, "step must be >= 1");
                 },
                 [](const Attrs& a, const Inputs& in, const Tensor&) {
                   return ops::slice(in[0], a.i("dim"), a.i("start"), a.i("end"),
                                     a.i_or("step", 1));
                 }}},
      {"mean", {1, [](const Attrs& a) {
                  a.all("dims");
                  a.i("keepdim");
                },
                [](const Attrs& a, const Inputs& in, const Tensor&) {
                  return ops::mean(in[0], a.ints("dims"), a.i("keepdim") != 0);
                }}},
      {"pad2d", {1, [](const Attrs& a) {
                   if (a.ints("pads").size() != 4) bad_node(a.op, "pads takes 4 values");
                   a.f("value");
                 },
                 pad2d}},
      {"prelu", {1, [](const Attrs& a) { a.i("channels"); },
                 [](const Attrs&, const Inputs& in, const Tensor& w) {
                   return ops::prelu(in[0], w);
                 }}},
      {"add", binary_spec(ops::add)},
      {"sub", binary_spec(ops::sub)},
      {"mul", binary_spec(ops::mul)},
      {"div", binary_spec(ops::div)},
      {"matmul", binary_spec(ops::matmul)},
      {"concat", {-1, [](const Attrs& a) { a.i("axis"); },
                  [](const Attrs& a, const Inputs& in, const Tensor&) {
                    return ops::concat(in, a.i("axis"));
                  }}},
  };
  return specs;
}

const OpSpec& spec_of(const std::string& op) {
  const auto it = op_specs().find(op);
  if (it == op_specs().end()) bad_node(op, "not an op a graph node can run");
  return it->second;
}

}  // namespace

bool is_graph_op(const std::string& op) { return op_specs().count(op) > 0; }

GraphOp::GraphOp(std::string op, GraphAttrs attrs) : op_(std::move(op)), attrs_(std::move(attrs)) {
  spec_of(op_).check(Attrs{attrs_, op_});  // a bad spec fails when the model is built
  if (op_ == "prelu") {
    register_parameter("weight", Tensor::full({Attrs{attrs_, op_}.i("channels")}, 0.25f));
  }
}

bool GraphOp::single_input() const { return spec_of(op_).inputs == 1; }

Tensor GraphOp::forward(const Tensor& x) {
  if (!single_input()) throw std::logic_error("graph op '" + op_ + "' takes several inputs");
  return run({x});
}

Tensor GraphOp::run(const std::vector<Tensor>& in) {
  const OpSpec& s = spec_of(op_);
  if (in.empty() || (s.inputs > 0 && static_cast<int>(in.size()) != s.inputs)) {
    bad_node(op_, "wrong number of inputs");
  }
  return s.run(Attrs{attrs_, op_}, in, op_ == "prelu" ? local_tensor("weight") : Tensor());
}

}  // namespace gb::models
