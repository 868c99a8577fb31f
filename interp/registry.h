// The explanation-method registry: every method `glassbox explain` and `evaluate-explanations`
// accept, by name, run the same way (run_method) on one normalised image for one class and
// returned as an [H,W] map with its time, checks and details; plus the deletion/insertion AUC
// of a map and its top pixels. Adding a method is one function and one row of the table in
// registry.cpp. Shape letters: C channels, H/W image size, K classes, S segments (superpixels).
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/normalize.h"
#include "interp/batch.h"
#include "interp/slic.h"
#include "runtime/module.h"
#include "runtime/tensor.h"

namespace gb::interp {

// Every method name, in display order: the CAM family (on a transformer, over its patch tokens),
// the gradient family (with DeepLIFT), the LRP family ("lrp" = the --lrp-composite, default
// epsilon-gamma-box; "lrp-epsilon", "lrp-gamma", "lrp-alphabeta" = epsilon-alpha2beta1,
// "lrp-epsilon-plus"; CPU only), the perturbation family (with RISE), the attention methods of
// vision transformers ("attention": the last layer's class-token attention, or --layer's;
// "attention-rollout"; interp/attention.h), then the baselines every faithful method should beat:
// "random" (a seeded uniform value per pixel) and "random-smooth" (seeded uniform values on a grid
// of 4x4-pixel cells, bilinearly upsampled: as smooth as a CAM, so deletion curves compare where
// a map points rather than how scattered its pixels are).
const std::vector<std::string>& method_names();

// Splits a comma-separated list ("gradcam, ig,lime"): spaces trimmed, empty items and duplicates
// dropped, order kept. throws: std::invalid_argument naming the first unknown method and listing
// the known ones, or when the list is empty.
std::vector<std::string> parse_method_list(const std::string& csv);

// The known methods as "a, b, c" (for messages and help texts).
std::string method_list_text(const std::string& separator = ", ");

// Options shared by every method; each reads only the fields it needs.
struct MethodOptions {
  std::string layer;      // CAM methods: module path; "": default_cam_layer
  uint64_t seed = 0;      // lime, kernelshap, shapley-sampling, smoothgrad, random*
  uint64_t stream = 0;    // random*: Philox stream (evaluate-explanations: the image's position)
  int64_t samples = 0;    // sampling methods; 0: method_samples' default
  int64_t segments = 16;  // superpixels requested from SLIC for the segment methods
  // How the segment methods split the image: "slic" (superpixels; SLIC may return a few more or
  // fewer than requested) or "grid" (exactly `segments` rectangular cells, rows x cols with the
  // most nearly square factorisation: 16 -> 4x4).
  std::string segmentation = "slic";
  int64_t ig_steps = 32;  // Integrated Gradients: Gauss-Legendre points
  // Occlusion's square window and stride in pixels; 0: a quarter of the image's shorter side,
  // and half the window.
  int64_t occlusion_window = 0, occlusion_stride = 0;
  // LRP (interp/relevance/lrp.h): the composite of "lrp" (the lrp-* rows fix their own), the
  // stabiliser, gamma, alpha/beta (alpha - beta = 1) and whether biases enter z ("include",
  // or "ignore": Zennit's zero_params='bias').
  std::string lrp_composite = "epsilon-gamma-box";
  double lrp_epsilon = 1e-6;
  double lrp_gamma = 0.25;
  double lrp_alpha = 2.0, lrp_beta = 1.0;
  std::string lrp_bias = "include";
  // Outputs with an exact-zero denominator (dead receptive fields): "flat" passes their relevance
  // on by the flat rule, "drop" loses it (Zennit).
  std::string lrp_dead_field = "flat";
  // RISE (interp/rise.h): masks, grid cells per side, probability of a kept cell.
  int64_t rise_masks = 2000;
  int64_t rise_cells = 4;
  double rise_p = 0.5;
  BatchOptions batch;  // memory budget of every batched forward (--mem-budget), precision
  // With batch.precision Bf16: also run the method in float32 and report in info
  // "bf16_vs_fp32" the rank correlation and largest difference of the two maps (--compare-fp32).
  bool compare_fp32 = false;
  data::Normalization norm;  // of the model's inputs: IG's black baseline, SLIC's colours
};

// throws: std::invalid_argument naming the option when samples < 0, segments < 1, ig_steps < 1,
// an occlusion window or stride < 0,
// segmentation is neither "slic" nor "grid", the memory budget is 0, an LRP option is invalid
// (check_lrp_options; lrp_bias neither "include" nor "ignore", lrp_dead_field neither "flat"
// nor "drop") or a RISE option is.
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
  // Numeric checks by name: "completeness_error" (ig and deeplift, |sum attr - (f(x) - f(black))|
  // in logits), "conservation_error" (lrp*, |sum R_input - f_t(x)| / |f_t(x)|),
  // "efficiency_error" (Shapley methods, |sum phi - (v(full) - v(empty))|), "r2" (lime).
  std::map<std::string, double> scores;
  nlohmann::json info;  // layer, samples, segments, top_segments, ... (always an object)
};

// Runs `method` on x [1,C,H,W] (normalised like the training data) for class `target`.
// Multi-channel attributions become [H,W] maps: summed over channels for the signed methods
// (inputxgrad, ig, deeplift, lrp*), max |.| over channels for guided-backprop, deconvnet,
// guided-gradcam and smoothgrad. The model is left in eval mode.
// The methods that batch no-grad forwards of perturbed inputs (occlusion, feature ablation, rise,
// scorecam, lime, kernelshap, shapley-sampling, exact-shapley) run them at opt.batch.precision
// and say so in info "precision"; the gradient methods always run in float32.
// requires: method in method_names(); 0 <= target < K.
// throws: std::invalid_argument for an input that is not [1,C,H,W], an unknown method or layer,
// or exact-shapley on more than 20 segments.
MethodOutput run_method(Module& model, const std::string& method, const Tensor& x, int64_t target,
                        const MethodOptions& opt);

struct MapAucs {
  double deletion = 0;   // lower is more faithful
  double insertion = 0;  // higher is more faithful
};
// Deletion and insertion AUC (metrics.h defaults: 32 steps, target probability) of a map.
// requires: x [1,C,H,W], map with H*W elements.
MapAucs map_aucs(Module& model, const Tensor& x, const Tensor& map, int64_t target,
                 const BatchOptions& batch);

// x [1,C,H,W] or [C,H,W] in the model's normalised units -> [C,H,W] pixel values, the normalisation
// undone (when it has C channels) and clamped to [0,1]: what SLIC's colour distances read.
Tensor pixel_image(const Tensor& x, const data::Normalization& norm);

// The players of the segment methods for x [1,C,H,W] (or [C,H,W]): with segmentation "grid",
// exactly opt.segments cells, rows x cols the most nearly square factorisation (16 -> 4x4, 6 ->
// 2x3); with "slic", SLIC superpixels of pixel_image(x, opt.norm).
Segments method_segments(const Tensor& x, const MethodOptions& opt);

// The k largest entries of map [H,W] as [{"y","x","value"}], ties by increasing index.
nlohmann::json top_pixels(const Tensor& map, int64_t k);

}  // namespace gb::interp
