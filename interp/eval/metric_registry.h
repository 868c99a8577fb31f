// The metrics `glassbox evaluate-explanations --metrics` knows: name, citation, direction, their
// parameters (one struct, echoed in the JSON) and a runner per metric that scores one image's map
// (per-image metrics) or every image's map after re-explaining a changed model (model metrics:
// MPRT). Each metric draws its random numbers from Philox(seed, metric_stream(id, image)).
// Shape letters: C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/normalize.h"
#include "interp/batch.h"
#include "interp/eval/localisation_set.h"
#include "interp/eval/perturbation_curves.h"
#include "interp/eval/randomisation.h"
#include "interp/eval/road.h"
#include "interp/eval/robustness.h"
#include "runtime/module.h"

namespace gb::interp::eval {

struct MetricInfo {
  std::string name;
  uint32_t id = 0;        // part of the metric's Philox stream; never reused
  std::string citation;   // the paper the definition follows
  std::string direction;  // how to read the headline numbers
  bool in_all = true;     // part of "--metrics all" (data-randomization trains a model: not)
};

// Every metric, in display order ("deletion" and "insertion" first: the default).
const std::vector<MetricInfo>& metric_infos();
// throws: std::invalid_argument for an unknown name.
const MetricInfo& metric_info(const std::string& name);

// Splits "road, aopc" (spaces trimmed, duplicates dropped, order kept); "all" is every metric
// with in_all (all but data-randomization, which trains a model and must be named).
// throws: std::invalid_argument naming the first unknown metric and listing the known ones, or
// for an empty list.
std::vector<std::string> parse_metric_list(const std::string& csv);
std::string metric_list_text();

// MPRT settings (--mprt-*); `layers` and `init_used` are filled in by resolve_mprt_layers and
// the job, so the report echoes what ran.
struct MprtParams {
  std::string order = "trace";  // trace: reverse first use in a traced forward; registration
  std::string init = "spread";  // spread: N(mean, std) of each tensor; fresh: a new model's init
  std::string granularity = "module";  // module: each parameter-owning module; block: see
                                       // block_layers (Adebayo et al. randomised blocks)
  bool reset_bn_stats = false;
  int64_t images = 0;  // first images re-explained per layer; 0: all
  std::vector<std::string> layers;
  std::string init_used;
};

// The localisation set and its scores (--localisation, --loc-*, --pointing-tolerance,
// --mass-sign); `kept` and `generated` are filled in by the job.
struct LocalisationParams {
  LocalisationOptions set;  // count, scale, require_correct (seed: --seed)
  int64_t source = 500;     // first test images (class-balanced) objects and backgrounds come from
  double tolerance = 0;     // pointing game, pixels
  std::string mass_sign = "abs";
  int64_t kept = 0, generated = 0;
};

// The data-randomisation test (--dr-*); `result` is filled in by the job (epochs, memorisation
// and test accuracy, whether the comparison is reported).
struct DataRandomizationParams {
  int64_t train_limit = 2000;  // training images (class-balanced), labels permuted
  int64_t max_epochs = 60;     // training stops here at the latest
  // Epochs per training round: memorisation is checked after each round. One optimizer (and its
  // momentum) lives through a round, so rounds of one epoch on a small subset learn far slower.
  int64_t check_every = 5;
  double min_accuracy = 0.95;   // memorisation: accuracy on the permuted labels to reach
  bool allow_underfit = false;  // compare even below min_accuracy
  double lr = 0.05;
  int64_t batch_size = 64;
  nlohmann::json result = nlohmann::json::object();
};

// Parameters of every metric; each runner reads its own.
struct MetricParams {
  RoadOptions road;  // fractions, noise (norm, seed, stream, batch: set per image)
  PixelFlippingOptions pixel_flipping;
  AopcOptions aopc;
  FaithfulnessCorrelationOptions faithfulness;
  InfidelityOptions infidelity;
  SensitivityOptions sensitivity;
  MprtParams mprt;
  LocalisationParams localisation;
  DataRandomizationParams data_randomization;
};

// throws: std::invalid_argument naming the flag of the first bad parameter (before any work).
void check_metric_params(const MetricParams& p);

// The parameters `name` runs with, as JSON (what the report echoes).
nlohmann::json metric_parameters(const std::string& name, const MetricParams& p);

// One image and its map, as a per-image metric sees them.
struct ImageCase {
  Tensor x;                                    // [1,C,H,W], normalised
  Tensor map;                                  // [H,W]
  int64_t target = 0;                          // the explained (predicted) class
  int64_t label = 0;                           // the true label
  int64_t index = 0;                           // the image's position (its seed stream)
  const std::vector<uint8_t>* mask = nullptr;  // H*W object mask (localisation metrics)
};

// Scalars (averaged over images by the report) and curves (averaged point by point).
struct MetricValues {
  std::map<std::string, double> scalars;
  std::map<std::string, std::vector<double>> curves;
};

struct MetricContext {
  Module* model = nullptr;
  int64_t classes = 0;       // K (random-logit)
  data::Normalization norm;  // of the model's inputs
  uint64_t seed = 0;
  BatchOptions batch;
  MapFn explain;  // for the metrics that re-explain (max-sensitivity, random-logit)
};

// Runs per-image metric `name` on one image. requires: name is a per-image metric.
MetricValues run_image_metric(const std::string& name, const MetricContext& ctx, const ImageCase& c,
                              const MetricParams& p);

// True for the metrics that change the model and re-explain every image (MPRT).
bool is_model_metric(const std::string& name);
// True for the metrics scored on the generated localisation set (pointing game, relevance mass).
bool is_localisation_metric(const std::string& name);

// The layers MPRT randomises, in p.mprt.order and p.mprt.granularity, x being the first image
// [1,C,H,W]. throws: std::invalid_argument for an unknown order or granularity.
std::vector<std::string> resolve_mprt_layers(Module& model, const Tensor& x, const MprtParams& p);

// Runs model metric `name` ("mprt-cascading" or "mprt-independent") with `init` (empty: spread).
// Returns one MetricValues per image: curves spearman, spearman_abs, ssim, hog over the layers
// (p.mprt.layers), and scalars: cascading the values after the last layer ("final_*"),
// independent their means over the layers ("mean_*").
std::vector<MetricValues> run_model_metric(const std::string& name, Module& model,
                                           const ExplainAll& explain, const MetricParams& p,
                                           uint64_t seed, const Reinitialise& init = {});

}  // namespace gb::interp::eval
