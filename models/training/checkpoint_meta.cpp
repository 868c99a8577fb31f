// Every key of the "glassbox" checkpoint metadata entry, read and written (see checkpoint_meta.h).
// Shape letters: C channels, H/W image size.
#include "models/training/checkpoint_meta.h"

#include <cmath>
#include <stdexcept>

#include "models/registry.h"
#include "runtime/checkpoint.h"

namespace gb::training {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kMetadataKey = "glassbox";
constexpr const char* kFormat = "glassbox-checkpoint/1";

// Parser callback: refuses a floating-point number that no integer or float field could hold
// (|x| >= 2^63), since nlohmann's get<int64_t>() / get<float>() convert without a range check.
bool in_range_numbers(int, json::parse_event_t event, json& value) {
  if (event == json::parse_event_t::value && value.is_number_float() &&
      !(std::fabs(value.get<double>()) < 9.2e18)) {
    throw std::invalid_argument("bad glassbox metadata: number " + value.dump() +
                                " is out of range");
  }
  return true;
}

std::runtime_error bad_metadata(const fs::path& path, const std::exception& e) {
  return std::runtime_error(path.string() + ": bad glassbox metadata: " + e.what());
}

json norm_json(const data::Normalization& n) { return json{{"mean", n.mean}, {"std", n.std}}; }

// The fields of CheckpointMeta from the parsed entry `j`. throws: json or invalid_argument errors.
void parse_model_fields(const json& j, CheckpointMeta& m) {
  if (j.at("format").get<std::string>() != kFormat) {
    throw std::invalid_argument("unsupported format " + j.at("format").get<std::string>());
  }
  m.model_name = j.at("model").get<std::string>();
  m.model_config = j.at("model_config").get<models::ModelConfig>();
  m.classes = j.at("classes").get<std::vector<std::string>>();
  m.norm.mean = j.at("normalization").at("mean").get<std::vector<float>>();
  m.norm.std = j.at("normalization").at("std").get<std::vector<float>>();
  m.input_shape = j.at("input_shape").get<std::vector<int64_t>>();
  if (j.contains("train_config")) m.training_data = j["train_config"].value("data", std::string());
}

TrainConfig train_config_from_json(const json& j) {
  TrainConfig c;
  c.model = j.at("model").get<std::string>();
  c.width = j.at("width").get<float>();
  c.data = j.at("data").get<std::string>();
  c.epochs = j.at("epochs").get<int64_t>();
  c.batch_size = j.at("batch_size").get<int64_t>();
  c.optimizer = j.at("optimizer").get<std::string>();
  c.lr = j.at("lr").get<float>();
  c.momentum = j.at("momentum").get<float>();
  c.nesterov = j.at("nesterov").get<bool>();
  c.weight_decay = j.at("weight_decay").get<float>();
  c.schedule = j.at("schedule").get<std::string>();
  c.warmup_fraction = j.at("warmup_fraction").get<float>();
  c.label_smoothing = j.at("label_smoothing").get<float>();
  c.clip_grad_norm = j.at("clip_grad_norm").get<float>();
  c.bn_l1 = j.value("bn_l1", 0.0f);  // absent in checkpoints written before it existed
  c.augment = j.at("augment").get<bool>();
  c.crop_pad = j.value("crop_pad", int64_t{4});  // absent before the fast recipe existed
  c.tta_level = j.value("tta_level", j.value("tta", false) ? int64_t{1} : int64_t{0});
  c.bn_bias_lr_scale = j.value("bn_bias_lr_scale", 1.0f);
  c.freeze_bn_weight = j.value("freeze_bn_weight", false);
  c.whiten_bias_epochs = j.value("whiten_bias_epochs", int64_t{-1});
  c.lookahead = j.value("lookahead", false);
  c.cutout = j.at("cutout").get<int64_t>();
  c.seed = j.at("seed").get<uint64_t>();
  c.limit_train = j.at("limit_train").get<int64_t>();
  c.limit_test = j.at("limit_test").get<int64_t>();
  c.eval_each_epoch = j.at("eval_each_epoch").get<bool>();
  return c;
}

// The student's recipe over the teacher's "train_config" (keys the student did not set stay).
void set_student_recipe(json& tc, const DistilledStudent& s, int64_t epochs) {
  tc["model"] = s.model_name;
  tc["width"] = s.width;
  tc["data"] = s.data;
  tc["epochs"] = epochs;
  tc["batch_size"] = s.recipe.batch_size;
  tc["lr"] = s.recipe.lr;
  tc["momentum"] = s.recipe.momentum;
  tc["nesterov"] = s.recipe.nesterov;
  tc["weight_decay"] = s.recipe.weight_decay;
  tc["schedule"] = s.recipe.schedule;
  tc["warmup_fraction"] = s.recipe.warmup_fraction;
  tc["seed"] = s.recipe.seed;
  tc["limit_train"] = s.limit_train;
  tc["limit_test"] = s.limit_test;
}

}  // namespace

CheckpointMeta read_checkpoint_meta(const SafetensorsFile& file, const fs::path& path) {
  const auto it = file.metadata.find(kMetadataKey);
  if (it == file.metadata.end()) {
    throw std::runtime_error(path.string() +
                             ": not a glassbox checkpoint (no 'glassbox' metadata)");
  }
  CheckpointMeta m;
  try {
    m.json = json::parse(it->second, in_range_numbers);
    parse_model_fields(m.json, m);
  } catch (const json::exception& e) {
    throw bad_metadata(path, e);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(path.string() + ": " + e.what());
  }
  return m;
}

LoadedModel load_model(const fs::path& checkpoint) {
  const SafetensorsFile file = read_checkpoint(checkpoint);
  LoadedModel lm;
  lm.meta = read_checkpoint_meta(file, checkpoint);
  try {
    lm.model = models::build_model(lm.meta.model_name, lm.meta.model_config);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(checkpoint.string() + ": " + e.what());
  }
  load_model_state(file, *lm.model, checkpoint);
  lm.model->eval();
  return lm;
}

LoadedModel fresh_zoo_model(const std::string& name, const models::ModelConfig& config,
                            uint64_t seed) {
  config.validate();
  manual_seed(seed);
  LoadedModel lm;
  lm.model = models::build_model(name, config);
  lm.model->eval();
  lm.meta.model_name = name;
  lm.meta.model_config = config;
  for (int64_t k = 0; k < config.num_classes; ++k) lm.meta.classes.push_back(std::to_string(k));
  lm.meta.norm = data::Normalization::identity(static_cast<int>(config.in_channels));
  lm.meta.input_shape = {config.in_channels, config.image_size, config.image_size};
  return lm;
}

LoadedModel load_or_build_model(const fs::path& checkpoint, const std::string& name,
                                const models::ModelConfig& config, uint64_t seed,
                                const std::string& command) {
  if (checkpoint.empty() == name.empty()) {
    throw std::invalid_argument(command + ": give either a checkpoint or a zoo model");
  }
  return checkpoint.empty() ? fresh_zoo_model(name, config, seed) : load_model(checkpoint);
}

std::string existing_training_data(const CheckpointMeta& meta, const fs::path& checkpoint) {
  if (!meta.training_data.empty() && !fs::exists(meta.training_data)) {
    throw std::runtime_error(checkpoint.string() + ": trained on '" + meta.training_data +
                             "', which does not exist from here; pass --data with its location");
  }
  return meta.training_data;
}

void save_model(const fs::path& out, const Module& model, const json& meta) {
  save_checkpoint(out, model, nullptr, {{kMetadataKey, meta.dump()}});
}

void save_trained_checkpoint(const fs::path& out, const Module& model,
                             const optim::Optimizer& optimizer, const json& meta) {
  save_checkpoint(out, model, &optimizer, {{kMetadataKey, meta.dump()}});
}

TrainingState read_training_state(const CheckpointMeta& meta, const fs::path& path) {
  TrainingState s;
  try {
    s.config = train_config_from_json(meta.json.at("train_config"));
    s.epoch = meta.json.at("epoch").get<int64_t>();
    s.optimizer_steps = meta.json.at("optimizer_steps").get<int64_t>();
    s.dropout_counter = meta.json.at("dropout_counter").get<uint64_t>();
    if (meta.json.contains("history")) s.history = meta.json.at("history");
  } catch (const json::exception& e) {
    throw bad_metadata(path, e);
  }
  return s;
}

json trained_meta(const models::ModelConfig& model_config, const std::vector<std::string>& classes,
                  const data::Normalization& norm, const Shape& input_shape,
                  const TrainingState& state) {
  return json{{"format", kFormat},
              {"model", state.config.model},
              {"model_config", model_config},
              {"classes", classes},
              {"normalization", norm_json(norm)},
              {"input_shape", input_shape},
              {"epoch", state.epoch},
              {"seed", state.config.seed},
              {"train_config", train_config_json(state.config)},
              {"optimizer_steps", state.optimizer_steps},
              {"dropout_counter", state.dropout_counter},
              {"history", state.history}};
}

json imported_meta(const models::ModelConfig& model_config, const std::vector<std::string>& classes,
                   const data::Normalization& norm, const Shape& input_shape, const json& import) {
  return json{{"format", kFormat},
              {"model", "graph"},
              {"model_config", model_config},
              {"classes", classes},
              {"normalization", norm_json(norm)},
              {"input_shape", input_shape},
              {"import", import}};
}

json train_config_json(const TrainConfig& c) {
  return json{{"model", c.model},
              {"width", c.width},
              {"data", c.data},
              {"epochs", c.epochs},
              {"batch_size", c.batch_size},
              {"optimizer", c.optimizer},
              {"lr", c.lr},
              {"momentum", c.momentum},
              {"nesterov", c.nesterov},
              {"weight_decay", c.weight_decay},
              {"schedule", c.schedule},
              {"warmup_fraction", c.warmup_fraction},
              {"label_smoothing", c.label_smoothing},
              {"clip_grad_norm", c.clip_grad_norm},
              {"bn_l1", c.bn_l1},
              {"augment", c.augment},
              {"crop_pad", c.crop_pad},
              {"tta_level", c.tta_level},
              {"bn_bias_lr_scale", c.bn_bias_lr_scale},
              {"freeze_bn_weight", c.freeze_bn_weight},
              {"whiten_bias_epochs", c.whiten_bias_epochs},
              {"lookahead", c.lookahead},
              {"cutout", c.cutout},
              {"seed", c.seed},
              {"limit_train", c.limit_train},
              {"limit_test", c.limit_test},
              {"eval_each_epoch", c.eval_each_epoch}};
}

json epoch_metrics_json(const EpochMetrics& m) {
  json j{{"epoch", m.epoch},
         {"train_loss", m.train_loss},
         {"train_accuracy", m.train_accuracy},
         {"seconds", m.seconds},
         {"images_per_second", m.images_per_second},
         {"lr_end", m.lr_end},
         {"rss_mb", m.rss_mb}};
  if (m.test_accuracy >= 0) {
    j["test_loss"] = m.test_loss;
    j["test_accuracy"] = m.test_accuracy;
  }
  return j;
}

json pruned_meta(const CheckpointMeta& source, const models::ModelConfig& pruned,
                 const json& pruning) {
  json meta = source.json;
  meta["model_config"] = pruned;
  meta["pruning"] = pruning;
  return meta;
}

json compressed_meta(const CheckpointMeta& source, const json& compression) {
  json meta = source.json;
  meta["compression"] = compression;
  return meta;
}

json distilled_meta(const CheckpointMeta& teacher, const DistilledStudent& student,
                    const json& distillation) {
  json meta = teacher.json;
  meta["model"] = student.model_name;
  meta["model_config"] = student.model_config;
  const auto epochs = static_cast<int64_t>(std::ceil(student.recipe.epochs));
  meta["epoch"] = epochs;
  meta["seed"] = student.recipe.seed;
  if (meta.contains("train_config") && meta["train_config"].is_object()) {
    set_student_recipe(meta["train_config"], student, epochs);
  }
  meta["history"] = json::array({{{"epoch", epochs},
                                  {"train_loss", student.train_loss},
                                  {"test_accuracy", student.test_accuracy}}});
  meta["distillation"] = distillation;
  return meta;
}

}  // namespace gb::training
