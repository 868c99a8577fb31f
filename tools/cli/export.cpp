// `glassbox export`: a checkpoint, or a freshly initialised zoo model, to an ONNX file
// (models/onnx/export_checkpoint.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <sstream>

#include "models/onnx/export_checkpoint.h"
#include "tools/cli/commands.h"

namespace gb::cli {
namespace {

struct ExportCommand {
  models::ExportJob job;
  std::string input_size;  // CxHxW for --model
};

void run(ExportCommand& c) {
  if (!c.input_size.empty()) {
    char x1 = 0, x2 = 0;
    int64_t ch = 0, h = 0, w = 0;
    std::istringstream in(c.input_size);
    if (!(in >> ch >> x1 >> h >> x2 >> w) || x1 != 'x' || x2 != 'x' || !(in >> std::ws).eof() ||
        h != w) {
      throw std::runtime_error("--input-size '" + c.input_size + "' must be CxSxS (square)");
    }
    c.job.config.in_channels = ch;
    c.job.config.image_size = h;
  }
  std::cout << models::format_export_report(models::run_export(c.job));
}

}  // namespace

Command add_export(CLI::App& cli) {
  auto c = std::make_shared<ExportCommand>();
  models::ExportJob& job = c->job;
  auto* app = cli.add_subcommand("export", "write a checkpoint's model as an ONNX file");
  auto* ck = app->add_option("--checkpoint", job.checkpoint, "the model (.safetensors)");
  auto* model = app->add_option("--model", job.model,
                                "instead of --checkpoint: a zoo model, freshly initialised");
  ck->excludes(model);
  app->add_option("--out", job.out, "the .onnx file to write")->required();
  app->add_flag("--overwrite", job.overwrite, "replace an existing --out");
  app->add_option("--opset", job.opset, "ONNX opset, 14 to 18")->capture_default_str();
  app->add_option("--batch", job.batch, "a fixed batch size (default: a symbolic batch N)");
  app->add_option("--width", job.config.width, "with --model: channel width multiplier")
      ->needs(model);
  app->add_option("--num-classes", job.config.num_classes, "with --model: outputs K (10)")
      ->needs(model);
  app->add_option("--input-size", c->input_size, "with --model: CxHxW of the input (3x32x32)")
      ->needs(model);
  app->add_option("--seed", job.seed, "with --model: initialisation seed (0)")->needs(model);
  return {app, [c] {
            if (c->job.checkpoint.empty() && c->job.model.empty()) {
              throw std::runtime_error("export: give --checkpoint or --model");
            }
            run(*c);
          }};
}

}  // namespace gb::cli
