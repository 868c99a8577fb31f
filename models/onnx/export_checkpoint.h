// `glassbox export`: a checkpoint (zoo, imported, pruned, weight-shared or distilled) to an ONNX
// file (models/onnx/onnx_export.h). The output path is checked before any work; the file is
// written atomically and only after onnx's checker accepts it. The class names, the input
// normalisation and the model name go into the file's metadata_props ("glassbox.classes" as a
// JSON array, "glassbox.mean" / "glassbox.std" as comma-separated values of x / 255,
// "glassbox.model"), which `glassbox import` reads back when its flags do not say otherwise.
// An imported model's parameters get their original initializer names back.
// Shape letters: C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "models/model_config.h"

namespace gb::models {

struct ExportJob {
  std::filesystem::path checkpoint;  // the model (.safetensors), or empty with `model`
  // Instead of a checkpoint: a zoo model freshly initialised with `seed` (for benchmarks and for
  // taking an architecture elsewhere untrained), with `config` (classes, channels, size, width).
  std::string model;
  ModelConfig config;
  uint64_t seed = 0;
  std::filesystem::path out;  // the .onnx file to write
  bool overwrite = false;     // replace an existing `out`
  int64_t opset = 17;         // 14 to 18
  int64_t batch = 0;          // 0: symbolic batch dimension; else fixed
};

struct ExportReport {
  std::filesystem::path out;
  std::string model_name;
  std::vector<int64_t> input_chw;
  int64_t nodes = 0, initializers = 0, opset = 0, bytes = 0;
  std::map<std::string, int64_t> op_types;
};

// requires: exactly one of checkpoint and model.
// throws std::runtime_error naming the file and the cause: an existing `out` without overwrite,
// a missing output directory, an unreadable or non-glassbox checkpoint, an op export does not
// support (naming it and its module); std::invalid_argument for a bad opset or batch.
ExportReport run_export(const ExportJob& job);

std::string format_export_report(const ExportReport& report);

}  // namespace gb::models
