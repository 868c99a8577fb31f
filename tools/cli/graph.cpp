// `glassbox graph`: a checkpoint's (or zoo) model as a Graphviz DOT graph with output shapes,
// and SVG when Graphviz is installed (models/training/graph_job.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "models/training/graph_job.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

struct GraphCommand {
  training::GraphJob job;
  ZooModelOptions zoo;
  bool no_svg = false;
};

void run(GraphCommand& c) {
  if (c.job.checkpoint.empty() && c.zoo.name.empty()) {
    throw std::runtime_error("graph: give --checkpoint or --model");
  }
  apply_input_size(c.zoo);
  c.job.model = c.zoo.name;
  c.job.config = c.zoo.config;
  c.job.seed = c.zoo.seed;
  c.job.svg = !c.no_svg;
  std::cout << training::format_graph_report(training::run_graph(c.job));
}

}  // namespace

Command add_graph(CLI::App& cli, SharedOptions& shared) {
  auto c = std::make_shared<GraphCommand>();
  auto* app = cli.add_subcommand(
      "graph", "draw a model's dataflow graph (Graphviz DOT, and SVG when dot is installed)");
  auto* ck = app->add_option("--checkpoint", c->job.checkpoint, "the model (.safetensors)");
  ck->excludes(add_zoo_model_options(*app, c->zoo));
  add_no_verify_option(*app, shared);
  app->add_option("--out", c->job.out, "model.dot (plus model.svg beside it) or model.svg")
      ->required();
  app->add_flag("--no-svg", c->no_svg, "with a .dot --out: no SVG beside it");
  app->add_flag("--overwrite", c->job.overwrite, "replace existing output files");
  return {app, [c] { run(*c); }};
}

}  // namespace gb::cli
