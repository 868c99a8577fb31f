// `glassbox evaluate-explanations`: registry methods over N test images against random maps
// (interp/explain/evaluate_job.h): the table and, with --json, the figures as JSON.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "interp/explain/evaluate_job.h"
#include "runtime/output_path.h"
#include "runtime/process_group.h"
#include "tools/cli/commands.h"
#include "tools/cli/metric_options.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

struct EvaluateCommand {
  interp::EvaluateConfig config;
  std::string methods = "gradcam,gradcam++,scorecam,ig,smoothgrad,occlusion,lime,kernelshap";
  std::string json, maps_format = "safetensors";
  int64_t mem_budget_mb = 512;
  bool no_warmup = false;
  MetricFlags metric_flags;
};

void add_options(CLI::App& app, EvaluateCommand& e, SharedOptions& shared) {
  interp::EvaluateConfig& ec = e.config;
  app.add_option("--checkpoint", ec.checkpoint, "checkpoint file")->required();
  app.add_option("--methods", e.methods,
                 method_help() + " (random and random-smooth are always added)");
  app.add_option("--count", ec.count, "number of test images (class-balanced subset)");
  app.add_option("--data", ec.data, "data set (default: the one it was trained on)");
  add_method_options(app, ec.method, e.mem_budget_mb);
  app.add_flag("--sanity-check", ec.sanity_check,
               "cascading parameter randomisation check of Grad-CAM");
  app.add_option("--sanity-images", ec.sanity_images, "images of the sanity check (4)");
  add_metric_options(app, e.metric_flags);
  app.add_flag("--no-warmup", e.no_warmup, "time each method's first run too");
  app.add_option("--json", e.json, "write the table (and sanity check) as JSON");
  auto* maps =
      app.add_option("--save-maps", ec.save_maps,
                     "also write every raw float32 map: a .safetensors file (or a directory with "
                     "--maps-format npy)");
  app.add_option("--maps-format", e.maps_format, "with --save-maps: safetensors, npy or both")
      ->capture_default_str()
      ->needs(maps);
  app.add_flag("--overwrite", ec.overwrite,
               "replace an existing --json file or --save-maps output");
  add_threads_option(app, shared, "compute threads");
  add_no_verify_option(app, shared);
  add_conv_algorithm_option(app, shared);
  app.add_option("--device", ec.device, "where the model runs: cpu | cuda | cuda:N");
  app.add_flag("--quiet", ec.quiet, "no progress lines");
}

void run(EvaluateCommand& e) {
  e.config.methods = interp::parse_method_list(e.methods);
  apply_metric_flags(e.metric_flags, e.config.metrics, e.config.metric_params);
  e.config.warmup = !e.no_warmup;
  set_mem_budget(e.config.method, e.mem_budget_mb);
  e.config.maps_format = interp::parse_map_format(e.maps_format);
  // Under mpirun the images are shared out over the ranks and rank 0 reports (evaluate_job.h).
  e.config.group = &world();
  const bool reports = world().is_root();
  if (!reports) e.config.quiet = true;
  if (!e.json.empty() && reports) check_output_file(e.json, e.config.overwrite, "--json");
  // With --json, the file is rewritten after each method ("complete": false until the end), so a
  // run that is cut off keeps the methods it finished. The path was checked above, so the later
  // writes replace only this run's own partial file.
  interp::EvaluateProgressFn progress;
  if (!e.json.empty()) {
    progress = [&e](const interp::EvaluateResult& partial) {
      write_json_file(e.json, interp::evaluation_to_json(partial, false), true);
    };
  }
  const auto r = interp::evaluate_explanations(e.config, progress);
  if (!reports) return;
  std::cout << interp::format_evaluation(r);
  if (!e.json.empty()) write_json_file(e.json, interp::evaluation_to_json(r), true);
}

}  // namespace

Command add_evaluate_explanations(CLI::App& cli, SharedOptions& shared) {
  auto e = std::make_shared<EvaluateCommand>();
  auto* app = cli.add_subcommand(
      "evaluate-explanations",
      "deletion/insertion AUC, time, checks and --metrics of methods over N test images, vs "
      "random maps");
  add_options(*app, *e, shared);
  return {app, [e] { run(*e); }};
}

}  // namespace gb::cli
