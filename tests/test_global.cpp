// Global explanations (interp/global): per-class averaging of normalised maps, the CAV probe on
// two Gaussian clouds, TCAV scores on a logit linear in the concept direction, Student's t
// p-values against scipy, Bonferroni, and the random-run protocol end to end on synthetic
// activations. No model and no data set: everything here is synthetic and closed-form.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "interp/global/cav.h"
#include "interp/global/class_maps.h"
#include "interp/global/concept_sets.h"
#include "interp/global/influential_segments.h"
#include "interp/global/tcav.h"
#include "interp/slic.h"
#include "runtime/layers.h"
#include "runtime/ops.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"

using namespace gb;
using namespace gb::interp;

namespace {

// x [N,2,4,4] -> "conv" (1x1, identity, no bias) -> flatten -> fc with logit 0 = w . a, logit 1 = -w . a:
// both logits are linear in the conv activation a, with gradients +w and -w for every input.
class LinearHeadNet : public Module {
 public:
  explicit LinearHeadNet(const std::vector<double>& w) {
    conv_ = register_module("conv", std::make_shared<nn::Conv2d>(2, 2, 1));
    fc_ = register_module("fc", std::make_shared<nn::Linear>(32, 2));
    conv_->local_tensor("weight").copy_(Tensor::from_vector({2, 2, 1, 1}, {1, 0, 0, 1}));
    std::vector<float> fw;
    for (double v : w) fw.push_back(static_cast<float>(v));
    for (double v : w) fw.push_back(static_cast<float>(-v));
    fc_->local_tensor("weight").copy_(Tensor::from_vector({2, 32}, fw));
    fc_->local_tensor("bias").zero_();
  }
  Tensor forward(const Tensor& x) override { return (*fc_)(ops::flatten((*conv_)(x))); }
  std::string type_name() const override { return "LinearHeadNet"; }

 private:
  std::shared_ptr<nn::Conv2d> conv_;
  std::shared_ptr<nn::Linear> fc_;
};

// n inputs [n,2,4,4]: Philox noise plus shift * w.
Tensor inputs_along(const std::vector<double>& w, int64_t n, double shift, uint64_t seed) {
  Generator g(seed);
  std::vector<float> v;
  for (int64_t i = 0; i < n; ++i) {
    for (double wj : w) v.push_back(static_cast<float>(0.5 * g.normal() + shift * wj));
  }
  return Tensor::from_vector({n, 2, 4, 4}, v);
}

// n points around `mean` with isotropic Gaussian noise of `sigma`, from Philox(seed).
ActivationRows cloud(const std::vector<double>& mean, int64_t n, double sigma, uint64_t seed) {
  ActivationRows r;
  r.n = n;
  r.d = static_cast<int64_t>(mean.size());
  Generator g(seed);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < r.d; ++j) {
      r.values.push_back(static_cast<float>(mean[static_cast<size_t>(j)] + sigma * g.normal()));
    }
  }
  return r;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// n rows all equal to `row`.
ActivationRows repeated(const std::vector<double>& row, int64_t n) {
  ActivationRows r;
  r.n = n;
  r.d = static_cast<int64_t>(row.size());
  for (int64_t i = 0; i < n; ++i) {
    for (double v : row) r.values.push_back(static_cast<float>(v));
  }
  return r;
}

}  // namespace

TEST(ClassMaps, AveragesMapsNormalisedByTheirMaximum) {
  ClassMapAccumulator acc(2, 1, 2, 2, MapNormalisation::MaxAbs);
  // Class 0: [2, 4] -> [0.5, 1] and [-1, 0] -> [-1, 0]; mean [-0.25, 0.5].
  acc.add(0, Tensor::from_vector({2, 2}, {2, 4, 1, 1}),
          Tensor::from_vector({1, 2, 2}, {1, 2, 3, 4}));
  acc.add(0, Tensor::from_vector({2, 2}, {-1, 0, 0, 0}),
          Tensor::from_vector({1, 2, 2}, {3, 2, 1, 0}));
  // Class 1: one all-zero map stays zero.
  acc.add(1, Tensor::zeros({2, 2}), Tensor::zeros({1, 2, 2}));
  EXPECT_EQ(acc.count(0), 2);
  EXPECT_EQ(acc.count(1), 1);
  const std::vector<float> m0 = acc.mean_map(0).to_vector();
  EXPECT_FLOAT_EQ(m0[0], -0.25f);
  EXPECT_FLOAT_EQ(m0[1], 0.5f);
  EXPECT_FLOAT_EQ(m0[2], 0.125f);
  EXPECT_FLOAT_EQ(m0[3], 0.125f);
  const std::vector<float> x0 = acc.mean_input(0).to_vector();
  EXPECT_EQ(x0, (std::vector<float>{2, 2, 2, 2}));
  for (float v : acc.mean_map(1).to_vector()) EXPECT_EQ(v, 0.0f);
}

TEST(ClassMaps, SumNormalisationMakesEachMapWeighOne) {
  ClassMapAccumulator acc(1, 1, 1, 2, MapNormalisation::SumAbs);
  acc.add(0, Tensor::from_vector({1, 2}, {3, 1}), Tensor::zeros({1, 1, 2}));
  acc.add(0, Tensor::from_vector({1, 2}, {0, -10}), Tensor::zeros({1, 1, 2}));
  const std::vector<float> m = acc.mean_map(0).to_vector();
  EXPECT_FLOAT_EQ(m[0], 0.375f);           // (0.75 + 0) / 2
  EXPECT_FLOAT_EQ(m[1], (0.25f - 1) / 2);  // (0.25 - 1) / 2
  EXPECT_THROW(acc.add(1, Tensor::zeros({1, 2}), Tensor::zeros({1, 1, 2})), std::invalid_argument);
  EXPECT_THROW(acc.add(0, Tensor::zeros({2, 1}), Tensor::zeros({1, 1, 2})), std::invalid_argument);
}

TEST(InfluentialSegments, KeepsTheTopValuesPerClassAcrossImagesWithCrops) {
  TopSegments top(2, 3);
  ImageSegmentValues a, b;
  a.segments = b.segments = grid_segments(8, 8, 2, 2);  // four 4x4 cells
  a.phi = {0.5, 2.0, -1.0, 0.5};
  b.phi = {0.5, 3.0, 0.1, 0.2};
  const Tensor x = Tensor::full({1, 3, 8, 8}, 0.5f);
  top.add(1, 7, x, {}, a);
  top.add(1, 9, x, {}, b);
  const auto& best = top.of(1);
  ASSERT_EQ(best.size(), 3u);
  EXPECT_EQ(best[0].image, 9);  // 3.0
  EXPECT_EQ(best[0].segment, 1);
  EXPECT_EQ(best[1].image, 7);  // 2.0
  EXPECT_EQ(best[2].image, 7);  // 0.5: image 7's cell 0 came first and ties are not replaced
  EXPECT_EQ(best[2].segment, 0);
  EXPECT_EQ(best[0].pixels, 16);
  EXPECT_EQ(best[0].y0, 0);
  EXPECT_EQ(best[0].x0, 4);
  EXPECT_EQ(best[0].y1, 4);
  EXPECT_EQ(best[0].x1, 8);
  EXPECT_EQ(best[0].crop.width, 4);  // the 4x4 box is already half the image per side
  EXPECT_EQ(best[0].crop.at(0, 0)[0], 128);
  EXPECT_TRUE(top.of(0).empty());
}

TEST(Cav, SeparatesTwoGaussianCloudsAlongTheirMeanDifference) {
  const std::vector<double> mc = {2, 1, 0, 0, -1, 0}, mr = {0, 0, 0, 0, 0, 0};
  const ActivationRows concept_acts = cloud(mc, 60, 0.3, 1), random = cloud(mr, 60, 0.3, 2);
  const Cav cav = train_cav(concept_acts, random, {});
  EXPECT_DOUBLE_EQ(cav.test_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(cav.train_accuracy, 1.0);
  EXPECT_EQ(cav.test_count, 2 * 19);  // floor(0.33 * 60) per side
  EXPECT_NEAR(std::sqrt(dot(cav.direction, cav.direction)), 1.0, 1e-12);
  // Towards the concept_acts: the direction is close to the normalised mean difference.
  std::vector<double> diff(mc.size());
  for (size_t j = 0; j < mc.size(); ++j) diff[j] = (mc[j] - mr[j]) / std::sqrt(6.0);
  EXPECT_GT(dot(cav.direction, diff), 0.95);
  // Swapping the sides flips the direction.
  const Cav back = train_cav(random, concept_acts, {});
  EXPECT_LT(dot(back.direction, diff), -0.95);
}

TEST(Cav, ReportsChanceAccuracyOnIdenticalDistributionsAndRejectsBadInput) {
  const std::vector<double> m = {0, 0, 0, 0};
  const Cav cav = train_cav(cloud(m, 90, 1.0, 3), cloud(m, 90, 1.0, 4), {});
  EXPECT_LT(cav.test_accuracy, 0.75);
  ActivationRows one = cloud(m, 1, 1.0, 5);
  EXPECT_THROW(train_cav(one, cloud(m, 5, 1.0, 6), {}), std::invalid_argument);
  EXPECT_THROW(train_cav(cloud({0, 0}, 5, 1.0, 6), cloud(m, 5, 1.0, 6), {}), std::invalid_argument);
}

TEST(Tcav, ScoreIsOneOrZeroForALogitLinearInTheConceptDirection) {
  // Logit k = w . a (so its gradient is w everywhere); the concept is random + 3 w.
  const std::vector<double> w = {1, -1, 0.5, 0};
  const std::vector<double> zero = {0, 0, 0, 0};
  ActivationRows concept_acts = cloud({3, -3, 1.5, 0}, 40, 0.5, 7);
  std::vector<ActivationRows> randoms = {cloud(zero, 40, 0.5, 8), cloud(zero, 40, 0.5, 9),
                                         cloud(zero, 40, 0.5, 10)};
  const TcavConcept up = tcav_concept(concept_acts, randoms, repeated(w, 25), {});
  EXPECT_DOUBLE_EQ(up.score.mean, 1.0);
  EXPECT_DOUBLE_EQ(up.magnitude.mean, 1.0);
  EXPECT_DOUBLE_EQ(up.test_accuracy.mean, 1.0);
  const std::vector<double> minus_w = {-1, 1, -0.5, 0};
  const TcavConcept down = tcav_concept(concept_acts, randoms, repeated(minus_w, 25), {});
  EXPECT_DOUBLE_EQ(down.score.mean, 0.0);
  EXPECT_DOUBLE_EQ(down.magnitude.mean, 0.0);
  // Mixed gradients: the score is the fraction of positive directional derivatives.
  ActivationRows mixed = repeated(w, 3);
  for (double v : minus_w) mixed.values.push_back(static_cast<float>(2 * v));
  mixed.n = 4;
  const Cav& cav = up.concept_runs[0].cav;
  const TcavScore s = tcav_score(mixed, cav.direction);
  EXPECT_DOUBLE_EQ(s.score, 0.75);
  EXPECT_NEAR(s.magnitude, 3.0 / 5.0, 1e-12);  // 3 |S| positive against 2 |S| negative
  EXPECT_EQ(up.concept_runs.size(), 3u);
  EXPECT_EQ(up.random_runs.size(), 3u);
  EXPECT_THROW(tcav_concept(concept_acts, {randoms[0]}, repeated(w, 2), {}), std::invalid_argument);
}

TEST(Tcav, ThroughAModelLinearInTheConceptDirectionScoresOneForItsClassAndZeroAgainst) {
  std::vector<double> w(32);
  Generator g(11);
  for (double& v : w) v = g.normal();
  LinearHeadNet net(w);
  const Tensor concept_x = inputs_along(w, 20, 1.0, 1), class_x = inputs_along(w, 7, 0.0, 2);
  std::vector<ActivationRows> randoms;
  for (uint64_t r = 0; r < 3; ++r)
    randoms.push_back(layer_rows(net, inputs_along(w, 20, 0, 3 + r), "conv", 3));
  std::string resolved;
  const ActivationRows concept_acts = layer_rows(net, concept_x, "conv", 3, &resolved);
  EXPECT_EQ(resolved, "conv");
  ASSERT_EQ(concept_acts.n, 20);
  ASSERT_EQ(concept_acts.d, 32);
  // The identity conv: activations are the inputs, in batches of 3 as in one.
  EXPECT_EQ(concept_acts.values, concept_x.to_vector());
  const ActivationRows up = layer_gradient_rows(net, class_x, "conv", 0, 3);
  const ActivationRows down = layer_gradient_rows(net, class_x, "conv", 1, 3);
  ASSERT_EQ(up.n, 7);
  for (int64_t i = 0; i < up.n; ++i) {
    for (int64_t j = 0; j < 32; ++j) {
      EXPECT_NEAR(up.values[i * 32 + j], w[static_cast<size_t>(j)], 1e-6);
      EXPECT_NEAR(down.values[i * 32 + j], -w[static_cast<size_t>(j)], 1e-6);
    }
  }
  const TcavConcept t_up = tcav_concept(concept_acts, randoms, up);
  const TcavConcept t_down = tcav_concept(concept_acts, randoms, down);
  EXPECT_DOUBLE_EQ(t_up.score.mean, 1.0);
  EXPECT_DOUBLE_EQ(t_down.score.mean, 0.0);
  EXPECT_GE(t_up.test_accuracy.mean, 0.9);
  // Random-vs-random CAVs point anywhere: their scores are all 0 or 1 here (one gradient), and
  // the concept's 1.0 differs from their mix unless every random run happened to score 1.
  EXPECT_LT(t_up.test.p, 1.0);
}

// Reference values from scipy 1.17.1 (scipy.stats.ttest_ind, scipy.special.betainc,
// 2 * scipy.stats.t.sf), computed once with Python and hard-coded here; /usr/bin/python3 has no
// scipy on this machine, so a virtual environment's scipy was used.
TEST(Statistics, StudentTAndIncompleteBetaMatchScipy) {
  const TTest a = student_t_test({0.9, 0.85, 0.95, 1.0, 0.8}, {0.5, 0.45, 0.6, 0.55, 0.4});
  EXPECT_NEAR(a.t, 8.000000000000005, 1e-10);
  EXPECT_DOUBLE_EQ(a.df, 8.0);
  EXPECT_NEAR(a.p, 4.366826031328005e-05, 1e-12);
  const TTest b = student_t_test({0.52, 0.48, 0.61, 0.39, 0.55, 0.47}, {0.50, 0.44, 0.58, 0.51});
  EXPECT_NEAR(b.t, -0.09340289249886305, 1e-10);
  EXPECT_NEAR(b.p, 0.9278803376080328, 1e-10);
  EXPECT_NEAR(regularized_incomplete_beta(2.5, 0.5, 0.3), 0.018927124071945658, 1e-12);
  EXPECT_NEAR(regularized_incomplete_beta(10, 3, 0.9), 0.889130022255, 1e-10);
  EXPECT_NEAR(regularized_incomplete_beta(0.5, 0.5, 0.01), 0.06376856085851985, 1e-12);
  EXPECT_NEAR(student_t_two_sided_p(2.0, 3), 0.13932596855884305, 1e-12);
  EXPECT_NEAR(student_t_two_sided_p(5.0, 18), 9.28414255737681e-05, 1e-14);
  EXPECT_NEAR(student_t_two_sided_p(0.1, 40), 0.9208438530452802, 1e-12);
  // Zero variance in both samples: p 1 for equal means, 0 otherwise (scipy: NaN).
  EXPECT_DOUBLE_EQ(student_t_test({1, 1}, {1, 1}).p, 1.0);
  EXPECT_DOUBLE_EQ(student_t_test({1, 1}, {0, 0}).p, 0.0);
  EXPECT_THROW(student_t_test({1}, {0}), std::invalid_argument);
  EXPECT_THROW(regularized_incomplete_beta(0, 1, 0.5), std::invalid_argument);
}

TEST(Statistics, BonferroniMultipliesByTheHypothesesAndCapsAtOne) {
  const std::vector<double> p = bonferroni({0.01, 0.02, 0.5});
  EXPECT_DOUBLE_EQ(p[0], 0.03);
  EXPECT_DOUBLE_EQ(p[1], 0.06);
  EXPECT_DOUBLE_EQ(p[2], 1.0);
  EXPECT_TRUE(bonferroni({}).empty());
  const MeanStd ms = mean_std({1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(ms.mean, 2.5);
  EXPECT_NEAR(ms.std, std::sqrt(1.25), 1e-15);  // np.std([1, 2, 3, 4])
}
