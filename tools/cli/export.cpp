// `glassbox export`: a checkpoint to an ONNX file (models/onnx/export_checkpoint.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "models/onnx/export_checkpoint.h"
#include "tools/cli/commands.h"

namespace gb::cli {

Command add_export(CLI::App& cli) {
  auto job = std::make_shared<models::ExportJob>();
  auto* app = cli.add_subcommand("export", "write a checkpoint's model as an ONNX file");
  app->add_option("--checkpoint", job->checkpoint, "the model (.safetensors)")->required();
  app->add_option("--out", job->out, "the .onnx file to write")->required();
  app->add_flag("--overwrite", job->overwrite, "replace an existing --out");
  app->add_option("--opset", job->opset, "ONNX opset, 14 to 18")->capture_default_str();
  app->add_option("--batch", job->batch, "a fixed batch size (default: a symbolic batch N)");
  return {app, [job] { std::cout << models::format_export_report(models::run_export(*job)); }};
}

}  // namespace gb::cli
