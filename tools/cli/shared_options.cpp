// The shared options and their application (see shared_options.h).
#include "tools/cli/shared_options.h"

#include <omp.h>

#include <CLI/CLI.hpp>
#include <sstream>
#include <stdexcept>

#include "interp/explain/training_views.h"
#include "kernels/conv2d.h"
#include "runtime/checkpoint.h"

namespace gb::cli {
namespace {

constexpr const char* kConvAlgorithmHelp =
    "CPU convolution: auto (Winograd for 3x3 stride 1, padded-flat, im2col) | winograd | "
    "padded-flat (no Winograd) | im2col (neither), for before/after comparisons";

// Chooses the CUDA convolution backend by name (a CPU-only build accepts only the default).
void set_conv_backend(const std::string& name) {
  if (name == "handwritten") return;
  if (name != "cudnn") {
    throw std::invalid_argument("--conv-backend: expected handwritten or cudnn, got '" + name +
                                "'");
  }
#ifdef GB_WITH_CUDA
  if (!kernels::cuda::cudnn_available()) {
    throw std::runtime_error("--conv-backend cudnn: glassbox was built without cuDNN");
  }
  kernels::cuda::set_conv_backend(kernels::cuda::ConvBackend::Cudnn);
#else
  throw std::runtime_error("--conv-backend cudnn: glassbox was built without CUDA");
#endif
}

// Chooses the CPU convolution algorithm by name (kernel research and before/after benchmarks).
void set_conv_algorithm(const std::string& name) {
  kernels::cpu::ConvAlgorithm algorithm{};
  if (!kernels::cpu::parse_conv_algorithm(name.c_str(), &algorithm)) {
    throw std::invalid_argument(
        "--conv-algorithm: expected auto, winograd, padded-flat or im2col, got '" + name + "'");
  }
  kernels::cpu::set_conv_algorithm(algorithm);
}

}  // namespace

void add_threads_option(CLI::App& app, SharedOptions& s, const std::string& help) {
  app.add_option("--threads", s.threads, help);
}

void add_tta_level_option(CLI::App& app, int64_t& level) {
  app.add_option("--tta-level", level,
                 "test-time augmentation: 0 none, 1 mirror, 2 mirror and one-pixel translates")
      ->check(CLI::Range(0, 2));
}

void add_conv_backend_option(CLI::App& app, SharedOptions& s) {
  app.add_option("--conv-backend", s.conv_backend,
                 "CUDA convolution: handwritten (default) | cudnn (for comparison)");
}

void add_conv_algorithm_option(CLI::App& app, SharedOptions& s) {
  app.add_option("--conv-algorithm", s.conv_algorithm, kConvAlgorithmHelp);
}

void add_no_verify_option(CLI::App& app, SharedOptions& s) {
  app.add_flag("--no-verify", s.no_verify,
               "load checkpoints even when their checksums do not match (to inspect a damaged "
               "file)");
}

void apply_shared_options(const SharedOptions& s) {
  if (s.threads > 0) omp_set_num_threads(s.threads);
  set_checksum_policy(s.no_verify ? ChecksumPolicy::Skip : ChecksumPolicy::Verify);
  set_conv_backend(s.conv_backend);
  set_conv_algorithm(s.conv_algorithm);
}

std::map<std::string, interp::IncrementalMode> incremental_modes() {
  return {{"auto", interp::IncrementalMode::Auto},
          {"on", interp::IncrementalMode::On},
          {"off", interp::IncrementalMode::Off}};
}

void add_method_options(CLI::App& app, interp::MethodOptions& m, int64_t& mem_budget_mb) {
  app.add_option("--layer", m.layer, "layer the CAM methods explain (default: last 4-D output)");
  app.add_option("--seed", m.seed, "seed of the sampling methods: same seed, same attributions");
  app.add_option("--samples", m.samples,
                 "samples per explanation: LIME/KernelSHAP coalitions (1000), shapley-sampling "
                 "permutations (32), SmoothGrad copies (25)");
  app.add_option("--segments", m.segments, "SLIC superpixels for lime/kernelshap/shapley (16)");
  app.add_option("--segmentation", m.segmentation,
                 "slic (superpixels, about --segments of them) or grid (exactly --segments cells)");
  app.add_option("--ig-steps", m.ig_steps, "Integrated Gradients steps (Gauss-Legendre, 32)");
  app.add_option("--lrp-composite", m.lrp_composite,
                 "LRP composite of --method lrp: epsilon, gamma, alpha2beta1, epsilon-plus, "
                 "epsilon-alpha2beta1 or epsilon-gamma-box (default)");
  app.add_option("--lrp-epsilon", m.lrp_epsilon, "LRP stabiliser epsilon (1e-6)");
  app.add_option("--lrp-gamma", m.lrp_gamma, "LRP gamma of the gamma rule (0.25)");
  app.add_option("--lrp-alpha", m.lrp_alpha, "LRP alpha of the alpha-beta rule (2)");
  app.add_option("--lrp-beta", m.lrp_beta, "LRP beta of the alpha-beta rule (1; alpha - beta = 1)");
  app.add_option("--lrp-bias", m.lrp_bias,
                 "include (default) or ignore: whether biases (folded batch norms too) enter "
                 "the LRP denominators; ignore conserves relevance");
  app.add_option("--lrp-dead-field", m.lrp_dead_field,
                 "flat (default) or drop: LRP relevance of outputs whose denominator is exactly 0 "
                 "(every input 0) is passed on by the flat rule, or lost as in Zennit");
  app.add_option("--rise-masks", m.rise_masks, "RISE masks (2000)");
  app.add_option("--rise-cells", m.rise_cells, "RISE grid cells per side (4)");
  app.add_option("--rise-p", m.rise_p, "RISE probability of a kept cell (0.5)");
  app.add_option("--mem-budget", mem_budget_mb,
                 "memory budget in MB of each batched forward of perturbed inputs (512)");
  app.add_option("--occlusion-window", m.occlusion_window,
                 "occlusion window side in pixels (0: a quarter of the shorter side)");
  app.add_option("--occlusion-stride", m.occlusion_stride,
                 "occlusion stride in pixels (0: half the window)");
  app.add_option("--incremental", m.batch.incremental,
                 "auto (default: on for images of at least 64x64), on or off: occlusion, feature "
                 "ablation and the coalition methods compute each layer only where the changed "
                 "box reaches it (interp/incremental.h)")
      ->transform(CLI::CheckedTransformer(incremental_modes(), CLI::ignore_case));
  add_precision_options(app, m);
}

void add_precision_options(CLI::App& app, interp::MethodOptions& m) {
  const std::map<std::string, ForwardPrecision> precisions = {{"fp32", ForwardPrecision::Fp32},
                                                              {"bf16", ForwardPrecision::Bf16}};
  auto* precision =
      app.add_option("--precision", m.batch.precision,
                     "fp32 (default) or bf16: the no-grad forwards of the perturbation methods "
                     "(occlusion, rise, scorecam, lime, kernelshap, shapley) multiply bfloat16 "
                     "operands with float32 sums in the Winograd convolutions (CPUs with "
                     "AVX512-BF16); metrics always score with fp32")
          ->transform(CLI::CheckedTransformer(precisions, CLI::ignore_case));
  app.add_flag("--compare-fp32", m.compare_fp32,
               "with --precision bf16: also run each perturbation method in fp32 and report the "
               "maps' Spearman and largest difference (bf16_vs_fp32 in the JSON)")
      ->needs(precision);
}

void set_mem_budget(interp::MethodOptions& m, int64_t mb) {
  if (mb < 1) throw std::invalid_argument("--mem-budget must be at least 1 (MB)");
  m.batch.mem_budget_bytes = static_cast<size_t>(mb) << 20;
}

std::string method_help() { return "comma-separated methods: " + interp::method_list_text(","); }

void add_finetune_options(CLI::App& app, training::FinetuneConfig& f, bool& no_augment,
                          const std::string& what) {
  app.add_option("--batch-size", f.batch_size, what + " batch size");
  app.add_option("--lr", f.lr, what + " peak learning rate");
  app.add_option("--momentum", f.momentum, "SGD momentum (Nesterov)");
  app.add_option("--weight-decay", f.weight_decay, "weight decay");
  app.add_option("--schedule", f.schedule, "onecycle | cosine | step | constant");
  app.add_option("--warmup", f.warmup_fraction, "fraction of the steps for linear warm-up");
  app.add_option("--bn-l1", f.bn_l1, "L1 penalty on BN scales during " + what + " (0: off)");
  app.add_flag("--no-augment", no_augment, "no random crop and flip");
  add_anomaly_options(app, f.anomaly, what);
}

void add_anomaly_options(CLI::App& app, training::AnomalySettings& a, const std::string& what) {
  app.add_flag("--detect-anomaly", a.always,
               "check every op's output and gradient for NaN/Inf in every step of the " + what +
                   " (slower): a non-finite value stops it naming the step, op and module");
  app.add_option("--anomaly-steps", a.first_steps,
                 "those checks in the first K steps only (" +
                     std::to_string(training::kDefaultAnomalySteps) +
                     "; 0: off); a later non-finite loss or gradient re-runs its step with them")
      ->check(CLI::NonNegativeNumber);
}

void add_tensorboard_options(CLI::App& app, training::TensorBoardSettings& s,
                             const std::string& what) {
  auto* dir =
      app.add_option("--tensorboard", s.dir,
                     "write TensorBoard event files of the " + what +
                         " into this directory (created if missing; existing files are kept): "
                         "scalars, weight and gradient histograms, the graph, Grad-CAM views");
  app.add_option("--tensorboard-every", s.image_every,
                 "draw the TensorBoard images every N epochs (1)")
      ->needs(dir);
}

void set_training_views(training::TensorBoardSettings& s) {
  if (!s.dir.empty()) s.views = interp::training_views();
}

void add_compress_common(CLI::App& app, prune::CompressCommon& o, SharedOptions& shared) {
  app.add_option("--checkpoint", o.checkpoint, "checkpoint to compress")->required();
  add_no_verify_option(app, shared);
  app.add_option("--data", o.data, "data set (default: the one the checkpoint was trained on)");
  app.add_option("--limit-train", o.limit_train, "use only this many training images (0: all)");
  app.add_option("--limit-test", o.limit_test, "evaluate on this many test images (0: all)");
  app.add_option("--finetune-epochs", o.finetune.epochs,
                 "epochs of fine-tuning after pruning (fractions allowed; 0: none; iterative: "
                 "split over the steps)");
  app.add_option("--seed", o.finetune.seed, "seed of fine-tuning (loader order, augmentation)");
  app.add_option("--out", o.out, "checkpoint to write")->required();
  app.add_flag("--overwrite", o.overwrite, "replace an existing --out / --json");
  app.add_option("--json", o.json, "write the report as JSON");
  add_threads_option(app, shared, "compute threads (default: all cores)");
  app.add_flag("--quiet", o.quiet, "no progress output");
  add_tensorboard_options(app, o.tensorboard, "fine-tuning");
}

CLI::Option* add_zoo_model_options(CLI::App& app, ZooModelOptions& z) {
  auto* model = app.add_option("--model", z.name, "a zoo model, freshly initialised");
  app.add_option("--width", z.config.width, "with --model: channel width multiplier")->needs(model);
  app.add_option("--num-classes", z.config.num_classes, "with --model: outputs K (10)")
      ->needs(model);
  app.add_option("--input-size", z.input_size, "with --model: CxHxW of the input (3x32x32)")
      ->needs(model);
  app.add_option("--seed", z.seed, "with --model: initialisation seed (0)")->needs(model);
  return model;
}

void apply_input_size(ZooModelOptions& z) {
  if (z.input_size.empty()) return;
  char x1 = 0, x2 = 0;
  int64_t ch = 0, h = 0, w = 0;
  std::istringstream in(z.input_size);
  if (!(in >> ch >> x1 >> h >> x2 >> w) || x1 != 'x' || x2 != 'x' || !(in >> std::ws).eof() ||
      h != w || ch < 1 || h < 1) {
    throw std::runtime_error("--input-size '" + z.input_size + "' must be CxSxS (square)");
  }
  z.config.in_channels = ch;
  z.config.image_size = h;
}

}  // namespace gb::cli
