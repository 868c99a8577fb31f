// run_graph: output paths checked first, the model loaded or built, traced, written as DOT and
// (through Graphviz) SVG, each file atomically. Shape letters: C channels, H/W image size.
#include "models/training/graph_job.h"

#include <fmt/format.h>

#include <stdexcept>

#include "models/model_graph.h"
#include "models/training/checkpoint_meta.h"
#include "runtime/output_path.h"

namespace gb::training {
namespace {

void check_output(const std::filesystem::path& path, bool overwrite) {
  refuse_directory(path);
  refuse_existing(path, overwrite);
  require_parent_directory(path, "--out");
}

}  // namespace

GraphReport run_graph(const GraphJob& job) {
  const std::string ext = job.out.extension().string();
  if (ext != ".dot" && ext != ".svg") {
    throw std::runtime_error(job.out.string() + ": --out must end in .dot or .svg");
  }
  GraphReport r;
  const bool svg_only = ext == ".svg";
  const bool graphviz = (svg_only || job.svg) && models::render_svg("digraph {}").has_value();
  if (svg_only && !graphviz) {
    throw std::runtime_error(job.out.string() +
                             ": SVG output needs Graphviz's `dot` on the PATH (apt-get install "
                             "graphviz), or write .dot");
  }
  if (!svg_only) r.dot_file = job.out;
  if (svg_only || (job.svg && graphviz)) {
    r.svg_file = std::filesystem::path(job.out).replace_extension(".svg");
  }
  r.graphviz_missing = !svg_only && job.svg && !graphviz;
  if (!r.dot_file.empty()) check_output(r.dot_file, job.overwrite);
  if (!r.svg_file.empty() && r.svg_file != r.dot_file) check_output(r.svg_file, job.overwrite);

  LoadedModel lm = load_or_build_model(job.checkpoint, job.model, job.config, job.seed, "graph");
  models::ModelGraph graph;
  try {
    graph = models::trace_model_graph(*lm.model, lm.meta.input_shape);
  } catch (const std::exception& e) {
    throw std::runtime_error((job.model.empty() ? job.checkpoint.string() : job.model) + ": " +
                             e.what());
  }
  r.model_name = lm.meta.model_name;
  r.nodes = static_cast<int64_t>(graph.nodes.size());
  for (const auto& p : lm.model->parameters()) r.parameters += p.numel();
  const std::string title =
      fmt::format("{} ({} ops, {} parameters)", r.model_name, r.nodes, r.parameters);
  const std::string dot = models::graph_to_dot(graph, title);
  // Rendered before anything is written: a Graphviz failure leaves no file behind.
  const std::string svg = r.svg_file.empty() ? "" : models::render_svg(dot).value_or("");
  if (!r.dot_file.empty()) write_file_atomically(r.dot_file, dot, job.overwrite);
  if (!r.svg_file.empty()) write_file_atomically(r.svg_file, svg, job.overwrite);
  return r;
}

std::string format_graph_report(const GraphReport& r) {
  std::string out = fmt::format("{}: {} ops, {} parameters\n", r.model_name, r.nodes, r.parameters);
  if (!r.dot_file.empty()) out += fmt::format("wrote {}\n", r.dot_file.string());
  if (!r.svg_file.empty()) out += fmt::format("wrote {}\n", r.svg_file.string());
  if (r.graphviz_missing) out += "no SVG: Graphviz's `dot` is not installed\n";
  return out;
}

}  // namespace gb::training
