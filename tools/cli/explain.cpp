// `glassbox explain`: one image explained by several registry methods, written as PNGs and JSON
// (interp/explain/explain_job.h), with a one-line-per-method summary; or, with --indices, a range
// of test images, shared out over the processes under mpirun (interp/explain/explain_range.h).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <tuple>

#include "interp/explain/explain_job.h"
#include "interp/explain/explain_range.h"
#include "runtime/process_group.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

struct ExplainCommand {
  CLI::App* app = nullptr;
  interp::ExplainConfig config;
  std::string methods, image, indices, maps_format = "safetensors";
  int64_t mem_budget_mb = 512;
};

void add_options(CLI::App& app, ExplainCommand& x, SharedOptions& shared) {
  interp::ExplainConfig& xc = x.config;
  app.add_option("--checkpoint", xc.checkpoint, "checkpoint file")->required();
  auto* image = app.add_option("--image", x.image, "image file (PNG, JPEG, ...)");
  auto* index = app.add_option("--index", xc.index, "test image K of the data set");
  auto* indices = app.add_option(
      "--indices", x.indices,
      "test images A-B (inclusive), each into --out/image_K, with explanations.json; under "
      "mpirun shared out over the processes");
  image->excludes(index);
  indices->excludes(index)->excludes(image);
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

// "A-B" or "A" as the range first..last.
std::pair<int64_t, int64_t> parse_indices(const std::string& text) {
  const size_t dash = text.find('-');
  try {
    size_t used = 0;
    const int64_t first = std::stoll(text.substr(0, dash), &used);
    if (used != (dash == std::string::npos ? text.size() : dash)) throw std::invalid_argument("");
    if (dash == std::string::npos) return {first, first};
    const std::string rest = text.substr(dash + 1);
    const int64_t last = std::stoll(rest, &used);
    if (used != rest.size()) throw std::invalid_argument("");
    return {first, last};
  } catch (const std::logic_error&) {
    throw std::invalid_argument("--indices: expected A-B (e.g. 0-99) or A, got '" + text + "'");
  }
}

// --indices: a range of test images, sharded under mpirun (interp/explain/explain_range.h).
void run_range(ExplainCommand& x) {
  interp::ExplainRangeConfig rc;
  rc.image = x.config;
  std::tie(rc.first, rc.last) = parse_indices(x.indices);
  rc.group = &world();
  const nlohmann::json summary = interp::explain_range(rc);
  if (!world().is_root()) return;
  std::cout << fmt::format("{:<18} {:>12} {:>9} {:>9}   over {} images\n", "method", "mean time ms",
                           "del AUC", "ins AUC", summary["images"].size());
  for (const auto& m : summary["methods"]) {
    std::cout << fmt::format("{:<18} {:>12.2f} {:>9.3f} {:>9.3f}\n", m["method"].get<std::string>(),
                             m["mean_time_ms"].get<double>(), m["mean_deletion_auc"].get<double>(),
                             m["mean_insertion_auc"].get<double>());
  }
}

void run(ExplainCommand& x) {
  x.config.methods = interp::parse_method_list(x.methods);
  x.config.image = x.image;
  set_mem_budget(x.config.method, x.mem_budget_mb);
  x.config.maps_format = interp::parse_map_format(x.maps_format);
  if (!x.indices.empty()) return run_range(x);
  if (world().size() > 1) {
    throw std::invalid_argument("under mpirun, explain runs a range of images: give --indices A-B");
  }
  const bool by_index = x.app->count("--index") > 0;
  if (x.image.empty() && !by_index) {
    throw std::invalid_argument("give --image FILE, --index K or --indices A-B");
  }
  if (by_index && x.config.index < 0) throw std::invalid_argument("--index must be >= 0");
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
