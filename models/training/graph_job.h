// The job behind `glassbox graph`: a checkpoint's model (or a fresh zoo model) traced into its
// dataflow graph (models/model_graph.h) and written as Graphviz DOT, with an SVG rendering beside
// it when Graphviz is installed. Shape letters: C channels, H/W image size.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "models/model_config.h"

namespace gb::training {

struct GraphJob {
  std::filesystem::path checkpoint;  // the model, or empty with `model`
  std::string model;                 // instead: a zoo model initialised from `seed` with `config`
  models::ModelConfig config;
  uint64_t seed = 0;
  // "<name>.dot" writes DOT, plus "<name>.svg" when Graphviz is installed and `svg` is set;
  // "<name>.svg" writes only the SVG (Graphviz required).
  std::filesystem::path out;
  bool svg = true;
  bool overwrite = false;
};

struct GraphReport {
  std::filesystem::path dot_file, svg_file;  // empty when not written
  std::string model_name;
  int64_t nodes = 0, parameters = 0;
  bool graphviz_missing = false;  // an SVG beside the .dot was wanted but `dot` is not installed
};

// requires: exactly one of checkpoint and model.
// throws: std::runtime_error naming the file and the cause before any work: an --out that is not
// .dot or .svg, an existing output without overwrite, a missing directory, an .svg asked for
// without Graphviz; then what loading or tracing the model throws (naming the checkpoint).
GraphReport run_graph(const GraphJob& job);

std::string format_graph_report(const GraphReport& report);

}  // namespace gb::training
