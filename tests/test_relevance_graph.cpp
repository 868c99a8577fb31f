// The relevance graph (interp/relevance/relevance_graph.h): batch-norm folding equals a model
// folded by hand, op families and activation inputs on resnet20 and inception traces, first-layer
// detection, and the refusal of an op without a rule naming op and module (vit's layer_norm).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "interp/relevance/relevance_graph.h"
#include "interp/relevance/replay.h"
#include "models/registry.h"
#include "runtime/layers.h"
#include "runtime/rng.h"

using namespace gb;
using namespace gb::interp::relevance;

TEST(RelevanceGraph, BatchNormFoldingEqualsAHandFoldedModel) {
  manual_seed(2);
  auto net = std::make_shared<nn::Sequential>();
  auto conv = std::make_shared<nn::Conv2d>(3, 4, 3, 1, 1, 1, false);
  auto bn = std::make_shared<nn::BatchNorm2d>(4);
  net->push_back(conv);
  net->push_back(bn);
  const std::vector<float> gamma = {0.5f, 1.5f, -0.7f, 1.0f}, beta = {0.1f, -0.2f, 0.3f, 0.0f};
  const std::vector<float> mean = {0.2f, -0.1f, 0.4f, 0.0f}, var = {0.5f, 2.0f, 1.2f, 0.9f};
  for (auto& [n, p] : net->named_parameters()) {
    if (n == "1.weight") p.copy_(Tensor::from_vector({4}, gamma));
    if (n == "1.bias") p.copy_(Tensor::from_vector({4}, beta));
  }
  for (auto& [n, b] : net->named_buffers()) {
    if (n == "1.running_mean") b.copy_(Tensor::from_vector({4}, mean));
    if (n == "1.running_var") b.copy_(Tensor::from_vector({4}, var));
  }
  // by hand: w' = w * s, b' = (0 - mean) * s + beta, s = gamma / sqrt(var + 1e-5)
  auto folded = std::make_shared<nn::Conv2d>(3, 4, 3, 1, 1, 1, true);
  std::vector<float> w;
  for (auto& [n, p] : net->named_parameters()) {
    if (n == "0.weight") w = p.to_vector();
  }
  std::vector<float> b(4);
  for (size_t k = 0; k < 4; ++k) {
    const float s = gamma[k] / std::sqrt(var[k] + 1e-5f);
    for (size_t i = 0; i < 27; ++i) w[k * 27 + i] *= s;
    b[k] = -mean[k] * s + beta[k];
  }
  for (auto& [n, p] : folded->named_parameters()) {
    p.copy_(n == "weight" ? Tensor::from_vector({4, 3, 3, 3}, w) : Tensor::from_vector({4}, b));
  }
  Generator gen(3);
  const Tensor x = Tensor::randn({2, 3, 6, 6}, gen);
  const RelevanceGraph g = build_relevance_graph(*net, x);
  ASSERT_EQ(g.ops.size(), 1u);
  EXPECT_EQ(g.ops[0].folded_bn, "1");
  EXPECT_TRUE(g.ops[0].first_layer);
  EXPECT_TRUE(g.ops[0].output.same(g.logits));
  folded->eval();
  const Tensor want = (*folded)(x);
  const Tensor got = replay(traced(g, g.ops[0]), {x, g.ops[0].weight, g.ops[0].bias});
  const auto a = got.to_vector(), c = want.to_vector(), y = g.logits.to_vector();
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_NEAR(a[i], c[i], 1e-5);
    ASSERT_NEAR(a[i], y[i], 1e-5);  // and the unfolded model's output
  }
}

namespace {
RelevanceGraph zoo_graph(const std::string& name) {
  manual_seed(0);
  models::ModelConfig cfg;
  cfg.width = 0.25f;
  auto m = models::build_model(name, cfg);
  Generator gen(1);
  return build_relevance_graph(*m, Tensor::randn({1, 3, 32, 32}, gen));
}
size_t count(const RelevanceGraph& g, OpId id) {
  return static_cast<size_t>(
      std::count_if(g.ops.begin(), g.ops.end(), [&](const GraphOp& o) { return o.op == id; }));
}
}  // namespace

TEST(RelevanceGraph, Resnet20FoldsEveryBatchNormAndSplitsResidualAdds) {
  const RelevanceGraph g = zoo_graph("resnet20");
  EXPECT_EQ(count(g, OpId::Conv2d), 21u);
  EXPECT_EQ(count(g, OpId::BatchNorm2d), 0u);  // all folded
  EXPECT_EQ(std::count_if(g.ops.begin(), g.ops.end(),
                          [](const GraphOp& o) { return !o.folded_bn.empty(); }),
            21);
  EXPECT_EQ(
      std::count_if(g.ops.begin(), g.ops.end(), [](const GraphOp& o) { return o.first_layer; }), 1);
  for (const auto& o : g.ops) {
    if (o.op == OpId::Add) {
      EXPECT_EQ(o.act_inputs.size(), 2u) << o.module;
    }
  }
  EXPECT_EQ(count(g, OpId::Add), 9u);
}

TEST(RelevanceGraph, InceptionConcatReadsFourBranches) {
  const RelevanceGraph g = zoo_graph("inception");
  size_t concats = 0;
  for (const auto& o : g.ops) {
    if (o.op != OpId::Concat) continue;
    ++concats;
    EXPECT_EQ(o.act_inputs.size(), 4u) << o.module;
    EXPECT_EQ(o.family, OpFamily::Map);
  }
  EXPECT_GT(concats, 0u);
}

TEST(RelevanceGraph, UnsupportedOpNamesOpAndModule) {
  manual_seed(1);
  models::ModelConfig cfg;
  cfg.width = 0.25f;
  auto vit = models::build_model("vit", cfg);
  Generator gen(1);
  GraphOptions o;
  o.method = "deeplift";
  try {
    build_relevance_graph(*vit, Tensor::randn({1, 3, 32, 32}, gen), o);
    FAIL() << "vit accepted";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("deeplift: op 'layer_norm' in module '", 0), 0u) << msg;
  }
}

TEST(RelevanceGraph, FinalSoftmaxIsSkippedAndALoneBatchNormPasses) {
  manual_seed(5);
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::BatchNorm2d>(3));  // reads x: nothing to fold into
  net->push_back(std::make_shared<nn::Conv2d>(3, 2, 3, 1, 1, 1, true));
  net->push_back(std::make_shared<nn::GlobalAvgPool>());
  net->push_back(std::make_shared<nn::Softmax>());
  Generator gen(4);
  const RelevanceGraph g = build_relevance_graph(*net, Tensor::randn({1, 3, 4, 4}, gen));
  ASSERT_EQ(g.ops.size(), 3u);  // batch norm, conv, pool: the softmax is gone
  EXPECT_EQ(g.ops[0].op, OpId::BatchNorm2d);
  EXPECT_EQ(g.ops[0].family, OpFamily::Pass);
  EXPECT_TRUE(g.ops[1].folded_bn.empty());
  EXPECT_FALSE(g.ops[1].first_layer);  // it reads the batch norm's output, not x
  EXPECT_TRUE(g.output.same(g.ops[2].output));
  ASSERT_EQ(g.notes.size(), 2u);
  EXPECT_NE(g.notes[0].find("softmax"), std::string::npos) << g.notes[0];
  EXPECT_NE(g.notes[1].find("batch norm '0'"), std::string::npos) << g.notes[1];
}
