// Shapley values of a game over n players (segments of an image, or any closed-form game):
// exact values by enumerating all 2^n coalitions, KernelSHAP (Lundberg & Lee, NeurIPS 2017) with
// the efficiency constraint enforced exactly, and permutation sampling (Castro et al. 2009) with
// antithetic pairs. All evaluate coalitions in large batches through a ValueFn (interp/perturb.h);
// image_value_fn() turns (model, image, segments, fill, target) into one that uses
// forward_streamed. Randomness comes from Philox(seed), so the same seed gives bit-identical
// values for any thread count.
// Shape letters: n players; v(S) the value of coalition S; phi [n] the Shapley values.
#pragma once
#include <cstdint>
#include <vector>

#include "interp/perturb.h"

namespace gb::interp {

struct ShapleyResult {
  std::vector<double> phi;        // [n]
  double v_empty = 0.0;           // v(empty coalition)
  double v_full = 0.0;            // v(all players)
  int64_t evaluations = 0;        // coalitions evaluated, empty and full included
  std::vector<double> std_error;  // permutation sampling: standard error of each phi; else empty
  // sum(phi) - (v_full - v_empty): 0 for an exact efficiency.
  double efficiency_gap() const;
};

struct ExactShapleyOptions {
  int64_t eval_chunk = 8192;  // coalitions generated and handed to the value function per call
};

// Exact Shapley values: v is evaluated on all 2^n coalitions (coalition m holds player j when bit
// j of m is set), generated chunk by chunk, then
// phi_i = sum over S not holding i of |S|! (n-|S|-1)! / n! * (v(S + i) - v(S)).
// requires: 1 <= n <= 20 (2^20 values of 4 bytes are kept).
ShapleyResult exact_shapley(const ValueFn& v, int64_t players, const ExactShapleyOptions& opt = {});

struct KernelShapOptions {
  int64_t samples = 2048;  // coalitions besides the empty and the full one
  uint64_t seed = 0;
  int64_t eval_chunk = 8192;
};

// KernelSHAP: coalitions of size s carry the Shapley kernel weight
// (n-1) / (C(n,s) s (n-s)). Sizes whose every coalition fits in the remaining budget are
// enumerated completely (smallest and largest sizes first, in complementary pairs); the remaining
// budget is sampled: a size from the kernel's remaining mass, a uniformly random coalition of that
// size and its complement (paired sampling), duplicates merged into one row with summed weight.
// The weighted least squares for phi is solved with sum(phi) = v_full - v_empty built in, by
// eliminating the last player, so efficiency holds to rounding. When samples >= 2^n - 2 every
// coalition is used and the result equals the exact Shapley values.
// requires: players >= 1, samples >= 1.
ShapleyResult kernel_shap(const ValueFn& v, int64_t players, const KernelShapOptions& opt = {});

struct PermutationShapleyOptions {
  int64_t permutations = 64;  // rounded up to even with antithetic pairs
  bool antithetic = true;     // every odd permutation is the reverse of the one before
  uint64_t seed = 0;
  int64_t eval_chunk = 8192;
};

// Shapley value sampling: for each random permutation, the n-1 proper non-empty prefixes are
// evaluated (batched over many permutations at once; the empty and full coalition once in all)
// and each player gets its marginal contribution v(prefix + i) - v(prefix). phi is the mean over
// permutations (over antithetic pairs' means for the standard error). Permutation p depends only
// on (seed, p), so chunking does not change the result.
// requires: players >= 1, permutations >= 1.
ShapleyResult shapley_sampling(const ValueFn& v, int64_t players,
                               const PermutationShapleyOptions& opt = {});

}  // namespace gb::interp
