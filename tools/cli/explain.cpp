// `glassbox explain`: one image explained by several registry methods, written as PNGs and JSON
// (interp/explain/explain_job.h), with a one-line-per-method summary.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "interp/explain/explain_job.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

struct ExplainCommand {
  CLI::App* app = nullptr;
  interp::ExplainConfig config;
  std::string methods, image, maps_format = "safetensors";
  int64_t mem_budget_mb = 512;
};

void add_options(CLI::App& app, ExplainCommand& x, SharedOptions& shared) {
  interp::ExplainConfig& xc = x.config;
  app.add_option("--checkpoint", xc.checkpoint, "checkpoint file")->required();
  auto* image = app.add_option("--image", x.image, "image file (PNG, JPEG, ...)");
  auto* index = app.add_option("--index", xc.index, "test image K of the data set");
  image->excludes(index);
  app.add_option("--data", xc.data, "data set of --index (default: the training one)");
  app.add_option("--method", x.methods, method_help())->required();
  app.add_option("--target", xc.target, "class to explain: pred, an index or a class name");
  add_method_options(app, xc.method, x.mem_budget_mb);
  app.add_flag("--resize", xc.resize, "resize / convert an image of the wrong size");
  app.add_option("--out", xc.out, "output directory (must be empty or new)")->required();
  app.add_flag("--overwrite", xc.overwrite, "replace the files in a non-empty --out");
  auto* maps =
      app.add_flag("--save-maps", xc.save_maps,
                   "also write the raw float32 maps (maps.safetensors, with their metadata)");
  app.add_option("--maps-format", x.maps_format,
                 "with --save-maps: safetensors, npy (<method>.npy + maps.json) or both")
      ->capture_default_str()
      ->needs(maps);
  add_threads_option(app, shared, "compute threads");
  add_no_verify_option(app, shared);
  add_conv_algorithm_option(app, shared);
  app.add_option("--device", xc.device, "where the model runs: cpu | cuda | cuda:N");
}

void run(ExplainCommand& x) {
  x.config.methods = interp::parse_method_list(x.methods);
  x.config.image = x.image;
  const bool by_index = x.app->count("--index") > 0;
  if (x.image.empty() && !by_index) throw std::invalid_argument("give --image FILE or --index K");
  if (by_index && x.config.index < 0) throw std::invalid_argument("--index must be >= 0");
  set_mem_budget(x.config.method, x.mem_budget_mb);
  x.config.maps_format = interp::parse_map_format(x.maps_format);
  std::cout << interp::format_explain_summary(interp::explain(x.config));
}

}  // namespace

Command add_explain(CLI::App& cli, SharedOptions& shared) {
  auto x = std::make_shared<ExplainCommand>();
  x->app = cli.add_subcommand("explain", "explain one image with several methods");
  add_options(*x->app, *x, shared);
  return {x->app, [x] { run(*x); }};
}

}  // namespace gb::cli
