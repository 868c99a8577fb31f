// `glassbox train`: the recipe options, --recipe fast, the resume rules, and the run
// (models/training/trainer.h).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include "models/training/trainer.h"
#include "runtime/process_group.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

struct TrainCommand {
  CLI::App* app = nullptr;
  training::TrainConfig config;
  training::TrainOptions options;
  std::string device = "cpu";
  std::string recipe;
};

void add_recipe_options(CLI::App& app, training::TrainConfig& c) {
  app.add_option("--model", c.model, "model name from the zoo (see `glassbox summary --list`)");
  app.add_option("--width", c.width, "channel width multiplier");
  app.add_option("--data", c.data,
                 "data set: a .tar.gz image tree, CIFAR binary dir, IDX dir or image tree "
                 "(default: Fashion-MNIST from Debian's dataset-fashion-mnist)");
  app.add_option("--epochs", c.epochs, "number of epochs (with --resume: new total)");
  app.add_option("--batch-size", c.batch_size, "batch size");
  app.add_option("--optimizer", c.optimizer, "sgd | adamw");
  app.add_option("--lr", c.lr, "peak learning rate");
  app.add_option("--momentum", c.momentum, "SGD momentum");
  app.add_flag("!--no-nesterov", c.nesterov, "plain momentum instead of Nesterov");
  app.add_option("--weight-decay", c.weight_decay, "weight decay");
  app.add_option("--schedule", c.schedule, "onecycle | cosine | step | constant");
  app.add_option("--warmup", c.warmup_fraction, "fraction of steps for linear warm-up");
  app.add_option("--label-smoothing", c.label_smoothing, "label smoothing in [0,1)");
  app.add_option("--clip-grad", c.clip_grad_norm, "clip gradients to this global norm (0: off)");
  app.add_option("--bn-l1", c.bn_l1,
                 "L1 penalty on BN scales (network slimming, e.g. 1e-4; 0: off)");
  app.add_option("--bn-bias-lr-scale", c.bn_bias_lr_scale,
                 "batch-norm biases learn at this multiple of the learning rate (their weight "
                 "decay divided by it)");
  app.add_flag("--freeze-bn-weight,!--no-freeze-bn-weight", c.freeze_bn_weight,
               "keep batch-norm scales at their value (--no-...: train them)");
  app.add_option("--whiten-bias-epochs", c.whiten_bias_epochs,
                 "airbench: train the whitening stem's bias this many epochs, then freeze it; the "
                 "weight stays frozen, resumed runs included (-1: off)");
  app.add_flag("--lookahead,!--no-lookahead", c.lookahead,
               "lookahead weights (airbench's): every 5 steps pull the model toward a slow copy "
               "(--no-...: off)");
  app.add_flag("!--no-augment", c.augment, "disable random crop and flip");
  app.add_option("--cutout", c.cutout, "cutout square size (0: off)");
  app.add_option("--crop-pad", c.crop_pad, "random-crop translation range in pixels (4)");
  app.add_flag_callback(
      "--tta", [&c] { c.tta_level = std::max<int64_t>(c.tta_level, 1); },
      "test-time augmentation of the test passes: average with the mirrored image (level 1)");
  add_tta_level_option(app, c.tta_level);
  app.add_option("--seed", c.seed, "random seed (weights, shuffling, augmentation)");
  app.add_option("--limit-train", c.limit_train, "use only this many training images (0: all)");
  app.add_option("--limit-test", c.limit_test, "use only this many test images (0: all)");
}

void add_run_options(CLI::App& app, TrainCommand& t, SharedOptions& shared) {
  training::TrainOptions& o = t.options;
  app.add_option("--out", o.out, "checkpoint to write after each epoch")->required();
  app.add_option("--resume", o.resume, "continue training from this checkpoint");
  app.add_option("--init", o.init,
                 "fine-tune: start from this checkpoint's model, weights and normalisation (a "
                 "zoo, pruned or imported model; --model and --width are taken from it)");
  app.add_option("--json", o.json, "write per-epoch metrics to this JSON file");
  app.add_flag("--overwrite", o.overwrite, "replace an existing --out file");
  app.add_option("--stop-after-epoch", o.stop_after_epoch,
                 "stop after this epoch as if interrupted (resume later)");
  app.add_flag("--sync-bn", o.sync_bn,
               "under mpirun: batch-norm statistics over the whole batch of all processes "
               "(default: each process's share)");
  add_threads_option(app, shared, "compute threads (default: all cores)");
  add_no_verify_option(app, shared);
  app.add_option("--device", t.device, "cpu | cuda | cuda:N (a GPU needs a CUDA build)");
  app.add_flag("--quiet", o.quiet, "no progress output");
  app.add_option("--recipe", t.recipe,
                 "fast: the airbench-style fast CIFAR-10 recipe (model airbench, batch 1024, 10 "
                 "epochs, label smoothing 0.2, flip TTA); options given explicitly still apply");
  add_conv_backend_option(app, shared);
  add_conv_algorithm_option(app, shared);
  add_tensorboard_options(app, o.tensorboard, "training");
  add_anomaly_options(app, o.anomaly, "training");
}

// A resumed run continues with its saved configuration; only the length may change.
void apply_resume_rules(TrainCommand& t) {
  for (const char* flag : {"--model",
                           "--width",
                           "--data",
                           "--batch-size",
                           "--optimizer",
                           "--lr",
                           "--momentum",
                           "--no-nesterov",
                           "--weight-decay",
                           "--schedule",
                           "--warmup",
                           "--label-smoothing",
                           "--clip-grad",
                           "--bn-l1",
                           "--no-augment",
                           "--cutout",
                           "--crop-pad",
                           "--tta",
                           "--tta-level",
                           "--seed",
                           "--bn-bias-lr-scale",
                           "--freeze-bn-weight",
                           "--no-freeze-bn-weight",
                           "--whiten-bias-epochs",
                           "--lookahead",
                           "--no-lookahead",
                           "--limit-train",
                           "--limit-test"}) {
    if (t.app->count(flag) > 0) {
      throw std::runtime_error(std::string(flag) +
                               " cannot be combined with --resume: the run continues with the "
                               "configuration saved in " +
                               t.options.resume.string() + " (only --epochs may change)");
    }
  }
  if (t.app->count("--epochs") > 0) t.options.epochs_override = t.config.epochs;
}

// --recipe fast, with the options the user set on the command line winning over its values.
void apply_recipe(TrainCommand& t) {
  if (t.recipe != "fast") throw std::invalid_argument("--recipe: expected fast, got " + t.recipe);
  if (!t.options.resume.empty()) throw std::invalid_argument("--recipe cannot go with --resume");
  training::TrainConfig& tc = t.config;
  const training::TrainConfig given = tc;
  training::apply_fast_recipe(tc);
  const std::vector<std::pair<const char*, std::function<void()>>> keep = {
      {"--model", [&] { tc.model = given.model; }},
      {"--epochs", [&] { tc.epochs = given.epochs; }},
      {"--batch-size", [&] { tc.batch_size = given.batch_size; }},
      {"--lr", [&] { tc.lr = given.lr; }},
      {"--momentum", [&] { tc.momentum = given.momentum; }},
      {"--weight-decay", [&] { tc.weight_decay = given.weight_decay; }},
      {"--schedule", [&] { tc.schedule = given.schedule; }},
      {"--warmup", [&] { tc.warmup_fraction = given.warmup_fraction; }},
      {"--label-smoothing", [&] { tc.label_smoothing = given.label_smoothing; }},
      {"--crop-pad", [&] { tc.crop_pad = given.crop_pad; }},
      {"--tta-level", [&] { tc.tta_level = given.tta_level; }},
      {"--bn-bias-lr-scale", [&] { tc.bn_bias_lr_scale = given.bn_bias_lr_scale; }},
      {"--whiten-bias-epochs", [&] { tc.whiten_bias_epochs = given.whiten_bias_epochs; }},
      {"--freeze-bn-weight", [&] { tc.freeze_bn_weight = given.freeze_bn_weight; }},
      {"--no-freeze-bn-weight", [&] { tc.freeze_bn_weight = given.freeze_bn_weight; }},
      {"--lookahead", [&] { tc.lookahead = given.lookahead; }},
      {"--no-lookahead", [&] { tc.lookahead = given.lookahead; }},
  };
  for (const auto& [flag, restore] : keep) {
    if (t.app->count(flag) > 0) restore();
  }
}

void run(TrainCommand& t) {
  if (!t.options.resume.empty()) apply_resume_rules(t);
  if (!t.recipe.empty()) apply_recipe(t);
  t.options.device = parse_device(t.device);
  set_training_views(t.options.tensorboard);
  const auto result = training::train(t.config, t.options);
  if (!t.options.quiet && !result.epochs.empty() && world().is_root()) {
    fmt::print("done: test accuracy {:.2f}%, checkpoint {}\n",
               100.0 * result.epochs.back().test_accuracy, t.options.out.string());
  }
}

}  // namespace

Command add_train(CLI::App& cli, SharedOptions& shared) {
  auto t = std::make_shared<TrainCommand>();
  t->app = cli.add_subcommand("train", "train a model and write a checkpoint");
  add_recipe_options(*t->app, t->config);
  add_run_options(*t->app, *t, shared);
  return {t->app, [t] { run(*t); }};
}

}  // namespace gb::cli
