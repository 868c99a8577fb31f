// The report's layer table, graph and pruning comparison (see report_model.h).
// Shape letters: C channels, H/W image size.
#include "interp/report/report_model.h"

#include <fmt/format.h>

#include <map>
#include <optional>
#include <stdexcept>

#include "models/model_graph.h"
#include "models/registry.h"

namespace gb::interp::report {
namespace {
using json = nlohmann::json;

std::string shape_text(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

// The graph as a drawing when dot works, else as a list of nodes with the reason.
void describe_graph(Module& model, const training::CheckpointMeta& meta, bool draw, ReportData& d) {
  const models::ModelGraph g = models::trace_model_graph(model, meta.input_shape);
  for (const auto& n : g.nodes) {
    d.graph_nodes.push_back(fmt::format("{}  {}  {}", n.module.empty() ? "(model)" : n.module, n.op,
                                        shape_text(n.output_shape)));
  }
  if (!draw) {
    d.graph_note = "--graph-text asked for a list";
    return;
  }
  try {
    const std::optional<std::string> svg =
        models::render_svg(models::graph_to_dot(g, meta.model_name));
    const size_t start = svg ? svg->find("<svg") : std::string::npos;
    if (!svg) {
      d.graph_note = "Graphviz (dot) is not installed; tools/setup.sh installs it";
    } else if (start == std::string::npos) {
      d.graph_note = "Graphviz printed no <svg> element";
    } else {
      d.graph_svg = svg->substr(start);  // without the XML prologue and doctype
    }
  } catch (const std::runtime_error& e) {
    d.graph_note = e.what();
  }
}

void add_structured(PruningView& v, const json& source_config, const std::string& model_name,
                    const Shape& input_shape, const models::ModelSummary& after) {
  const auto before_model =
      models::build_model(model_name, source_config.get<models::ModelConfig>());
  const models::ModelSummary before = models::summarize(*before_model, input_shape);
  std::map<std::string, const models::LayerRow*> by_name;
  for (const auto& row : after.rows) by_name[row.name] = &row;
  for (const auto& row : before.rows) {
    if (row.params == 0 && row.macs == 0) continue;
    PrunedLayer l;
    l.name = row.name;
    l.type = row.type;
    l.detail_before = row.detail;
    l.params_before = row.params;
    l.macs_before = row.macs;
    l.macs_after = 0;
    if (const auto it = by_name.find(row.name); it != by_name.end()) {
      l.detail_after = it->second->detail;
      l.params_after = it->second->params;
      l.macs_after = it->second->macs;
    }
    v.layers.push_back(l);
  }
  v.params_before = before.total_params;
  v.macs_before = before.total_macs;
}

// Same architecture: the model's parameters before, its non-zero ones after.
void add_unstructured(PruningView& v, const json& layers, const models::ModelSummary& after) {
  v.params_before = v.params_after = after.total_params;
  v.macs_before = v.macs_after = after.total_macs;
  for (const auto& p : layers) {
    PrunedLayer l;
    l.name = p.value("param", std::string("?"));
    l.type = "parameter";
    l.params_before = p.value("numel", int64_t{0});
    l.params_after = l.params_before - p.value("zeros", int64_t{0});
    v.layers.push_back(l);
    v.params_after -= l.params_before - l.params_after;
  }
}

}  // namespace

PruningView pruning_view(const training::CheckpointMeta& meta, const models::ModelSummary& after) {
  PruningView v;
  v.section = meta.json.value("pruning", json::object());
  v.mode = v.section.value("mode", std::string());
  v.params_after = after.total_params;
  v.macs_after = after.total_macs;
  if (v.mode == "unstructured" && v.section.contains("layers")) {
    try {
      add_unstructured(v, v.section["layers"], after);
    } catch (const json::exception& e) {  // a malformed record: say so on the page
      v.layers.clear();
      v.note = std::string("the pruning record's layers are malformed: ") + e.what();
    }
  } else if (v.section.contains("source_model_config")) {
    try {
      add_structured(v, v.section["source_model_config"], meta.model_name, meta.input_shape, after);
    } catch (const std::exception& e) {
      v.layers.clear();
      v.note = std::string("the source architecture could not be rebuilt: ") + e.what();
    }
  } else {
    v.note = "the pruning record lists no source architecture";
  }
  return v;
}

void describe_model(Module& model, const training::CheckpointMeta& meta, bool draw_graph,
                    ReportData& d) {
  d.summary = models::summarize(model, meta.input_shape);
  describe_graph(model, meta, draw_graph, d);
  model.eval();
  d.pruned = meta.json.contains("pruning");
  if (d.pruned) d.pruning = pruning_view(meta, d.summary);
}

}  // namespace gb::interp::report
