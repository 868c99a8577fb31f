// `glassbox bench`: images/s of zoo models or checkpoints for training steps and inference on
// synthetic data (models/training/throughput.h), memory, the per-layer profile, the SGEMM
// comparison with OpenBLAS (bench_gemm.h), the CPU depthwise kernels against im2col + GEMM
// (bench_depthwise.h) and, on a GPU, per-layer convolutions against cuDNN (bench_conv_layers.h);
// tables and JSON.
#include <fmt/format.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>

#include "models/registry.h"
#include "models/training/checkpoint_meta.h"
#include "models/training/throughput.h"
#include "runtime/output_path.h"
#include "runtime/rng.h"
#include "tools/cli/bench_conv_layers.h"
#include "tools/cli/bench_depthwise.h"
#include "tools/cli/bench_gemm.h"
#include "tools/cli/commands.h"
#include "tools/cli/shared_options.h"

namespace gb::cli {
namespace {

struct BenchConfig {
  std::vector<std::string> models{"resnet20"};
  int64_t train_batch = 128;
  int64_t infer_batch = 256;
  int64_t warmup = 2;
  int64_t reps = 5;
  int64_t image_size = 32;
  int64_t channels = 3;
  int threads = 0;  // 0: the OpenMP default
  bool train = true;
  bool inference = true;
  // Per-layer profile: after the timed repetitions, `profile_steps` more steps with profiling on.
  bool per_layer = false;
  int64_t profile_steps = 3;
  std::string sort = "order";  // per-layer table order: "order" (execution) | "time"
  std::string device = "cpu";  // cpu | cuda | cuda:N (parse_device)
  // The anomaly guard on (--detect-anomaly): what it costs.
  bool detect_anomaly = false;
};

struct BenchCommand {
  CLI::App* app = nullptr;
  BenchConfig config;
  std::string json;
  bool no_train = false, no_inference = false, conv_layers = false, overwrite = false;
  std::vector<int64_t> gemm;
  std::vector<int64_t> depthwise;  // batch sizes of the depthwise benchmark
};

// A zoo model built from seed 0, or the model in a checkpoint (a pruned or distilled model runs
// with its own channels), with its input shape [C,H,W] and class count.
struct BenchModel {
  std::shared_ptr<Module> model;
  Shape chw;
  int64_t classes = 10;
};

BenchModel load_bench_model(const std::string& name, const BenchConfig& cfg) {
  manual_seed(0);
  BenchModel b;
  if (name.ends_with(".safetensors")) {
    const training::LoadedModel lm = training::load_model(name);
    b.model = lm.model;
    b.chw = lm.meta.input_shape;
    b.classes = lm.meta.model_config.num_classes;
    return b;
  }
  models::ModelConfig mc;
  mc.in_channels = cfg.channels;
  mc.image_size = cfg.image_size;
  b.model = models::build_model(name, mc);
  b.chw = {cfg.channels, cfg.image_size, cfg.image_size};
  b.classes = mc.num_classes;
  return b;
}

std::vector<training::ThroughputRow> run_bench(const BenchConfig& cfg) {
  if (cfg.threads > 0) omp_set_num_threads(cfg.threads);
  if (cfg.sort != "order" && cfg.sort != "time") {
    throw std::invalid_argument("bench: --sort must be 'order' or 'time', got '" + cfg.sort + "'");
  }
  const Device device = parse_device(cfg.device);
  // On a GPU the per-layer spans wait for the device, so each row holds its own kernels' time.
  profile::set_device_sync(device.type != DeviceType::Cpu);
  training::ThroughputOptions opt;
  opt.train_batch = cfg.train_batch;
  opt.infer_batch = cfg.infer_batch;
  opt.warmup = cfg.warmup;
  opt.reps = cfg.reps;
  opt.train = cfg.train;
  opt.inference = cfg.inference;
  opt.peak_memory = true;
  opt.detect_anomaly = cfg.detect_anomaly;
  opt.profile_steps = cfg.per_layer ? std::max<int64_t>(cfg.profile_steps, 1) : 0;
  std::vector<training::ThroughputRow> rows;
  for (const auto& name : cfg.models) {
    const training::MemoryReading baseline = training::read_memory();
    BenchModel b = load_bench_model(name, cfg);
    b.model->to(device);
    for (auto& row : training::measure_throughput(*b.model, b.chw, b.classes, opt, baseline)) {
      row.model = name;
      row.device = cfg.device;
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

std::string mb_or_dash(double mb) { return mb > 0 ? fmt::format("{:.1f}", mb) : "-"; }

std::string format_bench(const std::vector<training::ThroughputRow>& rows) {
  std::string out =
      fmt::format("{:<12} {:<10} {:>6} {:>10} {:>9} {:>9} {:>9} {:>12} {:>12} {:>12}\n", "model",
                  "mode", "batch", "median ms", "min ms", "max ms", "img/s", "peak tensor",
                  "RSS base MB", "peak RSS MB");
  for (const auto& r : rows) {
    out += fmt::format(
        "{:<12} {:<10} {:>6} {:>10.1f} {:>9.1f} {:>9.1f} {:>9.1f} {:>12} {:>12} {:>12}\n", r.model,
        r.mode, r.batch, r.median_ms, r.min_ms, r.max_ms, r.images_per_second,
        r.mode == "train" ? fmt::format("{:.1f} MB", r.peak_tensor_mb) : "-",
        mb_or_dash(r.rss_baseline_mb), mb_or_dash(r.peak_rss_mb));
  }
  return out;
}

// The JSON of `glassbox bench --json`: settings, one object per row (with "per_layer" when
// profiled), and "gemm" when `gemm` is given.
nlohmann::json bench_to_json(const BenchConfig& cfg,
                             const std::vector<training::ThroughputRow>& rows,
                             const GemmReport* gemm, const DepthwiseReport* depthwise) {
  nlohmann::json j{{"threads", cfg.threads > 0 ? cfg.threads : omp_get_max_threads()},
                   {"warmup", cfg.warmup},
                   {"reps", cfg.reps},
                   {"data", "synthetic normal"},
                   {"rows", nlohmann::json::array()}};
  for (const auto& r : rows) {
    nlohmann::json row{{"model", r.model},
                       {"mode", r.mode},
                       {"device", r.device},
                       {"batch", r.batch},
                       {"median_ms", r.median_ms},
                       {"min_ms", r.min_ms},
                       {"max_ms", r.max_ms},
                       {"images_per_second", r.images_per_second},
                       {"peak_tensor_mb", r.peak_tensor_mb},
                       {"rss_baseline_mb", r.rss_baseline_mb},
                       {"peak_rss_mb", r.peak_rss_mb},
                       {"maxrss_mb", r.maxrss_mb}};
    if (r.per_layer) {
      const training::LayerProfile& p = *r.per_layer;
      nlohmann::json layers = nlohmann::json::array();
      for (const auto& pr : p.rows) {
        nlohmann::json kernels = nlohmann::json::object();
        for (const auto& [k, n] : pr.kernels) kernels[k] = n;
        const double per_step = pr.total_ms / static_cast<double>(p.steps);
        layers.push_back({{"module", pr.module},
                          {"op_or_type", pr.op_or_type},
                          {"pass", profile::pass_name(pr.pass)},
                          {"total_ms", pr.total_ms},
                          {"calls", pr.calls},
                          {"ms_per_step", per_step},
                          {"share", p.step_ms > 0 ? per_step / p.step_ms : 0.0},
                          {"kernels", kernels}});
      }
      row["per_layer"] = {{"steps", p.steps}, {"step_ms", p.step_ms}, {"rows", layers}};
    }
    j["rows"].push_back(row);
  }
  if (gemm) j["gemm"] = gemm_to_json(*gemm);
  if (depthwise) j["depthwise"] = depthwise_to_json(*depthwise);
  return j;
}

// Every distinct conv layer shape of each model on the GPU, hand-written kernels against cuDNN.
nlohmann::json run_conv_layers(const BenchConfig& cfg) {
  parse_device(cfg.device);
  nlohmann::json j;
  for (const auto& m : cfg.models) {
    const auto t = bench_conv_layers(m, cfg.train_batch, cfg.warmup, cfg.reps);
    std::cout << format_conv_layers(m, t);
    j[m] = conv_layers_to_json(t);
  }
  return j;
}

void run(BenchCommand& b) {
  BenchConfig& cfg = b.config;
  cfg.train = !b.no_train;
  cfg.inference = !b.no_inference;
  if (cfg.profile_steps < 1) throw std::invalid_argument("--profile-steps must be at least 1");
  if (!b.json.empty()) check_output_file(b.json, b.overwrite, "--json");  // before measuring
  const bool run_models =
      !b.conv_layers && ((b.gemm.empty() && b.depthwise.empty()) || b.app->count("--model") > 0);
  const nlohmann::json conv_json = b.conv_layers ? run_conv_layers(cfg) : nlohmann::json();
  std::vector<training::ThroughputRow> rows;
  if (run_models) {
    rows = run_bench(cfg);
    std::cout << format_bench(rows);
    if (cfg.models.size() > 1) {
      std::cout << "(peak RSS is the process's high-water mark: rows after the first model "
                   "include what earlier models used; run one model per process, as "
                   "tools/bench_compare.py does, for per-model figures)\n";
    }
    for (const auto& r : rows) std::cout << training::format_per_layer(r, cfg.sort);
  }
  std::optional<GemmReport> gemm;
  if (!b.gemm.empty()) {
    gemm = run_gemm_bench(b.gemm, cfg.threads, cfg.warmup, cfg.reps);
    std::cout << format_gemm(*gemm);
  }
  std::optional<DepthwiseReport> depthwise;
  if (!b.depthwise.empty()) {
    if (cfg.threads > 0) omp_set_num_threads(cfg.threads);
    depthwise = run_depthwise_bench(b.depthwise, cfg.warmup, cfg.reps);
    std::cout << format_depthwise(*depthwise);
  }
  if (!b.json.empty()) {
    auto j = bench_to_json(cfg, rows, gemm ? &*gemm : nullptr, depthwise ? &*depthwise : nullptr);
    if (b.conv_layers) j["conv_layers"] = conv_json;
    write_json_file(b.json, j, b.overwrite);
  }
}

void add_options(CLI::App& app, BenchCommand& b, SharedOptions& shared) {
  BenchConfig& bc = b.config;
  app.add_option("--model", bc.models,
                 "models to run (repeat or comma-separate): zoo names or checkpoint files "
                 "(*.safetensors, e.g. a pruned model)")
      ->delimiter(',');
  app.add_option("--batch-size", bc.train_batch, "training batch size");
  app.add_option("--infer-batch-size", bc.infer_batch, "inference batch size");
  app.add_option("--warmup", bc.warmup, "untimed warm-up repetitions");
  app.add_option("--reps", bc.reps, "timed repetitions (the median is reported)");
  app.add_option("--threads", bc.threads, "compute threads");
  app.add_option("--device", bc.device, "cpu | cuda | cuda:N (a GPU needs a CUDA build)");
  add_conv_backend_option(app, shared);
  add_no_verify_option(app, shared);
  add_conv_algorithm_option(app, shared);
  app.add_flag("--no-train", b.no_train, "skip the training measurement");
  app.add_flag("--no-inference", b.no_inference, "skip the inference measurement");
  app.add_flag("--per-layer", bc.per_layer,
               "after the timed repetitions, profile a few more steps and print a per-layer "
               "table (forward/backward ms per step, share, kernel notes)");
  app.add_option("--profile-steps", bc.profile_steps, "steps profiled for --per-layer (3)");
  app.add_flag("--detect-anomaly", bc.detect_anomaly,
               "time the steps with the anomaly guard on (NaN/Inf checks of every op): its cost");
  app.add_option("--sort", bc.sort, "per-layer table order: order (execution) | time");
  app.add_option("--gemm", b.gemm,
                 "square SGEMM sizes (e.g. 256,512,1024,2048): glassbox vs OpenBLAS GFLOP/s; "
                 "without --model, only the GEMM is measured")
      ->delimiter(',');
  app.add_option("--depthwise", b.depthwise,
                 "batch sizes (e.g. 1,64): MobileNetV2/EfficientNet depthwise layers on the CPU, "
                 "the depthwise kernels vs im2col + GEMM, per pass; without --model, only these")
      ->delimiter(',');
  app.add_flag("--conv-layers", b.conv_layers,
               "with --device cuda: time every conv layer shape of each model, hand-written "
               "kernels against cuDNN");
  app.add_option("--json", b.json, "write the results as JSON");
  app.add_flag("--overwrite", b.overwrite, "replace an existing --json file");
}

}  // namespace

Command add_bench(CLI::App& cli, SharedOptions& shared) {
  auto b = std::make_shared<BenchCommand>();
  b->app = cli.add_subcommand(
      "bench",
      "training and inference images/s on synthetic data, memory, per-layer profile, GEMM");
  add_options(*b->app, *b, shared);
  return {b->app, [b] { run(*b); }};
}

}  // namespace gb::cli
