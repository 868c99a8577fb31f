// `glassbox export`: a checkpoint, or a freshly initialised zoo model, to an ONNX file
// (models/onnx/export_checkpoint.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "models/onnx/export_checkpoint.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

struct ExportCommand {
  models::ExportJob job;
  ZooModelOptions zoo;
};

void run(ExportCommand& c) {
  if (c.job.checkpoint.empty() && c.zoo.name.empty()) {
    throw std::runtime_error("export: give --checkpoint or --model");
  }
  apply_input_size(c.zoo);
  c.job.model = c.zoo.name;
  c.job.config = c.zoo.config;
  c.job.seed = c.zoo.seed;
  std::cout << models::format_export_report(models::run_export(c.job));
}

}  // namespace

Command add_export(CLI::App& cli, SharedOptions& shared) {
  auto c = std::make_shared<ExportCommand>();
  models::ExportJob& job = c->job;
  auto* app = cli.add_subcommand("export", "write a checkpoint's model as an ONNX file");
  auto* ck = app->add_option("--checkpoint", job.checkpoint, "the model (.safetensors)");
  ck->excludes(add_zoo_model_options(*app, c->zoo));
  add_no_verify_option(*app, shared);
  app->add_option("--out", job.out, "the .onnx file to write")->required();
  app->add_flag("--overwrite", job.overwrite, "replace an existing --out");
  app->add_option("--opset", job.opset, "ONNX opset, 14 to 18")->capture_default_str();
  app->add_option("--batch", job.batch, "a fixed batch size (default: a symbolic batch N)");
  return {app, [c] { run(*c); }};
}

}  // namespace gb::cli
