// Infidelity and max-sensitivity (Yeh, Hsieh, Suggala, Inouye, Ravikumar, "On the (In)fidelity
// and Sensitivity of Explanations", NeurIPS 2019).
// Shape letters: C channels, H/W image size, P = H*W pixels; maps are [H,W].
#pragma once
#include <cstdint>
#include <functional>

#include "data/normalize.h"
#include "interp/batch.h"
#include "interp/perturb.h"
#include "runtime/module.h"

namespace gb::interp::eval {

// Re-explains an input [1,C,H,W] for a class: the method under evaluation, as an [H,W] map.
using MapFn = std::function<Tensor(const Tensor& x, int64_t target)>;

enum class InfidelityPerturbation { Square, Gaussian };

struct InfidelityOptions {
  int64_t samples = 256;  // Monte Carlo perturbations I
  InfidelityPerturbation perturbation = InfidelityPerturbation::Square;
  int64_t square_max = 10;  // Square: side uniform in 1 .. square_max pixels (Yeh et al.)
  double sigma = 0.2;       // Gaussian: std in pixel units (Yeh et al.)
  bool normalize = true;    // rescale the map by the optimal beta (reference code; Captum opt-in)
  Score score = Score::Logit;
  data::Normalization norm;  // of the model's inputs
  uint64_t seed = 0, stream = 0;
  BatchOptions batch;
};

struct InfidelityResult {
  double infidelity = 0;  // E[(beta I^T a - (f(x) - f(x - I)))^2]; lower = more faithful
  double beta = 1;        // 1 without normalize
};

// INFD = E_I[(I^T a - (f_t(x) - f_t(x - I)))^2] over `samples` draws from Philox(seed, stream).
// Square (default): a square of side s ~ U{1..square_max} at a uniform position is set to black
// (pixel 0 in every channel); I is its binary indicator, so I^T a = sum of the map over the square
// (the map is read as the effect of removing each pixel, Yeh's "Square" with a global map such
// as input x gradient). Gaussian: x - I = clip(sigma z, 0, 1) per element in pixel units (a noisy
// black image), I in the model's units, and I^T a = sum_hw a_hw sum_c I_chw (the map broadcast
// to the channels: a map summed over channels, as glassbox's signed methods give, is read C times
// too large, which beta absorbs). With normalize, a is first scaled by beta = E[(I^T a) d] / E[(I^T
// a)^2] (0 for a zero map), which makes the score invariant to the map's scale; Captum's
// infidelity(normalize=True) does the same. The expectation is over independent I, not Quantus's
// cumulative patch sweep. requires: samples >= 1, square_max >= 1, sigma > 0.
InfidelityResult infidelity(Module& model, const Tensor& x, const Tensor& map, int64_t target,
                            const InfidelityOptions& opt);

struct SensitivityOptions {
  double radius = 0.02;  // L_inf ball radius in pixel units (per channel /std in model units)
  int64_t samples = 10;  // Captum sensitivity_max's default
  data::Normalization norm;
  uint64_t seed = 0, stream = 0;
};

// SENS_MAX = max_k ||a(y_k) - a(x)||_F / ||a(x)||_F over `samples` y_k drawn uniformly from the
// L_inf ball of `radius` around x (pixel units, so radius / std_c in the model's units; not
// clipped, as Captum), ||a(x)|| = 0 read as 1 (Captum). The reference code divides the running
// max inside its loop; this is the stated quantity. Lower = more robust.
// requires: samples >= 1, radius > 0, map = explain(x, target).
double max_sensitivity(const MapFn& explain, const Tensor& x, const Tensor& map, int64_t target,
                       const SensitivityOptions& opt);

void check_infidelity_options(const InfidelityOptions& opt);
void check_sensitivity_options(const SensitivityOptions& opt);

}  // namespace gb::interp::eval
