// `glassbox import`: an .onnx file to an ordinary glassbox checkpoint of model "graph" (the graph
// in its model config, the weights under their initializer names), with class names and input
// normalisation. Every check that can fail early (the output path, the class file, the
// normalisation) runs before the file is converted; nothing is written unless all of it succeeds.
// Without --classes / --mean --std, the class names and normalisation a `glassbox export` stored
// in the file's metadata_props are used (models/onnx/export_checkpoint.h), else 0..K-1 and 0 / 1.
// Shape letters: C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace gb::models {

struct ImportJob {
  std::filesystem::path onnx;  // the model to read
  std::filesystem::path out;   // the checkpoint to write (.safetensors)
  bool overwrite = false;      // replace an existing `out`
  std::filesystem::path classes_file;  // one class name per line (K lines), or empty
  int64_t num_classes = 0;             // K if given (checked against the model's output), or 0
  std::vector<float> mean, std;        // of x / 255 per channel; empty: 0 and 1
  std::optional<std::vector<int64_t>> input_chw;  // --input-size CxHxW
};

struct ImportReport {
  std::filesystem::path out;
  std::vector<int64_t> input_chw;  // [C, H, W]
  int64_t num_classes = 0, nodes = 0, parameters = 0, opset = 0;
  std::string producer;
  std::vector<std::string> notes;  // ImportedModel::notes, printed as "note: ..." lines
};

// throws std::runtime_error naming the file and the cause (see import_onnx), an existing `out`
// without `overwrite`, a class file that is unreadable or whose line count is not K, a
// num_classes other than K, mean / std not of C positive values, a non-square input (H != W).
ImportReport run_import(const ImportJob& job);

std::string format_import_report(const ImportReport& report);

}  // namespace gb::models
