// Tests of the model zoo (models/): every registered model builds and maps [N,C,H,W] images to
// [N,num_classes] logits for CIFAR (3x32x32) and Fashion-MNIST (1x28x28) inputs; parameter counts
// match counts derived by hand from the architectures; names follow PyTorch; a backward through
// resnet20 reaches every parameter; blocks are findable and hookable; the registry and the config
// JSON reject bad input; channel overrides (pruned models) rebuild with the right shapes;
// inference fusion (conv+BN[+residual]+ReLU) gives the unfused outputs and steps aside for hooks.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/airbench.h"
#include "models/inception.h"
#include "models/registry.h"
#include "models/resnet.h"
#include "runtime/autograd.h"
#include "runtime/fusion.h"
#include "runtime/layers.h"
#include "runtime/op_table.h"
#include "runtime/ops.h"
#include "runtime/profiler.h"
#include "runtime/rng.h"

using gb::Module;
using gb::Tensor;
using gb::models::build_model;
using gb::models::ModelConfig;

namespace {

// Parameter counts from the architecture, the way one counts them on paper.
int64_t conv(int64_t c, int64_t k, int64_t r, bool bias = false) {
  return c * k * r * r + (bias ? k : 0);
}
int64_t bn(int64_t c) { return 2 * c; }  // weight + bias (running stats are buffers)
int64_t linear(int64_t i, int64_t o) { return i * o + o; }

int64_t resnet_params(int64_t stem, const std::vector<int64_t>& ks, int64_t blocks,
                      int64_t in_channels = 3, int64_t classes = 10) {
  int64_t n = conv(in_channels, stem, 3) + bn(stem);
  int64_t c = stem;
  for (size_t s = 0; s < ks.size(); ++s) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t k = ks[s];
      n += conv(c, k, 3) + bn(k) + conv(k, k, 3) + bn(k);
      if (c != k) n += conv(c, k, 1) + bn(k);  // option-B projection shortcut
      c = k;
    }
  }
  return n + linear(c, classes);
}

int64_t vgg_params(const std::vector<int64_t>& convs) {
  int64_t n = 0, c = 3;
  for (const int64_t k : convs) {
    n += conv(c, k, 3, true) + bn(k);
    c = k;
  }
  return n + linear(c, 10);
}

int64_t inception_params() {
  const auto cbr = [](int64_t c, int64_t k, int64_t r) { return conv(c, k, r, true) + bn(k); };
  const std::vector<std::vector<int64_t>> blocks = {
      {64, 96, 128, 16, 32, 32},     {128, 128, 192, 32, 96, 64},   {192, 96, 208, 16, 48, 64},
      {160, 112, 224, 24, 64, 64},   {128, 128, 256, 24, 64, 64},   {112, 144, 288, 32, 64, 64},
      {256, 160, 320, 32, 128, 128}, {256, 160, 320, 32, 128, 128}, {384, 192, 384, 48, 128, 128}};
  int64_t n = cbr(3, 192, 3), c = 192;
  for (const auto& w : blocks) {
    n += cbr(c, w[0], 1) + cbr(c, w[1], 1) + cbr(w[1], w[2], 3) + cbr(c, w[3], 1) +
         cbr(w[3], w[4], 3) + cbr(w[4], w[4], 3) + cbr(c, w[5], 1);
    c = w[0] + w[2] + w[4] + w[5];
  }
  return n + linear(c, 10);
}

Tensor images(int64_t n, int64_t c, int64_t hw, uint64_t seed = 7) {
  gb::Generator gen(seed, 0);
  return Tensor::randn({n, c, hw, hw}, gen);
}

bool all_finite(const Tensor& t) {
  for (const float v : t.to_vector()) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

std::map<std::string, gb::Shape> param_shapes(const Module& m) {
  std::map<std::string, gb::Shape> out;
  for (const auto& [name, t] : m.named_parameters()) out[name] = t.shape();
  for (const auto& [name, t] : m.named_buffers()) out[name] = t.shape();
  return out;
}

// The default-config models, built once (initialising the 11M-15M parameter nets is most of the
// cost of these tests). Tests that add hooks, train or change a model build their own.
gb::Module& zoo(const std::string& name) {
  static std::map<std::string, gb::ModulePtr> built;
  auto& m = built[name];
  if (!m) {
    gb::manual_seed(1);
    m = build_model(name, {});
  }
  return *m;
}

// Eval-mode forward without recording a graph.
Tensor infer(Module& m, const Tensor& x) {
  gb::NoGradGuard no_grad;
  m.eval();
  return m(x);
}

}  // namespace

TEST(Models, RegistryListsEveryModel) {
  const std::vector<std::string> expected = {"resnet20", "resnet32", "resnet56", "resnet18",
                                             "vgg11",    "vgg16",    "smallcnn", "inception",
                                             "airbench", "vit"};
  EXPECT_EQ(gb::models::model_names(), expected);
  for (const auto& name : expected) {
    EXPECT_TRUE(gb::models::has_model(name));
    EXPECT_FALSE(gb::models::model_description(name).empty());
  }
  EXPECT_FALSE(gb::models::has_model("resnet"));
}

TEST(Models, UnknownNameThrowsWithTheKnownNames) {
  try {
    build_model("resnet99", {});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown model 'resnet99'; known: resnet20, resnet32, resnet56, resnet18, vgg11, "
              "vgg16, smallcnn, inception, airbench, vit");
  }
}

TEST(Models, EveryModelMapsACifarBatchToLogits) {
  for (const auto& name : gb::models::model_names()) {
    SCOPED_TRACE(name);
    const Tensor y = infer(zoo(name), images(2, 3, 32));
    EXPECT_EQ(y.shape(), (gb::Shape{2, 10}));
    EXPECT_TRUE(all_finite(y));
  }
}

TEST(Models, FashionMnistShapedInputs) {
  ModelConfig cfg;
  cfg.in_channels = 1;
  cfg.image_size = 28;
  for (const std::string name : {"smallcnn", "resnet20"}) {
    SCOPED_TRACE(name);
    auto model = build_model(name, cfg);
    const Tensor y = infer(*model, images(2, 1, 28));
    EXPECT_EQ(y.shape(), (gb::Shape{2, 10}));
    EXPECT_TRUE(all_finite(y));
  }
  // Every other model at 28x28 too, slimmed so the heavy ones stay fast. VGG's fifth max-pool
  // would see a 1x1 map at 28x28 (28 -> 14 -> 7 -> 3 -> 1) and is an Identity instead.
  cfg.width = 0.25f;
  cfg.num_classes = 7;
  for (const auto& name : gb::models::model_names()) {
    SCOPED_TRACE(name);
    auto model = build_model(name, cfg);
    const Tensor y = infer(*model, images(2, 1, 28));
    EXPECT_EQ(y.shape(), (gb::Shape{2, 7}));
    EXPECT_TRUE(all_finite(y));
  }
  auto vgg = build_model("vgg16", cfg);
  EXPECT_EQ(vgg->find("features.43")->type_name(), "Identity");
  EXPECT_EQ(vgg->find("features.33")->type_name(), "MaxPool2d");
}

TEST(Models, ParameterCountsMatchTheArchitectures) {
  // Option-B shortcuts add 16*32 + 2*32 + 32*64 + 2*64 = 2,752 parameters to the paper's counts
  // (option A: 269,722 / 464,154 / 853,018).
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"resnet20", resnet_params(16, {16, 32, 64}, 3)},
      {"resnet32", resnet_params(16, {16, 32, 64}, 5)},
      {"resnet56", resnet_params(16, {16, 32, 64}, 9)},
      {"resnet18", resnet_params(64, {64, 128, 256, 512}, 2)},
      {"vgg11", vgg_params({64, 128, 256, 256, 512, 512, 512, 512})},
      {"vgg16", vgg_params({64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512})},
      {"smallcnn", conv(3, 32, 3) + bn(32) + conv(32, 64, 3) + bn(64) + conv(64, 128, 3) + bn(128) +
                       linear(128, 10)},
      {"inception", inception_params()},
      // Whitening stem (24 filters of 3x2x2, with bias), then conv-BN pairs 24->64->64,
      // 64->256->256, 256->256->256 and the bias-free head.
      {"airbench", conv(3, 24, 2) + 24 + conv(24, 64, 3) + bn(64) + conv(64, 64, 3) + bn(64) +
                       conv(64, 256, 3) + bn(256) + conv(256, 256, 3) + bn(256) +
                       conv(256, 256, 3) + bn(256) + conv(256, 256, 3) + bn(256) + 256 * 10},
      // Patch embedding (4x4 conv with bias), position embedding of 65 tokens (the class token's
      // vector is its first row), six blocks of two LayerNorms, qkv, proj and the 128-256-128
      // MLP, the final LayerNorm and the head.
      {"vit", conv(3, 128, 4) + 128 + 65 * 128 +
                  6 * (4 * 128 + linear(128, 384) + linear(128, 128) + linear(128, 256) +
                       linear(256, 128)) +
                  2 * 128 + linear(128, 10)},
  };
  // The same numbers written out, so a slip in the helpers above cannot hide one in the models.
  const std::map<std::string, int64_t> literal = {{"resnet20", 272'474},   {"resnet32", 466'906},
                                                  {"resnet56", 855'770},   {"resnet18", 11'173'962},
                                                  {"vgg11", 9'231'114},    {"vgg16", 14'728'266},
                                                  {"smallcnn", 94'762},    {"inception", 6'166'250},
                                                  {"airbench", 1'972'792}, {"vit", 811'018}};
  ASSERT_EQ(expected.size(), gb::models::model_names().size());
  for (const auto& [name, count] : expected) {
    SCOPED_TRACE(name);
    EXPECT_EQ(count, literal.at(name));
    EXPECT_EQ(zoo(name).parameter_count(), count);
  }
  ModelConfig fmnist;
  fmnist.in_channels = 1;
  EXPECT_EQ(build_model("resnet20", fmnist)->parameter_count(),
            resnet_params(16, {16, 32, 64}, 3, 1));
}

TEST(Models, ResNetNamesFollowPyTorch) {
  Module& model = zoo("resnet20");
  const auto shapes = param_shapes(model);
  const std::map<std::string, gb::Shape> expected = {
      {"conv1.weight", {16, 3, 3, 3}},
      {"bn1.weight", {16}},
      {"layer1.0.conv1.weight", {16, 16, 3, 3}},
      {"layer1.0.bn1.running_var", {16}},
      {"layer2.0.conv1.weight", {32, 16, 3, 3}},
      {"layer2.0.shortcut.0.weight", {32, 16, 1, 1}},
      {"layer2.0.shortcut.1.running_mean", {32}},
      {"layer3.0.shortcut.0.weight", {64, 32, 1, 1}},
      {"layer3.2.bn2.running_mean", {64}},
      {"layer3.2.bn2.num_batches_tracked", {}},
      {"fc.weight", {10, 64}},
      {"fc.bias", {10}},
  };
  for (const auto& [name, shape] : expected) {
    ASSERT_TRUE(shapes.contains(name)) << name;
    EXPECT_EQ(shapes.at(name), shape) << name;
  }
  // Identity shortcuts hold nothing; there is no stage 4; every conv is bias-free.
  for (const auto& [name, shape] : shapes) {
    EXPECT_FALSE(name.starts_with("layer1.0.shortcut")) << name;
    EXPECT_FALSE(name.starts_with("layer4")) << name;
    if (name.find("conv") != std::string::npos) {
      EXPECT_TRUE(name.ends_with(".weight")) << name;
    }
  }
  // 1 stem conv + 18 block convs + 2 shortcut convs + 1 linear.
  int convs = 0;
  for (const auto& [path, m] : model.named_modules()) convs += m->type_name() == "Conv2d";
  EXPECT_EQ(convs, 21);

  const auto s18 = param_shapes(zoo("resnet18"));
  EXPECT_EQ(s18.at("conv1.weight"), (gb::Shape{64, 3, 3, 3}));
  EXPECT_EQ(s18.at("layer4.1.conv2.weight"), (gb::Shape{512, 512, 3, 3}));
  EXPECT_EQ(s18.at("layer4.0.shortcut.0.weight"), (gb::Shape{512, 256, 1, 1}));
  EXPECT_EQ(s18.at("fc.weight"), (gb::Shape{10, 512}));
}

TEST(Models, VggSmallCnnAndInceptionNames) {
  const auto vgg = param_shapes(zoo("vgg16"));
  EXPECT_EQ(vgg.at("features.0.weight"), (gb::Shape{64, 3, 3, 3}));
  EXPECT_EQ(vgg.at("features.0.bias"), (gb::Shape{64}));
  EXPECT_EQ(vgg.at("features.1.running_mean"), (gb::Shape{64}));
  EXPECT_EQ(vgg.at("features.3.weight"), (gb::Shape{64, 64, 3, 3}));   // 2 = ReLU
  EXPECT_EQ(vgg.at("features.7.weight"), (gb::Shape{128, 64, 3, 3}));  // 6 = MaxPool2d
  EXPECT_EQ(vgg.at("features.40.weight"), (gb::Shape{512, 512, 3, 3}));
  EXPECT_EQ(vgg.at("classifier.0.weight"), (gb::Shape{10, 512}));

  const auto small = param_shapes(zoo("smallcnn"));
  EXPECT_EQ(small.at("features.7.weight"), (gb::Shape{128, 64, 3, 3}));
  EXPECT_EQ(small.at("fc.weight"), (gb::Shape{10, 128}));

  Module& inc = zoo("inception");
  const auto shapes = param_shapes(inc);
  EXPECT_EQ(shapes.at("pre_layers.0.weight"), (gb::Shape{192, 3, 3, 3}));
  EXPECT_EQ(shapes.at("a3.b1.0.weight"), (gb::Shape{64, 192, 1, 1}));
  EXPECT_EQ(shapes.at("a3.b3.6.weight"), (gb::Shape{32, 32, 3, 3}));
  EXPECT_EQ(shapes.at("b3.b4.1.weight"), (gb::Shape{64, 256, 1, 1}));
  EXPECT_EQ(shapes.at("a4.b1.0.weight"), (gb::Shape{192, 480, 1, 1}));
  EXPECT_EQ(shapes.at("linear.weight"), (gb::Shape{10, 1024}));
  auto* block = dynamic_cast<gb::models::InceptionBlock*>(inc.find("e4"));
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(block->widths.out(), 832);
}

TEST(Models, FindReturnsTheBlockAndItsHookSeesTheBlockOutput) {
  auto model = build_model("resnet20", {});
  Module* block = model->find("layer3.2");
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(block->type_name(), "BasicBlock");
  EXPECT_EQ(block->path(), "layer3.2");
  EXPECT_NE(dynamic_cast<gb::models::BasicBlock*>(block), nullptr);
  EXPECT_EQ(model->find("layer3.2.conv1")->type_name(), "Conv2d");
  EXPECT_EQ(model->find("layer3.3"), nullptr);

  Tensor seen;
  block->add_forward_hook([&](Module&, const Tensor&, const Tensor& out) {
    seen = out;
    return Tensor();
  });
  const Tensor y = infer(*model, images(2, 3, 32));
  ASSERT_TRUE(seen.defined());
  EXPECT_EQ(seen.shape(), (gb::Shape{2, 64, 8, 8}));
  for (const float v : seen.to_vector()) ASSERT_GE(v, 0.0f);  // after the block's final ReLU
  // The logits are fc(mean over H, W of the last block output).
  const Tensor expect =
      gb::ops::linear(gb::ops::global_avg_pool(seen), model->find("fc")->local_tensor("weight"),
                      model->find("fc")->local_tensor("bias"));
  const auto a = y.to_vector(), b = expect.to_vector();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4f);
}

TEST(Models, BackwardThroughResNet20ReachesEveryParameter) {
  gb::manual_seed(3);
  auto model = build_model("resnet20", {});
  model->train();
  const Tensor logits = (*model)(images(2, 3, 32));
  const Tensor loss = gb::ops::cross_entropy(logits, Tensor::from_labels({3, 8}));
  loss.backward();
  int nonzero = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    const Tensor g = p.grad();
    ASSERT_TRUE(g.defined()) << name;
    EXPECT_EQ(g.shape(), p.shape()) << name;
    EXPECT_TRUE(all_finite(g)) << name;
    for (const float v : g.to_vector()) {
      if (v != 0.0f) {
        ++nonzero;
        break;
      }
    }
  }
  EXPECT_EQ(nonzero, static_cast<int>(model->named_parameters().size()));
  // Training mode updated the BN statistics.
  EXPECT_EQ(model->find("layer3.2.bn2")->local_tensor("num_batches_tracked").i64()[0], 1);
}

TEST(Models, ConfigControlsClassesInputChannelsAndWidth) {
  ModelConfig cfg;
  cfg.num_classes = 100;
  cfg.in_channels = 1;
  cfg.width = 0.5f;
  const auto s = param_shapes(*build_model("resnet20", cfg));
  EXPECT_EQ(s.at("conv1.weight"), (gb::Shape{8, 1, 3, 3}));
  EXPECT_EQ(s.at("layer3.0.shortcut.0.weight"), (gb::Shape{32, 16, 1, 1}));
  EXPECT_EQ(s.at("fc.weight"), (gb::Shape{100, 32}));
  // Widths round to the nearest integer and never below 1.
  cfg.width = 0.01f;
  auto tiny = build_model("resnet20", cfg);
  EXPECT_EQ(param_shapes(*tiny).at("layer3.0.conv1.weight"), (gb::Shape{1, 1, 3, 3}));
  EXPECT_EQ(infer(*tiny, images(1, 1, 28)).shape(), (gb::Shape{1, 100}));
  cfg.width = 0.3f;  // 16 * 0.3 = 4.8 -> 5, 64 * 0.3 = 19.2 -> 19
  const auto s3 = param_shapes(*build_model("resnet20", cfg));
  EXPECT_EQ(s3.at("conv1.weight"), (gb::Shape{5, 1, 3, 3}));
  EXPECT_EQ(s3.at("fc.weight"), (gb::Shape{100, 19}));
}

TEST(Models, InvalidConfigsThrow) {
  const auto expect_throw = [](auto edit) {
    ModelConfig cfg;
    edit(cfg);
    EXPECT_THROW(build_model("smallcnn", cfg), std::invalid_argument);
  };
  expect_throw([](ModelConfig& c) { c.num_classes = 0; });
  expect_throw([](ModelConfig& c) { c.in_channels = 0; });
  expect_throw([](ModelConfig& c) { c.image_size = 0; });
  expect_throw([](ModelConfig& c) { c.width = 0.0f; });
  expect_throw([](ModelConfig& c) { c.width = -1.0f; });
  expect_throw([](ModelConfig& c) { c.width = std::nanf(""); });
  expect_throw([](ModelConfig& c) { c.channels = {{"features.0", 0}}; });
}

TEST(Models, SameSeedSameWeights) {
  gb::manual_seed(11);
  auto a = build_model("resnet20", {});
  gb::manual_seed(11);
  auto b = build_model("resnet20", {});
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].first, pb[i].first);
    EXPECT_EQ(pa[i].second.to_vector(), pb[i].second.to_vector()) << pa[i].first;
  }
}

TEST(Models, ChannelOverridesRebuildPrunedShapes) {
  ModelConfig cfg;
  cfg.channels = {{"layer1.0.conv1", 5}, {"layer3.2.conv1", 7}};
  auto model = build_model("resnet20", cfg);
  const auto s = param_shapes(*model);
  EXPECT_EQ(s.at("layer1.0.conv1.weight"), (gb::Shape{5, 16, 3, 3}));
  EXPECT_EQ(s.at("layer1.0.bn1.running_mean"), (gb::Shape{5}));
  EXPECT_EQ(s.at("layer1.0.conv2.weight"), (gb::Shape{16, 5, 3, 3}));
  EXPECT_EQ(s.at("layer3.2.conv2.weight"), (gb::Shape{64, 7, 3, 3}));
  EXPECT_EQ(infer(*model, images(2, 3, 32)).shape(), (gb::Shape{2, 10}));

  // The residual stream of a stage can shrink as a whole: stem + layer1's conv2s together.
  cfg.channels = {
      {"conv1", 12}, {"layer1.0.conv2", 12}, {"layer1.1.conv2", 12}, {"layer1.2.conv2", 12}};
  auto narrow = build_model("resnet20", cfg);
  EXPECT_EQ(param_shapes(*narrow).at("layer2.0.shortcut.0.weight"), (gb::Shape{32, 12, 1, 1}));
  EXPECT_EQ(infer(*narrow, images(1, 3, 32)).shape(), (gb::Shape{1, 10}));

  // ... but not one block alone, and a shortcut must match its block.
  cfg.channels = {{"layer1.0.conv2", 12}};
  EXPECT_THROW(build_model("resnet20", cfg), std::invalid_argument);
  cfg.channels = {{"layer2.0.shortcut.0", 20}};
  EXPECT_THROW(build_model("resnet20", cfg), std::invalid_argument);
  // A key that names no conv is rejected, not ignored.
  cfg.channels = {{"layer1.0.bn1", 5}};
  EXPECT_THROW(build_model("resnet20", cfg), std::invalid_argument);

  cfg.width = 0.25f;  // overrides are exact; width scales the rest
  cfg.channels = {{"features.0", 10}, {"features.40", 100}};
  const auto v = param_shapes(*build_model("vgg16", cfg));
  EXPECT_EQ(v.at("features.1.weight"), (gb::Shape{10}));
  EXPECT_EQ(v.at("features.3.weight"), (gb::Shape{16, 10, 3, 3}));
  EXPECT_EQ(v.at("features.40.weight"), (gb::Shape{100, 128, 3, 3}));
  EXPECT_EQ(v.at("classifier.0.weight"), (gb::Shape{10, 100}));

  cfg.channels = {{"a3.b3.3", 3}, {"a3.b1.0", 4}};
  auto inc = build_model("inception", cfg);
  const auto si = param_shapes(*inc);
  EXPECT_EQ(si.at("a3.b3.3.weight"), (gb::Shape{3, 4, 3, 3}));
  EXPECT_EQ(si.at("a3.b3.6.weight"), (gb::Shape{8, 3, 3, 3}));
  // b3's input is a3's output: 4 + 32 + 8 + 8 channels.
  EXPECT_EQ(si.at("b3.b1.0.weight"), (gb::Shape{32, 52, 1, 1}));
  EXPECT_EQ(infer(*inc, images(1, 3, 32)).shape(), (gb::Shape{1, 10}));
}

TEST(Models, ConfigJsonRoundTrips) {
  ModelConfig cfg;
  cfg.num_classes = 100;
  cfg.in_channels = 1;
  cfg.image_size = 28;
  cfg.width = 0.5f;
  cfg.channels = {{"layer1.0.conv1", 5}};
  const nlohmann::json j = cfg;
  EXPECT_EQ(j.at("num_classes"), 100);
  EXPECT_EQ(j.at("channels").at("layer1.0.conv1"), 5);
  EXPECT_EQ(nlohmann::json::parse(j.dump()).get<ModelConfig>(), cfg);

  // Missing fields take the defaults; unknown fields and non-objects are rejected.
  EXPECT_EQ(nlohmann::json::parse(R"({"num_classes": 100})").get<ModelConfig>().width, 1.0f);
  EXPECT_EQ(nlohmann::json::object().get<ModelConfig>(), ModelConfig{});
  EXPECT_THROW(nlohmann::json::parse(R"({"num_clases": 100})").get<ModelConfig>(),
               std::invalid_argument);
  EXPECT_THROW(nlohmann::json::parse("[1]").get<ModelConfig>(), std::invalid_argument);
  EXPECT_THROW(nlohmann::json::parse(R"({"width": "wide"})").get<ModelConfig>(),
               std::invalid_argument);

  // Widths are written in their shortest exact form and read back bit-identical.
  cfg.width = 0.3f;
  EXPECT_EQ(nlohmann::json(cfg).at("width").dump(), "0.3");
  EXPECT_EQ(nlohmann::json::parse(nlohmann::json(cfg).dump()).get<ModelConfig>().width, 0.3f);
  cfg.width = 0.5f;

  // A config read back from JSON rebuilds the same parameter shapes.
  const auto rebuilt = build_model("resnet20", j.get<ModelConfig>());
  EXPECT_EQ(param_shapes(*rebuilt), param_shapes(*build_model("resnet20", cfg)));
}

namespace {

// Gives every batch norm of m non-trivial statistics and affine parameters, so a wrong fold shows.
void randomise_batch_norms(Module& m, uint64_t seed) {
  gb::Generator gen(seed, 0);
  for (auto& [name, mod] : m.named_modules()) {
    if (mod->type_name() != "BatchNorm2d") continue;
    for (const char* t : {"weight", "bias", "running_mean", "running_var"}) {
      Tensor v = mod->local_tensor(t);
      Tensor r = Tensor::randn(v.shape(), gen, 0.5f);
      for (int64_t i = 0; i < v.numel(); ++i) {
        float x = r.f32()[i];
        if (std::string(t) == "running_var") x = 0.2f + std::fabs(x);
        if (std::string(t) == "weight") x = 1.0f + x;
        v.f32()[i] = x;
      }
    }
  }
}

// Number of forward profiler rows for BatchNorm2d modules during one inference pass.
int batch_norm_rows(Module& model, const Tensor& x, Tensor* out) {
  gb::profile::reset();
  {
    gb::profile::ProfileScope scope;
    gb::NoGradGuard ng;
    *out = model(x);
  }
  int rows = 0;
  for (const auto& r : gb::profile::rows()) rows += r.op_or_type == "BatchNorm2d" ? 1 : 0;
  gb::profile::reset();
  return rows;
}

}  // namespace

TEST(Fusion, FusedInferenceMatchesTheModulesForEveryModel) {
  for (const auto& name : gb::models::model_names()) {
    SCOPED_TRACE(name);
    gb::manual_seed(3);
    auto model = build_model(name);
    randomise_batch_norms(*model, 11);
    model->eval();
    gb::Generator gen(5, 0);
    const Tensor x = Tensor::randn({1, 3, 32, 32}, gen);
    Tensor fused, plain;
    const int fused_bn_rows = batch_norm_rows(*model, x, &fused);
    gb::nn::set_op_fusion(false);
    const int plain_bn_rows = batch_norm_rows(*model, x, &plain);
    gb::nn::set_op_fusion(true);
    ASSERT_EQ(fused.shape(), plain.shape());
    float max_abs = 0.0f, max_diff = 0.0f;
    for (int64_t i = 0; i < plain.numel(); ++i) {
      max_abs = std::max(max_abs, std::fabs(plain.f32()[i]));
      max_diff = std::max(max_diff, std::fabs(fused.f32()[i] - plain.f32()[i]));
    }
    EXPECT_LE(max_diff, 1e-4f * std::max(1.0f, max_abs)) << "max |logit| " << max_abs;
    if (name == "vit") continue;  // no batch norm: the check above is all there is to fuse
    EXPECT_GT(plain_bn_rows, 0);
    // inception's blocks call their layers by name, unfused; airbench pools between its first
    // conv and BN of each group, so only the second pair of each group can fuse.
    if (name != "inception" && name != "airbench") {
      EXPECT_EQ(fused_bn_rows, 0) << "every conv+BN pair should have run fused";
    }
  }
}

TEST(Fusion, HooksTrainingModeGradModeAndReferenceKernelsTurnItOff) {
  gb::manual_seed(4);
  auto model = build_model("resnet20");
  randomise_batch_norms(*model, 12);
  model->eval();
  gb::Generator gen(6, 0);
  const Tensor x = Tensor::randn({2, 3, 32, 32}, gen);
  Tensor out;
  ASSERT_EQ(batch_norm_rows(*model, x, &out), 0);
  // A hook on one batch norm: its block runs unfused (and the hook sees the layer's output).
  Module* bn = model->find("layer2.1.bn1");
  ASSERT_NE(bn, nullptr);
  int calls = 0;
  const int id = bn->add_forward_hook([&](Module&, const Tensor&, const Tensor&) {
    ++calls;
    return Tensor();
  });
  EXPECT_EQ(batch_norm_rows(*model, x, &out), 2);  // bn1 and bn2 of layer2.1
  EXPECT_EQ(calls, 1);
  bn->remove_hook(id);
  {
    gb::CpuKernelModeGuard ref(gb::CpuKernelMode::Reference);
    EXPECT_GT(batch_norm_rows(*model, x, &out), 0);
  }
  // Grad mode on: the graph must be recorded, so nothing fuses.
  gb::profile::reset();
  {
    gb::profile::ProfileScope scope;
    (*model)(x);
  }
  int rows = 0;
  for (const auto& r : gb::profile::rows()) rows += r.op_or_type == "BatchNorm2d" ? 1 : 0;
  gb::profile::reset();
  EXPECT_GT(rows, 0);
  // The fused op itself refuses inputs that require grad while recording.
  Tensor w = Tensor::randn({4, 3, 3, 3}, gen);
  w.set_requires_grad(true);
  EXPECT_THROW(gb::ops::conv2d_fused(x, w, Tensor(), Tensor(), Tensor(), true, {1, 1, 1}),
               std::invalid_argument);
}

// The airbench stem after init_patch_whitening: its first C*4 output channels, over every 2x2
// patch of the images it was fitted on, have (centred) covariance close to the identity, and
// the weight no longer requires grad (it stays frozen in training).
TEST(Models, AirbenchStemWhitensPatches) {
  gb::data::Dataset ds;
  ds.channels = 3, ds.height = 8, ds.width = 8;
  const int64_t N = 64, HW = 64;
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> pix(0, 255);
  ds.images.resize(static_cast<size_t>(N * 3 * HW));
  // Correlated channels and neighbours, so whitening has work to do.
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < HW; ++p) {
      const int base = pix(rng);
      for (int64_t c = 0; c < 3; ++c)
        ds.images[static_cast<size_t>((n * 3 + c) * HW + p)] =
            static_cast<uint8_t>((base * 3 + pix(rng)) / 4);
    }
  ds.labels.assign(static_cast<size_t>(N), 0);
  ds.classes = {"a"};
  const auto norm = gb::data::Normalization::identity(3);
  gb::models::ModelConfig cfg;
  cfg.image_size = 8;
  auto model = build_model("airbench", cfg);
  gb::models::init_patch_whitening(*model, ds, norm, N, 1e-6);
  const Tensor w = model->find("whiten")->local_tensor("weight");
  EXPECT_FALSE(w.requires_grad());
  std::vector<float> x(ds.images.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = ds.images[i] / 255.0f;
  gb::NoGradGuard ng;
  const Tensor y = gb::ops::conv2d(Tensor::from_vector({N, 3, 8, 8}, x), w, Tensor(), {});
  const int64_t D = 12, P = 49;
  std::vector<double> mean(D, 0.0), cov(D * D, 0.0);
  const float* py = y.f32();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t i = 0; i < D; ++i) mean[i] += py[(n * 24 + i) * P + p] / double(N * P);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t i = 0; i < D; ++i)
        for (int64_t j = 0; j < D; ++j)
          cov[i * D + j] += (py[(n * 24 + i) * P + p] - mean[i]) *
                            (py[(n * 24 + j) * P + p] - mean[j]) / double(N * P);
  for (int64_t i = 0; i < D; ++i)
    for (int64_t j = 0; j < D; ++j) EXPECT_NEAR(cov[i * D + j], i == j ? 1.0 : 0.0, 1e-3);
}
