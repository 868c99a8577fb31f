// The glassbox command line: train, eval, summary, ops, bench, explain, evaluate-explanations,
// and prune, distill, compress (their options live in compress_commands.cpp).
// Each subcommand parses its options with CLI11 and calls the jobs in tools/lib. Errors print one
// clear line and exit non-zero.
#include <fmt/format.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>

#include "kernels/conv2d.h"
#include "models/registry.h"
#include "runtime/op_table.h"
#include "tools/cli/compress_commands.h"
#include "tools/lib/bench.h"
#include "tools/lib/bench_conv_cuda.h"
#include "tools/lib/evaluate_explanations.h"
#include "tools/lib/explain.h"
#include "tools/lib/summary.h"
#include "tools/lib/train.h"
#ifdef GB_WITH_CUDA
#endif

namespace {
using namespace gb;

void add_train(CLI::App& app, app::TrainConfig& c, app::TrainOptions& o, int& threads,
               std::string& device) {
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
  app.add_flag("!--no-augment", c.augment, "disable random crop and flip");
  app.add_option("--cutout", c.cutout, "cutout square size (0: off)");
  app.add_option("--crop-pad", c.crop_pad, "random-crop translation range in pixels (4)");
  app.add_flag("--tta", c.tta, "test-time augmentation: average with the mirrored image");
  app.add_option("--seed", c.seed, "random seed (weights, shuffling, augmentation)");
  app.add_option("--limit-train", c.limit_train, "use only this many training images (0: all)");
  app.add_option("--limit-test", c.limit_test, "use only this many test images (0: all)");
  app.add_option("--out", o.out, "checkpoint to write after each epoch")->required();
  app.add_option("--resume", o.resume, "continue training from this checkpoint");
  app.add_option("--json", o.json, "write per-epoch metrics to this JSON file");
  app.add_flag("--overwrite", o.overwrite, "replace an existing --out file");
  app.add_option("--stop-after-epoch", o.stop_after_epoch,
                 "stop after this epoch as if interrupted (resume later)");
  app.add_option("--threads", threads, "compute threads (default: all cores)");
  app.add_option("--device", device, "cpu | cuda | cuda:N (a GPU needs a CUDA build)");
  app.add_flag("--quiet", o.quiet, "no progress output");
}

// Options shared by explain and evaluate-explanations (CAM layer, seed, sampling, memory).
void add_method_options(CLI::App& app, app::MethodOptions& m, int64_t& mem_budget_mb) {
  app.add_option("--layer", m.layer, "layer the CAM methods explain (default: last 4-D output)");
  app.add_option("--seed", m.seed, "seed of the sampling methods: same seed, same attributions");
  app.add_option("--samples", m.samples,
                 "samples per explanation: LIME/KernelSHAP coalitions (1000), shapley-sampling "
                 "permutations (32), SmoothGrad copies (25)");
  app.add_option("--segments", m.segments, "SLIC superpixels for lime/kernelshap/shapley (16)");
  app.add_option("--segmentation", m.segmentation,
                 "slic (superpixels, about --segments of them) or grid (exactly --segments cells)");
  app.add_option("--ig-steps", m.ig_steps, "Integrated Gradients steps (Gauss-Legendre, 32)");
  app.add_option("--mem-budget", mem_budget_mb,
                 "memory budget in MB of each batched forward of perturbed inputs (512)");
}

void set_mem_budget(app::MethodOptions& m, int64_t mb) {
  if (mb < 1) throw std::invalid_argument("--mem-budget must be at least 1 (MB)");
  m.batch.mem_budget_bytes = static_cast<size_t>(mb) << 20;
}

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

constexpr const char* kConvAlgorithmHelp =
    "CPU convolution: auto (Winograd for 3x3 stride 1, padded-flat, im2col) | winograd | "
    "padded-flat (no Winograd) | im2col (neither), for before/after comparisons";

// Chooses the CPU convolution algorithm by name (kernel research and before/after benchmarks).
void set_conv_algorithm(const std::string& name) {
  kernels::cpu::ConvAlgorithm algorithm{};
  if (!kernels::cpu::parse_conv_algorithm(name.c_str(), &algorithm)) {
    throw std::invalid_argument(
        "--conv-algorithm: expected auto, winograd, padded-flat or im2col, got '" + name + "'");
  }
  kernels::cpu::set_conv_algorithm(algorithm);
}

void set_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"glassbox: train and explain CIFAR-style CNNs with one binary"};
  cli.require_subcommand(1);

  app::TrainConfig tc;
  app::TrainOptions to;
  int threads = 0;
  std::string device = "cpu", conv_backend = "handwritten", conv_algorithm = "auto";
  auto* train = cli.add_subcommand("train", "train a model and write a checkpoint");
  add_train(*train, tc, to, threads, device);
  std::string recipe;
  train->add_option("--recipe", recipe,
                    "fast: the airbench-style fast CIFAR-10 recipe (model airbench, batch 1024, 10 "
                    "epochs, label smoothing 0.2, flip TTA); options given explicitly still apply");
  train->add_option("--conv-backend", conv_backend,
                    "CUDA convolution: handwritten (default) | cudnn (for comparison)");
  train->add_option("--conv-algorithm", conv_algorithm, kConvAlgorithmHelp);

  std::string eval_ck, eval_data, eval_json;
  int64_t eval_limit = 0, eval_batch = 256;
  auto* eval = cli.add_subcommand("eval", "evaluate a checkpoint on a test split");
  eval->add_option("--checkpoint", eval_ck, "checkpoint file")->required();
  eval->add_option("--data", eval_data, "data set (default: the one it was trained on)");
  eval->add_option("--limit", eval_limit, "use only this many test images");
  eval->add_option("--batch-size", eval_batch, "batch size");
  eval->add_option("--json", eval_json, "write the result as JSON");
  eval->add_option("--threads", threads, "compute threads");
  eval->add_option("--device", device, "cpu | cuda | cuda:N");

  std::string sum_model = "resnet20", sum_ck;
  models::ModelConfig sum_cfg;
  bool sum_list = false;
  auto* summary = cli.add_subcommand("summary", "print a model's layer table");
  summary->add_option("--model", sum_model, "model name");
  summary->add_option("--checkpoint", sum_ck, "summarise the model in this checkpoint");
  summary->add_option("--classes", sum_cfg.num_classes, "number of classes");
  summary->add_option("--in-channels", sum_cfg.in_channels, "input channels");
  summary->add_option("--image-size", sum_cfg.image_size, "input height and width");
  summary->add_option("--width", sum_cfg.width, "channel width multiplier");
  summary->add_flag("--list", sum_list, "list the model zoo");

  auto* ops_cmd = cli.add_subcommand("ops", "print the op table (kernels per device, backward)");

  app::BenchConfig bc;
  std::string bench_json;
  bool bench_no_train = false, bench_no_infer = false;
  std::vector<int64_t> bench_gemm;
  auto* bench = cli.add_subcommand(
      "bench",
      "training and inference images/s on synthetic data, memory, per-layer profile, GEMM");
  bench
      ->add_option("--model", bc.models,
                   "models to run (repeat or comma-separate): zoo names or checkpoint files "
                   "(*.safetensors, e.g. a pruned model)")
      ->delimiter(',');
  bench->add_option("--batch-size", bc.train_batch, "training batch size");
  bench->add_option("--infer-batch-size", bc.infer_batch, "inference batch size");
  bench->add_option("--warmup", bc.warmup, "untimed warm-up repetitions");
  bench->add_option("--reps", bc.reps, "timed repetitions (the median is reported)");
  bench->add_option("--threads", bc.threads, "compute threads");
  bench->add_option("--device", bc.device, "cpu | cuda | cuda:N (a GPU needs a CUDA build)");
  bench->add_option("--conv-backend", conv_backend,
                    "CUDA convolution: handwritten (default) | cudnn (for comparison)");
  bench->add_option("--conv-algorithm", conv_algorithm, kConvAlgorithmHelp);
  bench->add_flag("--no-train", bench_no_train, "skip the training measurement");
  bench->add_flag("--no-inference", bench_no_infer, "skip the inference measurement");
  bench->add_flag("--per-layer", bc.per_layer,
                  "after the timed repetitions, profile a few more steps and print a per-layer "
                  "table (forward/backward ms per step, share, kernel notes)");
  bench->add_option("--profile-steps", bc.profile_steps, "steps profiled for --per-layer (3)");
  bench->add_option("--sort", bc.sort, "per-layer table order: order (execution) | time");
  bench
      ->add_option("--gemm", bench_gemm,
                   "square SGEMM sizes (e.g. 256,512,1024,2048): glassbox vs OpenBLAS GFLOP/s; "
                   "without --model, only the GEMM is measured")
      ->delimiter(',');
  bool bench_conv = false;
  bench->add_flag("--conv-layers", bench_conv,
                  "with --device cuda: time every conv layer shape of each model, hand-written "
                  "kernels against cuDNN");
  bench->add_option("--json", bench_json, "write the results as JSON");

  const std::string method_help = "comma-separated methods: " + [] {
    std::string all;
    for (const auto& n : app::explain_method_names()) all += (all.empty() ? "" : ",") + n;
    return all;
  }();
  app::ExplainConfig xc;
  std::string xc_methods, xc_image;
  int64_t xc_mem = 512;
  auto* explain = cli.add_subcommand("explain", "explain one image with several methods");
  explain->add_option("--checkpoint", xc.checkpoint, "checkpoint file")->required();
  auto* x_image = explain->add_option("--image", xc_image, "image file (PNG, JPEG, ...)");
  auto* x_index = explain->add_option("--index", xc.index, "test image K of the data set");
  x_image->excludes(x_index);
  explain->add_option("--data", xc.data, "data set of --index (default: the training one)");
  explain->add_option("--method", xc_methods, method_help)->required();
  explain->add_option("--target", xc.target, "class to explain: pred, an index or a class name");
  add_method_options(*explain, xc.method, xc_mem);
  explain->add_flag("--resize", xc.resize, "resize / convert an image of the wrong size");
  explain->add_option("--out", xc.out, "output directory (must be empty or new)")->required();
  explain->add_flag("--overwrite", xc.overwrite, "replace the files in a non-empty --out");
  explain->add_option("--threads", threads, "compute threads");
  explain->add_option("--conv-algorithm", conv_algorithm, kConvAlgorithmHelp);
  explain->add_option("--device", xc.device, "where the model runs: cpu | cuda | cuda:N");

  app::EvaluateConfig ec;
  std::string ec_methods = "gradcam,gradcam++,scorecam,ig,smoothgrad,occlusion,lime,kernelshap";
  std::string ec_json;
  int64_t ec_mem = 512;
  bool ec_no_warmup = false;
  auto* evalx = cli.add_subcommand(
      "evaluate-explanations",
      "deletion/insertion AUC, time and checks of methods over N test images, vs random maps");
  evalx->add_option("--checkpoint", ec.checkpoint, "checkpoint file")->required();
  evalx->add_option("--methods", ec_methods,
                    method_help + " (random and random-smooth are always added)");
  evalx->add_option("--count", ec.count, "number of test images (class-balanced subset)");
  evalx->add_option("--data", ec.data, "data set (default: the one it was trained on)");
  add_method_options(*evalx, ec.method, ec_mem);
  evalx->add_flag("--sanity-check", ec.sanity_check,
                  "cascading parameter randomisation check of Grad-CAM");
  evalx->add_option("--sanity-images", ec.sanity_images, "images of the sanity check (4)");
  evalx->add_flag("--no-warmup", ec_no_warmup, "time each method's first run too");
  evalx->add_option("--json", ec_json, "write the table (and sanity check) as JSON");
  evalx->add_option("--threads", threads, "compute threads");
  evalx->add_option("--conv-algorithm", conv_algorithm, kConvAlgorithmHelp);
  evalx->add_option("--device", ec.device, "where the model runs: cpu | cuda | cuda:N");
  evalx->add_flag("--quiet", ec.quiet, "no progress lines");

  // prune, distill, compress: options and dispatch in compress_commands.cpp.
  auto compress_cmds = gb::cli::add_compress_commands(cli);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }

  try {
    set_threads(threads);
    set_conv_backend(conv_backend);
    set_conv_algorithm(conv_algorithm);
    if (gb::cli::run_compress_commands(*compress_cmds)) return 0;
    if (*train) {
      if (!to.resume.empty()) {
        // A resumed run continues with its saved configuration; only the length may change.
        for (const char* flag :
             {"--model",        "--width",    "--data",       "--batch-size",
              "--optimizer",    "--lr",       "--momentum",   "--no-nesterov",
              "--weight-decay", "--schedule", "--warmup",     "--label-smoothing",
              "--clip-grad",    "--bn-l1",    "--no-augment", "--cutout",
              "--crop-pad",     "--tta",      "--seed",       "--limit-train",
              "--limit-test"}) {
          if (train->count(flag) > 0) {
            throw std::runtime_error(std::string(flag) +
                                     " cannot be combined with --resume: the run continues with "
                                     "the configuration saved in " +
                                     to.resume.string() + " (only --epochs may change)");
          }
        }
        if (train->count("--epochs") > 0) to.epochs_override = tc.epochs;
      }
      if (!recipe.empty()) {
        if (recipe != "fast") throw std::invalid_argument("--recipe: expected fast, got " + recipe);
        if (!to.resume.empty()) throw std::invalid_argument("--recipe cannot go with --resume");
        const app::TrainConfig given = tc;
        app::apply_fast_recipe(tc);
        // Options the user set on the command line win over the recipe's values.
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
        };
        for (const auto& [flag, restore] : keep) {
          if (train->count(flag) > 0) restore();
        }
      }
      to.device = parse_device(device);
      auto result = app::train(tc, to);
      if (!to.quiet && !result.epochs.empty()) {
        const auto& last = result.epochs.back();
        fmt::print("done: test accuracy {:.2f}%, checkpoint {}\n", 100.0 * last.test_accuracy,
                   to.out.string());
      }
    } else if (*eval) {
      auto lm = app::load_model(eval_ck);
      std::string data = eval_data;
      if (data.empty()) data = lm.meta.at("train_config").at("data").get<std::string>();
      auto ds = app::load_split(data, data::Split::kTest, eval_limit);
      if (ds.classes.size() != lm.classes.size()) {
        throw std::runtime_error(ds.source + ": has " + std::to_string(ds.classes.size()) +
                                 " classes, the checkpoint's model has " +
                                 std::to_string(lm.classes.size()));
      }
      const auto shape = lm.meta.at("input_shape").get<std::vector<int64_t>>();
      if (ds.channels != shape[0] || ds.height != shape[1] || ds.width != shape[2]) {
        throw std::runtime_error(
            fmt::format("{}: images are {}x{}x{} but the model in {} expects {}x{}x{}", ds.source,
                        ds.channels, ds.height, ds.width, eval_ck, shape[0], shape[1], shape[2]));
      }
      lm.model->to(parse_device(device));
      auto r = app::evaluate(*lm.model, ds, lm.norm, eval_batch, false);
      r.classes = lm.classes;
      std::cout << "\n" << app::format_eval_report(r);
      if (!eval_json.empty()) {
        nlohmann::json j{{"checkpoint", eval_ck},
                         {"data", ds.source},
                         {"accuracy", r.accuracy},
                         {"loss", r.loss},
                         {"samples", r.samples},
                         {"classes", r.classes},
                         {"per_class_accuracy", r.per_class_accuracy},
                         {"confusion", r.confusion},
                         {"seconds", r.seconds}};
        app::write_json_file(eval_json, j, true);
      }
    } else if (*summary) {
      if (sum_list) {
        for (const auto& n : models::model_names()) fmt::print("{}\n", n);
        return 0;
      }
      std::shared_ptr<Module> model;
      std::string title;
      Shape input;
      if (!sum_ck.empty()) {
        auto lm = app::load_model(sum_ck);
        model = lm.model;
        input = lm.meta.at("input_shape").get<std::vector<int64_t>>();
        title = lm.model_name + " from " + sum_ck;
      } else {
        model = models::build_model(sum_model, sum_cfg);
        input = {sum_cfg.in_channels, sum_cfg.image_size, sum_cfg.image_size};
        title = sum_model;
      }
      std::cout << app::format_summary(app::summarize(*model, input), title);
    } else if (*bench) {
      bc.train = !bench_no_train;
      bc.inference = !bench_no_infer;
      if (bc.profile_steps < 1) throw std::invalid_argument("--profile-steps must be at least 1");
      const bool run_models =
          (bench_gemm.empty() && !bench_conv) || (bench->count("--model") > 0 && !bench_conv);
      nlohmann::json conv_json;
      if (bench_conv) {
        parse_device(bc.device);
        for (const auto& m : bc.models) {
          const auto t = app::bench_conv_layers(m, bc.train_batch, bc.warmup, bc.reps);
          std::cout << app::format_conv_layers(m, t);
          conv_json[m] = app::conv_layers_to_json(t);
        }
      }
      std::vector<app::BenchRow> rows;
      if (run_models) {
        rows = app::run_bench(bc, false);
        std::cout << app::format_bench(rows);
        if (bc.models.size() > 1) {
          std::cout << "(peak RSS is the process's high-water mark: rows after the first model "
                       "include what earlier models used; run one model per process, as "
                       "tools/bench_compare.py does, for per-model figures)\n";
        }
        for (const auto& r : rows) std::cout << app::format_per_layer(r, bc.sort);
      }
      std::optional<app::GemmReport> gemm;
      if (!bench_gemm.empty()) {
        gemm = app::run_gemm_bench(bench_gemm, bc);
        std::cout << app::format_gemm(*gemm);
      }
      if (!bench_json.empty()) {
        auto j = app::bench_to_json(bc, rows, gemm ? &*gemm : nullptr);
        if (bench_conv) j["conv_layers"] = conv_json;
        app::write_json_file(bench_json, j, true);
      }
    } else if (*explain) {
      xc.methods = app::parse_method_list(xc_methods);
      xc.image = xc_image;
      if (xc_image.empty() && explain->count("--index") == 0) {
        throw std::invalid_argument("give --image FILE or --index K");
      }
      if (explain->count("--index") > 0 && xc.index < 0) {
        throw std::invalid_argument("--index must be >= 0");
      }
      set_mem_budget(xc.method, xc_mem);
      const auto r = app::explain(xc);
      std::cout << app::format_explain_summary(r);
    } else if (*evalx) {
      ec.methods = app::parse_method_list(ec_methods);
      ec.warmup = !ec_no_warmup;
      set_mem_budget(ec.method, ec_mem);
      if (!ec_json.empty()) {  // fail before the long run, not after it
        const std::filesystem::path jp(ec_json);
        if (std::filesystem::is_directory(jp)) {
          throw std::runtime_error(ec_json + ": is a directory");
        }
        if (jp.has_parent_path() && !std::filesystem::is_directory(jp.parent_path())) {
          throw std::runtime_error(ec_json + ": directory " + jp.parent_path().string() +
                                   " does not exist");
        }
      }
      const auto r = app::evaluate_explanations(ec);
      std::cout << app::format_evaluation(r);
      if (!ec_json.empty()) app::write_json_file(ec_json, app::evaluation_to_json(r), true);
    } else if (*ops_cmd) {
      fmt::print("{}", format_op_table());
    }
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "glassbox: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
