// Options that several glassbox subcommands share: compute threads, the CUDA convolution backend
// and the CPU convolution algorithm (applied once before a command runs), the explanation-method
// options of explain and evaluate-explanations, and the fine-tuning and common options of prune,
// distill and compress, their TensorBoard logging (and train's), and the zoo-model options of the
// commands that take --model instead of --checkpoint (export, graph).
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "interp/prune/job_common.h"
#include "interp/registry.h"
#include "models/model_config.h"
#include "models/training/finetune.h"
#include "models/training/tensorboard.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace gb::cli {

struct SharedOptions {
  int threads = 0;  // 0: all cores (OpenMP's default)
  std::string conv_backend = "handwritten";
  std::string conv_algorithm = "auto";
  bool no_verify = false;  // load checkpoints without checking their checksums
};

void add_threads_option(CLI::App& app, SharedOptions& s, const std::string& help);
// --tta-level 0..2 (models/training/evaluate.h's test-time augmentation levels) into `level`.
void add_tta_level_option(CLI::App& app, int64_t& level);
void add_conv_backend_option(CLI::App& app, SharedOptions& s);
void add_conv_algorithm_option(CLI::App& app, SharedOptions& s);
// --no-verify: every command that reads a checkpoint.
void add_no_verify_option(CLI::App& app, SharedOptions& s);

// Sets the thread count, the convolution backend, the convolution algorithm and the checkpoint
// checksum policy.
// throws: std::invalid_argument / std::runtime_error naming the option and the accepted values.
void apply_shared_options(const SharedOptions& s);

// explain and evaluate-explanations: --layer, --seed, --samples, --segments, --segmentation,
// --ig-steps, --mem-budget (MB, applied by set_mem_budget after parsing), --incremental,
// --precision, --compare-fp32.
// The names of --incremental's modes.
std::map<std::string, interp::IncrementalMode> incremental_modes();
void add_method_options(CLI::App& app, interp::MethodOptions& m, int64_t& mem_budget_mb);
// --precision fp32|bf16 (the perturbation batches' forwards) and --compare-fp32; also probe's.
void add_precision_options(CLI::App& app, interp::MethodOptions& m);
// throws: std::invalid_argument when mb < 1.
void set_mem_budget(interp::MethodOptions& m, int64_t mb);
// "comma-separated methods: gradcam,gradcam++,..."
std::string method_help();

// prune, distill and compress: the fine-tuning (distill: training) recipe; `what` names it in the
// help texts ("fine-tuning", "training").
void add_finetune_options(CLI::App& app, training::FinetuneConfig& f, bool& no_augment,
                          const std::string& what);
// --detect-anomaly (the anomaly guard on every step) and --anomaly-steps K (on for the first K
// steps; 0: off) of train, prune, distill and compress; `what` names the training in the help.
void add_anomaly_options(CLI::App& app, training::AnomalySettings& a, const std::string& what);
// --tensorboard DIR and --tensorboard-every N (train, prune, distill, compress): `what` names the
// training that is logged ("training", "fine-tuning").
void add_tensorboard_options(CLI::App& app, training::TensorBoardSettings& s,
                             const std::string& what);
// After parsing: the training views (Grad-CAM of fixed test images, activations) when a
// directory was given.
void set_training_views(training::TensorBoardSettings& s);

// prune and compress: checkpoint, data, limits, fine-tuning epochs, seed, output, threads, quiet.
void add_compress_common(CLI::App& app, prune::CompressCommon& o, SharedOptions& shared);

// export and graph: --model NAME with --width, --num-classes, --input-size CxSxS, --seed (each
// needing --model). Returns the --model option, so callers can make it exclude --checkpoint.
struct ZooModelOptions {
  std::string name;  // "" when --model was not given
  models::ModelConfig config;
  std::string input_size;  // CxSxS, applied to config by apply_input_size
  uint64_t seed = 0;
};
CLI::Option* add_zoo_model_options(CLI::App& app, ZooModelOptions& z);
// Sets z.config's channels and image size from z.input_size (nothing when empty).
// throws: std::runtime_error naming --input-size when it is not CxSxS with positive sizes.
void apply_input_size(ZooModelOptions& z);

}  // namespace gb::cli
