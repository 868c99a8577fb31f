// run_import: checks the job's paths and options, imports the .onnx file, builds the graph model,
// loads the imported tensors into it by name, runs it once on a test batch and writes the
// checkpoint with its metadata (models/training/checkpoint_meta.h).
// Shape letters: C channels, H/W image size, K classes.
#include "models/onnx/import_checkpoint.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "models/onnx/onnx_import.h"
#include "models/registry.h"
#include "models/training/checkpoint_meta.h"
#include "runtime/autograd.h"
#include "runtime/output_path.h"

namespace gb::models {
namespace {

std::vector<std::string> read_classes(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error(file.string() + ": cannot read the class names");
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

// Class names: the --classes file, else the "glassbox.classes" metadata of a file glassbox
// exported (when it names K classes), else "0".."K-1".
std::vector<std::string> class_names(const ImportJob& job, const std::vector<std::string>& file,
                                     const ImportedModel& imported) {
  const int64_t k = imported.num_classes;
  const std::string model = job.onnx.string() + ": the model has " + std::to_string(k) + " outputs";
  if (job.num_classes > 0 && job.num_classes != k) {
    throw std::runtime_error(model + ", not --num-classes " + std::to_string(job.num_classes));
  }
  if (!job.classes_file.empty()) {
    if (static_cast<int64_t>(file.size()) != k) {
      throw std::runtime_error(model + " but " + job.classes_file.string() + " names " +
                               std::to_string(file.size()) + " classes");
    }
    return file;
  }
  if (const auto it = imported.metadata.find("glassbox.classes"); it != imported.metadata.end()) {
    const auto parsed = nlohmann::json::parse(it->second, nullptr, false);
    if (parsed.is_array() && static_cast<int64_t>(parsed.size()) == k &&
        std::all_of(parsed.begin(), parsed.end(), [](const auto& v) { return v.is_string(); })) {
      return parsed.get<std::vector<std::string>>();
    }
  }
  std::vector<std::string> names;
  for (int64_t i = 0; i < k; ++i) names.push_back(std::to_string(i));
  return names;
}

// "0.49,0.48" -> numbers; empty when any item is not a positive-or-zero finite number.
std::vector<float> metadata_floats(const ImportedModel& imported, const std::string& key) {
  const auto it = imported.metadata.find(key);
  if (it == imported.metadata.end()) return {};
  std::vector<float> out;
  std::stringstream in(it->second);
  for (std::string item; std::getline(in, item, ',');) {
    char* end = nullptr;
    const float v = std::strtof(item.c_str(), &end);
    if (end == item.c_str() || *end != '\0' || !std::isfinite(v)) return {};
    out.push_back(v);
  }
  return out;
}

// --mean/--std, else the "glassbox.mean"/"glassbox.std" metadata of a file glassbox exported
// (when both hold C values and the stds are positive), else mean 0 and std 1.
data::Normalization normalization(const ImportJob& job, const ImportedModel& imported,
                                  int64_t channels) {
  data::Normalization n = data::Normalization::identity(static_cast<int>(channels));
  if (job.mean.empty() && job.std.empty()) {
    const auto mean = metadata_floats(imported, "glassbox.mean");
    const auto std = metadata_floats(imported, "glassbox.std");
    const auto size = static_cast<size_t>(channels);
    if (mean.size() == size && std.size() == size &&
        std::all_of(std.begin(), std.end(), [](float s) { return s > 0.0f; })) {
      n.mean = mean;
      n.std = std;
    }
    return n;
  }
  if (static_cast<int64_t>(job.mean.size()) != channels ||
      static_cast<int64_t>(job.std.size()) != channels) {
    throw std::runtime_error(job.onnx.string() + ": --mean and --std need " +
                             std::to_string(channels) + " values each (one per input channel)");
  }
  for (float s : job.std) {
    if (!(s > 0.0f)) throw std::runtime_error("--std values must be positive");
  }
  n.mean = job.mean;
  n.std = job.std;
  return n;
}

// Copies the imported tensors into `model` by name; every tensor of the model must be given.
void load_tensors(Module& model, const ImportedModel& imported, const std::string& label) {
  std::map<std::string, Tensor> target;
  for (auto& [name, t] : model.named_parameters()) target[name] = t;
  for (auto& [name, t] : model.named_buffers()) target[name] = t;
  for (const auto& [name, t] : imported.tensors) {
    const auto it = target.find(name);
    if (it == target.end()) throw std::logic_error(label + ": no model tensor '" + name + "'");
    if (it->second.shape() != t.shape()) {
      throw std::logic_error(label + ": tensor '" + name + "' has shape " + shape_str(t.shape()) +
                             ", the model's " + shape_str(it->second.shape()));
    }
    Tensor dst = it->second;
    dst.copy_(t);
    target.erase(it);
  }
  if (!target.empty()) {
    throw std::logic_error(label + ": model tensor '" + target.begin()->first + "' not imported");
  }
}

}  // namespace

ImportReport run_import(const ImportJob& job) {
  refuse_directory(job.out);
  refuse_existing(job.out, job.overwrite);
  require_parent_directory(job.out, "--out");
  const std::vector<std::string> file_classes =
      job.classes_file.empty() ? std::vector<std::string>() : read_classes(job.classes_file);
  OnnxImportOptions options;
  options.input_chw = job.input_chw;
  const ImportedModel imported = import_onnx(job.onnx, options);
  const std::vector<int64_t>& chw = imported.graph.input_chw;
  if (chw[1] != chw[2]) {
    throw std::runtime_error(job.onnx.string() + ": input " + shape_str(chw) +
                             " is not square; glassbox models take H = W so far");
  }
  const std::vector<std::string> classes = class_names(job, file_classes, imported);
  const data::Normalization norm = normalization(job, imported, chw[0]);
  ModelConfig cfg;
  cfg.num_classes = imported.num_classes;
  cfg.in_channels = chw[0];
  cfg.image_size = chw[1];
  cfg.graph = imported.graph;
  const ModulePtr model = build_model("graph", cfg);
  load_tensors(*model, imported, job.onnx.string());
  model->eval();
  {
    NoGradGuard no_grad;
    const Tensor y = (*model)(Tensor::full({2, chw[0], chw[1], chw[2]}, 0.5f));
    if (y.dim() != 2 || y.size(0) != 2 || y.size(1) != imported.num_classes) {
      throw std::logic_error(job.onnx.string() + ": the imported graph gives " +
                             shape_str(y.shape()) + " at batch 2");
    }
  }
  nlohmann::json import{{"source", job.onnx.filename().string()},
                        {"opset", imported.opset},
                        {"producer", imported.producer}};
  if (!imported.notes.empty()) import["notes"] = imported.notes;
  training::save_model(job.out, *model,
                       training::imported_meta(cfg, classes, norm, Shape(chw), import));
  ImportReport r;
  r.out = job.out;
  r.input_chw = chw;
  r.num_classes = imported.num_classes;
  r.nodes = static_cast<int64_t>(imported.graph.nodes.size());
  for (const auto& [name, t] : model->named_parameters()) r.parameters += t.numel();
  r.opset = imported.opset;
  r.producer = imported.producer;
  r.notes = imported.notes;
  return r;
}

std::string format_import_report(const ImportReport& r) {
  std::string notes;
  for (const std::string& n : r.notes) notes += "note: " + n + "\n";
  return fmt::format(
      "imported {} ({}, opset {}): {} nodes, {} parameters, input {}x{}x{}, "
      "{} classes\n{}wrote {}\n",
      r.out.filename().string(), r.producer.empty() ? "unknown producer" : r.producer, r.opset,
      r.nodes, r.parameters, r.input_chw[0], r.input_chw[1], r.input_chw[2], r.num_classes, notes,
      r.out.string());
}

}  // namespace gb::models
