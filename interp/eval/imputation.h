// Noisy linear imputation of ROAD (Rong, Leemann, Borisov, Kasneci, Kasneci, "A Consistent and
// Efficient Evaluation Strategy for Attribution Methods", ICML 2022): removed pixels are filled
// with the solution of a sparse linear system that makes each one the weighted mean of its
// 8 neighbours, then Gaussian noise is added to the filled values.
// Shape letters: C channels, H/W image size, P = H*W pixels.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/rng.h"

namespace gb::interp::eval {

// Fills the pixels with removed[p] != 0 of `pixels` (C*P floats, CHW, in pixel units [0, 1]) in
// place. Each removed pixel i satisfies sum_n w_n x_n - (sum_n w_n) x_i = 0 over its in-image
// 8-neighbours n, w = 1/6 axial and 1/12 diagonal (the reference NoisyLinearImputer of
// tleemann/road_evaluation); known neighbours move to the right-hand side, out-of-image ones drop
// out of both sides. One sparse solve for all C channels (the same matrix): the system is
// symmetric negative definite, so -A is factorised with Eigen's SimplicialLDLT. Then
// noise * N(0,1) from rng (value offset + c*P + p) is added to every filled value, as the reference
// does (absolute, pixel units). Nothing removed: unchanged. requires: pixels.size() == C*H*W,
// removed.size() == H*W, noise >= 0. throws: std::invalid_argument when every pixel is removed (the
// system is singular) or on sizes.
void noisy_linear_impute(std::vector<float>& pixels, int64_t C, int64_t H, int64_t W,
                         const std::vector<uint8_t>& removed, double noise, const Philox& rng,
                         uint64_t offset = 0);

}  // namespace gb::interp::eval
