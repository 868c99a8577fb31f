// Scores of one attribution map on its own (no model): sparseness as the Gini index (Chalasani et
// al., "Concise explanations of neural networks using adversarial training", ICML 2020) and
// complexity as the entropy of the normalised absolute map (Bhatt, Weller, Moura, "Evaluating
// and aggregating feature-based model explanations", IJCAI 2020), as Quantus computes them; and
// the localisation scores against a ground-truth mask: the pointing game (Zhang, Bargal, Lin,
// Brandt, Shen, Sclaroff, "Top-down Neural Attention by Excitation Backprop", ECCV 2016) and
// relevance mass accuracy (Arras, Osman, Samek, "CLEVR-XAI", Information Fusion 2022).
// Shape letters: H/W map size, n = H*W values (any shape is read as n values).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace gb::interp::eval {

// Gini index of |a| sorted ascending (i = 1..n): sum_i (2i - n - 1) |a|_(i) / (n sum_i |a|_(i)).
// 0 for a uniform map, (n - 1) / n for a map with one non-zero value. Quantus's convention is
// kept: the map is divided by max |a| first and 1e-7 is added to every value, so an all-zero map
// scores 0 instead of 0/0. requires: n >= 1.
double sparseness_gini(const std::vector<float>& map);
double sparseness_gini(const Tensor& map);

// Entropy -sum_i p_i ln p_i of p_i = |a_i| / sum_j |a_j| (natural log; Quantus adds 1e-12
// inside the log). ln n for a uniform map, 0 for one non-zero value; an all-zero map is read as
// uniform (ln n). requires: n >= 1.
double complexity_entropy(const std::vector<float>& map);
double complexity_entropy(const Tensor& map);

struct PointingResult {
  bool hit = false;
  int64_t y = 0, x = 0;  // the map's first maximum in index order (as pixel_order)
  int64_t ties = 0;      // pixels sharing that maximum value (1: no tie)
};
// Pointing game on a map [H,W] and a mask of H*W bytes (non-zero = object): a hit when the
// map's first maximum lies within Euclidean distance `tolerance` pixels of a mask pixel (the
// paper's 15 px on ~224 px images; 0: inside). Quantus counts a hit when any tied maximum is
// inside (so a constant map always hits); here only the first counts, and ties are reported.
// requires: mask.size() == H*W, tolerance >= 0.
PointingResult pointing_game(const Tensor& map, const std::vector<uint8_t>& mask,
                             double tolerance = 0);

enum class MassSign { Abs, Positive, Signed };
// "abs" | "positive" | "signed"; throws std::invalid_argument naming --mass-sign otherwise.
MassSign parse_mass_sign(const std::string& s);
// Relevance mass accuracy R_within / R_total over the mask: of |a| (Abs: the CLEVR-XAI reference
// calc_overlap), of max(a, 0) (Positive) or of a itself (Signed: Quantus; can leave [0, 1]).
// NaN for an empty mask or a zero total. requires: mask.size() == H*W.
double relevance_mass(const Tensor& map, const std::vector<uint8_t>& mask, MassSign sign);

}  // namespace gb::interp::eval
