// `glassbox prune`: structured (channel) or unstructured pruning of a checkpoint, fine-tuning and
// the before/after table (interp/prune/prune_job.h).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "interp/prune/prune_job.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

struct PruneCommand {
  CLI::App* app = nullptr;
  prune::PruneConfig config;
  std::string criterion = "l1";
  bool structured = false, unstructured = false;
  bool no_timing = false, no_augment = false;
};

void add_structured_options(CLI::App& app, PruneCommand& p) {
  prune::PruneConfig& pc = p.config;
  app.add_flag("--structured", p.structured, "remove whole channels (the default)");
  app.add_flag("--unstructured", p.unstructured, "zero single weights by magnitude");
  app.add_option("--criterion", p.criterion,
                 "channel importance: l1 | l2 | bn | taylor | attribution | random");
  app.add_option("--target-macs", pc.target_macs,
                 "keep this fraction of the original MACs (structured)");
  app.add_option("--iterative", pc.iterative, "prune in this many steps, fine-tuning after each");
  app.add_flag("--global", pc.global,
               "one global ranking (structured) / one threshold (unstructured) over all layers");
  app.add_option(
      "--round-to", pc.round_to,
      "kept channels per group: a multiple of this; 0 (default): 8, whole vector blocks, "
      "where the MAC target allows it, else 4, 2 or 1");
  app.add_option("--min-keep", pc.min_keep, "keep at least this fraction of each group (0.1)");
  app.add_flag("--prune-first", pc.prune_first, "allow pruning the first layer's channels");
  app.add_flag("--prune-last", pc.prune_last, "allow pruning the channels read by the last layer");
  app.add_option("--calib-images", pc.calib_images,
                 "training images that calibrate taylor / attribution (512)");
  app.add_flag("--attribution-labels", pc.attribution_labels,
               "attribution explains the true label instead of the predicted class");
  app.add_option("--random-seed", pc.seed, "seed of the random criterion");
}

void add_options(CLI::App& app, PruneCommand& p, SharedOptions& shared) {
  add_compress_common(app, p.config, shared);
  app.add_flag("--no-timing", p.no_timing, "skip the images/s measurements");
  app.add_option("--timing-reps", p.config.timing_options.reps, "timed repetitions per speed (3)");
  add_structured_options(app, p);
  app.add_option("--sparsity", p.config.sparsity, "fraction of weights zeroed (unstructured)");
  app.add_option("--cam-images", p.config.cam_images,
                 "test images for the Grad-CAM rank correlation with the original (0: skip)");
  add_finetune_options(app, p.config.finetune, p.no_augment, "fine-tuning");
}

// Which options go with --structured and which with --unstructured.
void check_mode(PruneCommand& p) {
  if (p.structured && p.unstructured) {
    throw std::invalid_argument("give --structured or --unstructured, not both");
  }
  p.config.structured = !p.unstructured;
  if (p.config.structured) {
    p.config.criterion = prune::parse_criterion(p.criterion);
    if (p.app->count("--sparsity") > 0) {
      throw std::invalid_argument("--sparsity is for --unstructured; use --target-macs");
    }
  } else if (p.app->count("--target-macs") > 0 || p.app->count("--criterion") > 0 ||
             p.app->count("--iterative") > 0) {
    throw std::invalid_argument(
        "--target-macs, --criterion and --iterative are for --structured; use --sparsity");
  }
}

void run(PruneCommand& p) {
  check_mode(p);
  p.config.timing = !p.no_timing;
  p.config.cam_images = std::max<int64_t>(p.config.cam_images, 0);
  p.config.finetune.augment = !p.no_augment;
  set_training_views(p.config.tensorboard);
  std::cout << prune::format_prune_report(prune::run_prune(p.config));
}

}  // namespace

Command add_prune(CLI::App& cli, SharedOptions& shared) {
  auto p = std::make_shared<PruneCommand>();
  p->config.finetune.epochs = 0;
  p->app = cli.add_subcommand(
      "prune", "structured (channel) or unstructured pruning, fine-tuning, before/after table");
  add_options(*p->app, *p, shared);
  return {p->app, [p] { run(*p); }};
}

}  // namespace gb::cli
