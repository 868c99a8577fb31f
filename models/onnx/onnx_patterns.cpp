// Subgraphs the importer converts as one runtime op, found before the nodes are converted: the
// exact GELU torch.onnx writes below opset 20 (and tf2onnx / hand-written exports in the same
// algebra), x * 0.5 * (1 + Erf(x / sqrt(2))), folded into one `gelu` node (glassbox's gelu is the
// exact erf form). Recognised node orders, each operand order of Add / Mul either way round:
//   Div(x, 1.4142135) or Mul(x, 0.70710677)  ->  Erf  ->  Add(., 1)  then one of
//     Mul(Mul(x, a), 0.5)     torch.onnx's own symbolic
//     Mul(x, Mul(a, 0.5))
//     Mul(Mul(x, 0.5), a)     x * 0.5 * (...) written in Python
// where a is the Add's output. Every intermediate value must be read only inside the pattern
// (otherwise nothing is folded, and the Erf is an error naming its node). Constants may be
// initializers or Constant nodes anywhere in the graph. An Erf outside the pattern is an error.
// Also a linear layer on tokens, MatMul(x, W') + Add(., b), as one `linear` node with a bias: W'
// a constant [I, O] (an initializer, or a Transpose of a [O, I] initializer as glassbox's export
// writes nn.Linear on [N, T, I]), b a constant of O values, the MatMul read only by the Add.
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "models/onnx/onnx_converters.h"
#include "runtime/ops.h"

namespace gb::models::onnx_import {
namespace {

// Who writes and who reads each value of the graph, by node index.
struct GraphIndex {
  const onnx::GraphProto& g;
  std::map<std::string, int> producer;
  std::map<std::string, std::vector<int>> consumers;
  std::map<const onnx::NodeProto*, int> index;  // nodes are not contiguous in a RepeatedPtrField

  explicit GraphIndex(const onnx::GraphProto& graph) : g(graph) {
    for (int i = 0; i < g.node_size(); ++i) {
      index[&g.node(i)] = i;
      for (const std::string& out : g.node(i).output()) producer[out] = i;
      for (const std::string& in : g.node(i).input()) consumers[in].push_back(i);
    }
  }
  // The node writing `value` if it has op_type `op`.
  const onnx::NodeProto* made_by(const std::string& value, const char* op) const {
    const auto it = producer.find(value);
    if (it == producer.end() || g.node(it->second).op_type() != op) return nullptr;
    return &g.node(it->second);
  }
  // The one node reading `value`, if exactly one does and it has op_type `op`; the graph output
  // counts as a reader.
  const onnx::NodeProto* only_reader(const std::string& value, const char* op) const {
    for (const auto& o : g.output()) {
      if (o.name() == value) return nullptr;
    }
    const auto it = consumers.find(value);
    if (it == consumers.end() || it->second.size() != 1) return nullptr;
    const onnx::NodeProto& n = g.node(it->second[0]);
    return n.op_type() == op ? &n : nullptr;
  }
  int index_of(const onnx::NodeProto* n) const { return index.at(n); }
};

// The value of a one-element float constant (an initializer or a Constant node's value), if
// `value` is one.
std::optional<double> scalar(const ImportContext& ctx, const GraphIndex& gi,
                             const std::string& value) {
  ConstValue c;
  if (const ConstValue* known = ctx.find_const(value)) {
    c = *known;
  } else if (const onnx::NodeProto* k = gi.made_by(value, "Constant")) {
    if (has_attr(*k, "value_float")) return attr_float(*k, "value_float", 0.0f);
    const onnx::TensorProto* t = attr_tensor(*k, "value");
    if (!t) return std::nullopt;
    try {
      c = read_tensor(*t);
    } catch (const std::runtime_error&) {
      return std::nullopt;
    }
  } else {
    return std::nullopt;
  }
  if (c.data.size() != 1) return std::nullopt;
  return c.data[0];
}

bool near(std::optional<double> v, double want) {
  return v && std::fabs(*v - want) <= 1e-6 * std::fabs(want);
}

// The other input of a two-input node whose input `one` is the scalar `want`; "" if neither is.
std::string other_than_scalar(const ImportContext& ctx, const GraphIndex& gi,
                              const onnx::NodeProto& n, double want) {
  if (n.input_size() != 2) return "";
  if (near(scalar(ctx, gi, n.input(1)), want)) return n.input(0);
  if (near(scalar(ctx, gi, n.input(0)), want)) return n.input(1);
  return "";
}

// The other input of a two-input node, given one of them; "" if `one` is not an input.
std::string other_input(const onnx::NodeProto& n, const std::string& one) {
  if (n.input_size() != 2) return "";
  if (n.input(0) == one) return n.input(1);
  if (n.input(1) == one) return n.input(0);
  return "";
}

struct GeluMatch {
  std::string x, out;
  std::vector<int> nodes;  // the pattern's nodes; the gelu is added at the last
};

// x for the Erf's input x / sqrt(2) (a Div or a Mul read only by the Erf), or "".
std::string erf_argument(const ImportContext& ctx, const GraphIndex& gi, const onnx::NodeProto& erf,
                         std::vector<int>& nodes) {
  if (erf.input_size() != 1 || !gi.only_reader(erf.input(0), "Erf")) return "";
  const double sqrt2 = std::sqrt(2.0);
  if (const onnx::NodeProto* d = gi.made_by(erf.input(0), "Div")) {
    if (d->input_size() != 2 || !near(scalar(ctx, gi, d->input(1)), sqrt2)) return "";
    nodes.push_back(gi.index_of(d));
    return d->input(0);
  }
  if (const onnx::NodeProto* m = gi.made_by(erf.input(0), "Mul")) {
    const std::string x = other_than_scalar(ctx, gi, *m, 1.0 / sqrt2);
    if (!x.empty()) nodes.push_back(gi.index_of(m));
    return x;
  }
  return "";
}

// Completes the match from a = 1 + erf(...): the two Muls by x and 0.5 in any order.
bool match_products(const ImportContext& ctx, const GraphIndex& gi, const std::string& a,
                    GeluMatch& m) {
  const onnx::NodeProto* m1 = gi.only_reader(a, "Mul");
  if (!m1) return false;
  const std::string other = other_input(*m1, a);
  if (other.empty()) return false;
  m.nodes.push_back(gi.index_of(m1));
  if (other == m.x) {  // Mul(Mul(x, a), 0.5)
    const onnx::NodeProto* m2 = gi.only_reader(m1->output(0), "Mul");
    if (!m2 || other_than_scalar(ctx, gi, *m2, 0.5) != m1->output(0)) return false;
    m.nodes.push_back(gi.index_of(m2));
    m.out = m2->output(0);
    return true;
  }
  if (near(scalar(ctx, gi, other), 0.5)) {  // Mul(x, Mul(a, 0.5))
    const onnx::NodeProto* m2 = gi.only_reader(m1->output(0), "Mul");
    if (!m2 || other_input(*m2, m1->output(0)) != m.x) return false;
    m.nodes.push_back(gi.index_of(m2));
    m.out = m2->output(0);
    return true;
  }
  // Mul(Mul(x, 0.5), a): `other` is x * 0.5, read only here.
  const onnx::NodeProto* h = gi.made_by(other, "Mul");
  if (!h || !gi.only_reader(other, "Mul") || other_than_scalar(ctx, gi, *h, 0.5) != m.x) {
    return false;
  }
  m.nodes.push_back(gi.index_of(h));
  m.out = m1->output(0);
  return true;
}

std::optional<GeluMatch> match_gelu(const ImportContext& ctx, const GraphIndex& gi,
                                    const onnx::NodeProto& erf) {
  GeluMatch m;
  m.x = erf_argument(ctx, gi, erf, m.nodes);
  if (m.x.empty() || ctx.is_const(m.x)) return std::nullopt;
  m.nodes.push_back(gi.index_of(&erf));
  const onnx::NodeProto* add = gi.only_reader(erf.output(0), "Add");
  if (!add || other_than_scalar(ctx, gi, *add, 1.0) != erf.output(0)) return std::nullopt;
  m.nodes.push_back(gi.index_of(add));
  if (!match_products(ctx, gi, add->output(0), m)) return std::nullopt;
  return m;
}

void add_gelu(ImportContext& ctx, const onnx::NodeProto& erf, const GeluMatch& m) {
  onnx::NodeProto gelu;  // named after the Erf: "/block/act/Erf" -> path "block.act"
  gelu.set_op_type("Gelu");
  gelu.set_name(erf.name());
  gelu.add_input(m.x);
  gelu.add_output(m.out);
  ctx.add_node(gelu, "gelu", {}, {ctx.value_name(gelu, 0)}, {},
               [](const std::vector<Tensor>& in) { return ops::gelu(in[0]); });
}

struct LinearMatch {
  int matmul, add;
  std::string bias, weight_init;  // weight_init: the [O, I] initializer behind a Transpose
};

std::optional<LinearMatch> match_linear(const ImportContext& ctx, const GraphIndex& gi,
                                        const onnx::NodeProto& mm) {
  if (mm.input_size() != 2 || ctx.is_const(mm.input(0))) return std::nullopt;
  int64_t out_features = 0;
  std::string init;
  if (const ConstValue* c = ctx.find_const(mm.input(1))) {
    if (c->shape.size() != 2) return std::nullopt;
    out_features = c->shape[1];
  } else if (const onnx::NodeProto* t = gi.made_by(mm.input(1), "Transpose")) {
    const ConstValue* c = ctx.find_const(t->input(0));
    const std::vector<int64_t> perm = attr_ints(*t, "perm");
    if (!c || c->shape.size() != 2 || (!perm.empty() && perm != std::vector<int64_t>{1, 0})) {
      return std::nullopt;
    }
    out_features = c->shape[0];
    init = t->input(0);
  } else {
    return std::nullopt;
  }
  const onnx::NodeProto* add = gi.only_reader(mm.output(0), "Add");
  if (!add || add->input_size() != 2) return std::nullopt;
  const std::string& bias = add->input(0) == mm.output(0) ? add->input(1) : add->input(0);
  const ConstValue* b = ctx.find_const(bias);
  if (!b || b->is_int || b->shape.size() != 1 || b->shape[0] != out_features) return std::nullopt;
  return LinearMatch{gi.index_of(&mm), gi.index_of(add), bias, init};
}

void find_linear_patterns(const ImportContext& ctx, const GraphIndex& gi, PatternPlan& plan) {
  for (int i = 0; i < gi.g.node_size(); ++i) {
    const onnx::NodeProto& mm = gi.g.node(i);
    if (mm.op_type() != "MatMul" || !mm.domain().empty()) continue;
    const std::optional<LinearMatch> m = match_linear(ctx, gi, mm);
    if (!m) continue;
    plan.skip.insert(m->matmul);
    const onnx::NodeProto& add = gi.g.node(m->add);
    plan.replace[m->add] = [&mm, &add, m = *m](ImportContext& c) {
      onnx::NodeProto node = mm;  // the MatMul with the bias as a third input, writing the Add's
      node.set_output(0, add.output(0));  // output
      node.add_input(m.bias);
      add_linear(c, node);
      std::map<std::string, std::string> sources{{"bias", m.bias}};
      if (!m.weight_init.empty()) sources["weight"] = m.weight_init;
      c.set_sources(sources);
    };
  }
}

}  // namespace

PatternPlan find_patterns(const ImportContext& ctx, const onnx::GraphProto& g) {
  PatternPlan plan;
  const GraphIndex gi(g);
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& erf = g.node(i);
    if (erf.op_type() != "Erf" || !erf.domain().empty()) continue;
    const std::optional<GeluMatch> m = match_gelu(ctx, gi, erf);
    if (!m) continue;
    int last = m->nodes[0];
    for (int n : m->nodes) last = std::max(last, n);
    for (int n : m->nodes) plan.skip.insert(n);
    plan.skip.erase(last);
    plan.replace[last] = [&erf, m = *m](ImportContext& c) { add_gelu(c, erf, m); };
  }
  find_linear_patterns(ctx, gi, plan);
  return plan;
}

void add_pattern_converters(ConverterTable& table) {
  table["Erf"] = [](ImportContext& ctx, const onnx::NodeProto& node) {
    ctx.fail(node,
             "Erf is imported only as part of the exact GELU x * 0.5 * (1 + Erf(x / "
             "sqrt(2))), and this one is not (a standalone Erf is not supported)");
  };
}

}  // namespace gb::models::onnx_import
