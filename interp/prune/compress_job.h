// The job behind `glassbox compress`: weight sharing. Every conv/linear weight of a checkpoint is
// replaced by its layer's k-means centroids (weight_sharing.h), optionally fine-tuned with the
// assignments fixed (re-tied after every optimizer step), and written as a dense checkpoint that
// holds the shared values. Also its table and JSON report.
// Shape letters: K values per layer (clusters).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "interp/prune/job_common.h"
#include "interp/prune/weight_sharing.h"

namespace gb::prune {

struct CompressConfig : CompressCommon {
  KMeansOptions kmeans;  // kmeans.k = --weight-sharing K
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

// Runs the compress job, writing cfg.out and (when given) cfg.json.
// throws: std::runtime_error / std::invalid_argument naming the file or option.
CompressReport run_compress(const CompressConfig& cfg);
std::string format_compress_report(const CompressReport& r);
nlohmann::json compress_report_json(const CompressReport& r);

}  // namespace gb::prune
