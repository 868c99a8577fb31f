// Randomisation sanity checks: model-parameter randomisation (MPRT; Adebayo, Gilmer, Muelly,
// Goodfellow, Hardt, Kim, "Sanity Checks for Saliency Maps", NeurIPS 2018), cascading (layers
// randomised from the output down, cumulatively) and independent (one layer at a time, the others
// trained), each map compared with the trained model's by Spearman (signed and absolute), SSIM and
// HOG similarity; and the random-logit test (Sixt, Granz, Landgraf, "When Explanations Lie",
// ICML 2020): the map for the explained class against the map for a random other class.
// Shape letters: N images, C channels, H/W image size, K classes; maps are [H,W].
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/module.h"

namespace gb::interp::eval {

// How alike a map is to the reference map (Adebayo et al.'s measures).
struct MapComparison {
  double spearman = 0;      // rank correlation of the signed maps
  double spearman_abs = 0;  // of |a| (Quantus MPRT's default abs=True)
  double ssim = 0;          // 2-D SSIM (map_similarity.h) of |a| / max |a|
  double hog = 0;           // Pearson correlation of HOG features of |a| / max |a|
  bool has_hog = false;     // false when the map is smaller than 3 whole 8-pixel cells
};
// requires: equal sizes, H and W >= 7 (the SSIM window).
MapComparison compare_maps(const Tensor& reference, const Tensor& other);

// Layers that own parameters directly, ordered by the reverse of their first use in a traced
// forward pass of x [1,C,H,W] (the output side first; registration order can differ from
// execution, e.g. for imported graph models). Layers the forward never uses come last, in
// reverse registration order.
std::vector<std::string> execution_order_layers(Module& model, const Tensor& x);

// Block granularity: each layer path replaced by its block, the direct child of a top-level
// container ("layer1.0.conv1" -> "layer1.0"; a top-level leaf such as "conv1" or "fc" stays),
// duplicates dropped, order of first appearance kept. Randomising a block re-draws every
// parameter under it.
std::vector<std::string> block_layers(Module& model, const std::vector<std::string>& layers);

enum class MprtMode { Cascading, Independent };

// Re-draws the parameter tensor `t` (path `name` from the model's root; the i-th randomised
// tensor, i = 0, 1, ...).
using Reinitialise = std::function<void(const std::string& name, const Tensor& t, uint64_t i)>;
// Today's cascading_randomization draw: N(mean(t), std(t)^2), Philox(seed, kRandomizeStream + i).
Reinitialise spread_init(uint64_t seed);

struct MprtOptions {
  MprtMode mode = MprtMode::Cascading;
  std::vector<std::string> layers;  // randomised in this order; empty: randomization_layers()
  Reinitialise init;                // empty: spread_init(seed)
  uint64_t seed = 0;
  bool reset_bn_stats = false;  // also set running_mean/var of randomised modules to 0/1
};

// Maps of every image, one [H,W] per image, of the model as it is now.
using ExplainAll = std::function<std::vector<Tensor>(Module& model)>;

struct MprtStep {
  std::string layer;                       // randomised at this step (cascading: and all before)
  std::vector<Tensor> maps;                // per image
  std::vector<MapComparison> comparisons;  // per image, against the trained model's map
};
struct MprtReport {
  std::vector<Tensor> original;  // the trained model's maps
  std::vector<MprtStep> steps;
};

// MPRT. Tensor i (in layer order, each tensor once) always gets the same draw (init(name, t, i)),
// so a layer is randomised identically in both modes and the first step of both is the same.
// Every parameter (and buffer, with reset_bn_stats) is restored afterwards, also when `explain`
// throws. throws: std::invalid_argument for a layer that is not a module of `model`.
MprtReport mprt(Module& model, const ExplainAll& explain, const MprtOptions& opt);

struct RandomLogitResult {
  int64_t other_class = 0;
  double ssim = 0;  // 2-D SSIM of a / max |a| of both maps (Quantus: 1-D on flattened maps)
};
// Random logit for one image: `other` is drawn uniformly from the K - 1 classes != target with
// Philox(seed, stream); explain(x, other) is compared with `map` (the target's).
// requires: classes >= 2, 0 <= target < classes.
RandomLogitResult random_logit(const std::function<Tensor(const Tensor&, int64_t)>& explain,
                               const Tensor& x, const Tensor& map, int64_t target, int64_t classes,
                               uint64_t seed, uint64_t stream);

}  // namespace gb::interp::eval
