// `glassbox explain --indices A-B`: test images A to B (inclusive) of a checkpoint's data set,
// each explained exactly as `explain --index K` explains it (explain_job.h) into its own
// directory out/image_K, and out/explanations.json: every image's explanation.json content, in
// index order, with the per-method means of time and deletion/insertion AUC over the images.
// Under mpirun the images are shared out over the ranks in contiguous runs; each rank writes its
// images' directories and rank 0 writes explanations.json, so the output equals one process's
// (but the times). Shape letters: C channels, H/W image size.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>

#include "interp/explain/explain_job.h"
#include "runtime/process_group.h"

namespace gb::interp {

struct ExplainRangeConfig {
  // The settings of every image (its index and image are ignored; its out is the directory that
  // receives the image directories).
  ExplainConfig image;
  int64_t first = 0, last = 0;    // test images first..last
  ProcessGroup* group = nullptr;  // null: this process alone
  bool quiet = false;             // no line per image
};

// Explains the images and writes the output described above; returns explanations.json's
// content (on rank 0; the other ranks return their own images only).
// requires: 0 <= first <= last; cfg.image.methods non-empty.
// throws: std::invalid_argument naming the option or path, before any work (rank 0 checks): a bad
// range, an index past the data set, an out directory that is not empty without overwrite; and
// whatever explain() throws for an image (an unknown method, an unreadable file).
nlohmann::json explain_range(const ExplainRangeConfig& cfg);

}  // namespace gb::interp
