// `glassbox global-explain`: per-class average maps of one method, the mean input per class and
// the most influential superpixels per class over test images (interp/explain/global_job.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "interp/explain/global_job.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {

Command add_global_explain(CLI::App& cli, SharedOptions& shared) {
  struct State {
    interp::GlobalExplainConfig config;
    std::string normalisation = "max-abs";
    int64_t mem_budget_mb = 512;
  };
  auto s = std::make_shared<State>();
  interp::GlobalExplainConfig& c = s->config;
  auto* app = cli.add_subcommand(
      "global-explain",
      "per-class average maps, mean inputs and the most influential superpixels per class");
  app->add_option("checkpoint,--checkpoint", c.checkpoint,
                  "checkpoint file (positional or --checkpoint)")
      ->required();
  app->add_option("--data", c.data,
                  "data set whose test images are used (default: the training one)");
  app->add_option("--count", c.count, "test images, balanced over the classes")
      ->capture_default_str();
  app->add_option("--method", c.method,
                  "the method whose maps are averaged (one of: " + interp::method_list_text() + ")")
      ->capture_default_str();
  app->add_option("--normalise", s->normalisation,
                  "how each map is scaled before averaging: max-abs (a / max|a|) or sum-abs "
                  "(a / sum|a|)")
      ->capture_default_str();
  add_method_options(*app, c.method_options, s->mem_budget_mb);
  app->add_option("--segment-images", c.segment_images,
                  "influential superpixels: the first N images get SLIC (--segments) + "
                  "KernelSHAP; 0: none")
      ->capture_default_str();
  app->add_option("--shap-samples", c.shap_samples, "KernelSHAP coalitions per image")
      ->capture_default_str();
  app->add_option("--top-segments", c.top_segments, "superpixels kept per class")
      ->capture_default_str();
  app->add_option("--out", c.out, "output directory (must be empty or new)")->required();
  app->add_flag("--overwrite", c.overwrite, "replace the files in a non-empty --out");
  add_threads_option(*app, shared, "compute threads");
  add_no_verify_option(*app, shared);
  app->add_option("--device", c.device, "where the model runs: cpu | cuda | cuda:N");
  return {app, [s] {
            set_mem_budget(s->config.method_options, s->mem_budget_mb);
            s->config.normalisation = interp::parse_map_normalisation(s->normalisation);
            s->config.segments = s->config.method_options.segments;
            std::cout << interp::format_global_summary(interp::global_explain(s->config));
          }};
}

}  // namespace gb::cli
