// `glassbox summary`: the layer table of a zoo model or of the model in a checkpoint
// (models/summary.h), or the list of zoo names.
#include "models/summary.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "models/registry.h"
#include "models/training/checkpoint_meta.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

struct SummaryCommand {
  std::string model = "resnet20", checkpoint;
  models::ModelConfig config;
  bool list = false;
};

void run(const SummaryCommand& s) {
  if (s.list) {
    for (const auto& n : models::model_names()) fmt::print("{}\n", n);
    return;
  }
  if (!s.checkpoint.empty()) {
    const training::LoadedModel lm = training::load_model(s.checkpoint);
    std::cout << models::format_summary(models::summarize(*lm.model, lm.meta.input_shape),
                                        lm.meta.model_name + " from " + s.checkpoint);
    return;
  }
  const auto model = models::build_model(s.model, s.config);
  const Shape input{s.config.in_channels, s.config.image_size, s.config.image_size};
  std::cout << models::format_summary(models::summarize(*model, input), s.model);
}

}  // namespace

Command add_summary(CLI::App& cli, SharedOptions& shared) {
  auto s = std::make_shared<SummaryCommand>();
  auto* app = cli.add_subcommand("summary", "print a model's layer table");
  app->add_option("--model", s->model, "model name");
  app->add_option("--checkpoint", s->checkpoint, "summarise the model in this checkpoint");
  add_no_verify_option(*app, shared);
  app->add_option("--classes", s->config.num_classes, "number of classes");
  app->add_option("--in-channels", s->config.in_channels, "input channels");
  app->add_option("--image-size", s->config.image_size, "input height and width");
  app->add_option("--width", s->config.width, "channel width multiplier");
  app->add_flag("--list", s->list, "list the model zoo");
  return {app, [s] { run(*s); }};
}

}  // namespace gb::cli
