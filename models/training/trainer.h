// Training and evaluation jobs behind `glassbox train` and `glassbox eval`: data loading, the
// model from the zoo, the optimizer and schedule, per-epoch metrics, atomic checkpoints and
// bit-exact resume. Shape letters: N batch, C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/normalize.h"
#include "runtime/module.h"
#include "runtime/output_path.h"
#include "runtime/safetensors.h"

namespace gb::training {

struct TrainConfig {
  std::string model = "resnet20";
  float width = 1.0f;
  std::string data;  // empty: Fashion-MNIST from Debian's package
  int64_t epochs = 10;
  int64_t batch_size = 128;
  std::string optimizer = "sgd";  // sgd | adamw
  float lr = 0.2f;                // peak learning rate
  float momentum = 0.9f;
  bool nesterov = true;
  float weight_decay = 5e-4f;
  std::string schedule = "onecycle";  // onecycle | cosine | step | constant
  float warmup_fraction = 0.15f;
  float label_smoothing = 0.0f;
  float clip_grad_norm = 0.0f;  // 0: off
  float bn_l1 = 0.0f;           // network slimming: L1 penalty on BN scales (0: off)
  bool augment = true;          // random crop (pad crop_pad) + horizontal flip
  int64_t crop_pad = 4;         // translation range of the random crop, pixels per side
  bool tta = false;             // test-time augmentation: average logits of x and its mirror
  int64_t cutout = 0;
  uint64_t seed = 0;
  int64_t limit_train = 0;  // 0: whole split
  int64_t limit_test = 0;
  bool eval_each_epoch = true;
};

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = -1;  // -1: not evaluated
  double seconds = 0, images_per_second = 0;
  double lr_end = 0;
};

struct TrainOptions {
  std::filesystem::path out;     // checkpoint written after every epoch (atomically)
  std::filesystem::path resume;  // continue from this checkpoint
  std::filesystem::path json;    // per-epoch metrics (optional)
  bool overwrite = false;        // allow replacing an existing `out`
  int64_t stop_after_epoch = 0;  // stop once this epoch is done (as if interrupted); 0: never
  int64_t epochs_override = 0;   // with resume: a new total epoch count (0: keep)
  bool quiet = false;
  Device device;  // where the model trains (parse_device("cuda") for the GPU)
};

struct TrainResult {
  std::vector<EpochMetrics> epochs;
  std::shared_ptr<Module> model;
};

// `glassbox train --recipe fast`: the airbench-style fast CIFAR-10 recipe (model airbench with
// its whitened stem, batch 1024, 10 epochs, one-cycle Nesterov SGD, label smoothing 0.2, flip and
// 2-pixel translate, flip test-time augmentation). Fields the user set explicitly are kept.
void apply_fast_recipe(TrainConfig& cfg);

// Runs training. throws std::runtime_error with a message naming the file or cause on bad input
// (unreadable data, existing output without overwrite, checkpoint mismatch) or a NaN loss;
// the output checkpoint is never left half-written.
TrainResult train(TrainConfig cfg, const TrainOptions& opt);

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t samples = 0;
  std::vector<std::string> classes;
  std::vector<double> per_class_accuracy;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  double seconds = 0;
};

// Evaluates `model` (switched to eval mode) on `ds` with normalisation `norm`; with `tta`, the
// logits are the mean of the image's and its horizontal mirror's.
EvalResult evaluate(Module& model, const data::Dataset& ds, const data::Normalization& norm,
                    int64_t batch_size, bool quiet, const std::string& label = "eval",
                    bool tta = false);

// A model rebuilt from a checkpoint's metadata with its weights loaded.
struct LoadedModel {
  std::shared_ptr<Module> model;
  nlohmann::json meta;  // the parsed glassbox metadata: model, model_config, classes, norm, ...
  data::Normalization norm;
  std::vector<std::string> classes;
  std::string model_name;
};
LoadedModel load_model(const std::filesystem::path& checkpoint);

// Loads the data split named by `data` (empty: Fashion-MNIST).
data::Dataset load_split(const std::string& data, data::Split split, int64_t limit);

std::string format_eval_report(const EvalResult& r);

}  // namespace gb::training
