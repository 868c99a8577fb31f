// Options of `glassbox prune`, `glassbox distill` and `glassbox compress` (CLI11) and their
// dispatch to the jobs in tools/lib/compress.h.
#include "tools/cli/compress_commands.h"

#include <fmt/format.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "tools/lib/compress.h"

namespace gb::cli {

struct CompressCommands {
  CLI::App* prune = nullptr;
  CLI::App* distill = nullptr;
  CLI::App* compress = nullptr;
  app::PruneConfig pc;
  std::string criterion = "l1";
  bool structured = false, unstructured = false;
  bool no_timing = false, no_augment = false;
  app::DistillConfig dc;
  bool d_no_timing = false, d_no_augment = false;
  app::CompressConfig cc;
  bool kmeans_pp = false;
  int threads = 0;
};

namespace {

void add_finetune_options(CLI::App& c, training::FinetuneConfig& f, bool& no_augment,
                          const std::string& what) {
  c.add_option("--batch-size", f.batch_size, what + " batch size");
  c.add_option("--lr", f.lr, what + " peak learning rate");
  c.add_option("--momentum", f.momentum, "SGD momentum (Nesterov)");
  c.add_option("--weight-decay", f.weight_decay, "weight decay");
  c.add_option("--schedule", f.schedule, "onecycle | cosine | constant");
  c.add_option("--warmup", f.warmup_fraction, "fraction of the steps for linear warm-up");
  c.add_option("--bn-l1", f.bn_l1, "L1 penalty on BN scales during " + what + " (0: off)");
  c.add_flag("--no-augment", no_augment, "no random crop and flip");
}

void add_common(CLI::App& c, app::CompressCommon& o, int& threads) {
  c.add_option("--checkpoint", o.checkpoint, "checkpoint to compress")->required();
  c.add_option("--data", o.data, "data set (default: the one the checkpoint was trained on)");
  c.add_option("--limit-train", o.limit_train, "use only this many training images (0: all)");
  c.add_option("--limit-test", o.limit_test, "evaluate on this many test images (0: all)");
  c.add_option("--finetune-epochs", o.finetune.epochs,
               "epochs of fine-tuning after pruning (fractions allowed; 0: none; iterative: "
               "split over the steps)");
  c.add_option("--seed", o.finetune.seed, "seed of fine-tuning (loader order, augmentation)");
  c.add_option("--out", o.out, "checkpoint to write")->required();
  c.add_flag("--overwrite", o.overwrite, "replace an existing --out / --json");
  c.add_option("--json", o.json, "write the report as JSON");
  c.add_option("--threads", threads, "compute threads (default: all cores)");
  c.add_flag("--quiet", o.quiet, "no progress output");
}

}  // namespace

std::shared_ptr<CompressCommands> add_compress_commands(CLI::App& app) {
  auto c = std::make_shared<CompressCommands>();
  c->pc.finetune.epochs = 0;

  auto* p = app.add_subcommand(
      "prune", "structured (channel) or unstructured pruning, fine-tuning, before/after table");
  c->prune = p;
  add_common(*p, c->pc, c->threads);
  p->add_flag("--no-timing", c->no_timing, "skip the images/s measurements");
  p->add_option("--timing-reps", c->pc.timing_options.reps, "timed repetitions per speed (3)");
  p->add_flag("--structured", c->structured, "remove whole channels (the default)");
  p->add_flag("--unstructured", c->unstructured, "zero single weights by magnitude");
  p->add_option("--criterion", c->criterion,
                "channel importance: l1 | l2 | bn | taylor | attribution | random");
  p->add_option("--target-macs", c->pc.target_macs,
                "keep this fraction of the original MACs (structured)");
  p->add_option("--iterative", c->pc.iterative, "prune in this many steps, fine-tuning after each");
  p->add_flag("--global", c->pc.global,
              "one global ranking (structured) / one threshold (unstructured) over all layers");
  p->add_option("--round-to", c->pc.round_to, "kept channels per group: a multiple of this (4)");
  p->add_option("--min-keep", c->pc.min_keep, "keep at least this fraction of each group (0.1)");
  p->add_flag("--prune-first", c->pc.prune_first, "allow pruning the first layer's channels");
  p->add_flag("--prune-last", c->pc.prune_last,
              "allow pruning the channels read by the last layer");
  p->add_option("--calib-images", c->pc.calib_images,
                "training images that calibrate taylor / attribution (512)");
  p->add_flag("--attribution-labels", c->pc.attribution_labels,
              "attribution explains the true label instead of the predicted class");
  p->add_option("--random-seed", c->pc.seed, "seed of the random criterion");
  p->add_option("--sparsity", c->pc.sparsity, "fraction of weights zeroed (unstructured)");
  p->add_option("--cam-images", c->pc.cam_images,
                "test images for the Grad-CAM rank correlation with the original (0: skip)");
  add_finetune_options(*p, c->pc.finetune, c->no_augment, "fine-tuning");

  c->dc.train.epochs = 10;
  c->dc.train.lr = 0.2f;
  auto* d = app.add_subcommand(
      "distill", "train a student from a teacher checkpoint (KL at temperature T + labels)");
  c->distill = d;
  d->add_option("--teacher", c->dc.teacher, "teacher checkpoint")->required();
  d->add_option("--student", c->dc.student, "student model name from the zoo")->required();
  d->add_option("--student-width", c->dc.student_width, "student channel width multiplier");
  d->add_option("--temperature", c->dc.temperature, "softmax temperature T (4)");
  d->add_option("--alpha", c->dc.alpha,
                "weight of T^2 * KL; the label cross-entropy gets 1 - alpha (0.9)");
  d->add_flag("--baseline", c->dc.baseline,
              "also train the student alone (same seed, labels only) and compare");
  d->add_option("--data", c->dc.data, "data set (default: the teacher's)");
  d->add_option("--limit-train", c->dc.limit_train, "use only this many training images");
  d->add_option("--limit-test", c->dc.limit_test, "evaluate on this many test images");
  d->add_option("--epochs", c->dc.train.epochs, "training epochs (10)");
  d->add_option("--seed", c->dc.train.seed, "seed (student weights, loader, augmentation)");
  add_finetune_options(*d, c->dc.train, c->d_no_augment, "training");
  d->add_option("--out", c->dc.out, "student checkpoint to write")->required();
  d->add_flag("--overwrite", c->dc.overwrite, "replace an existing --out / --json");
  d->add_option("--json", c->dc.json, "write the report as JSON");
  d->add_flag("--no-timing", c->d_no_timing, "skip the images/s measurements");
  d->add_option("--threads", c->threads, "compute threads");
  d->add_flag("--quiet", c->dc.quiet, "no progress output");

  c->cc.finetune.epochs = 0;
  c->cc.finetune.lr = 0.01f;
  auto* k = app.add_subcommand(
      "compress", "weight sharing: per-layer k-means codebooks of conv/linear weights");
  c->compress = k;
  add_common(*k, c->cc, c->threads);
  k->add_option("--weight-sharing", c->cc.kmeans.k, "K: values per layer (16)")->required();
  k->add_option("--kmeans-iterations", c->cc.kmeans.iterations, "Lloyd iterations at most (50)");
  k->add_flag("--kmeans++", c->kmeans_pp, "k-means++ seeding instead of linear");
  k->add_option("--kmeans-seed", c->cc.kmeans.seed, "seed of k-means++");
  add_finetune_options(*k, c->cc.finetune, c->no_augment, "fine-tuning");
  return c;
}

bool run_compress_commands(CompressCommands& c) {
  if (c.threads > 0) omp_set_num_threads(c.threads);
  if (*c.prune) {
    if (c.structured && c.unstructured) {
      throw std::invalid_argument("give --structured or --unstructured, not both");
    }
    c.pc.structured = !c.unstructured;
    if (c.pc.structured) {
      c.pc.criterion = prune::parse_criterion(c.criterion);
      if (c.prune->count("--sparsity") > 0) {
        throw std::invalid_argument("--sparsity is for --unstructured; use --target-macs");
      }
    } else if (c.prune->count("--target-macs") > 0 || c.prune->count("--criterion") > 0 ||
               c.prune->count("--iterative") > 0) {
      throw std::invalid_argument(
          "--target-macs, --criterion and --iterative are for --structured; use --sparsity");
    }
    c.pc.timing = !c.no_timing;
    c.pc.cam_images = std::max<int64_t>(c.pc.cam_images, 0);
    c.pc.finetune.augment = !c.no_augment;
    const auto r = app::run_prune(c.pc);
    std::cout << app::format_prune_report(r);
    return true;
  }
  if (*c.distill) {
    c.dc.timing = !c.d_no_timing;
    c.dc.train.augment = !c.d_no_augment;
    const auto r = app::run_distill(c.dc);
    std::cout << app::format_distill_report(r);
    return true;
  }
  if (*c.compress) {
    c.cc.kmeans.kmeans_pp = c.kmeans_pp;
    c.cc.finetune.augment = !c.no_augment;
    const auto r = app::run_compress(c.cc);
    std::cout << app::format_compress_report(r);
    return true;
  }
  return false;
}

}  // namespace gb::cli
