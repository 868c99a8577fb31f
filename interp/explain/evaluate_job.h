// The job behind `glassbox evaluate-explanations`: run chosen registry methods over the first N
// test images (a class-balanced subset) of a checkpoint's data set and summarise, per method, the
// mean and spread of the deletion AUC, insertion AUC, time per image and the method's own check
// (IG completeness error, Shapley efficiency error, LIME R^2), next to two seeded random-map
// baselines (per pixel, and smooth); optionally the cascading model-parameter randomisation
// sanity check of Grad-CAM; and the metrics chosen with --metrics (evaluate_metrics.h), each with
// its parameters and citation.
// Shape letters: C channels, H/W image size.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "interp/eval/metric_registry.h"
#include "interp/explain/evaluate_metrics.h"
#include "interp/map_archive.h"
#include "interp/registry.h"
#include "runtime/process_group.h"

namespace gb::interp {

struct EvaluateConfig {
  std::filesystem::path checkpoint;
  std::string data;                  // "": the data set the checkpoint was trained on
  std::vector<std::string> methods;  // "random" and "random-smooth" are appended when missing
  int64_t count = 20;                // first `count` test images, balanced over the classes
  MethodOptions method;              // layer, seed, samples, segments, mem budget
  std::string device = "cpu";        // where the model runs: cpu | cuda | cuda:N
  bool warmup = true;                // one untimed run of each method on the first image
  bool sanity_check = false;         // cascading randomisation of Grad-CAM
  int64_t sanity_images = 4;         // images of the sanity check (at most count)
  bool quiet = false;                // no progress lines on stderr
  // Also the raw maps: one [N,H,W] float32 array per method (metadata: method, options, per-image
  // times), "inputs" [N,C,H,W] as the model sees them, "labels" and "targets" [N] int64. Written
  // as a safetensors file (maps_format Safetensors) or as .npy files + maps.json into a new or
  // empty directory (Npy); Both: the file, and the directory named like it without ".safetensors".
  std::filesystem::path save_maps;  // "": none
  MapFormat maps_format = MapFormat::Safetensors;
  bool overwrite = false;  // replace an existing save_maps file / non-empty directory
  // Metrics of interp/eval/metric_registry.h run on every map (the "metrics" JSON section); the
  // rows' deletion/insertion AUCs are computed either way.
  std::vector<std::string> metrics = {"deletion", "insertion"};
  eval::MetricParams metric_params;
  // An MPI job's ranks (null or one rank: this process alone). Each rank explains a contiguous
  // share of the images with every method; the per-image records are gathered in image order,
  // so the result equals one process's (but the times). The metrics that re-explain on other
  // models (MPRT, localisation), the sanity check and the maps file run on rank 0, the only rank
  // whose result is complete: the others return only the rows' per-image figures.
  ProcessGroup* group = nullptr;
};

struct EvaluateResult;
// Called after each method's row is complete (the result so far, rows in cfg order), so that a
// long run that is cut off keeps what it finished. Empty: not called.
using EvaluateProgressFn = std::function<void(const EvaluateResult&)>;

struct MethodSummary {
  std::string method;
  Stats deletion_auc;                            // lower is more faithful
  Stats insertion_auc;                           // higher is more faithful
  Stats time_ms;                                 // per image, attribution only
  std::map<std::string, Stats> scores;           // completeness_error / efficiency_error / r2
  std::map<std::string, MetricSummary> metrics;  // by metric name (cfg.metrics)
};

struct SanityStep {
  std::string layer;              // randomised at this step (with every layer before it)
  Stats spearman;                 // over the images: rank correlation with the trained map
  std::vector<double> per_image;  // one rho per image
};

struct EvaluateResult {
  std::string checkpoint, data, model;
  int64_t images = 0;
  uint64_t seed = 0;
  std::vector<MethodSummary> rows;   // cfg.methods order, then the baselines not listed
  std::vector<SanityStep> sanity;    // empty without sanity_check
  std::string sanity_layer;          // the Grad-CAM layer of the sanity check
  std::vector<std::string> metrics;  // cfg.metrics
  eval::MetricParams metric_params;  // what they ran with
};

// Runs the evaluation. Each image is explained for its predicted class, one image at a time.
// requires: cfg.count >= 1; every method in method_names().
// throws: std::invalid_argument / std::runtime_error naming the file or option on bad input
// (unknown method, data set whose images or classes do not match the checkpoint, a save_maps
// path that exists without overwrite or whose directory is missing: checked before any work).
EvaluateResult evaluate_explanations(const EvaluateConfig& cfg,
                                     const EvaluateProgressFn& on_method_done = {});

// The table: one row per method with mean +- std of each metric, then the sanity-check table.
std::string format_evaluation(const EvaluateResult& r);

// complete = false marks a partial result (written by on_method_done): "complete": false and
// the rows finished so far.
nlohmann::json evaluation_to_json(const EvaluateResult& r, bool complete = true);

}  // namespace gb::interp
