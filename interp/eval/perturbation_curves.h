// Faithfulness by perturbation: pixel flipping (Bach, Binder, Montavon, Klauschen, Mueller,
// Samek, PLOS ONE 2015), AOPC of region perturbation (Samek, Binder, Montavon, Lapuschkin,
// Mueller, IEEE TNNLS 2017) and faithfulness correlation (Bhatt, Weller, Moura, IJCAI 2020).
// Shape letters: C channels, H/W image size, P = H*W pixels; a "pixel" is all C channels of one
// (h, w), the map is [H,W].
#pragma once
#include <cstdint>
#include <vector>

#include "data/normalize.h"
#include "interp/batch.h"
#include "interp/perturb.h"
#include "runtime/module.h"

namespace gb::interp::eval {

struct PixelFlippingOptions {
  int64_t features_in_step = 8;  // pixels flipped per step (Quantus 1; 8 keeps 32x32 at 129 steps)
  Score score = Score::Probability;  // Quantus softmax=True
  BatchOptions batch;
};
struct PerturbationCurve {
  std::vector<double> fraction;  // fraction of pixels perturbed, 0 .. 1
  std::vector<double> score;     // the target's score after that many pixels
  double auc = 0;                // trapezoid over the fraction (Quantus: over the step index)
};
// Pixel flipping: pixels in decreasing map order (ties by index) set, k per step, to Quantus's
// "black" (the image's minimum over all its values and channels); the curve has
// ceil(P / k) + 1 points. Lower AUC = more faithful. requires: features_in_step >= 1.
PerturbationCurve pixel_flipping(Module& model, const Tensor& x, const Tensor& map, int64_t target,
                                 const PixelFlippingOptions& opt);

struct AopcOptions {
  int64_t patch = 4;    // square region side (Samek 9 on ~224 px; Quantus 8)
  int64_t regions = 0;  // L regions perturbed; 0: every patch of the grid
  Score score = Score::Logit;
  data::Normalization norm;       // the uniform fill is drawn in pixel units [0, 1]
  uint64_t seed = 0, stream = 0;  // the uniform fill: Philox(seed, stream)
  BatchOptions batch;
};
struct AopcResult {
  double aopc = 0;            // 1/(L+1) sum_{k=0..L} (f(x^(0)) - f(x^(k))); higher = more faithful
  std::vector<double> score;  // [L+1] f(x^(k))
};
// Region perturbation, MoRF: the non-overlapping patch x patch grid (cells cut by the border
// kept, as Quantus's slices) ranked by summed map value (ties by index); step k replaces the first
// k regions by uniform noise in [0, 1] per pixel and channel (Samek et al.), drawn once per image.
// The k = 0 term (zero) is included in the 1/(L+1) mean as in the paper.
// requires: patch >= 1, regions >= 0.
AopcResult aopc(Module& model, const Tensor& x, const Tensor& map, int64_t target,
                const AopcOptions& opt);

struct FaithfulnessCorrelationOptions {
  int64_t runs = 100;          // random subsets (Quantus nr_runs)
  int64_t subset = 64;         // pixels per subset (Quantus 224 channel-elements on 224x224)
  Score score = Score::Logit;  // Quantus softmax=False
  uint64_t seed = 0, stream = 0;
  BatchOptions batch;
};
struct FaithfulnessCorrelationResult {
  double correlation = 0;  // Pearson over the runs; 0 when either side is constant
  std::vector<double> attribution_sum, score_drop;  // [runs]
};
// mu_F = corr_S(sum_{i in S} a_i, f(x) - f(x with x_S := black)) over `runs` subsets S of
// `subset` distinct pixels drawn from Philox(seed, stream). Pixels (all channels) rather than
// Quantus's channel-elements; black = the image's minimum, as Quantus. All runs + 1 images go
// through one forward_streamed. requires: runs >= 2, 1 <= subset <= P.
FaithfulnessCorrelationResult faithfulness_correlation(Module& model, const Tensor& x,
                                                       const Tensor& map, int64_t target,
                                                       const FaithfulnessCorrelationOptions& opt);

}  // namespace gb::interp::eval
