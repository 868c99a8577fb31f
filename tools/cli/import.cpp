// `glassbox import`: an ONNX model to a glassbox checkpoint (models/onnx/import_checkpoint.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <sstream>

#include "models/onnx/import_checkpoint.h"
#include "tools/cli/commands.h"

namespace gb::cli {
namespace {

struct ImportCommand {
  models::ImportJob job;
  std::string mean, std, input_size;
};

// "a,b,c" (or "a x b x c" with sep 'x') -> numbers. throws std::runtime_error naming the option.
template <class T>
std::vector<T> parse_list(const std::string& text, char sep, const std::string& option) {
  std::vector<T> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, sep);) {
    std::stringstream one(item);
    T v{};
    if (!(one >> v) || !(one >> std::ws).eof()) {
      throw std::runtime_error(option + " '" + text + "': '" + item + "' is not a number");
    }
    out.push_back(v);
  }
  return out;
}

void run(ImportCommand& c) {
  if (!c.mean.empty()) c.job.mean = parse_list<float>(c.mean, ',', "--mean");
  if (!c.std.empty()) c.job.std = parse_list<float>(c.std, ',', "--std");
  if (c.mean.empty() != c.std.empty()) throw std::runtime_error("give --mean and --std together");
  if (!c.input_size.empty()) {
    c.job.input_chw = parse_list<int64_t>(c.input_size, 'x', "--input-size");
    if (c.job.input_chw->size() != 3) {
      throw std::runtime_error("--input-size '" + c.input_size + "' must be CxHxW");
    }
  }
  std::cout << models::format_import_report(models::run_import(c.job));
}

}  // namespace

Command add_import(CLI::App& cli) {
  auto c = std::make_shared<ImportCommand>();
  auto* app = cli.add_subcommand("import", "read an ONNX model into a glassbox checkpoint");
  app->add_option("model", c->job.onnx, "the .onnx file")->required();
  app->add_option("--out", c->job.out, "checkpoint to write (.safetensors)")->required();
  app->add_flag("--overwrite", c->job.overwrite, "replace an existing --out");
  auto* classes = app->add_option("--classes", c->job.classes_file,
                                  "class names, one per line (default: 0..K-1)");
  app->add_option("--num-classes", c->job.num_classes,
                  "the number of classes K (checked against the model's output)")
      ->excludes(classes);
  app->add_option("--mean", c->mean, "input mean per channel of x/255, as r,g,b (default 0)");
  app->add_option("--std", c->std, "input std per channel of x/255, as r,g,b (default 1)");
  app->add_option("--input-size", c->input_size,
                  "CxHxW of the input, for files whose input size is symbolic");
  return {app, [c] { run(*c); }};
}

}  // namespace gb::cli
