// The job behind `glassbox report`: one self-contained HTML page about a checkpoint (no network
// needed to view it). It gathers the training history (the checkpoint's, overridden or extended
// by a `train --json` metrics file), evaluates the model on its test set (accuracy, per-class
// accuracy, confusion matrix), explains a gallery of test images with several methods, takes the
// layer table and the traced dataflow graph (drawn by Graphviz when `dot` is installed), reads an
// `evaluate-explanations --json` table and, for a pruned checkpoint, compares the layers before
// and after pruning; then renders the page (report_page.h) and writes it atomically.
// Every input is checked before the long work starts; an error leaves no file behind.
// Shape letters: C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "interp/registry.h"
#include "models/summary.h"
#include "models/training/checkpoint_meta.h"

namespace gb::interp::report {

struct ReportConfig {
  std::filesystem::path checkpoint;
  std::filesystem::path metrics;       // `train --json` file ("": the checkpoint's history only)
  std::filesystem::path explanations;  // `evaluate-explanations --json` file ("": none)
  std::filesystem::path out;           // the HTML page
  bool overwrite = false;              // replace an existing `out`
  std::string data;                    // "": the data set the checkpoint was trained on
  int64_t count = 0;                   // test images evaluated (class-balanced); 0: all
  int64_t gallery = 6;                 // test images explained in the gallery (0: none)
  std::vector<std::string> methods{"gradcam", "ig", "occlusion"};
  MethodOptions method;        // options of the gallery's methods (norm is filled in)
  std::string device = "cpu";  // where the model runs: cpu | cuda | cuda:N
  bool draw_graph = true;      // Graphviz draws the graph when installed (false: a text list)
  bool quiet = false;          // no progress lines on stderr
};

// One epoch of the training history: the figures that were recorded (train_loss,
// train_accuracy, test_loss, test_accuracy, lr_end, seconds, images_per_second, ...).
struct EpochRow {
  int64_t epoch = 0;
  std::map<std::string, double> values;
};

// The history of `checkpoint_meta` (its "history" array) merged with `metrics` (the "epochs"
// array of a `train --json` file; may be null): rows by epoch, the metrics file's figures
// replacing the checkpoint's for the same epoch. `metrics_path` names the file in errors.
// throws: std::runtime_error naming metrics_path when `metrics` is not a metrics file (no
// "epochs" array, an entry without an integer "epoch").
std::vector<EpochRow> merge_history(const nlohmann::json& checkpoint_meta,
                                    const nlohmann::json& metrics,
                                    const std::filesystem::path& metrics_path);

struct GalleryMap {
  std::string method;
  std::string png_uri;  // the map over the upscaled input, as a data: URI
  double ms = 0;
  bool is_signed = false;
};
struct GalleryItem {
  int64_t index = 0;  // in the evaluated test split
  std::string label, prediction;
  double probability = 0;  // of the prediction
  std::string input_uri;   // the upscaled input image, as a data: URI
  std::vector<GalleryMap> maps;
};

// One layer (module path) of the model before and after pruning.
struct PrunedLayer {
  std::string name, type, detail_before, detail_after;
  int64_t params_before = 0, params_after = 0;
  int64_t macs_before = -1, macs_after = -1;  // -1: not known (unstructured pruning)
};
struct PruningView {
  std::string mode;        // "structured" | "unstructured"
  nlohmann::json section;  // the checkpoint's "pruning" section as stored
  std::vector<PrunedLayer> layers;
  int64_t params_before = 0, params_after = 0, macs_before = -1, macs_after = -1;
  std::string note;  // why the per-layer comparison is missing, if it is
};

// Everything the page shows.
struct ReportData {
  std::string checkpoint, model_name, data, metrics_file, explanations_file;
  std::vector<std::string> classes;
  Shape input_shape;            // [C,H,W]
  nlohmann::json train_config;  // the checkpoint's "train_config" (null if none)
  std::vector<EpochRow> history;
  // Evaluation on the test set.
  int64_t test_images = 0;
  double test_loss = 0, test_accuracy = 0, eval_seconds = 0;
  std::vector<double> per_class_accuracy;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  models::ModelSummary summary;
  std::string graph_svg;                 // "" when not drawn
  std::vector<std::string> graph_nodes;  // "module op [shape]" per node: the text fallback
  std::string graph_note;                // why there is no drawing, if there is none
  std::vector<GalleryItem> gallery;
  std::vector<std::string> gallery_methods;
  nlohmann::json explanations;  // the evaluate-explanations table (null if none)
  bool pruned = false;
  PruningView pruning;
};

// The inputs of a report, checked and loaded: what the long work starts from.
struct ReportInputs {
  ReportConfig cfg;
  training::LoadedModel loaded;
  std::vector<EpochRow> history;
  nlohmann::json explanations;  // null without cfg.explanations
  data::Dataset test;           // the evaluated split (cfg.count images, or all)
};

// Checks the options and output path, loads the checkpoint, its history, the metrics and
// explanations files and the test split; nothing long runs and nothing is written.
// throws: std::invalid_argument / std::runtime_error naming the file or option: `out` is a
// directory, exists without overwrite, or its directory is missing or not writable; the
// checkpoint cannot be loaded; neither the checkpoint nor `metrics` records any epoch
// ("<checkpoint>: no training history ..."); a metrics or explanations file that cannot be read
// or is not of its kind; an unknown method; count or gallery < 0; a data set that does not fit.
ReportInputs open_report(const ReportConfig& cfg);

// Evaluation, gallery, layer table, graph and pruning comparison of checked inputs.
ReportData gather_report(ReportInputs& in);

struct ReportResult {
  std::filesystem::path out;
  size_t bytes = 0;
  std::vector<std::string> sections;  // the ids of the page's sections, in order
  std::string graph_note;             // why the graph is a text list, if it is
};

// open_report, gather_report, render_report, then the page written atomically to cfg.out.
ReportResult write_report(const ReportConfig& cfg);

}  // namespace gb::interp::report
