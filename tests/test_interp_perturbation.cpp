// Tests of the perturbation family and the explanation metrics (interp/slic, perturb, lime,
// metrics): LIME recovers the coefficients of games and networks that are linear in the segment
// indicators; occlusion, feature ablation and LIME put their mass on the one image quadrant that a
// hand-built network's target logit reads; SLIC segments are connected, cover the image, come in
// roughly the requested number and are deterministic; deletion/insertion AUCs rank a perfect map
// above a random one; Spearman correlation; cascading randomisation; perturbations are batched
// (few forward calls for many samples).
// Shape letters: N batch, C/H/W image, S segments.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <queue>
#include <vector>

#include "interp/lime.h"
#include "interp/metrics.h"
#include "interp/perturb.h"
#include "interp/slic.h"
#include "quadrant_net.h"
#include "runtime/layers.h"
#include "runtime/rng.h"

using gb::Module;
using gb::Tensor;
using namespace gb::interp;

namespace {

using gb::testing::quadrant_net;

Tensor random_image(uint64_t seed, float lo = 0.2f, float hi = 1.0f) {
  gb::Generator gen(seed, 0);
  return Tensor::uniform({3, 32, 32}, gen, lo, hi);
}

// Fraction of the positive mass of map [32,32] that lies in the top-left quadrant.
double top_left_share(const Tensor& map) {
  const std::vector<float> v = map.to_vector();
  double in = 0.0, all = 0.0;
  for (int64_t y = 0; y < 32; ++y) {
    for (int64_t x = 0; x < 32; ++x) {
      const double a = std::max(0.0f, v[y * 32 + x]);
      all += a;
      if (y < 16 && x < 16) in += a;
    }
  }
  return all > 0.0 ? in / all : 0.0;
}

// An image of flat colour regions (nearest of a few random seeds) with a little noise.
Tensor patchwork_image(int64_t hw, uint64_t seed) {
  gb::Philox rng(seed, 1);
  const int regions = 7;
  std::vector<float> py(regions), px(regions), col(regions * 3);
  for (int r = 0; r < regions; ++r) {
    py[r] = rng.uniform(r) * hw;
    px[r] = rng.uniform(100 + r) * hw;
    for (int c = 0; c < 3; ++c) col[r * 3 + c] = rng.uniform(200 + r * 3 + c);
  }
  std::vector<float> v(3 * hw * hw);
  for (int64_t y = 0; y < hw; ++y) {
    for (int64_t x = 0; x < hw; ++x) {
      int best = 0;
      float bd = 1e30f;
      for (int r = 0; r < regions; ++r) {
        const float d = (y - py[r]) * (y - py[r]) + (x - px[r]) * (x - px[r]);
        if (d < bd) bd = d, best = r;
      }
      for (int c = 0; c < 3; ++c) {
        const float noise = 0.04f * (rng.uniform(1000 + (c * hw + y) * hw + x) - 0.5f);
        v[(c * hw + y) * hw + x] = std::clamp(col[best * 3 + c] + noise, 0.0f, 1.0f);
      }
    }
  }
  return Tensor::from_vector({3, hw, hw}, v);
}

// Independent check: each label's pixels form one 4-connected region.
bool every_label_connected(const Segments& s) {
  std::vector<int> seen(s.labels.size(), 0), first(s.count, -1);
  for (size_t p = 0; p < s.labels.size(); ++p) {
    if (first[s.labels[p]] < 0) first[s.labels[p]] = static_cast<int>(p);
  }
  for (int64_t l = 0; l < s.count; ++l) {
    if (first[l] < 0) return false;
    std::queue<int64_t> q;
    q.push(first[l]);
    seen[first[l]] = 1;
    int64_t reached = 0;
    while (!q.empty()) {
      const int64_t p = q.front();
      q.pop();
      ++reached;
      const int64_t y = p / s.width, x = p % s.width;
      const int64_t ny[4] = {y - 1, y + 1, y, y}, nx[4] = {x, x, x - 1, x + 1};
      for (int k = 0; k < 4; ++k) {
        if (ny[k] < 0 || ny[k] >= s.height || nx[k] < 0 || nx[k] >= s.width) continue;
        const int64_t n = ny[k] * s.width + nx[k];
        if (!seen[n] && s.labels[n] == l) seen[n] = 1, q.push(n);
      }
    }
    if (reached != s.sizes()[l]) return false;
  }
  return true;
}

}  // namespace

// ---- SLIC and grids ----

TEST(Slic, ConnectedCoveringRoughlyTheRequestedCountAndDeterministic) {
  for (const auto& [hw, k] :
       std::vector<std::pair<int64_t, int64_t>>{{32, 16}, {32, 25}, {64, 50}}) {
    const Tensor img = patchwork_image(hw, 3 + hw + k);
    SlicOptions opt;
    opt.segments = k;
    const Segments s = slic(img, opt);
    ASSERT_EQ(s.height, hw);
    ASSERT_EQ(s.width, hw);
    ASSERT_EQ(static_cast<int64_t>(s.labels.size()), hw * hw);
    EXPECT_GE(s.count, k / 2) << hw << "/" << k;
    EXPECT_LE(s.count, 2 * k) << hw << "/" << k;
    for (const int64_t n : s.sizes()) EXPECT_GT(n, 0);  // labels 0..S-1 all used
    EXPECT_TRUE(every_label_connected(s)) << hw << "/" << k;
    EXPECT_TRUE(segments_connected(s));
    const Segments again = slic(img, opt);
    EXPECT_EQ(again.labels, s.labels);
    EXPECT_EQ(again.count, s.count);
  }
}

TEST(Slic, FollowsAColourEdgeAndAcceptsNormalisedImages) {
  // Left 13 columns red, the rest blue: no superpixel may straddle the edge.
  std::vector<float> v(3 * 32 * 32);
  for (int64_t y = 0; y < 32; ++y) {
    for (int64_t x = 0; x < 32; ++x) {
      v[(0 * 32 + y) * 32 + x] = x < 13 ? 1.0f : 0.0f;
      v[(1 * 32 + y) * 32 + x] = 0.0f;
      v[(2 * 32 + y) * 32 + x] = x < 13 ? 0.0f : 1.0f;
    }
  }
  const Tensor img = Tensor::from_vector({3, 32, 32}, v);
  const Segments s = slic(img);
  std::vector<int> side(s.count, -1);
  for (int64_t y = 0; y < 32; ++y) {
    for (int64_t x = 0; x < 32; ++x) {
      const int left = x < 13 ? 1 : 0;
      int& sd = side[s.at(y, x)];
      if (sd < 0) sd = left;
      EXPECT_EQ(sd, left) << "segment " << s.at(y, x) << " straddles the edge at " << y << "," << x;
    }
  }
  // A normalised copy ((v - 0.5) / 0.25, outside [0,1]) is rescaled by its min/max back onto the
  // same [0,1] image, so it gets the same segmentation.
  std::vector<float> w = v;
  for (float& e : w) e = (e - 0.5f) / 0.25f;
  EXPECT_EQ(slic(Tensor::from_vector({1, 3, 32, 32}, w)).labels, s.labels);
}

TEST(Slic, GridAndLabelMaps) {
  const Segments g = grid_segments(32, 30, 4, 3);
  EXPECT_EQ(g.count, 12);
  EXPECT_EQ(g.at(0, 0), 0);
  EXPECT_EQ(g.at(31, 29), 11);
  EXPECT_EQ(g.at(8, 10), 4);
  for (const int64_t n : g.sizes()) EXPECT_EQ(n, 80);
  const Segments back = segments_from_tensor(g.to_tensor());
  EXPECT_EQ(back.labels, g.labels);
  EXPECT_EQ(back.count, 12);
  EXPECT_THROW(grid_segments(4, 4, 5, 1), std::invalid_argument);
  EXPECT_THROW(segments_from_tensor(Tensor::from_vector({2, 2}, {0, 2, 2, 0})),
               std::invalid_argument);  // label 1 missing
  EXPECT_THROW(slic(Tensor::zeros({32, 32})), std::invalid_argument);
}

// ---- fills and masked batches ----

TEST(Perturb, FillsAndMaskedBatches) {
  const Tensor img = random_image(1);
  const std::vector<float> x = img.to_vector();
  // Blurs keep a constant image and the mean fill is constant per channel.
  const Tensor flat = Tensor::full({3, 32, 32}, 0.7f);
  for (const float e : box_blur(flat, 3).to_vector()) EXPECT_NEAR(e, 0.7f, 1e-6);
  for (const float e : gaussian_blur(flat, 2.0f).to_vector()) EXPECT_NEAR(e, 0.7f, 1e-6);
  const std::vector<float> b = box_blur(img, 1).to_vector();
  double want = 0.0;
  for (int dy = -1; dy <= 1; ++dy)
    for (int dx = -1; dx <= 1; ++dx) want += x[(1 * 32 + 10 + dy) * 32 + 20 + dx] / 9.0;
  EXPECT_NEAR(b[(1 * 32 + 10) * 32 + 20], want, 1e-5);
  EXPECT_NEAR(b[0], (x[0] + x[1] + x[32] + x[33]) / 4.0, 1e-5);  // corner: 4 in-image pixels
  const std::vector<float> m = make_fill(img, {}).to_vector();
  EXPECT_FLOAT_EQ(m[5], m[1000]);
  EXPECT_NE(m[5], m[1024 + 5]);
  // Masked batch: row 0 hides segment 1 only.
  const Segments seg = grid_segments(32, 32, 2, 2);
  const Tensor fill = make_fill(img, constant_fill(-1.0f));
  const std::vector<uint8_t> z = {1, 0, 1, 1, 0, 0, 0, 0};
  const std::vector<float> out = masked_batch(img, fill, seg, z.data(), 2).to_vector();
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t p = 0; p < 1024; ++p) {
      const bool hidden = seg.labels[p] == 1;
      EXPECT_EQ(out[c * 1024 + p], hidden ? -1.0f : x[c * 1024 + p]);
      EXPECT_EQ(out[3072 + c * 1024 + p], -1.0f);
    }
  }
}

// ---- LIME ----

TEST(Lime, RecoversALinearGame) {
  const int64_t S = 12;
  std::vector<double> c(S);
  for (int64_t s = 0; s < S; ++s) c[s] = std::sin(1.0 + s) * 2.0;
  const ValueFn v = [&](const std::vector<uint8_t>& z, int64_t count, float* out) {
    for (int64_t i = 0; i < count; ++i) {
      double y = 0.75;
      for (int64_t s = 0; s < S; ++s) y += z[i * S + s] ? c[s] : 0.0;
      out[i] = static_cast<float>(y);
    }
  };
  for (const LimeDistance d : {LimeDistance::Cosine, LimeDistance::Hamming}) {
    LimeOptions opt;
    opt.samples = 600;
    opt.ridge = 1e-8;
    opt.distance = d;
    opt.kernel_width = d == LimeDistance::Cosine ? 0.25f : 0.5f;
    const LimeResult r = lime(v, S, opt);
    for (int64_t s = 0; s < S; ++s) EXPECT_NEAR(r.coef[s], c[s], 1e-4) << "segment " << s;
    EXPECT_NEAR(r.intercept, 0.75, 1e-4);
    EXPECT_GT(r.r2, 0.99999);
    EXPECT_EQ(r.evaluations, 600);
  }
}

TEST(Lime, RecoversANetworkLinearInSegmentMeans) {
  // Logit 0 = w . (8x8-cell means of every channel) + b: linear in the indicators of a 4x4 grid.
  auto net = std::make_shared<gb::nn::Sequential>();
  net->push_back(std::make_shared<gb::nn::AvgPool2d>(8));
  net->push_back(std::make_shared<gb::nn::Flatten>());
  auto fc = std::make_shared<gb::nn::Linear>(48, 2);
  net->push_back(fc);
  gb::Generator gen(3, 0);
  fc->local_tensor("weight").copy_(Tensor::randn({2, 48}, gen));
  const Tensor img = random_image(2, 0.0f, 1.0f);
  const Segments seg = grid_segments(32, 32, 4, 4);
  ImageGameOptions game;  // mean fill
  LimeOptions opt;
  opt.samples = 400;
  opt.ridge = 1e-6;
  const LimeResult r = lime(image_value_fn(*net, img, seg, 0, game), seg.count, opt);
  const std::vector<float> w = fc->local_tensor("weight").to_vector(), x = img.to_vector();
  const std::vector<float> f = make_fill(img, game.fill).to_vector();
  for (int64_t s = 0; s < 16; ++s) {
    double expected = 0.0;
    for (int64_t c = 0; c < 3; ++c) {
      double diff = 0.0;
      for (int64_t p = 0; p < 1024; ++p) {
        if (seg.labels[p] == s) diff += (x[c * 1024 + p] - f[c * 1024 + p]) / 64.0;
      }
      expected += w[c * 16 + s] * diff;
    }
    EXPECT_NEAR(r.coef[s], expected, 1e-3) << "segment " << s;
  }
  EXPECT_GT(r.r2, 0.9999);
}

TEST(Lime, DeterministicFromTheSeed) {
  auto net = quadrant_net();
  const Tensor img = random_image(4);
  const Segments seg = slic(img, SlicOptions{});
  const ValueFn v = image_value_fn(*net, img, seg, 0);
  LimeOptions opt;
  opt.samples = 200;
  opt.seed = 9;
  const LimeResult a = lime(v, seg.count, opt), b = lime(v, seg.count, opt);
  ASSERT_EQ(a.coef.size(), b.coef.size());
  EXPECT_EQ(std::memcmp(a.coef.data(), b.coef.data(), a.coef.size() * sizeof(double)), 0);
  EXPECT_EQ(a.intercept, b.intercept);
  opt.seed = 10;
  EXPECT_NE(lime(v, seg.count, opt).coef, a.coef);
  EXPECT_NE(lime_coalitions(seg.count, 50, 1), lime_coalitions(seg.count, 50, 2));
  // Bit-identical wherever LIME's own buffers land: Eigen's vectorised sums split differently by
  // a buffer's alignment, so the solver must work on aligned copies. Allocations kept alive
  // between the calls move LIME's buffers to other addresses.
  opt.seed = 9;
  std::vector<std::vector<double>> held;
  for (int k = 0; k < 8; ++k) {
    held.emplace_back(static_cast<size_t>(opt.samples + 1 + k));
    held.emplace_back(static_cast<size_t>(opt.samples * seg.count + 3 * k));
    const LimeResult r = lime(v, seg.count, opt);
    EXPECT_EQ(std::memcmp(r.coef.data(), a.coef.data(), a.coef.size() * sizeof(double)), 0) << k;
    EXPECT_EQ(r.r2, a.r2) << k;
  }
}

// ---- the quadrant network: occlusion, ablation, LIME ----

TEST(QuadrantNet, OcclusionAblationAndLimeFindTheQuadrant) {
  auto net = quadrant_net();
  const Tensor img = random_image(5);
  OcclusionOptions oo;
  oo.window = 8;
  oo.stride = 4;
  const Tensor occ = occlusion(*net, img, 0, oo);
  ASSERT_EQ(occ.shape(), (gb::Shape{32, 32}));
  EXPECT_GT(top_left_share(occ), 0.8);
  const std::vector<float> ov = occ.to_vector();
  for (int64_t y = 0; y < 32; ++y) {
    for (int64_t x = 0; x < 32; ++x) {
      if (y >= 20 || x >= 20) {
        EXPECT_EQ(ov[y * 32 + x], 0.0f) << y << "," << x;  // no window there reaches the quadrant
      }
      if (y < 12 && x < 12) {
        EXPECT_GT(ov[y * 32 + x], 0.0f) << y << "," << x;
      }
    }
  }
  const Segments seg = grid_segments(32, 32, 4, 4);
  ImageGameOptions game;
  game.fill = constant_fill(0.0f);
  const AblationResult ab = feature_ablation(*net, img, seg, 0, game);
  for (int64_t s = 0; s < 16; ++s) {
    const bool tl = (s / 4) < 2 && (s % 4) < 2;
    if (tl) {
      EXPECT_GT(ab.drop[s], 0.01) << s;
    } else {
      EXPECT_NEAR(ab.drop[s], 0.0, 1e-6) << s;
    }
  }
  LimeOptions lo;
  lo.samples = 300;
  const LimeResult lr = lime(image_value_fn(*net, img, seg, 0, game), seg.count, lo);
  EXPECT_GT(top_left_share(segment_map(seg, lr.coef)), 0.95);
  EXPECT_GT(lr.r2, 0.98);  // linear in the segment indicators; only the ridge keeps R^2 below 1
}

TEST(QuadrantNet, DeletionAndInsertionRankAPerfectMapAboveARandomOne) {
  auto net = quadrant_net();
  const Tensor img = random_image(6);
  const std::vector<float> x = img.to_vector();
  std::vector<float> perfect(1024, 0.0f), random(1024);
  gb::Philox rng(17, 0);
  for (int64_t p = 0; p < 1024; ++p) {
    if (p / 32 < 16 && p % 32 < 16) perfect[p] = x[p] + x[1024 + p] + x[2048 + p];
    random[p] = rng.uniform(p);
  }
  const Tensor good = Tensor::from_vector({32, 32}, perfect);
  const Tensor bad = Tensor::from_vector({32, 32}, random);
  CurveOptions opt;
  opt.score = Score::Logit;
  opt.steps = 16;
  opt.insertion_start = constant_fill(0.0f);
  const Curve dg = deletion_curve(*net, img, good, 0, opt),
              dr = deletion_curve(*net, img, bad, 0, opt);
  const Curve ig = insertion_curve(*net, img, good, 0, opt),
              ir = insertion_curve(*net, img, bad, 0, opt);
  ASSERT_EQ(dg.score.size(), 17u);
  EXPECT_DOUBLE_EQ(dg.fraction.front(), 0.0);
  EXPECT_DOUBLE_EQ(dg.fraction.back(), 1.0);
  EXPECT_NEAR(dg.score.back(), 0.0, 1e-6);   // everything deleted
  EXPECT_NEAR(ig.score.front(), 0.0, 1e-6);  // nothing inserted yet
  EXPECT_NEAR(ig.score.back(), dg.score.front(), 1e-6);
  EXPECT_LT(dg.auc, 0.5 * dr.auc);
  EXPECT_GT(ig.auc, 1.5 * ir.auc);
  // The default (probability, blurred insertion start) keeps the same ranking for deletion.
  EXPECT_LT(deletion_curve(*net, img, good, 0).auc, deletion_curve(*net, img, bad, 0).auc);
  EXPECT_NEAR(trapezoid_auc({0, 0.5, 1}, {1, 1, 0}), 0.75, 1e-12);
}

TEST(QuadrantNet, PerturbationsAreBatched) {
  auto net = quadrant_net();
  int64_t calls = 0;
  net->add_forward_hook([&](Module&, const Tensor&, const Tensor&) {
    ++calls;
    return Tensor();
  });
  const Tensor img = random_image(7);
  const Segments seg = grid_segments(32, 32, 4, 4);
  // Chunks of up to 1024 inputs (this tiny network fits them in the budget): one forward measures
  // the memory per input, the next evaluates all the samples.
  ImageGameOptions game;
  game.batch.mem_budget_bytes = size_t{512} << 20;
  game.batch.max_chunk = 1024;
  LimeOptions lo;
  lo.samples = 1000;
  lime(image_value_fn(*net, img, seg, 0, game), seg.count, lo);
  EXPECT_LE(calls, 3) << "LIME with 1000 samples used " << calls << " forward calls";
  calls = 0;
  OcclusionOptions oo;
  oo.window = 4;
  oo.stride = 2;  // 15 x 15 windows
  oo.batch = game.batch;
  occlusion(*net, img, 0, oo);
  EXPECT_LE(calls, 3);
  // Smaller chunks: ceil(1000 / 128) = 8 forwards plus the measuring one.
  calls = 0;
  game.batch.max_chunk = 128;
  lime(image_value_fn(*net, img, seg, 0, game), seg.count, lo);
  EXPECT_EQ(calls, 9);
}

// ---- metrics helpers ----

TEST(Metrics, SpearmanAndCompleteness) {
  const std::vector<float> a = {0.1f, 3.0f, -2.0f, 7.5f, 0.2f, 1.0f};
  std::vector<float> rev(a.size());
  for (size_t i = 0; i < a.size(); ++i) rev[i] = -a[i];
  EXPECT_NEAR(spearman(a, a), 1.0, 1e-12);
  EXPECT_NEAR(spearman(a, rev), -1.0, 1e-12);
  std::vector<float> monotone(a.size());
  for (size_t i = 0; i < a.size(); ++i) monotone[i] = std::exp(a[i]);
  EXPECT_NEAR(spearman(a, monotone), 1.0, 1e-12);
  EXPECT_EQ(spearman(a, std::vector<float>(a.size(), 2.0f)), 0.0);
  const std::vector<double> r = average_ranks({5.0f, 1.0f, 5.0f, 3.0f});
  EXPECT_EQ(r, (std::vector<double>{3.5, 1.0, 3.5, 2.0}));
  const Tensor m = random_image(8);
  EXPECT_NEAR(spearman(m, m), 1.0, 1e-12);
  const CompletenessError e = completeness_error(std::vector<double>{1.0, 2.0, 0.5}, 4.0, 0.25);
  EXPECT_NEAR(e.abs_error, 0.25, 1e-12);
  EXPECT_NEAR(e.rel_error, 0.25 / 3.75, 1e-12);
  const Timing t = time_repeated([] {}, 3, 1);
  EXPECT_EQ(t.repetitions, 3);
  EXPECT_LE(t.min_ms, t.median_ms);
  EXPECT_LE(t.median_ms, t.max_ms);
}

TEST(Metrics, CascadingRandomizationLowersCorrelationAndRestoresWeights) {
  auto net = quadrant_net();
  const Tensor img = random_image(9);
  const std::vector<float> before = net->named_parameters()[1].second.to_vector();
  OcclusionOptions oo;
  oo.window = 8;
  oo.stride = 8;
  const ExplainFn explain = [&](Module& m) { return occlusion(m, img, 0, oo); };
  const RandomizationReport rep = cascading_randomization(*net, explain);
  ASSERT_EQ(rep.steps.size(), 2u);  // fc, then the conv (Flatten has no parameters)
  EXPECT_EQ(rep.steps[0].layer, "2");
  EXPECT_EQ(rep.steps[1].layer, "0");
  EXPECT_LT(rep.steps[0].spearman, 0.9);
  EXPECT_EQ(net->named_parameters()[1].second.to_vector(), before);
  // Same explanation again after the check: the model is back to its original weights.
  EXPECT_EQ(explain(*net).to_vector(), rep.original.to_vector());
  RandomizationOptions bad;
  bad.layers = {"nope"};
  EXPECT_THROW(cascading_randomization(*net, explain, bad), std::invalid_argument);
}
