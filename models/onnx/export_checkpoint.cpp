// run_export: checks the output path, loads the checkpoint, exports its model with the
// checkpoint's metadata and writes the file atomically.
// Shape letters: C channels, H/W image size.
#include "models/onnx/export_checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "models/onnx/onnx_export.h"
#include "models/training/checkpoint_meta.h"
#include "runtime/output_path.h"

namespace gb::models {
namespace {

std::string join(const std::vector<float>& v) { return fmt::format("{}", fmt::join(v, ",")); }

OnnxExportOptions export_options(const ExportJob& job, const training::CheckpointMeta& meta) {
  OnnxExportOptions o;
  o.input_chw = std::vector<int64_t>(meta.input_shape.begin(), meta.input_shape.end());
  o.opset = job.opset;
  o.batch = job.batch;
  o.graph_name = meta.model_name;
  if (meta.model_config.graph) o.tensor_names = meta.model_config.graph->source_names;
  o.metadata = {{"glassbox.model", meta.model_name},
                {"glassbox.classes", nlohmann::json(meta.classes).dump()},
                {"glassbox.mean", join(meta.norm.mean)},
                {"glassbox.std", join(meta.norm.std)}};
  return o;
}

}  // namespace

ExportReport run_export(const ExportJob& job) {
  refuse_directory(job.out);
  refuse_existing(job.out, job.overwrite);
  require_parent_directory(job.out, "--out");
  const training::LoadedModel lm =
      training::load_or_build_model(job.checkpoint, job.model, job.config, job.seed, "export");
  const OnnxExportOptions options = export_options(job, lm.meta);
  OnnxExport exported;
  try {
    exported = export_onnx(*lm.model, options);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error((job.model.empty() ? job.checkpoint.string() : job.model) + ": " +
                             e.what());
  }
  write_file_atomically(job.out, exported.bytes, job.overwrite);
  ExportReport r;
  r.out = job.out;
  r.model_name = lm.meta.model_name;
  r.input_chw = options.input_chw;
  r.nodes = exported.nodes;
  r.initializers = exported.initializers;
  r.opset = job.opset;
  r.bytes = static_cast<int64_t>(exported.bytes.size());
  r.op_types = exported.op_types;
  return r;
}

std::string format_export_report(const ExportReport& r) {
  std::string ops;
  for (const auto& [type, count] : r.op_types) {
    ops += fmt::format("{}{} {}", ops.empty() ? "" : ", ", count, type);
  }
  return fmt::format(
      "exported {} ({}x{}x{} input) to ONNX opset {}: {} nodes ({}), {} "
      "initializers, {:.1f} MB\nwrote {}\n",
      r.model_name, r.input_chw[0], r.input_chw[1], r.input_chw[2], r.opset, r.nodes, ops,
      r.initializers, static_cast<double>(r.bytes) / 1e6, r.out.string());
}

}  // namespace gb::models
