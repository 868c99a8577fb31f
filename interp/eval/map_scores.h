// Scores of one attribution map on its own (no model): sparseness as the Gini index (Chalasani et
// al., "Concise explanations of neural networks using adversarial training", ICML 2020) and
// complexity as the entropy of the normalised absolute map (Bhatt, Weller, Moura, "Evaluating
// and aggregating feature-based model explanations", IJCAI 2020), as Quantus computes them.
// Shape letters: H/W map size, n = H*W values (any shape is read as n values).
#pragma once
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

}  // namespace gb::interp::eval
