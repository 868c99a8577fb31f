// The job behind `glassbox prune`: load a checkpoint, measure it (parameters, MACs, measured
// images/s, test accuracy), prune it (structured: whole channels found through the channel graph,
// one-shot or iterative; unstructured: weights by magnitude), fine-tune, measure again and write
// the result as a checkpoint that eval, explain and summary load with no extra arguments (the new
// channel widths are ModelConfig channel overrides in the metadata). Also the before/after table
// and the JSON report. Shape letters: N images, C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "interp/prune/job_common.h"
#include "interp/prune/magnitude.h"
#include "interp/prune/structured.h"

namespace gb::prune {

struct PruneConfig : CompressCommon {
  bool structured = true;  // else unstructured magnitude pruning
  // structured
  Criterion criterion = Criterion::L1;
  double target_macs = 0.5;  // keep this fraction of the original MACs, in (0,1]
  int64_t iterative = 1;     // prune steps (each followed by its share of fine-tuning)
  bool global = false;       // global ranking (structured) / global threshold (unstructured)
  int64_t round_to = 0;      // 0: auto (SelectOptions::round_to)
  double min_keep = 0.1;
  bool prune_first = false;         // allow pruning the first layer's channels
  bool prune_last = false;          // allow pruning the channels the last layer reads
  int64_t calib_images = 512;       // taylor / attribution calibration images (training split)
  bool attribution_labels = false;  // attribution explains the label instead of the prediction
  uint64_t seed = 0;                // random criterion
  // unstructured
  double sparsity = 0.5;
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
  std::vector<GroupRow> groups;             // structured: last step's groups
  std::map<std::string, int64_t> channels;  // structured: the overrides written
  int64_t round_to = 0;                     // structured: the last step's channel rounding
  std::vector<LayerSparsity> sparsity;      // unstructured
  double finetune_seconds = 0;
};

// Runs the whole prune job, writing cfg.out and (when given) cfg.json.
// throws: std::runtime_error / std::invalid_argument naming the file or cause (missing
// checkpoint or data, existing --out without overwrite, a bad option value).
PruneReport run_prune(const PruneConfig& cfg);
std::string format_prune_report(const PruneReport& r);
nlohmann::json prune_report_json(const PruneReport& r);

}  // namespace gb::prune
