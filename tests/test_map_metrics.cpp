// Map-only metrics (interp/eval): sparseness (Gini) and complexity (entropy) on maps with known
// values; Pearson; SSIM and HOG features against values computed by scikit-image
// 0.26 (structural_similarity with win_size 7 and data_range given; feature.hog with its
// defaults) on deterministic maps the test builds the same way as the Python that made them.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "interp/eval/map_scores.h"
#include "interp/eval/map_similarity.h"

namespace gb::interp::eval {
namespace {

// A deterministic, smooth-plus-edges test map of h x w (no RNG, so Python can rebuild it):
// v(y, x) = sin(0.3 y) * cos(0.2 x) + (x > w / 2 ? 0.5 : 0) + 0.01 * ((7 y + 3 x) % 5).
Map2d pattern(int64_t h, int64_t w, double phase = 0) {
  Map2d m{h, w, {}};
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      m.values.push_back(std::sin(0.3 * static_cast<double>(y) + phase) *
                             std::cos(0.2 * static_cast<double>(x)) +
                         (x > w / 2 ? 0.5 : 0.0) + 0.01 * static_cast<double>((7 * y + 3 * x) % 5));
    }
  }
  return m;
}

TEST(MapScores, GiniHasItsKnownValues) {
  EXPECT_NEAR(sparseness_gini(std::vector<float>(100, 2.0f)), 0.0, 1e-9);
  std::vector<float> one_hot(100, 0.0f);
  one_hot[37] = -5.0f;  // absolute values count
  EXPECT_NEAR(sparseness_gini(one_hot), 99.0 / 100.0, 1e-5);
  EXPECT_NEAR(sparseness_gini(std::vector<float>{1, 2, 3, 4}), 0.25, 1e-6);
  EXPECT_NEAR(sparseness_gini(std::vector<float>{4, -3, 2, 1}), 0.25, 1e-6);  // order-free
  EXPECT_NEAR(sparseness_gini(std::vector<float>(9, 0.0f)), 0.0, 1e-9);       // no 0/0
}

TEST(MapScores, EntropyHasItsKnownValues) {
  EXPECT_NEAR(complexity_entropy(std::vector<float>(64, 3.0f)), std::log(64.0), 1e-9);
  std::vector<float> one_hot(64, 0.0f);
  one_hot[5] = 1.0f;
  EXPECT_NEAR(complexity_entropy(one_hot), 0.0, 1e-9);
  const double h = -(2 * 0.25 * std::log(0.25) + 0.5 * std::log(0.5));
  EXPECT_NEAR(complexity_entropy(std::vector<float>{1, -1, 2}), h, 1e-9);
  EXPECT_NEAR(complexity_entropy(std::vector<float>(8, 0.0f)), std::log(8.0), 1e-9);
}

TEST(MapSimilarity, PearsonAndNormalisations) {
  EXPECT_NEAR(pearson({1, 2, 3}, {2, 4, 6}), 1.0, 1e-12);
  EXPECT_NEAR(pearson({1, 2, 3}, {3, 2, 1}), -1.0, 1e-12);
  EXPECT_EQ(pearson({1, 1, 1}, {1, 2, 3}), 0.0);
  const Map2d m{1, 3, {-2, 1, 0.5}};
  EXPECT_EQ(normalise_abs_max(m).values, (std::vector<double>{1, 0.5, 0.25}));
  EXPECT_EQ(normalise_signed_max(m).values, (std::vector<double>{-1, 0.5, 0.25}));
}

TEST(MapSimilarity, SsimIsOneForIdenticalMapsAndFallsWithDifference) {
  const Map2d a = pattern(28, 28), b = pattern(28, 28, 0.7);
  EXPECT_NEAR(ssim(a, a), 1.0, 1e-12);
  const double s = ssim(a, b);
  EXPECT_LT(s, 0.99);
  EXPECT_GT(s, -1.0);
  EXPECT_NEAR(ssim(a, b), ssim(b, a), 1e-12);
}

TEST(MapSimilarity, HogHasSkimagesLayoutAndSeesEdges) {
  EXPECT_EQ(hog_features(pattern(32, 32)).size(), 324u);  // 4x4 cells, 2x2 blocks of 3x3x9
  EXPECT_EQ(hog_features(pattern(28, 28)).size(), 81u);   // 3x3 cells, one block
  // A vertical edge: horizontal gradients only, so orientation bin 0 holds everything.
  Map2d edge{24, 24, {}};
  for (int64_t y = 0; y < 24; ++y) {
    for (int64_t x = 0; x < 24; ++x) edge.values.push_back(x >= 12 ? 1.0 : 0.0);
  }
  const std::vector<double> f = hog_features(edge);
  for (size_t i = 0; i < f.size(); ++i) {
    if (i % 9 != 0) {
      EXPECT_EQ(f[i], 0.0) << i;
    }
  }
  EXPECT_GT(f[(0 * 3 + 1) * 9 + 0], 0.0);  // the one block; cell (row 0, col 1) holds the edge
  EXPECT_NEAR(hog_similarity(pattern(32, 32), pattern(32, 32)), 1.0, 1e-12);
}

// Reference values from scikit-image 0.26.0 on the same maps (numpy float64):
//   a, b = pattern(28, 28), pattern(28, 28, 0.7); dr = max(a.max(), b.max()) - min(a.min(), b.min())
//   structural_similarity(a, b, win_size=7, data_range=dr); f = hog(pattern(32, 32))
// SSIM agrees to 1e-15; HOG to about 3e-8 relative (skimage's histograms lose digits there).
TEST(MapSimilarity, SsimAndHogMatchScikitImage) {
  EXPECT_NEAR(ssim(pattern(28, 28), pattern(28, 28, 0.7)), 0.438096419557585, 1e-9);
  const std::vector<double> f = hog_features(pattern(32, 32));
  double sum = 0;
  for (double v : f) sum += v;
  EXPECT_NEAR(sum, 29.959190903585160, 1e-7);
  EXPECT_NEAR(f[0], 0.092077407036356, 1e-8);
  EXPECT_NEAR(f[17], 0.108791180160892, 1e-8);
  EXPECT_NEAR(f[100], 0.043627069020646, 1e-8);
  EXPECT_NEAR(f[323], 0.119399880783120, 1e-8);
  EXPECT_NEAR(hog_similarity(pattern(32, 32), pattern(32, 32, 0.7)), 0.580935656583047, 1e-8);
}

}  // namespace
}  // namespace gb::interp::eval
