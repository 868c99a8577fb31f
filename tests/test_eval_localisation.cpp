// Tests of the localisation metrics (interp/eval/map_scores pointing_game, relevance_mass) and the
// generated localisation set (interp/eval/localisation_set): the first maximum decides a hit,
// ties are counted, the tolerance is a Euclidean distance; relevance mass of abs, positive and
// signed values with NaN for an empty mask; the set is deterministic per seed, its mask is the
// pasted box, object and background classes differ, the pasted pixels are 2x2 means of the
// object, and keep_recognised keeps exactly the samples the model assigns to the target.
// Shape letters: C/H/W image, h/w pasted size.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "interp/eval/localisation_set.h"
#include "interp/eval/map_scores.h"
#include "runtime/layers.h"
#include "runtime/rng.h"

using gb::Tensor;
using namespace gb::interp::eval;

namespace {

// 40 random 3x8x8 images over 4 classes.
gb::data::Dataset tiny_dataset() {
  gb::data::Dataset ds;
  ds.channels = 3;
  ds.height = ds.width = 8;
  ds.classes = {"a", "b", "c", "d"};
  gb::Philox rng(1, 0);
  for (int i = 0; i < 40; ++i) ds.labels.push_back(i % 4);
  ds.images.resize(40 * ds.image_size());
  for (size_t i = 0; i < ds.images.size(); ++i)
    ds.images[i] = static_cast<uint8_t>(rng.below(i, 256));
  return ds;
}

std::vector<uint8_t> box_mask(int64_t H, int64_t W, int64_t y0, int64_t x0, int64_t h, int64_t w) {
  std::vector<uint8_t> m(H * W, 0);
  for (int64_t y = y0; y < y0 + h; ++y) {
    for (int64_t x = x0; x < x0 + w; ++x) m[y * W + x] = 1;
  }
  return m;
}

}  // namespace

TEST(PointingGame, FirstMaximumTiesAndTolerance) {
  std::vector<float> v(36, 0.0f);
  v[2 * 6 + 4] = 1.0f;
  v[5 * 6 + 5] = 1.0f;  // a tie later in index order
  const Tensor map = Tensor::from_vector({6, 6}, v);
  const std::vector<uint8_t> inside_late = box_mask(6, 6, 5, 5, 1, 1);
  PointingResult r = pointing_game(map, inside_late);
  EXPECT_FALSE(r.hit);  // only the first maximum (2,4) counts
  EXPECT_EQ(r.y, 2);
  EXPECT_EQ(r.x, 4);
  EXPECT_EQ(r.ties, 2);
  EXPECT_TRUE(pointing_game(map, box_mask(6, 6, 2, 4, 1, 1)).hit);
  // Tolerance: (2,4) to the box at (4,4) is 2 pixels; to (4,5) sqrt(5).
  const std::vector<uint8_t> near = box_mask(6, 6, 4, 4, 1, 1);
  EXPECT_FALSE(pointing_game(map, near, 1.9).hit);
  EXPECT_TRUE(pointing_game(map, near, 2.0).hit);
  EXPECT_FALSE(pointing_game(map, box_mask(6, 6, 4, 5, 1, 1), 2.2).hit);
  EXPECT_TRUE(pointing_game(map, box_mask(6, 6, 4, 5, 1, 1), 2.25).hit);
  // A constant map points at pixel 0 and reports every pixel tied.
  const Tensor flat = Tensor::from_vector({6, 6}, std::vector<float>(36, 0.5f));
  EXPECT_EQ(pointing_game(flat, inside_late).ties, 36);
  EXPECT_FALSE(pointing_game(flat, inside_late).hit);
  EXPECT_THROW(pointing_game(map, std::vector<uint8_t>(5, 1)), std::invalid_argument);
}

TEST(RelevanceMass, AbsPositiveSignedAndNan) {
  const Tensor map = Tensor::from_vector({2, 2}, {2.0f, -1.0f, 1.0f, -4.0f});
  const std::vector<uint8_t> mask = {1, 1, 0, 0};
  EXPECT_DOUBLE_EQ(relevance_mass(map, mask, MassSign::Abs), 3.0 / 8.0);
  EXPECT_DOUBLE_EQ(relevance_mass(map, mask, MassSign::Positive), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(relevance_mass(map, mask, MassSign::Signed), 1.0 / -2.0);  // leaves [0, 1]
  EXPECT_TRUE(std::isnan(relevance_mass(map, {0, 0, 0, 0}, MassSign::Abs)));
  EXPECT_TRUE(
      std::isnan(relevance_mass(Tensor::from_vector({2, 2}, {0, 0, 0, 0}), mask, MassSign::Abs)));
  EXPECT_EQ(parse_mass_sign("positive"), MassSign::Positive);
  EXPECT_THROW(parse_mass_sign("both"), std::invalid_argument);
}

TEST(LocalisationSet, DeterministicMaskIsTheBoxClassesDifferPixelsAreMeans) {
  const gb::data::Dataset ds = tiny_dataset();
  LocalisationOptions o;
  o.count = 30;
  o.seed = 4;
  const LocalisationSet a = make_localisation_set(ds, o);
  const LocalisationSet b = make_localisation_set(ds, o);
  ASSERT_EQ(a.samples.size(), 30u);
  EXPECT_EQ(a.generated, 30);
  bool moved = false;
  for (size_t s = 0; s < a.samples.size(); ++s) {
    const LocalisationSample& m = a.samples[s];
    EXPECT_EQ(m.image, b.samples[s].image);
    EXPECT_EQ(m.mask, box_mask(8, 8, m.y0, m.x0, 4, 4));
    EXPECT_EQ(m.h, 4);
    EXPECT_NE(m.target, m.background_class);
    EXPECT_EQ(m.target, ds.labels[m.object_index]);
    moved = moved || m.y0 != a.samples[0].y0 || m.x0 != a.samples[0].x0;
    const uint8_t* obj = ds.image(m.object_index);
    const uint8_t* bg = ds.image(m.background_index);
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t y = 0; y < 8; ++y) {
        for (int64_t x = 0; x < 8; ++x) {
          const int64_t p = y * 8 + x;
          if (!m.mask[p]) {
            EXPECT_EQ(m.image[c * 64 + p], bg[c * 64 + p]);
            continue;
          }
          const int64_t sy = 2 * (y - m.y0), sx = 2 * (x - m.x0);
          const double mean =
              (obj[c * 64 + sy * 8 + sx] + obj[c * 64 + sy * 8 + sx + 1] +
               obj[c * 64 + (sy + 1) * 8 + sx] + obj[c * 64 + (sy + 1) * 8 + sx + 1]) /
              4.0;
          EXPECT_NEAR(m.image[c * 64 + p], mean, 0.5 + 1e-9);
        }
      }
    }
  }
  EXPECT_TRUE(moved);
  o.seed = 5;
  EXPECT_NE(make_localisation_set(ds, o).samples[0].image, a.samples[0].image);
  o.scale = 0;
  EXPECT_THROW(make_localisation_set(ds, o), std::invalid_argument);
}

TEST(LocalisationSet, KeepRecognisedKeepsExactlyTheSamplesOfThePredictedClass) {
  const gb::data::Dataset ds = tiny_dataset();
  LocalisationOptions o;
  o.count = 24;
  o.seed = 2;
  LocalisationSet set = make_localisation_set(ds, o);
  // A net that always predicts class 1 (bias only).
  auto net = std::make_shared<gb::nn::Sequential>();
  auto fc = std::make_shared<gb::nn::Linear>(3 * 8 * 8, 4);
  net->push_back(std::make_shared<gb::nn::Flatten>());
  net->push_back(fc);
  fc->local_tensor("weight").fill_(0.0f);
  fc->local_tensor("bias").copy_(Tensor::from_vector({4}, {0, 1, 0, 0}));
  int64_t expected = 0;
  for (const auto& s : set.samples) expected += s.target == 1;
  keep_recognised(set, *net, {}, 3, 8, 8);
  EXPECT_EQ(static_cast<int64_t>(set.samples.size()), expected);
  EXPECT_GT(expected, 0);
  for (const auto& s : set.samples) EXPECT_EQ(s.target, 1);
  EXPECT_EQ(set.generated, 24);
}
