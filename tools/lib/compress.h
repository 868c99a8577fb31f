// The jobs behind `glassbox prune`, `glassbox distill` and `glassbox compress`: load a
// checkpoint, measure it (parameters, MACs, measured images/s, test accuracy), prune / distill /
// share weights with the prune/ library, fine-tune, measure again, print a before/after table,
// and write the result as a checkpoint that eval, explain and summary load with no extra
// arguments (the new channel widths are ModelConfig channel overrides in the metadata).
// Shape letters: N images, C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/training/finetune.h"
#include "prune/magnitude.h"
#include "models/training/throughput.h"
#include "prune/structured.h"
#include "prune/weight_sharing.h"

namespace gb::app {

// Settings shared by prune and compress.
struct CompressCommon {
  std::string checkpoint;          // the model to compress
  std::string data;                // default: the data set the checkpoint was trained on
  int64_t limit_train = 0;         // 0: the whole split (fine-tuning, calibration)
  int64_t limit_test = 0;          // 0: the whole split (accuracy)
  std::filesystem::path out;       // checkpoint to write (required)
  bool overwrite = false;          // allow replacing an existing `out` / `json`
  std::filesystem::path json;      // optional machine-readable report
  training::FinetuneConfig finetune;  // finetune.epochs = total fine-tuning epochs (0: none)
  bool timing = true;              // measure images/s before and after
  training::ThroughputOptions timing_options;
  int64_t cam_images = 100;  // Grad-CAM rank correlation over this many test images (0: off)
  bool quiet = false;
};

struct PruneConfig : CompressCommon {
  bool structured = true;  // else unstructured magnitude pruning
  // structured
  prune::Criterion criterion = prune::Criterion::L1;
  double target_macs = 0.5;  // keep this fraction of the original MACs, in (0,1]
  int64_t iterative = 1;     // prune steps (each followed by its share of fine-tuning)
  bool global = false;       // global ranking (structured) / global threshold (unstructured)
  int64_t round_to = 4;
  double min_keep = 0.1;
  bool prune_first = false;         // allow pruning the first layer's channels
  bool prune_last = false;          // allow pruning the channels the last layer reads
  int64_t calib_images = 512;       // taylor / attribution calibration images (training split)
  bool attribution_labels = false;  // attribution explains the label instead of the prediction
  uint64_t seed = 0;                // random criterion
  // unstructured
  double sparsity = 0.5;
};

// Size and speed of one model.
struct ModelStats {
  int64_t params = 0;
  int64_t nonzero_params = 0;
  int64_t macs = 0;                         // dense conv + linear MACs per image
  int64_t effective_macs = 0;               // MACs with zero weights skipped (unstructured)
  double inference_ips = 0, train_ips = 0;  // 0: not measured
};

struct PruneStep {
  double target = 0;  // fraction of the original MACs
  int64_t macs = 0, params = 0;
  double accuracy_pruned = -1, accuracy_finetuned = -1;
};

struct GroupRow {
  std::string name;
  int64_t before = 0, after = 0;
  std::string note;  // why it was not pruned
};

struct PruneReport {
  std::string model_name, checkpoint, out, mode;  // mode: "structured" | "unstructured"
  std::string description;                        // criterion, schedule, ranking
  ModelStats before, after;
  double accuracy_before = -1, accuracy_pruned = -1, accuracy_finetuned = -1;
  int64_t test_images = 0;
  // Grad-CAM Spearman correlation with the original's maps (mean, std over images); -2: not run.
  double cam_corr_pruned = -2, cam_corr_pruned_std = 0;        // right after pruning
  double cam_corr_finetuned = -2, cam_corr_finetuned_std = 0;  // after fine-tuning
  int64_t cam_images = 0;
  std::vector<PruneStep> steps;
  std::vector<GroupRow> groups;                // structured: last step's groups
  std::map<std::string, int64_t> channels;     // structured: the overrides written
  std::vector<prune::LayerSparsity> sparsity;  // unstructured
  double finetune_seconds = 0;
};

// Runs the whole prune job. throws: std::runtime_error / std::invalid_argument naming the file
// or cause (missing checkpoint or data, existing --out without overwrite, unreachable target).
PruneReport run_prune(const PruneConfig& cfg);
std::string format_prune_report(const PruneReport& r);
nlohmann::json prune_report_json(const PruneReport& r);

struct DistillConfig {
  std::string teacher;               // teacher checkpoint
  std::string student = "resnet20";  // zoo name
  float student_width = 1.0f;
  float temperature = 4.0f;
  float alpha = 0.9f;     // weight of the distillation term; 1 - alpha on the labels
  bool baseline = false;  // also train the student alone (alpha 0, same seed) to compare
  std::string data;       // default: the teacher's data set
  int64_t limit_train = 0, limit_test = 0;
  training::FinetuneConfig train;  // the student's training recipe (train.epochs epochs)
  std::filesystem::path out;
  bool overwrite = false;
  std::filesystem::path json;
  bool timing = true;
  training::ThroughputOptions timing_options;
  bool quiet = false;
};

struct DistillReport {
  std::string teacher_name, student_name, out;
  ModelStats teacher, student;
  double teacher_accuracy = -1, student_accuracy = -1, baseline_accuracy = -1;
  double student_train_loss = 0, baseline_train_loss = 0;
  int64_t test_images = 0;
  double seconds = 0;
};

DistillReport run_distill(const DistillConfig& cfg);
std::string format_distill_report(const DistillReport& r);
nlohmann::json distill_report_json(const DistillReport& r, const DistillConfig& cfg);

struct CompressConfig : CompressCommon {
  prune::KMeansOptions kmeans;  // kmeans.k = --weight-sharing K
};

struct SharedRow {
  std::string param;
  int64_t numel = 0, clusters = 0, distinct = 0;
  double rel_error = 0;
};

struct CompressReport {
  std::string model_name, checkpoint, out;
  int64_t k = 0;
  double accuracy_before = -1, accuracy_shared = -1, accuracy_finetuned = -1;
  int64_t test_images = 0;
  int64_t bits_dense = 0, bits_shared = 0;
  std::vector<SharedRow> layers;
};

CompressReport run_compress(const CompressConfig& cfg);
std::string format_compress_report(const CompressReport& r);
nlohmann::json compress_report_json(const CompressReport& r);

}  // namespace gb::app
