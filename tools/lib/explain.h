// The job behind `glassbox explain`: one image (test image K of the checkpoint's data set, or an
// image file) explained by any of the interp/ methods. Each map is written as a heat-map PNG over
// the upscaled input, next to input.png, a labelled sheet.png of all methods and explanation.json
// (prediction, target, per-method time, top features, method checks such as the IG completeness
// error, LIME's R^2 and KernelSHAP's efficiency error, and each map's deletion/insertion AUC).
// Also the per-method runner (run_method) that evaluate-explanations shares.
// Shape letters: C channels, H/W image size, K classes, S segments (superpixels).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/normalize.h"
#include "interp/batch.h"
#include "models/training/trainer.h"
#include "runtime/module.h"
#include "runtime/tensor.h"

namespace gb::app {

// Every method name explain and evaluate-explanations accept, in display order: the CAM family,
// the gradient family, the perturbation family, then the baselines every faithful method should
// beat: "random" (a seeded uniform value per pixel) and "random-smooth" (seeded uniform values on
// a grid of 4x4-pixel cells, bilinearly upsampled: as smooth as a CAM, so deletion curves compare
// where a map points rather than how scattered its pixels are).
const std::vector<std::string>& explain_method_names();

// Splits a comma-separated list ("gradcam, ig,lime"): spaces trimmed, empty items and duplicates
// dropped, order kept. throws: std::invalid_argument naming the first unknown method and listing
// the known ones, or when the list is empty.
std::vector<std::string> parse_method_list(const std::string& csv);

// Options shared by every method; each reads only the fields it needs.
struct MethodOptions {
  std::string layer;      // CAM methods: module path; "": interp::default_cam_layer
  uint64_t seed = 0;      // lime, kernelshap, shapley-sampling, smoothgrad, random*
  uint64_t stream = 0;    // random*: Philox stream (evaluate-explanations: the image's position)
  int64_t samples = 0;    // sampling methods; 0: method_samples' default
  int64_t segments = 16;  // superpixels requested from SLIC for the segment methods
  // How the segment methods split the image: "slic" (superpixels; SLIC may return a few more or
  // fewer than requested) or "grid" (exactly `segments` rectangular cells, rows x cols with the
  // most nearly square factorisation: 16 -> 4x4).
  std::string segmentation = "slic";
  int64_t ig_steps = 32;       // Integrated Gradients: Gauss-Legendre points
  interp::BatchOptions batch;  // memory budget of every batched forward (--mem-budget)
  data::Normalization norm;    // of the model's inputs: IG's black baseline, SLIC's colours
};

// throws: std::invalid_argument naming the option when samples < 0, segments < 1, ig_steps < 1,
// segmentation is neither "slic" nor "grid", or the memory budget is 0.
void check_method_options(const MethodOptions& opt);

// The sample count `method` uses: opt.samples when > 0, else lime 1000 coalitions, kernelshap
// 1000 coalitions, shapley-sampling 32 permutations, smoothgrad 25 noisy copies; 0 for the
// methods that do not sample.
int64_t method_samples(const std::string& method, const MethodOptions& opt);

// True for the methods that attribute to superpixels (lime, kernelshap, shapley-sampling,
// exact-shapley).
bool is_segment_method(const std::string& method);

struct MethodOutput {
  std::string method;
  Tensor map;              // [H,W]; segment methods: every pixel carries its segment's score
  bool is_signed = false;  // signed maps are drawn with the diverging colormap, others viridis
  double ms = 0;           // time of the attribution alone (no metrics, no pictures)
  // Numeric checks by name: "completeness_error" (ig, |sum attr - (f(x) - f(black))| in logits),
  // "efficiency_error" (Shapley methods, |sum phi - (v(full) - v(empty))|), "r2" (lime).
  std::map<std::string, double> scores;
  nlohmann::json info;  // layer, samples, segments, top_segments, ... (always an object)
};

// Runs `method` on x [1,C,H,W] (normalised like the training data) for class `target`.
// Multi-channel attributions become [H,W] maps: summed over channels for the signed methods
// (inputxgrad, ig), max |.| over channels for guided-backprop, deconvnet, guided-gradcam and
// smoothgrad. The model is left in eval mode.
// requires: method in explain_method_names(); 0 <= target < K.
// throws: std::invalid_argument for an unknown method or layer, or exact-shapley on more than 20
// segments.
MethodOutput run_method(Module& model, const std::string& method, const Tensor& x, int64_t target,
                        const MethodOptions& opt);

struct MapAucs {
  double deletion = 0;   // lower is more faithful
  double insertion = 0;  // higher is more faithful
};
// Deletion and insertion AUC (interp/metrics.h defaults: 32 steps, target probability) of a map.
// requires: x [1,C,H,W], map with H*W elements.
MapAucs map_aucs(Module& model, const Tensor& x, const Tensor& map, int64_t target,
                 const interp::BatchOptions& batch);

// The k largest entries of map [H,W] as [{"y","x","value"}], ties by increasing index.
nlohmann::json top_pixels(const Tensor& map, int64_t k);


// The data set `lm` was trained on (its metadata's train_config.data; "" = Fashion-MNIST).
// throws: std::runtime_error naming the checkpoint and suggesting --data when the recorded path
// does not exist from here (it was recorded relative to the training run's directory).
std::string training_data(const training::LoadedModel& lm, const std::filesystem::path& checkpoint);

struct ExplainConfig {
  std::filesystem::path checkpoint;
  std::filesystem::path image;  // an image file, or
  int64_t index = -1;           // test image `index` of `data` (>= 0 selects this source)
  std::string data;             // with index: data set; "": the one the checkpoint was trained on
  std::vector<std::string> methods;
  std::string target = "pred";  // "pred", a class index or a class name
  MethodOptions method;         // layer, seed, samples, segments, mem budget (norm is filled in)
  std::string device = "cpu";   // where the model runs: cpu | cuda | cuda:N
  bool resize = false;          // resize/convert a file of the wrong size or channel count
  std::filesystem::path out;    // output directory
  bool overwrite = false;       // allow a non-empty `out`: the files written here are replaced
};

struct ExplainResult {
  nlohmann::json json;                       // what explanation.json holds
  std::vector<std::filesystem::path> files;  // written, in order
};

// Explains one image with every method of cfg.methods and writes into cfg.out: input.png,
// <method>.png per method, sheet.png and explanation.json. Everything is computed before the
// first file is written, and the files are written into a staging directory next to cfg.out and
// moved into place, so an error leaves no partial output.
// requires: exactly one of cfg.image / cfg.index >= 0; cfg.methods non-empty.
// throws: std::invalid_argument / std::runtime_error with a message naming the file or option:
// out not empty without overwrite, image of the wrong size or channel count without resize
// (naming the file and the expected CxHxW), index out of range, unknown method, layer or class.
ExplainResult explain(const ExplainConfig& cfg);

// One line per method (time, AUCs, checks) for the terminal.
std::string format_explain_summary(const ExplainResult& r);

}  // namespace gb::app
