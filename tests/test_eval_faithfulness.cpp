// Tests of the faithfulness metrics of interp/eval: noisy linear imputation (exact on a linear
// ramp, the 8-neighbour equations hold at borders, noise only on imputed pixels, refusal of a
// fully removed image), ROAD (MoRF below LeRF on the top-left-quadrant net for the quadrant map,
// reversed for the inverted map, independent of chunking, imputing in pixel space whatever the
// normalisation), pixel flipping (curve shape), AOPC
// (closed form on a linear net) and faithfulness correlation (1 for a linear net with its
// input x gradient map and a black baseline), and the metric registry's parsing and checks.
// Shape letters: C/H/W image, P = H*W pixels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <vector>

#include "interp/eval/image_space.h"
#include "interp/eval/imputation.h"
#include "interp/eval/metric_registry.h"
#include "interp/eval/perturbation_curves.h"
#include "interp/eval/road.h"
#include "interp/metrics.h"
#include "quadrant_net.h"
#include "runtime/layers.h"
#include "runtime/rng.h"

using gb::Tensor;
using namespace gb::interp;
using namespace gb::interp::eval;

namespace {

// Logit 0 = `gain` x mean of the top-left 16x16 quadrant of a 3x32x32 image; logit 1 = 0.
std::shared_ptr<gb::nn::Sequential> quadrant_net(float gain = 1.0f) {
  return gb::testing::quadrant_net({gain, 0, 0, 0, 0, 0, 0, 0});
}

Tensor random_image(uint64_t seed, float lo = 0.2f, float hi = 1.0f) {
  gb::Generator gen(seed, 0);
  return Tensor::uniform({3, 32, 32}, gen, lo, hi);
}

// 1 inside the top-left quadrant, 0 outside (or the reverse).
Tensor quadrant_map(bool inside) {
  std::vector<float> v(32 * 32);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) v[y * 32 + x] = ((y < 16 && x < 16) == inside) ? 1.0f : 0.0f;
  }
  return Tensor::from_vector({32, 32}, v);
}

// Bright top-left quadrant (1), dark elsewhere (0).
Tensor bright_quadrant_image() {
  std::vector<float> v(3 * 32 * 32, 0.0f);
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 16; ++y) {
      for (int x = 0; x < 16; ++x) v[(c * 32 + y) * 32 + x] = 1.0f;
    }
  }
  return Tensor::from_vector({3, 32, 32}, v);
}

}  // namespace

TEST(Imputation, ExactOnALinearRampInside) {
  const int64_t C = 2, H = 12, W = 10, P = H * W;
  std::vector<float> px(C * P);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t y = 0; y < H; ++y) {
      for (int64_t x = 0; x < W; ++x) px[c * P + y * W + x] = 0.1f + 0.03f * y - 0.02f * x + c;
    }
  }
  const std::vector<float> truth = px;
  std::vector<uint8_t> removed(P, 0);
  for (int64_t y = 3; y < 8; ++y) {
    for (int64_t x = 2; x < 7; ++x) removed[y * W + x] = 1;
  }
  for (int64_t p : {4 * W + 8, 9 * W + 1}) removed[p] = 1;  // isolated ones too
  std::vector<float> scrambled = px;
  for (int64_t p = 0; p < P; ++p) {
    if (removed[p]) scrambled[p] = scrambled[P + p] = 7.0f;  // imputation must not read these
  }
  noisy_linear_impute(scrambled, C, H, W, removed, 0.0, gb::Philox(1, 2));
  for (int64_t i = 0; i < C * P; ++i) EXPECT_NEAR(scrambled[i], truth[i], 1e-5) << i;
}

TEST(Imputation, BorderEquationsHoldAndNoiseTouchesOnlyImputedPixels) {
  const int64_t C = 1, H = 6, W = 7, P = H * W;
  gb::Philox img_rng(5, 0);
  std::vector<float> px(P);
  for (int64_t p = 0; p < P; ++p) px[p] = img_rng.uniform(p);
  std::vector<uint8_t> removed(P, 0);
  for (int64_t p : {0L, 1L, 7L, 8L, 6L, 41L, 40L, 20L}) removed[p] = 1;  // corners and edges
  std::vector<float> filled = px;
  noisy_linear_impute(filled, C, H, W, removed, 0.0, gb::Philox(1, 2));
  // Each imputed pixel is the weighted mean of its in-image neighbours (1/6 axial, 1/12 diagonal).
  for (int64_t p = 0; p < P; ++p) {
    if (!removed[p]) {
      EXPECT_EQ(filled[p], px[p]);
      continue;
    }
    const int64_t y = p / W, x = p % W;
    double num = 0, den = 0;
    for (int dy = -1; dy <= 1; ++dy) {
      for (int dx = -1; dx <= 1; ++dx) {
        if ((dy == 0 && dx == 0) || y + dy < 0 || y + dy >= H || x + dx < 0 || x + dx >= W)
          continue;
        const double w = (dy == 0 || dx == 0) ? 1.0 / 6 : 1.0 / 12;
        num += w * filled[(y + dy) * W + x + dx];
        den += w;
      }
    }
    EXPECT_NEAR(filled[p], num / den, 1e-5) << p;
  }
  std::vector<float> noisy = px;
  noisy_linear_impute(noisy, C, H, W, removed, 0.01, gb::Philox(1, 2));
  double moved = 0;
  for (int64_t p = 0; p < P; ++p) {
    if (!removed[p])
      EXPECT_EQ(noisy[p], px[p]);
    else
      moved = std::max(moved, std::fabs(static_cast<double>(noisy[p]) - filled[p]));
  }
  EXPECT_GT(moved, 1e-4);
  EXPECT_LT(moved, 0.06);
  std::vector<uint8_t> all(P, 1);
  EXPECT_THROW(noisy_linear_impute(noisy, C, H, W, all, 0.0, gb::Philox(1, 2)),
               std::invalid_argument);
}

TEST(Road, MorfBelowLerfForTheQuadrantMapAndReversedForItsInverse) {
  auto net = quadrant_net(4.0f);
  const Tensor x = bright_quadrant_image();
  RoadOptions o;
  o.fractions = {0.3, 0.4, 0.5, 0.6, 0.7};
  const RoadResult good = road(*net, x, quadrant_map(true), 0, 0, o);
  const RoadResult bad = road(*net, x, quadrant_map(false), 0, 0, o);
  EXPECT_EQ(good.fraction, o.fractions);
  // MoRF removed the whole bright quadrant: the logit falls from 4 to ~0 (probability ~0.5).
  for (const double p : good.morf.probability) EXPECT_LT(p, 0.6);
  for (const double p : good.lerf.probability) EXPECT_GT(p, 0.95);
  EXPECT_LT(good.morf.probability_auc + 0.1, good.lerf.probability_auc);
  EXPECT_GT(bad.morf.probability_auc, bad.lerf.probability_auc + 0.1);
  for (const double c : good.lerf.correct) EXPECT_EQ(c, 1.0);
}

TEST(Road, IndependentOfChunkingAndSeeded) {
  auto net = quadrant_net();
  const Tensor x = random_image(3);
  const std::vector<float> mv = random_image(4).to_vector();
  const Tensor map =
      Tensor::from_vector({32, 32}, std::vector<float>(mv.begin(), mv.begin() + 1024));
  RoadOptions o;
  o.norm.mean = {0.5f, 0.4f, 0.3f};
  o.norm.std = {0.2f, 0.25f, 0.3f};
  o.seed = 9;
  o.stream = metric_stream(3, 0);
  const RoadResult a = road(*net, x, map, 0, 1, o);
  o.batch.max_chunk = 1;
  const RoadResult b = road(*net, x, map, 0, 1, o);
  EXPECT_EQ(a.morf.probability, b.morf.probability);
  EXPECT_EQ(a.lerf.probability, b.lerf.probability);
  o.seed = 10;
  const RoadResult c = road(*net, x, map, 0, 1, o);
  EXPECT_NE(a.morf.probability, c.morf.probability);
  o.fractions = {0.5, 1.0};
  EXPECT_THROW(road(*net, x, map, 0, 1, o), std::invalid_argument);
}

TEST(Road, ImputesInPixelSpaceWhateverTheNormalisation) {
  // The same model twice: on pixels, and behind a BN (eval) that un-normalises its input. ROAD on
  // the normalised image with that normalisation must match ROAD on the pixels: imputation and its
  // absolute noise (0.01 pixel units) happen in pixel space.
  const std::vector<float> mean = {0.5f, 0.4f, 0.3f}, stdev = {0.2f, 0.25f, 0.3f};
  auto pixel_net = quadrant_net(4.0f);
  auto norm_net = std::make_shared<gb::nn::Sequential>();
  auto bn = std::make_shared<gb::nn::BatchNorm2d>(3, 0.1f, 0.0f);
  bn->local_tensor("weight").copy_(Tensor::from_vector({3}, stdev));
  bn->local_tensor("bias").copy_(Tensor::from_vector({3}, mean));
  norm_net->push_back(bn);
  norm_net->push_back(quadrant_net(4.0f));
  norm_net->eval();
  const Tensor px = random_image(21, 0.0f, 1.0f);
  std::vector<float> n = px.to_vector();
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t p = 0; p < 1024; ++p) n[c * 1024 + p] = (n[c * 1024 + p] - mean[c]) / stdev[c];
  }
  RoadOptions o;
  o.seed = 3;
  o.noise = 0.05;
  const RoadResult a = road(*pixel_net, px, quadrant_map(true), 0, 0, o);
  o.norm.mean = mean;
  o.norm.std = stdev;
  const RoadResult b =
      road(*norm_net, Tensor::from_vector({3, 32, 32}, n), quadrant_map(true), 0, 0, o);
  for (size_t i = 0; i < a.morf.probability.size(); ++i) {
    EXPECT_NEAR(a.morf.probability[i], b.morf.probability[i], 1e-5) << i;
    EXPECT_NEAR(a.lerf.probability[i], b.lerf.probability[i], 1e-5) << i;
  }
}

TEST(PixelFlipping, CurveFallsWhileTheQuadrantIsFlippedThenStays) {
  auto net = quadrant_net();
  const Tensor x = random_image(6);
  PixelFlippingOptions o;
  o.features_in_step = 16;
  o.score = Score::Logit;
  const PerturbationCurve c = pixel_flipping(*net, x, quadrant_map(true), 0, o);
  ASSERT_EQ(c.score.size(), 65u);
  EXPECT_DOUBLE_EQ(c.fraction.back(), 1.0);
  // Black = the image's minimum (>= 0.2): after the quadrant (16 steps) the logit is that minimum.
  const double black = image_min(x);
  EXPECT_NEAR(c.score[16], black, 1e-5);
  EXPECT_NEAR(c.score.back(), black, 1e-5);
  for (size_t k = 1; k <= 16; ++k) EXPECT_LT(c.score[k], c.score[k - 1]);
}

TEST(Aopc, MatchesTheClosedFormOfALinearNet) {
  auto net = quadrant_net();
  const Tensor x = random_image(7);
  const std::vector<float> mv = random_image(8, -1, 1).to_vector();
  const Tensor map =
      Tensor::from_vector({32, 32}, std::vector<float>(mv.begin(), mv.begin() + 1024));
  AopcOptions o;
  o.patch = 4;
  o.seed = 3;
  o.stream = 11;
  const AopcResult r = aopc(*net, x, map, 0, o);
  ASSERT_EQ(r.score.size(), 65u);
  // Closed form: region order by summed map; f drops by w * sum (x - u) over its TL pixels.
  const std::vector<float> a = map.to_vector(), xv = x.to_vector();
  std::vector<double> sums(64, 0.0), effect(64, 0.0);
  gb::Philox rng(3, 11);
  for (int64_t y = 0; y < 32; ++y) {
    for (int64_t xx = 0; xx < 32; ++xx) {
      const int64_t cell = (y / 4) * 8 + xx / 4, p = y * 32 + xx;
      sums[cell] += a[p];
      if (y >= 16 || xx >= 16) continue;
      for (int64_t c = 0; c < 3; ++c)
        effect[cell] += (xv[c * 1024 + p] - rng.uniform(c * 1024 + p)) / 768.0;
    }
  }
  std::vector<int64_t> order(64);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t i, int64_t j) { return sums[i] > sums[j]; });
  double total = 0, drop = 0;
  for (int64_t k = 0; k <= 64; ++k) {
    if (k > 0) drop += effect[order[k - 1]];
    total += drop;
  }
  EXPECT_NEAR(r.aopc, total / 65.0, 1e-5);
}

TEST(FaithfulnessCorrelation, OneForALinearNetWithItsInputTimesGradient) {
  auto net = quadrant_net();
  std::vector<float> xv = random_image(12).to_vector();
  xv[5 * 32 + 30] = 0.0f;  // black = the image's minimum = 0: the baseline of input x gradient
  const Tensor x = Tensor::from_vector({3, 32, 32}, xv);
  std::vector<float> a(1024, 0.0f);
  for (int64_t y = 0; y < 16; ++y) {
    for (int64_t xx = 0; xx < 16; ++xx) {
      for (int64_t c = 0; c < 3; ++c) a[y * 32 + xx] += xv[c * 1024 + y * 32 + xx] / 768.0f;
    }
  }
  FaithfulnessCorrelationOptions o;
  o.runs = 40;
  o.subset = 100;
  o.seed = 2;
  const FaithfulnessCorrelationResult r =
      faithfulness_correlation(*net, x, Tensor::from_vector({32, 32}, a), 0, o);
  EXPECT_NEAR(r.correlation, 1.0, 1e-5);
  for (size_t i = 0; i < r.score_drop.size(); ++i) {
    EXPECT_NEAR(r.score_drop[i], r.attribution_sum[i], 1e-5);
  }
  // A map unrelated to the net correlates much less.
  const FaithfulnessCorrelationResult rnd =
      faithfulness_correlation(*net, x, quadrant_map(false), 0, o);
  EXPECT_LT(rnd.correlation, 0.9);
  o.subset = 2000;
  EXPECT_THROW(faithfulness_correlation(*net, x, quadrant_map(true), 0, o), std::invalid_argument);
}

TEST(MetricRegistry, ParsesAllRefusesUnknownAndChecksParameters) {
  const std::vector<std::string> all = parse_metric_list(" all ");
  EXPECT_EQ(all.front(), "deletion");
  EXPECT_EQ(std::count(all.begin(), all.end(), "road"), 1);
  EXPECT_EQ(std::count(all.begin(), all.end(), "data-randomization"), 0);  // trains: named only
  EXPECT_EQ(parse_metric_list("road, aopc,road"), (std::vector<std::string>{"road", "aopc"}));
  try {
    parse_metric_list("road,nope");
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("faithfulness-correlation"), std::string::npos);
  }
  EXPECT_THROW(parse_metric_list(" , "), std::invalid_argument);
  MetricParams p;
  EXPECT_NO_THROW(check_metric_params(p));
  p.road.fractions = {0.5, 1.0};
  try {
    check_metric_params(p);
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--road-percentages"), std::string::npos);
  }
  p = MetricParams();
  p.mprt.order = "alphabetical";
  EXPECT_THROW(check_metric_params(p), std::invalid_argument);
  // Every metric echoes its parameters and has a citation.
  for (const MetricInfo& m : metric_infos()) {
    EXPECT_FALSE(m.citation.empty()) << m.name;
    EXPECT_FALSE(metric_parameters(m.name, MetricParams()).empty()) << m.name;
  }
}
