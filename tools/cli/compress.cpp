// `glassbox compress`: k-means weight sharing of a checkpoint's conv/linear weights, optionally
// fine-tuned (interp/prune/compress_job.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "interp/prune/compress_job.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

struct CompressCommand {
  prune::CompressConfig config;
  bool kmeans_pp = false, no_augment = false;
};

void add_options(CLI::App& app, CompressCommand& k, SharedOptions& shared) {
  prune::CompressConfig& cc = k.config;
  add_compress_common(app, cc, shared);
  app.add_option("--weight-sharing", cc.kmeans.k, "K: values per layer (16)")->required();
  app.add_option("--kmeans-iterations", cc.kmeans.iterations, "Lloyd iterations at most (50)");
  app.add_flag("--kmeans++", k.kmeans_pp, "k-means++ seeding instead of linear");
  app.add_option("--kmeans-seed", cc.kmeans.seed, "seed of k-means++");
  add_finetune_options(app, cc.finetune, k.no_augment, "fine-tuning");
}

void run(CompressCommand& k) {
  k.config.kmeans.kmeans_pp = k.kmeans_pp;
  k.config.finetune.augment = !k.no_augment;
  set_training_views(k.config.tensorboard);
  std::cout << prune::format_compress_report(prune::run_compress(k.config));
}

}  // namespace

Command add_compress(CLI::App& cli, SharedOptions& shared) {
  auto k = std::make_shared<CompressCommand>();
  k->config.finetune.epochs = 0;
  k->config.finetune.lr = 0.01f;
  auto* app = cli.add_subcommand(
      "compress", "weight sharing: per-layer k-means codebooks of conv/linear weights");
  add_options(*app, *k, shared);
  return {app, [k] { run(*k); }};
}

}  // namespace gb::cli
