// What `evaluate-explanations` keeps of one method on one image (its AUCs, time, checks, the
// metric values in the order they were added, and optionally its map), and the gathering of
// these records over the ranks of an MPI job, so that a run whose images are sharded over the
// ranks summarises exactly what one process would. Shape letters: H/W image size.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "interp/eval/metric_registry.h"
#include "runtime/process_group.h"

namespace gb::interp {

struct ImageRecord {
  double deletion_auc = 0, insertion_auc = 0, time_ms = 0;
  std::map<std::string, double> scores;                             // the method's own checks
  std::vector<std::pair<std::string, eval::MetricValues>> metrics;  // (metric, values), in order
  std::vector<float> map;  // [H,W] when the maps are kept, else empty
};

// Every rank's records, concatenated in rank order (each rank passes its images' records in
// image order, and ranks hold contiguous runs of images: the result is in image order). Values
// travel as CBOR, so every double (NaN and infinities included) arrives bit-exact. Collective.
std::vector<ImageRecord> gather_image_records(ProcessGroup& group,
                                              const std::vector<ImageRecord>& mine);

}  // namespace gb::interp
