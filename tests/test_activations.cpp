// interp/activations.h on a freshly initialised smallcnn: layer outputs by module path and their
// errors, channel scores as spatial means, top-activating images found across batches equal to
// a brute-force ranking, and activation maximisation: the class logit rises, a batch of units
// gives each unit what it alone would get, it is deterministic, stays in the pixel range, and
// refuses units out of range.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "interp/activations.h"
#include "models/registry.h"
#include "runtime/ops.h"
#include "runtime/rng.h"

using namespace gb;
using namespace gb::interp;

namespace {

struct Fixture {
  ModulePtr model;
  Tensor images;  // [N,1,28,28]
};

Fixture make(int64_t n) {
  manual_seed(7);
  models::ModelConfig cfg;
  cfg.in_channels = 1;
  cfg.image_size = 28;
  cfg.width = 0.25f;
  Fixture f{models::build_model("smallcnn", cfg), Tensor::empty({n, 1, 28, 28})};
  f.model->eval();
  const Philox rng(3);
  for (int64_t i = 0; i < f.images.numel(); ++i) f.images.f32()[i] = rng.normal(i);
  return f;
}

std::string first_conv(Module& m) {
  for (const auto& [name, mod] : m.named_modules()) {
    if (mod->type_name() == "Conv2d") return name;
  }
  return "";
}

}  // namespace

TEST(Activations, LayerOutputAndChannelScores) {
  Fixture f = make(3);
  const std::string layer = first_conv(*f.model);
  ASSERT_FALSE(layer.empty());
  const Tensor act = layer_output(*f.model, f.images, layer);
  ASSERT_EQ(act.dim(), 4);
  EXPECT_EQ(act.size(0), 3);
  const auto scores = channel_scores(act);
  const int64_t K = act.size(1), P = act.size(2) * act.size(3);
  const std::vector<float> v = act.to_vector();
  double s = 0;
  for (int64_t i = 0; i < P; ++i) s += v[(2 * K + 1) * P + i];
  EXPECT_NEAR(scores[2][1], s / static_cast<double>(P), 1e-5);
  EXPECT_THROW(layer_output(*f.model, f.images, "no.such.layer"), std::invalid_argument);
  EXPECT_TRUE(f.model->named_modules().size() > 1);
}

TEST(Activations, TopActivatingMatchesABruteForceRanking) {
  Fixture f = make(11);
  const std::string layer = first_conv(*f.model);
  const auto all = channel_scores(layer_output(*f.model, f.images, layer));
  const auto batch_of = [&](int64_t b, int64_t e) { return ops::slice(f.images, 0, b, e); };
  const auto tops = top_activating(*f.model, layer, 11, batch_of, 4, /*batch=*/3);
  ASSERT_EQ(tops.size(), all.front().size());
  for (const auto& t : tops) {
    std::vector<std::pair<int64_t, float>> want;
    for (int64_t n = 0; n < 11; ++n) want.emplace_back(n, all[n][t.channel]);
    std::stable_sort(want.begin(), want.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    want.resize(4);
    ASSERT_EQ(t.images.size(), 4u);
    for (size_t j = 0; j < 4; ++j) {
      EXPECT_EQ(t.images[j].first, want[j].first) << "channel " << t.channel;
      EXPECT_NEAR(t.images[j].second, want[j].second, 1e-5);
    }
  }
  EXPECT_THROW(top_activating(*f.model, layer, 0, batch_of, 4), std::invalid_argument);
}

TEST(Activations, MaximisingAClassLogitRaisesItWithinThePixelRange) {
  Fixture f = make(1);
  const data::Normalization norm{{0.3f}, {0.4f}};
  FeatureVisOptions o;
  o.units = {4};
  o.steps = 24;
  o.jitter = 0;  // without regularisers the logit must rise (an untrained model: slowly)
  o.tv_weight = o.l2_weight = o.blur_sigma = 0;
  const auto plain = maximise_activation(*f.model, {1, 28, 28}, norm, o);
  EXPECT_GT(plain[0].objective.back(), plain[0].objective.front() + 0.03f);
  o = FeatureVisOptions();
  o.units = {4};
  o.steps = 24;
  const auto r = maximise_activation(*f.model, {1, 28, 28}, norm, o);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].objective.size(), 24u);
  for (float v : r[0].image.to_vector()) {
    EXPECT_GE(v, (0.0f - 0.3f) / 0.4f - 1e-6f);
    EXPECT_LE(v, (1.0f - 0.3f) / 0.4f + 1e-6f);
  }
  // Deterministic.
  const auto again = maximise_activation(*f.model, {1, 28, 28}, norm, o);
  EXPECT_EQ(again[0].image.to_vector(), r[0].image.to_vector());
  // Out of range units and zero steps are refused.
  o.units = {10};
  EXPECT_THROW(maximise_activation(*f.model, {1, 28, 28}, norm, o), std::invalid_argument);
  o.units = {1};
  o.steps = 0;
  EXPECT_THROW(maximise_activation(*f.model, {1, 28, 28}, norm, o), std::invalid_argument);
}

TEST(Activations, ABatchOfUnitsGivesEachWhatItAloneGets) {
  Fixture f = make(1);
  const data::Normalization norm{{0.5f}, {0.25f}};
  FeatureVisOptions o;
  o.layer = first_conv(*f.model);
  o.units = {2, 0, 3};
  o.steps = 12;
  const auto batch = maximise_activation(*f.model, {1, 28, 28}, norm, o);
  o.units = {2};
  const auto alone = maximise_activation(*f.model, {1, 28, 28}, norm, o);
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch[0].unit, 2);
  EXPECT_EQ(batch[1].unit, 0);
  const std::vector<float> a = batch[0].image.to_vector(), b = alone[0].image.to_vector();
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  EXPECT_LT(worst, 1e-3f);
  EXPECT_NEAR(batch[0].objective.back(), alone[0].objective.back(),
              1e-3f * (1 + std::fabs(alone[0].objective.back())));
}
