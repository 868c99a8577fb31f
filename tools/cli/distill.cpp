// `glassbox distill`: a student from the zoo trained on a teacher checkpoint, optionally against
// the same student trained alone (interp/prune/distill_job.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "interp/prune/distill_job.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

struct DistillCommand {
  prune::DistillConfig config;
  bool no_timing = false, no_augment = false;
};

void add_options(CLI::App& app, DistillCommand& d, SharedOptions& shared) {
  prune::DistillConfig& dc = d.config;
  app.add_option("--teacher", dc.teacher, "teacher checkpoint")->required();
  app.add_option("--student", dc.student, "student model name from the zoo")->required();
  app.add_option("--student-width", dc.student_width, "student channel width multiplier");
  app.add_option("--temperature", dc.temperature, "softmax temperature T (4)");
  app.add_option("--alpha", dc.alpha,
                 "weight of T^2 * KL; the label cross-entropy gets 1 - alpha (0.9)");
  app.add_flag("--baseline", dc.baseline,
               "also train the student alone (same seed, labels only) and compare");
  app.add_option("--data", dc.data, "data set (default: the teacher's)");
  app.add_option("--limit-train", dc.limit_train, "use only this many training images");
  app.add_option("--limit-test", dc.limit_test, "evaluate on this many test images");
  app.add_option("--epochs", dc.train.epochs, "training epochs (10)");
  app.add_option("--seed", dc.train.seed, "seed (student weights, loader, augmentation)");
  add_finetune_options(app, dc.train, d.no_augment, "training");
  app.add_option("--out", dc.out, "student checkpoint to write")->required();
  app.add_flag("--overwrite", dc.overwrite, "replace an existing --out / --json");
  app.add_option("--json", dc.json, "write the report as JSON");
  app.add_flag("--no-timing", d.no_timing, "skip the images/s measurements");
  add_threads_option(app, shared, "compute threads");
  add_no_verify_option(app, shared);
  app.add_flag("--quiet", dc.quiet, "no progress output");
  add_tensorboard_options(app, dc.tensorboard, "distilled student's training");
}

void run(DistillCommand& d) {
  d.config.timing = !d.no_timing;
  d.config.train.augment = !d.no_augment;
  set_training_views(d.config.tensorboard);
  std::cout << prune::format_distill_report(prune::run_distill(d.config));
}

}  // namespace

Command add_distill(CLI::App& cli, SharedOptions& shared) {
  auto d = std::make_shared<DistillCommand>();
  d->config.train.epochs = 10;
  d->config.train.lr = 0.2f;
  auto* app = cli.add_subcommand(
      "distill", "train a student from a teacher checkpoint (KL at temperature T + labels)");
  add_options(*app, *d, shared);
  return {app, [d] { run(*d); }};
}

}  // namespace gb::cli
