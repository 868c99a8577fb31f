// Checkpoint metadata: the one place that knows the keys of the "glassbox" metadata entry of a
// checkpoint. Reading gives a CheckpointMeta (model name and config, classes, normalisation,
// input shape, training data set) and, for resume, the TrainingState; writing builds the entry of
// a trained checkpoint and of the checkpoints derived from one (pruned, weight-shared,
// distilled), which keep their source's keys and add a section of their own.
// Shape letters: C channels, H/W image size.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/normalize.h"
#include "models/model_config.h"
#include "models/training/finetune.h"
#include "models/training/train_config.h"
#include "runtime/module.h"
#include "runtime/optim.h"
#include "runtime/safetensors.h"

namespace gb::training {

// What every glassbox checkpoint records about its model.
struct CheckpointMeta {
  std::string model_name;            // zoo name the model is rebuilt with
  models::ModelConfig model_config;  // classes, input, width, channel overrides of a pruned model
  std::vector<std::string> classes;  // class names, index = label
  data::Normalization norm;          // of the model's inputs
  Shape input_shape;                 // [C,H,W]
  std::string training_data;  // the data set it was trained on ("": Fashion-MNIST or unknown)
  nlohmann::json json;        // the whole entry as stored; derived checkpoints start from it
};

// Parses the "glassbox" metadata of `file`, read from `path`.
// throws: std::runtime_error naming `path`: not a glassbox checkpoint, unsupported format, or bad
// metadata (a missing or mistyped key, an invalid model config).
CheckpointMeta read_checkpoint_meta(const SafetensorsFile& file, const std::filesystem::path& path);

// A model rebuilt from a checkpoint's metadata with its weights loaded, in eval mode.
struct LoadedModel {
  std::shared_ptr<Module> model;
  CheckpointMeta meta;
};
// throws: std::runtime_error naming the file (unreadable, not glassbox, bad metadata, a tensor
// missing or of the wrong shape).
LoadedModel load_model(const std::filesystem::path& checkpoint);
// A zoo model `name` freshly initialised from `seed` with `config`, described as a checkpoint
// would describe it: identity normalisation, classes "0".."K-1", in eval mode. For commands that
// take --model instead of --checkpoint (export, graph). throws: std::invalid_argument for an
// unknown name or an invalid config.
LoadedModel fresh_zoo_model(const std::string& name, const models::ModelConfig& config,
                            uint64_t seed);
// load_model(checkpoint), or fresh_zoo_model(name, config, seed) when checkpoint is empty.
// requires: exactly one of checkpoint and name (else std::invalid_argument naming `command`).
LoadedModel load_or_build_model(const std::filesystem::path& checkpoint, const std::string& name,
                                const models::ModelConfig& config, uint64_t seed,
                                const std::string& command);

// meta.training_data when it exists from here ("" stays ""). throws: std::runtime_error naming
// the checkpoint and suggesting --data when the recorded path does not exist.
std::string existing_training_data(const CheckpointMeta& meta,
                                   const std::filesystem::path& checkpoint);

// Writes `model`'s tensors and the metadata entry `meta` (no optimizer state), atomically.
void save_model(const std::filesystem::path& out, const Module& model, const nlohmann::json& meta);

// ---- the training run (`glassbox train`, resume) ----

// Where a training run stands after an epoch: what resume continues from.
struct TrainingState {
  TrainConfig config;
  int64_t epoch = 0;  // epochs done
  int64_t optimizer_steps = 0;
  uint64_t dropout_counter = 0;
  nlohmann::json history = nlohmann::json::array();  // one epoch_metrics_json per epoch
};

// The training state recorded in `meta`, read from `path`.
// throws: std::runtime_error naming `path` when a training key is missing or mistyped.
TrainingState read_training_state(const CheckpointMeta& meta, const std::filesystem::path& path);

// Writes a training checkpoint: `model`'s tensors, the optimizer state (for resume) and the
// metadata entry `meta` (trained_meta), atomically.
void save_trained_checkpoint(const std::filesystem::path& out, const Module& model,
                             const optim::Optimizer& optimizer, const nlohmann::json& meta);

// The metadata entry of a checkpoint written by `glassbox train` after an epoch.
nlohmann::json trained_meta(const models::ModelConfig& model_config,
                            const std::vector<std::string>& classes,
                            const data::Normalization& norm, const Shape& input_shape,
                            const TrainingState& state);

// The metadata entry of a model imported from another format (`glassbox import`): model "graph"
// whose config holds the graph, and an "import" section (source file, opset, producer).
nlohmann::json imported_meta(const models::ModelConfig& model_config,
                             const std::vector<std::string>& classes,
                             const data::Normalization& norm, const Shape& input_shape,
                             const nlohmann::json& import);

// TrainConfig as recorded under "train_config" (and in the --json metrics file).
nlohmann::json train_config_json(const TrainConfig& c);
// One epoch's entry of "history" (and of the --json metrics file).
nlohmann::json epoch_metrics_json(const EpochMetrics& m);

// ---- checkpoints derived from another one ----

// A pruned model: `source`'s entry with the pruned model config and a "pruning" section.
nlohmann::json pruned_meta(const CheckpointMeta& source, const models::ModelConfig& pruned,
                           const nlohmann::json& pruning);

// A weight-shared model: `source`'s entry with a "compression" section.
nlohmann::json compressed_meta(const CheckpointMeta& source, const nlohmann::json& compression);

// A student distilled from the teacher checkpoint `teacher`.
struct DistilledStudent {
  std::string model_name;
  models::ModelConfig model_config;
  float width = 1.0f;
  std::string data;  // the data set it was trained on
  FinetuneConfig recipe;
  int64_t limit_train = 0, limit_test = 0;
  double train_loss = 0, test_accuracy = 0;
};
// The teacher's entry with the student's model, epochs (rounded up), seed, recipe (in
// "train_config" when the teacher has one), a one-epoch history and a "distillation" section.
nlohmann::json distilled_meta(const CheckpointMeta& teacher, const DistilledStudent& student,
                              const nlohmann::json& distillation);

}  // namespace gb::training
