// What the prune, distill and compress jobs share: their common settings, the output checks,
// the source checkpoint with its data set, a model's size and measured speed (ModelStats), the
// Grad-CAM agreement between two models, class-balanced image batches, fine-tuning with a
// progress bar, and the cells of their before/after tables.
// Shape letters: N images, C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "interp/prune/channel_importance.h"
#include "models/training/checkpoint_meta.h"
#include "models/training/finetune.h"
#include "models/training/tensorboard.h"
#include "models/training/throughput.h"

namespace gb::prune {

// Settings shared by prune and compress.
struct CompressCommon {
  std::string checkpoint;             // the model to compress
  std::string data;                   // default: the data set the checkpoint was trained on
  int64_t limit_train = 0;            // 0: the whole split (fine-tuning, calibration)
  int64_t limit_test = 0;             // 0: the whole split (accuracy)
  std::filesystem::path out;          // checkpoint to write (required)
  bool overwrite = false;             // allow replacing an existing `out` / `json`
  std::filesystem::path json;         // optional machine-readable report
  training::FinetuneConfig finetune;  // finetune.epochs = total fine-tuning epochs (0: none)
  bool timing = true;                 // measure images/s before and after
  training::ThroughputOptions timing_options;
  int64_t cam_images = 100;  // Grad-CAM rank correlation over this many test images (0: off)
  bool quiet = false;
  training::TensorBoardSettings tensorboard;  // of the fine-tuning (dir empty: none)
};

// Refuses, before any work: no --out, an existing --out / --json without overwrite, a missing
// directory, --json equal to --out, and --out naming the input checkpoint `input`.
// throws: std::runtime_error naming the path and the option.
void check_job_outputs(const std::filesystem::path& out, const std::filesystem::path& json,
                       const std::string& input, bool overwrite);

// The checkpoint a job starts from and the data set it reads.
struct SourceCheckpoint {
  std::string path;
  training::LoadedModel loaded;
  std::string data;  // the --data given, else the one the checkpoint was trained on
  // The split of `data`, `limit` images (0: all), checked against the checkpoint's model.
  data::Dataset split(data::Split which, int64_t limit) const;
};
SourceCheckpoint load_source(const std::string& checkpoint, const std::string& data_option);

// Size and speed of one model.
struct ModelStats {
  int64_t params = 0;
  int64_t nonzero_params = 0;
  int64_t macs = 0;                         // dense conv + linear MACs per image
  int64_t effective_macs = 0;               // MACs with zero weights skipped (unstructured)
  double inference_ips = 0, train_ips = 0;  // 0: not measured
};
// Parameters, MACs (dense and with zero weights skipped) of `model` on inputs chw = [C,H,W]
// and, with `timing`, its measured speed on a freshly built model of the same architecture
// (`name`, `cfg`; this draws from the global generator).
ModelStats measure_model(Module& model, const std::string& name, const models::ModelConfig& cfg,
                         const Shape& chw, bool timing, const training::ThroughputOptions& topt);
nlohmann::json stats_json(const ModelStats& s);

// Grad-CAM maps (default layer) of `changed` against `original`'s for the class `original`
// predicts, compared per image by Spearman rank correlation: mean and sample std over images.
struct CamAgreement {
  double mean = -2, std = 0;  // -2: no images
};
CamAgreement cam_agreement(Module& original, Module& changed,
                           const std::vector<interp::CalibrationBatch>& images);

// `count` images of ds, class-balanced, normalised, in batches of at most `batch` (none for
// count <= 0).
std::vector<interp::CalibrationBatch> image_batches(const data::Dataset& ds,
                                                    const data::Normalization& norm, int64_t count,
                                                    int64_t batch);

// The TensorBoard log of a job's training (null when s.dir is empty), opened at once so that a
// bad directory stops the job before any long work. `epochs` is the training the job runs.
// throws: std::invalid_argument when a directory is given but epochs <= 0 (nothing would be
// logged); what training::TrainingLog throws (naming the directory).
std::unique_ptr<training::TrainingLog> open_training_log(const training::TensorBoardSettings& s,
                                                         double epochs);

// Test accuracy of `model` with a progress bar labelled `label`.
double accuracy(Module& model, const data::Dataset& ds, const data::Normalization& norm, bool quiet,
                const std::string& label);

// What the progress bar's last line of a fine-tuning run shows.
enum class FinetuneSummary { LossAccuracySpeed, Loss };

// Fine-tunes with a progress bar labelled `label`; returns the result (seconds, loss, ...).
training::FinetuneResult finetune_with_progress(
    Module& model, std::shared_ptr<const data::Dataset> train, const data::Normalization& norm,
    const training::FinetuneConfig& fc, training::FinetuneHooks hooks, bool quiet,
    const std::string& label, FinetuneSummary summary = FinetuneSummary::LossAccuracySpeed);

// Table cells: 1,234,567 | 12.35 M | 12.34% (or "-" below 0) | 123.4 img/s (or "-") | 0.57x
// (or "" without both figures), and one table row: name, three columns, a note.
std::string count_str(int64_t v);
std::string macs_str(int64_t v);
std::string pct(double a);
std::string ips(double v);
std::string ratio(double after, double before);
std::string table_row(const std::string& name, const std::string& a, const std::string& b,
                      const std::string& c, const std::string& note);
// JSON of an accuracy (null below 0) and of a correlation (null when not measured).
nlohmann::json acc_json(double a);
nlohmann::json corr_json(double c);

}  // namespace gb::prune
