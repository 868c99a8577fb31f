// `glassbox report`: the checks before any work, the history merge, the evaluation and the
// gallery, then the page written atomically (see report_job.h). The layer table, graph and
// pruning comparison are in report_model.cpp. Shape letters: C channels, H/W image size,
// K classes.
#include "interp/report/report_job.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "interp/job_pictures.h"
#include "interp/report/report_html.h"
#include "interp/report/report_model.h"
#include "interp/report/report_page.h"
#include "interp/visualize.h"
#include "models/training/datasets.h"
#include "models/training/evaluate.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/output_path.h"

namespace gb::interp::report {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The page's path: not a directory, not an existing file without overwrite, in an existing
// directory this process can create files in (tried with a probe file, removed at once).
void check_output(const fs::path& out, bool overwrite) {
  if (out.empty()) throw std::invalid_argument("--out: the HTML file to write is required");
  check_output_file(out, overwrite, "--out");
}

json read_json_file(const fs::path& path, const char* option) {
  std::ifstream f(path);
  if (!f) {
    throw std::runtime_error(
        fmt::format("{}: cannot open ({}): {}", path.string(), option, std::strerror(errno)));
  }
  try {
    return json::parse(f);
  } catch (const json::exception& e) {
    throw std::runtime_error(
        fmt::format("{}: not valid JSON ({}): {}", path.string(), option, e.what()));
  }
}

// An evaluate-explanations --json table: an object with a "methods" array of named rows.
void check_explanations(const json& j, const fs::path& path) {
  const bool ok = j.is_object() && j.contains("methods") && j["methods"].is_array() &&
                  std::all_of(j["methods"].begin(), j["methods"].end(), [](const json& row) {
                    return row.is_object() && row.contains("method") && row["method"].is_string();
                  });
  if (!ok) {
    throw std::runtime_error(path.string() +
                             ": not an `evaluate-explanations --json` table (expected an object "
                             "with a \"methods\" array of rows naming their method)");
  }
}

void add_epochs(std::map<int64_t, EpochRow>& rows, const json& epochs, const std::string& where) {
  for (const auto& e : epochs) {
    if (!e.is_object() || !e.contains("epoch") || !e["epoch"].is_number_integer()) {
      throw std::runtime_error(where + ": an epoch entry without an integer \"epoch\"");
    }
    EpochRow& row = rows[e["epoch"].get<int64_t>()];
    row.epoch = e["epoch"].get<int64_t>();
    for (const auto& [key, v] : e.items()) {
      if (key != "epoch" && v.is_number()) row.values[key] = v.get<double>();
    }
  }
}

// The gallery's images: the first of each class in split order, then the next ones unused.
std::vector<size_t> gallery_indices(const data::Dataset& ds, int64_t n) {
  std::vector<size_t> picked;
  std::vector<bool> class_seen(ds.num_classes(), false), used(ds.size(), false);
  const auto want = static_cast<size_t>(std::min<int64_t>(n, static_cast<int64_t>(ds.size())));
  for (size_t i = 0; i < ds.size() && picked.size() < want; ++i) {
    const auto k = static_cast<size_t>(ds.labels[i]);
    if (k < class_seen.size() && !class_seen[k]) {
      class_seen[k] = true;
      used[i] = true;
      picked.push_back(i);
    }
  }
  for (size_t i = 0; i < ds.size() && picked.size() < want; ++i) {
    if (!used[i]) picked.push_back(i);
  }
  std::sort(picked.begin(), picked.end());
  return picked;
}

// One gallery image explained for its predicted class by every method.
GalleryItem explain_image(ReportInputs& in, size_t index) {
  const ReportConfig& cfg = in.cfg;
  const data::Dataset& ds = in.test;
  Module& model = *in.loaded.model;
  const data::Normalization& norm = in.loaded.meta.norm;
  std::vector<float> v(ds.image_size());
  data::normalize_image(ds.image(index), ds.channels, ds.height, ds.width, norm, v.data());
  const Tensor x = Tensor::from_vector({1, ds.channels, ds.height, ds.width}, v);
  const std::vector<float> prob = class_probabilities(model, x);
  const auto pred = static_cast<int64_t>(std::max_element(prob.begin(), prob.end()) - prob.begin());
  const int64_t factor = std::max<int64_t>(1, 128 / std::max(ds.height, ds.width));
  const Image base = upscale_nearest(image_from_tensor(x, norm.mean, norm.std), factor);
  GalleryItem g;
  g.index = static_cast<int64_t>(index);
  g.label = class_name(ds.classes, ds.labels[index]);
  g.prediction = class_name(in.loaded.meta.classes, pred);
  g.probability = prob[static_cast<size_t>(pred)];
  g.input_uri = png_data_uri(encode_png(base));
  MethodOptions mo = cfg.method;
  mo.norm = norm;
  for (const auto& name : cfg.methods) {
    const MethodOutput m = run_method(model, name, x, pred, mo);
    g.maps.push_back(
        {name, png_data_uri(encode_png(heat_overlay(base, m, factor))), m.ms, m.is_signed});
  }
  return g;
}

void progress(const ReportConfig& cfg, const std::string& line) {
  if (!cfg.quiet) std::cerr << "report: " << line << "\n" << std::flush;
}

}  // namespace

std::vector<EpochRow> merge_history(const json& checkpoint_meta, const json& metrics,
                                    const fs::path& metrics_path) {
  std::map<int64_t, EpochRow> rows;
  if (checkpoint_meta.is_object() && checkpoint_meta.contains("history") &&
      checkpoint_meta["history"].is_array()) {
    add_epochs(rows, checkpoint_meta["history"], "the checkpoint's history");
  }
  if (!metrics.is_null()) {
    if (!metrics.is_object() || !metrics.contains("epochs") || !metrics["epochs"].is_array()) {
      throw std::runtime_error(metrics_path.string() +
                               ": not a `glassbox train --json` metrics file (no \"epochs\" "
                               "array)");
    }
    add_epochs(rows, metrics["epochs"], metrics_path.string());
  }
  std::vector<EpochRow> out;
  for (auto& [epoch, row] : rows) out.push_back(std::move(row));
  return out;
}

ReportInputs open_report(const ReportConfig& cfg) {
  if (cfg.count < 0) throw std::invalid_argument("--count must be >= 0 (0: the whole test set)");
  if (cfg.gallery < 0) throw std::invalid_argument("--gallery must be >= 0");
  if (cfg.gallery > 0 && cfg.methods.empty()) {
    throw std::invalid_argument("--methods: no method given; known methods: " + method_list_text());
  }
  for (const auto& m : cfg.methods) parse_method_list(m);  // validates each name
  check_method_options(cfg.method);
  parse_device(cfg.device);  // a bad --device before the data is read
  check_output(cfg.out, cfg.overwrite);
  ReportInputs in;
  in.cfg = cfg;
  in.loaded = training::load_model(cfg.checkpoint);
  const json metrics = cfg.metrics.empty() ? json() : read_json_file(cfg.metrics, "--metrics");
  in.history = merge_history(in.loaded.meta.json, metrics, cfg.metrics);
  if (in.history.empty()) {
    throw std::runtime_error(
        cfg.checkpoint.string() + ": no training history (the checkpoint records no epochs" +
        (cfg.metrics.empty() ? std::string("; pass --metrics with the `glassbox train --json` "
                                           "file of its run)")
                             : ", nor does " + cfg.metrics.string() + ")"));
  }
  if (!cfg.explanations.empty()) {
    in.explanations = read_json_file(cfg.explanations, "--explanations");
    check_explanations(in.explanations, cfg.explanations);
  }
  const std::string data = cfg.data.empty()
                               ? training::existing_training_data(in.loaded.meta, cfg.checkpoint)
                               : cfg.data;
  in.test = training::load_split(data, data::Split::Test, cfg.count);
  training::check_dataset_fits(in.test, in.loaded.meta, cfg.checkpoint);
  return in;
}

ReportData gather_report(ReportInputs& in) {
  const ReportConfig& cfg = in.cfg;
  const training::CheckpointMeta& meta = in.loaded.meta;
  Module& model = *in.loaded.model;
  ReportData d;
  d.checkpoint = cfg.checkpoint.string();
  d.model_name = meta.model_name;
  d.data = in.test.source;
  d.metrics_file = cfg.metrics.string();
  d.explanations_file = cfg.explanations.string();
  d.classes = meta.classes;
  d.input_shape = meta.input_shape;
  d.history = in.history;
  d.explanations = in.explanations;
  if (meta.json.contains("train_config")) d.train_config = meta.json["train_config"];
  progress(cfg, "layer table and graph");
  describe_model(model, meta, cfg.draw_graph, d);  // on the host, before the model moves
  model.to(parse_device(cfg.device));
  model.eval();
  progress(cfg, fmt::format("evaluating {} test images of {}", in.test.size(), in.test.source));
  const training::EvalResult r =
      training::evaluate(model, in.test, meta.norm, 256, cfg.quiet, "report eval");
  d.test_images = r.samples;
  d.test_loss = r.loss;
  d.test_accuracy = r.accuracy;
  d.eval_seconds = r.seconds;
  d.per_class_accuracy = r.per_class_accuracy;
  d.confusion = r.confusion;
  d.gallery_methods = cfg.methods;
  const std::vector<size_t> picked = gallery_indices(in.test, cfg.gallery);
  for (size_t i = 0; i < picked.size(); ++i) {
    progress(cfg, fmt::format("gallery image {}/{}", i + 1, picked.size()));
    d.gallery.push_back(explain_image(in, picked[i]));
  }
  return d;
}

ReportResult write_report(const ReportConfig& cfg) {
  ReportInputs in = open_report(cfg);
  const ReportData d = gather_report(in);
  const std::string html = render_report(d);
  write_file_atomically(cfg.out, html, cfg.overwrite);
  ReportResult r;
  r.out = cfg.out;
  r.bytes = html.size();
  r.sections = report_sections(d);
  r.graph_note = d.graph_note;
  return r;
}

}  // namespace gb::interp::report
