// LIME (Ribeiro et al., KDD 2016) over segments: random coalitions of S players (segments) are
// evaluated batched through a value function, weighted by an exponential kernel on their distance
// to the full coalition, and a weighted ridge regression (Eigen) is fitted; its coefficients are
// the explanation and its weighted R^2 says how well the linear surrogate fits.
// Shape letters: S players (segments), M samples.
#pragma once
#include <cstdint>
#include <vector>

#include "interp/perturb.h"

namespace gb::interp {

enum class LimeDistance {
  Cosine,   // 1 - cos(z, 1) = 1 - sqrt(|z| / S); the empty coalition is at distance 1
  Hamming,  // fraction of hidden players, (S - |z|) / S
};

struct LimeOptions {
  int64_t samples = 1000;      // M coalitions evaluated, the first being the full one
  float kernel_width = 0.25f;  // sigma of the kernel weight exp(-d^2 / sigma^2)
  LimeDistance distance = LimeDistance::Cosine;
  double ridge = 1.0;         // L2 penalty on the coefficients (the intercept is not penalised)
  uint64_t seed = 0;          // the coalitions depend only on (seed, S, M)
  int64_t eval_chunk = 8192;  // coalitions handed to the value function per call
};

struct LimeResult {
  std::vector<double> coef;  // [S] surrogate coefficient of each player
  double intercept = 0.0;
  double r2 = 0.0;          // weighted R^2 of the surrogate on the samples
  double score = 0.0;       // v(full coalition)
  int64_t evaluations = 0;  // M
};

// The M coalitions LIME evaluates (M x S bytes): row 0 is all ones, every other entry is an
// independent fair coin drawn from Philox(seed). Exposed for tests and for reuse.
std::vector<uint8_t> lime_coalitions(int64_t players, int64_t samples, uint64_t seed);

// Fits the LIME surrogate of game `v` over `players` players.
// requires: players >= 1, samples >= 2, kernel_width > 0, ridge >= 0.
// ensures: bit-identical results for the same (v, players, options), for any thread count.
LimeResult lime(const ValueFn& v, int64_t players, const LimeOptions& opt = {});

// Weighted ridge regression with an unpenalised intercept: minimises
// sum_m w_m (y_m - b - x_m . c)^2 + ridge |c|^2 for X [M,S] (row-major), and reports the weighted
// R^2. Used by LIME; exposed for tests. requires: weights >= 0 with a positive sum.
LimeResult weighted_ridge(const std::vector<double>& X, const std::vector<double>& y,
                          const std::vector<double>& w, int64_t features, double ridge);

}  // namespace gb::interp
