// Layer table: hooks for output shapes, graph walk for MACs.
#include "models/summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "runtime/autograd.h"

namespace gb::models {
namespace {
// Multiply-accumulates of one recorded node.
int64_t node_macs(const Node& n) {
  if (n.op == OpId::Conv2d && n.input_shapes.size() >= 2) {
    const Shape& w = n.input_shapes[1];  // [K, C/G, R, S]
    return shape_numel(n.output_shape) * w[1] * w[2] * w[3];
  }
  if (n.op == OpId::Linear && n.input_shapes.size() >= 2) {
    return shape_numel(n.output_shape) * n.input_shapes[1][1];
  }
  if (n.op == OpId::MatMul && !n.input_shapes.empty()) {  // [..., M, K] x [..., K, N]
    return shape_numel(n.output_shape) * n.input_shapes[0].back();
  }
  return 0;
}
}  // namespace

ModelSummary summarize(Module& model, const Shape& input_shape) {
  ModelSummary s;
  s.input_shape = input_shape;
  model.eval();
  std::map<std::string, Shape> out_shapes;
  std::vector<std::pair<Module*, int>> hooked;
  for (auto& [name, m] : model.named_modules()) {
    const std::string key = name;
    int id = m->add_forward_hook([&out_shapes, key](Module&, const Tensor&, const Tensor& out) {
      out_shapes[key] = out.shape();
      return Tensor();
    });
    hooked.emplace_back(m, id);
  }
  Shape batch_shape{1};
  batch_shape.insert(batch_shape.end(), input_shape.begin(), input_shape.end());
  Tensor x = Tensor::zeros(batch_shape);
  Tensor y = model(x);  // parameters require grad, so the graph is recorded
  for (auto& [m, id] : hooked) m->remove_hook(id);

  std::map<std::string, int64_t> macs;
  for (const auto& node : walk_graph(y)) macs[node->module] += node_macs(*node);

  for (auto& [name, m] : model.named_modules()) {
    LayerRow r;
    r.name = name.empty() ? "(model)" : name;
    r.type = m->type_name();
    r.detail = m->describe();
    r.depth = name.empty() ? 0 : static_cast<int>(std::count(name.begin(), name.end(), '.')) + 1;
    if (auto it = out_shapes.find(name); it != out_shapes.end()) r.output_shape = it->second;
    for (const auto& [pn, t] : m->named_parameters()) {
      // own parameters only: names directly under this module
      const std::string local = name.empty() ? pn : pn.substr(name.size() + 1);
      if (local.find('.') == std::string::npos) r.params += t.numel();
    }
    if (auto it = macs.find(name); it != macs.end()) r.macs = it->second;
    s.total_params += r.params;
    s.total_macs += r.macs;
    s.rows.push_back(r);
  }
  return s;
}

std::string format_summary(const ModelSummary& s, const std::string& title) {
  std::string out = fmt::format("{}  (input {})\n", title, shape_str(s.input_shape));
  size_t wn = 5;
  for (const auto& r : s.rows) wn = std::max(wn, r.name.size() + static_cast<size_t>(r.depth));
  out += fmt::format("{:<{}}  {:<14} {:<22} {:<18} {:>11} {:>13}\n", "layer", wn, "type", "detail",
                     "output", "params", "MACs");
  out += std::string(wn + 84, '-') + "\n";
  for (const auto& r : s.rows) {
    const std::string indented = std::string(static_cast<size_t>(r.depth), ' ') + r.name;
    out += fmt::format("{:<{}}  {:<14} {:<22} {:<18} {:>11} {:>13}\n", indented, wn, r.type,
                       r.detail, shape_str(r.output_shape), r.params, r.macs);
  }
  out += std::string(wn + 84, '-') + "\n";
  out += fmt::format("total parameters {}  ({:.3f} M)\ntotal MACs per image {}  ({:.2f} M)\n",
                     s.total_params, static_cast<double>(s.total_params) / 1e6, s.total_macs,
                     static_cast<double>(s.total_macs) / 1e6);
  return out;
}

}  // namespace gb::models
