// Tests of interp/shapley: exact Shapley values on games whose values are known in closed form
// (a linear game; a single pairwise interaction), the axioms (efficiency, symmetry, dummy,
// linearity), KernelSHAP and permutation sampling converging to the exact values as samples
// grow, KernelSHAP's exact efficiency, determinism from the seed, and the image game adapter on a
// network that is additive over segments.
// Shape letters: n players, S segments, C/H/W image.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "interp/perturb.h"
#include "interp/shapley.h"
#include "interp/slic.h"
#include "runtime/layers.h"
#include "runtime/rng.h"

using gb::Tensor;
using namespace gb::interp;

namespace {

// A game from a function of one coalition (given as n bytes).
template <class F>
ValueFn game(int64_t n, F f) {
  return [n, f](const std::vector<uint8_t>& z, int64_t count, float* out) {
    for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(f(z.data() + i * n));
  };
}

ValueFn linear_game(const std::vector<double>& w, double bias) {
  const auto n = static_cast<int64_t>(w.size());
  return game(n, [w, bias, n](const uint8_t* z) {
    double v = bias;
    for (int64_t i = 0; i < n; ++i) v += z[i] ? w[i] : 0.0;
    return v;
  });
}

// A game with main effects, pairwise and one three-way interaction (no closed form needed: the
// exact values come from enumeration).
ValueFn rich_game(int64_t n, uint64_t seed) {
  gb::Philox rng(seed, 0);
  std::vector<double> w(n), b(n * n);
  for (int64_t i = 0; i < n; ++i) w[i] = 2.0 * rng.uniform(i) - 1.0;
  for (int64_t i = 0; i < n * n; ++i) b[i] = rng.uniform(1000 + i) - 0.5;
  return game(n, [n, w, b](const uint8_t* z) {
    double v = 0.3;
    for (int64_t i = 0; i < n; ++i) {
      if (!z[i]) continue;
      v += w[i];
      for (int64_t j = i + 1; j < n; ++j) v += z[j] ? b[i * n + j] : 0.0;
    }
    if (z[0] && z[1] && z[2]) v += 1.5;
    return v;
  });
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

bool bit_identical(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

}  // namespace

TEST(ExactShapley, LinearGameGivesTheWeights) {
  const std::vector<double> w = {0.5, -1.25, 2.0, 0.0, 3.5, -0.75};
  const ShapleyResult r = exact_shapley(linear_game(w, 4.0), 6);
  ASSERT_EQ(r.phi.size(), w.size());
  // The value table holds floats: differences carry rounding of about 1e-6.
  for (size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(r.phi[i], w[i], 1e-5) << "player " << i;
  EXPECT_NEAR(r.v_empty, 4.0, 1e-6);
  EXPECT_EQ(r.evaluations, 64);
}

TEST(ExactShapley, PairwiseInteractionIsSplitEqually) {
  const int64_t n = 7, i = 2, j = 5;
  const double a = 3.0;
  const ShapleyResult r =
      exact_shapley(game(n, [&](const uint8_t* z) { return z[i] && z[j] ? a : 0.0; }), n);
  for (int64_t k = 0; k < n; ++k) {
    EXPECT_NEAR(r.phi[k], k == i || k == j ? a / 2 : 0.0, 1e-9) << "player " << k;
  }
}

TEST(ExactShapley, Axioms) {
  const int64_t n = 8;
  // Efficiency.
  const ShapleyResult rich = exact_shapley(rich_game(n, 3), n);
  EXPECT_NEAR(rich.efficiency_gap(), 0.0, 1e-9);
  // Symmetry: players 1 and 4 enter the game identically.
  const auto sym = game(n, [](const uint8_t* z) {
    const double u[8] = {0.3, 1.0, -0.4, 0.8, 1.0, 0.2, 0.0, 0.6};
    double s = 0.0;
    for (int k = 0; k < 8; ++k) s += z[k] ? u[k] : 0.0;
    return s * s + (z[1] && z[4] ? 0.5 : 0.0) + (z[1] ? 0.1 * z[0] : 0.0) +
           (z[4] ? 0.1 * z[0] : 0.0);
  });
  const ShapleyResult rs = exact_shapley(sym, n);
  EXPECT_NEAR(rs.phi[1], rs.phi[4], 1e-6);  // the table holds floats
  // Dummy: player 6 never changes the value.
  const auto dummy = game(n, [](const uint8_t* z) {
    return (z[0] ? 1.0 : 0.0) * (z[1] ? 2.0 : 0.5) + (z[3] && z[7] ? 1.0 : 0.0);
  });
  EXPECT_EQ(exact_shapley(dummy, n).phi[6], 0.0);
  // Linearity: phi(v1 + v2) = phi(v1) + phi(v2).
  const auto v1 = rich_game(n, 11), v2 = rich_game(n, 12);
  const ValueFn sum = [&](const std::vector<uint8_t>& z, int64_t count, float* out) {
    std::vector<float> a(count), b(count);
    v1(z, count, a.data());
    v2(z, count, b.data());
    for (int64_t k = 0; k < count; ++k) out[k] = a[k] + b[k];
  };
  const ShapleyResult r1 = exact_shapley(v1, n), r2 = exact_shapley(v2, n);
  const ShapleyResult r12 = exact_shapley(sum, n);
  for (int64_t k = 0; k < n; ++k) EXPECT_NEAR(r12.phi[k], r1.phi[k] + r2.phi[k], 1e-5);
}

TEST(ExactShapley, ChunkingDoesNotChangeTheValues) {
  const auto v = rich_game(10, 5);
  ExactShapleyOptions small;
  small.eval_chunk = 37;
  EXPECT_TRUE(bit_identical(exact_shapley(v, 10).phi, exact_shapley(v, 10, small).phi));
  EXPECT_THROW(exact_shapley(v, 21), std::invalid_argument);
  EXPECT_THROW(exact_shapley(v, 0), std::invalid_argument);
}

TEST(KernelShap, AllCoalitionsGiveTheExactValues) {
  const int64_t n = 9;
  const auto v = rich_game(n, 7);
  KernelShapOptions opt;
  opt.samples = (1 << n) - 2;
  const ShapleyResult k = kernel_shap(v, n, opt);
  EXPECT_LT(max_abs_diff(k.phi, exact_shapley(v, n).phi), 1e-6);
  EXPECT_EQ(k.evaluations, 1 << n);
}

TEST(KernelShap, ConvergesToExactAndKeepsEfficiencyExactly) {
  const int64_t n = 12;
  const auto v = rich_game(n, 21);
  const ShapleyResult exact = exact_shapley(v, n);
  double scale = 0.0;
  for (const double p : exact.phi) scale = std::max(scale, std::fabs(p));
  KernelShapOptions lo, hi;
  lo.samples = 60;
  hi.samples = 4000;  // of 4094 coalitions: about 0.6% max error (60 samples: 20%)
  const ShapleyResult a = kernel_shap(v, n, lo), b = kernel_shap(v, n, hi);
  const double err_lo = max_abs_diff(a.phi, exact.phi), err_hi = max_abs_diff(b.phi, exact.phi);
  EXPECT_LT(err_hi, err_lo);
  EXPECT_LT(err_hi, 0.02 * scale) << "scale " << scale;
  // Efficiency is a constraint of the solve, so it holds to rounding even with few samples.
  for (const ShapleyResult* r : {&a, &b}) {
    EXPECT_LT(std::fabs(r->efficiency_gap()), 1e-12 * std::max(1.0, std::fabs(r->v_full)));
  }
  EXPECT_NEAR(a.v_full - a.v_empty, exact.v_full - exact.v_empty, 1e-12);
}

TEST(KernelShap, DeterministicFromTheSeed) {
  const int64_t n = 14;
  const auto v = rich_game(n, 2);
  KernelShapOptions opt;
  opt.samples = 300;
  opt.seed = 42;
  const ShapleyResult a = kernel_shap(v, n, opt);
  opt.eval_chunk = 17;
  const ShapleyResult b = kernel_shap(v, n, opt);
  EXPECT_TRUE(bit_identical(a.phi, b.phi));
  opt.seed = 43;
  EXPECT_FALSE(bit_identical(a.phi, kernel_shap(v, n, opt).phi));
  EXPECT_LE(a.evaluations, 302);
}

TEST(PermutationShapley, ConvergesToExact) {
  const int64_t n = 10;
  const auto v = rich_game(n, 9);
  const ShapleyResult exact = exact_shapley(v, n);
  double scale = 0.0;
  for (const double p : exact.phi) scale = std::max(scale, std::fabs(p));
  PermutationShapleyOptions lo, hi;
  lo.permutations = 4;
  hi.permutations = 4000;
  const ShapleyResult a = shapley_sampling(v, n, lo), b = shapley_sampling(v, n, hi);
  const double err_lo = max_abs_diff(a.phi, exact.phi), err_hi = max_abs_diff(b.phi, exact.phi);
  EXPECT_LT(err_hi, err_lo);
  EXPECT_LT(err_hi, 0.015 * scale) << "scale " << scale;  // measured 0.35%
  // Each permutation telescopes to v(full) - v(empty).
  EXPECT_NEAR(b.efficiency_gap(), 0.0, 1e-9);
  EXPECT_EQ(b.evaluations, 2 + 4000 * (n - 1));
  // The reported standard errors are of the right size. (Antithetic pairs are exact for players
  // with only pairwise interactions, whose error is then rounding alone.)
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_LT(std::fabs(b.phi[i] - exact.phi[i]), 5.0 * b.std_error[i] + 1e-6) << "player " << i;
  }
}

TEST(PermutationShapley, LinearGameIsExactFromOnePair) {
  const std::vector<double> w = {1.0, -2.0, 0.5, 4.0};
  PermutationShapleyOptions opt;
  opt.permutations = 2;
  const ShapleyResult r = shapley_sampling(linear_game(w, 1.0), 4, opt);
  for (size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(r.phi[i], w[i], 1e-5);
}

TEST(PermutationShapley, DeterministicFromTheSeedAndChunking) {
  const int64_t n = 9;
  const auto v = rich_game(n, 4);
  PermutationShapleyOptions opt;
  opt.permutations = 50;
  opt.seed = 7;
  const ShapleyResult a = shapley_sampling(v, n, opt);
  opt.eval_chunk = 20;  // a different grouping of permutations per call
  const ShapleyResult b = shapley_sampling(v, n, opt);
  EXPECT_TRUE(bit_identical(a.phi, b.phi));
  EXPECT_TRUE(bit_identical(a.std_error, b.std_error));
  opt.seed = 8;
  EXPECT_FALSE(bit_identical(a.phi, shapley_sampling(v, n, opt).phi));
}

// A network whose logit 0 is a weighted sum of the 8x8-cell means of a 3x32x32 image: over a
// 4x4 grid of segments its Shapley values are known in closed form.
TEST(ImageGame, ExactShapleyOfAnAdditiveNetwork) {
  auto net = std::make_shared<gb::nn::Sequential>();
  net->push_back(std::make_shared<gb::nn::AvgPool2d>(8));
  net->push_back(std::make_shared<gb::nn::Flatten>());
  auto fc = std::make_shared<gb::nn::Linear>(48, 3);
  net->push_back(fc);
  gb::Generator gen(5, 0);
  fc->local_tensor("weight").copy_(Tensor::randn({3, 48}, gen));
  const Tensor image = Tensor::uniform({3, 32, 32}, gen, 0.0f, 1.0f);
  const Segments seg = grid_segments(32, 32, 4, 4);
  ImageGameOptions opt;
  opt.fill = constant_fill(0.25f);
  const int64_t target = 1;
  const ShapleyResult r = exact_shapley(image_value_fn(*net, image, seg, target, opt), 16);
  const std::vector<float> w = fc->local_tensor("weight").to_vector();
  const std::vector<float> x = image.to_vector();
  for (int64_t s = 0; s < 16; ++s) {
    double expected = 0.0;
    for (int64_t c = 0; c < 3; ++c) {
      double mean = 0.0;
      for (int64_t y = 0; y < 32; ++y) {
        for (int64_t xx = 0; xx < 32; ++xx) {
          if (seg.at(y, xx) == s) mean += x[(c * 32 + y) * 32 + xx] / 64.0;
        }
      }
      expected += w[target * 48 + c * 16 + s] * (mean - 0.25);
    }
    EXPECT_NEAR(r.phi[s], expected, 2e-4) << "segment " << s;
  }
  EXPECT_NEAR(r.efficiency_gap(), 0.0, 1e-6);
}
