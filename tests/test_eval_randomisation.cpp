// Tests of the randomisation checks (interp/eval/randomisation): cascading MPRT with the spread
// draw reproduces the old cascading_randomization map for map; independent MPRT restores every
// parameter bit for bit, also when the explanation throws, shares its first step with cascading
// and differs later; the layer order from the op trace follows execution, not registration;
// compare_maps gives 1 for identical maps; random logit is low when the two classes read
// different quadrants. Shape letters: C/H/W image, K classes.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <vector>

#include "interp/eval/randomisation.h"
#include "interp/metrics.h"
#include "interp/registry.h"
#include "models/registry.h"
#include "quadrant_net.h"
#include "runtime/layers.h"
#include "runtime/rng.h"

using gb::Module;
using gb::Tensor;
using namespace gb::interp;
using namespace gb::interp::eval;

namespace {

std::shared_ptr<Module> small_resnet() {
  gb::models::ModelConfig cfg;
  cfg.width = 0.25f;
  gb::manual_seed(3);
  auto m = gb::models::build_model("resnet20", cfg);
  m->eval();
  return m;
}

// The four layers nearest the output and the stem: enough steps, a fast test.
std::vector<std::string> some_layers(Module& m) {
  std::vector<std::string> all = randomization_layers(m);
  std::vector<std::string> out(all.begin(), all.begin() + 4);
  out.push_back("conv1");
  return out;
}

Tensor image(uint64_t seed) {
  gb::Generator gen(seed, 0);
  return Tensor::uniform({1, 3, 32, 32}, gen, -1.0f, 1.0f);
}

std::vector<std::pair<std::string, std::vector<float>>> snapshot(Module& m) {
  std::vector<std::pair<std::string, std::vector<float>>> out;
  for (const auto& [n, t] : m.named_parameters()) out.emplace_back(n, t.to_vector());
  for (const auto& [n, t] : m.named_buffers()) {
    if (t.dtype() == gb::DType::F32) out.emplace_back(n, t.to_vector());
  }
  return out;
}

// Two linear layers registered in the opposite order of their use: forward = b(a(x)).
class Swapped : public Module {
 public:
  Swapped() {
    b_ = register_module("b", std::make_shared<gb::nn::Linear>(4, 2));
    a_ = register_module("a", std::make_shared<gb::nn::Linear>(3, 4));
  }
  Tensor forward(const Tensor& x) override { return (*b_)((*a_)(x)); }
  std::string type_name() const override { return "Swapped"; }

 private:
  std::shared_ptr<gb::nn::Linear> a_, b_;
};

// Logit 0 = mean of the top-left 16x16 quadrant, logit 1 = mean of the bottom-right one.
std::shared_ptr<gb::nn::Sequential> two_quadrant_net() {
  return gb::testing::quadrant_net({1, 0, 0, 0, 0, 0, 0, 1});
}

}  // namespace

TEST(Mprt, CascadingSpreadEqualsTheOldCascadingRandomization) {
  auto model = small_resnet();
  const Tensor x = image(1);
  MethodOptions mo;
  const auto one = [&](Module& m) { return run_method(m, "gradcam", x, 0, mo).map; };
  RandomizationOptions ro;
  ro.seed = 5;
  ro.layers = some_layers(*model);
  const RandomizationReport old = cascading_randomization(*model, one, ro);
  MprtOptions o;
  o.seed = 5;
  o.layers = ro.layers;
  const MprtReport now = mprt(
      *model, [&](Module& m) { return std::vector<Tensor>{one(m)}; }, o);
  ASSERT_EQ(now.steps.size(), old.steps.size());
  for (size_t i = 0; i < old.steps.size(); ++i) {
    EXPECT_EQ(now.steps[i].layer, old.steps[i].layer);
    EXPECT_EQ(now.steps[i].maps[0].to_vector(), old.steps[i].map.to_vector()) << i;
    EXPECT_DOUBLE_EQ(now.steps[i].comparisons[0].spearman, old.steps[i].spearman);
  }
}

TEST(Mprt, IndependentRestoresEverythingAlsoOnThrowAndDiffersFromCascading) {
  auto model = small_resnet();
  const auto before = snapshot(*model);
  const Tensor x = image(2);
  MethodOptions mo;
  const ExplainAll explain = [&](Module& m) {
    return std::vector<Tensor>{run_method(m, "saliency", x, 1, mo).map};
  };
  MprtOptions o;
  o.seed = 7;
  o.layers = some_layers(*model);
  o.reset_bn_stats = true;
  o.mode = MprtMode::Independent;
  const MprtReport ind = mprt(*model, explain, o);
  EXPECT_EQ(snapshot(*model), before);
  o.mode = MprtMode::Cascading;
  const MprtReport cas = mprt(*model, explain, o);
  EXPECT_EQ(snapshot(*model), before);
  ASSERT_EQ(ind.steps.size(), cas.steps.size());
  ASSERT_GE(ind.steps.size(), 3u);
  EXPECT_EQ(ind.steps[0].maps[0].to_vector(), cas.steps[0].maps[0].to_vector());
  // Cascading ends fully random; independent's last step randomises the stem alone.
  EXPECT_NE(ind.steps.back().maps[0].to_vector(), cas.steps.back().maps[0].to_vector());
  EXPECT_EQ(ind.original[0].to_vector(), cas.original[0].to_vector());
  int calls = 0;
  const ExplainAll failing = [&](Module& m) {
    if (++calls == 3) throw std::runtime_error("boom");
    return explain(m);
  };
  for (const MprtMode mode : {MprtMode::Independent, MprtMode::Cascading}) {
    calls = 0;
    o.mode = mode;
    EXPECT_THROW(mprt(*model, failing, o), std::runtime_error);
    EXPECT_EQ(snapshot(*model), before);
  }
  o.layers = {"no.such.layer"};
  EXPECT_THROW(mprt(*model, explain, o), std::invalid_argument);
}

TEST(Mprt, TraceOrderFollowsExecutionNotRegistration) {
  Swapped s;
  const Tensor x = Tensor::from_vector({1, 3}, {1, 2, 3});
  EXPECT_EQ(randomization_layers(s), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(execution_order_layers(s, x), (std::vector<std::string>{"b", "a"}));
  auto model = small_resnet();
  const std::vector<std::string> order = execution_order_layers(*model, image(3));
  ASSERT_FALSE(order.empty());
  EXPECT_EQ(order.size(), randomization_layers(*model).size());
  EXPECT_EQ(order.front(), randomization_layers(*model).front());  // the classifier
  EXPECT_EQ(order.back(), "conv1");                                // the stem runs first
}

TEST(Mprt, BlockGranularityGroupsLayersByBlock) {
  auto model = small_resnet();
  const std::vector<std::string> blocks =
      block_layers(*model, execution_order_layers(*model, image(3)));
  EXPECT_EQ(blocks.front(), "fc");
  EXPECT_EQ(blocks.back(), "conv1");
  EXPECT_NE(std::find(blocks.begin(), blocks.end(), "layer3.2"), blocks.end());
  EXPECT_EQ(std::find(blocks.begin(), blocks.end(), "layer3.2.conv1"), blocks.end());
  EXPECT_LT(blocks.size(), randomization_layers(*model).size());
  // Randomising a block re-draws every parameter under it and restores them all.
  const auto before = snapshot(*model);
  MprtOptions o;
  o.layers = {"layer3.2"};
  std::vector<float> during;
  mprt(
      *model,
      [&](Module& m) {
        during = m.find("layer3.2.conv2")->named_parameters()[0].second.to_vector();
        return std::vector<Tensor>{Tensor::from_vector({8, 8}, std::vector<float>(64, 1.0f))};
      },
      o);
  EXPECT_NE(during, model->find("layer3.2.conv2")->named_parameters()[0].second.to_vector());
  EXPECT_EQ(snapshot(*model), before);
}

TEST(CompareMaps, IdenticalMapsScoreOne) {
  gb::Generator gen(4, 0);
  const Tensor a = Tensor::uniform({32, 32}, gen, -1.0f, 1.0f);
  const MapComparison c = compare_maps(a, a);
  EXPECT_DOUBLE_EQ(c.spearman, 1.0);
  EXPECT_DOUBLE_EQ(c.spearman_abs, 1.0);
  EXPECT_NEAR(c.ssim, 1.0, 1e-12);
  ASSERT_TRUE(c.has_hog);
  EXPECT_NEAR(c.hog, 1.0, 1e-12);
}

TEST(RandomLogit, LowWhenTheOtherClassReadsAnotherQuadrant) {
  auto net = two_quadrant_net();
  gb::Generator gen(5, 0);
  const Tensor x = Tensor::uniform({1, 3, 32, 32}, gen, 0.2f, 1.0f);
  MethodOptions mo;
  const auto explain = [&](const Tensor& in, int64_t t) {
    return run_method(*net, "inputxgrad", in, t, mo).map;
  };
  const Tensor map = explain(x, 0);
  const RandomLogitResult r = random_logit(explain, x, map, 0, 2, 1, 2);
  EXPECT_EQ(r.other_class, 1);
  EXPECT_LT(r.ssim, 0.3);
  // Same class: identical maps, SSIM 1.
  const RandomLogitResult same =
      random_logit([&](const Tensor& in, int64_t) { return explain(in, 0); }, x, map, 0, 2, 1, 2);
  EXPECT_NEAR(same.ssim, 1.0, 1e-9);
  EXPECT_THROW(random_logit(explain, x, map, 0, 1, 1, 2), std::invalid_argument);
}
