// Concept activation vectors (Kim et al., "Interpretability Beyond Feature Attribution:
// Quantitative Testing with Concept Activation Vectors (TCAV)", ICML 2018): a linear probe that
// separates a layer's activations of concept examples from those of random examples; the CAV is
// the unit normal of its decision boundary, pointing TOWARDS the concept_acts.
// Shape letters: n examples (concept + random), D flattened activation size of the layer.
#pragma once
#include <cstdint>
#include <vector>

namespace gb::interp {

// Row-major activations, one flattened layer output per example: values[i * d + j].
struct ActivationRows {
  int64_t n = 0;
  int64_t d = 0;
  std::vector<float> values;  // n * d
};

struct CavOptions {
  // Weight of the L2 penalty on the mean log-loss: (1/n) sum log(1 + e^{-y_i (w.a_i + b)}) +
  // (l2/2) |w|^2, the objective of Captum's default probe (sklearn SGDClassifier(alpha=0.01),
  // log loss). Here it is minimised exactly by Newton's method instead of SGD.
  double l2 = 0.01;
  double test_fraction = 0.33;  // held out per side (Captum's test_split_ratio)
  uint64_t seed = 0;            // Philox seed of the train/test split
  int max_iterations = 100;     // Newton steps
};

struct Cav {
  std::vector<double> direction;  // [D], unit length, towards the concept
  double bias = 0;                // of the probe in the original scale: w.a + bias, w = |w| dir
  double weight_norm = 0;         // |w|
  double train_accuracy = 0;
  double test_accuracy = 0;  // on the held-out examples (0 when none are held out)
  int64_t train_count = 0;
  int64_t test_count = 0;
  int iterations = 0;  // Newton steps taken
};

// Trains the probe (concept_acts: label +1, random: label -1) on all but a held-out fraction of
// each side, chosen by Philox(seed), and reports accuracies on both parts. The logistic regression
// is solved in its dual form: w = A^T alpha (the representer theorem; A the training activations,
// n x D), Newton steps on (alpha, b) with the n x n Gram matrix, so D may be far larger than n.
// requires: both sides have the same d >= 1 and at least 2 examples; 0 <= test_fraction < 1;
// l2 > 0. throws: std::invalid_argument naming the problem. A probe whose weights vanish (the
// sides cannot be told apart at all) throws std::runtime_error.
Cav train_cav(const ActivationRows& concept_acts, const ActivationRows& random_acts,
              const CavOptions& opt = {});

// Dot product of each row of `rows` with `direction`. requires: direction.size() == rows.d.
std::vector<double> project_rows(const ActivationRows& rows, const std::vector<double>& direction);

}  // namespace gb::interp
