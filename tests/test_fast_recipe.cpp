// The parts of the fast recipe (airbench94's) beyond the model: per-parameter learning-rate and
// weight-decay scales in the optimizers (PyTorch's parameter groups), the batch-norm and
// whitening-stem groups and freezes (models/training/param_groups.h), lookahead weights
// (lookahead.h) and test-time augmentation level 2 (evaluate.h), each against values computed
// here; and `train --recipe fast` end to end on a Fashion-MNIST subset.
// Shape letters: N batch, C channels, H/W image size, K classes.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "models/registry.h"
#include "models/training/evaluate.h"
#include "models/training/lookahead.h"
#include "models/training/param_groups.h"
#include "runtime/layers.h"
#include "runtime/optim.h"
#include "runtime/rng.h"
#include "tests/test_util.h"

namespace gb {
namespace {

Tensor leaf(const std::vector<float>& v) {
  Tensor t = Tensor::from_vector({static_cast<int64_t>(v.size())}, v);
  t.set_requires_grad(true);
  return t;
}

TEST(FastRecipe, ParameterScalesMultiplyTheLearningRateAndWeightDecay) {
  Tensor a = leaf({1.0f, -2.0f}), b = leaf({1.0f, -2.0f});
  optim::SGD sgd({{"a", a}, {"b", b}}, {0.1f, 0.0f, 0.0f, 0.01f, false});
  sgd.set_scale(1, {64.0f, 1.0f / 64.0f});
  for (Tensor* p : {&a, &b}) p->set_grad(Tensor::from_vector({2}, {0.5f, 0.25f}));
  sgd.step();
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  EXPECT_FLOAT_EQ(va[0], 1.0f - 0.1f * (0.5f + 0.01f * 1.0f));
  EXPECT_FLOAT_EQ(vb[0], 1.0f - 6.4f * (0.5f + 0.01f / 64.0f * 1.0f));
  EXPECT_FLOAT_EQ(vb[1], -2.0f - 6.4f * (0.25f - 0.01f / 64.0f * 2.0f));
}

TEST(FastRecipe, BatchNormAndWhiteningGroups) {
  models::ModelConfig mc;
  mc.num_classes = 10;
  manual_seed(3);
  auto model = models::build_model("airbench", mc);
  optim::SGD sgd(model->named_parameters(), {0.1f, 0.9f, 0.0f, 5e-4f, true});
  training::TrainConfig cfg;
  cfg.bn_bias_lr_scale = 64.0f;
  cfg.freeze_bn_weight = true;
  cfg.whiten_bias_epochs = 3;
  training::apply_param_groups(cfg, *model, sgd);
  int bn_biases = 0;
  for (size_t i = 0; i < sgd.params().size(); ++i) {
    const auto& [name, p] = sgd.params()[i];
    const bool bn = name.rfind("block", 0) == 0 && (name.find(".2.") != std::string::npos ||
                                                    name.find(".5.") != std::string::npos);
    if (bn && name.ends_with(".bias")) {
      ++bn_biases;
      EXPECT_EQ(sgd.scale(i).lr, 64.0f) << name;
      EXPECT_EQ(sgd.scale(i).weight_decay, 1.0f / 64.0f) << name;
    } else {
      EXPECT_EQ(sgd.scale(i).lr, 1.0f) << name;
    }
    EXPECT_EQ(p.requires_grad(), !(bn && name.ends_with(".weight")) && name != "whiten.weight")
        << name;
  }
  EXPECT_EQ(bn_biases, 6);
  Tensor whiten_bias = model->find("whiten")->local_tensor("bias");
  training::apply_epoch_freezes(cfg, *model, 2);
  EXPECT_TRUE(whiten_bias.requires_grad());
  training::apply_epoch_freezes(cfg, *model, 3);
  EXPECT_FALSE(whiten_bias.requires_grad());

  auto small = models::build_model("smallcnn", mc);
  optim::SGD other(small->named_parameters(), {0.1f});
  EXPECT_THROW(training::apply_param_groups(cfg, *small, other), std::invalid_argument);
}

TEST(FastRecipe, LookaheadPullsTheModelToTheSlowCopy) {
  auto model = std::make_shared<nn::Linear>(2, 1, true);
  Tensor w = model->local_tensor("weight");
  w.copy_(Tensor::from_vector({1, 2}, {1.0f, 2.0f}));
  training::Lookahead la(*model);
  w.copy_(Tensor::from_vector({1, 2}, {3.0f, 6.0f}));
  la.update(*model, 0.25f);  // slow = 0.25 * old + 0.75 * new
  EXPECT_FLOAT_EQ(w.to_vector()[0], 2.5f);
  EXPECT_FLOAT_EQ(w.to_vector()[1], 5.0f);
  w.copy_(Tensor::from_vector({1, 2}, {0.0f, 0.0f}));
  la.update(*model, 1.0f);  // the end of the run: the model takes the slow copy
  EXPECT_FLOAT_EQ(w.to_vector()[0], 2.5f);
  EXPECT_FLOAT_EQ(training::Lookahead::decay_at(50, 100),
                  static_cast<float>(std::pow(0.95, 5) * 0.125));
  EXPECT_EQ(training::Lookahead::decay_at(0, 100), 0.0f);
  EXPECT_TRUE(training::Lookahead::due(10));
  EXPECT_FALSE(training::Lookahead::due(7));
}

// Level-2 test-time augmentation: the loss evaluate() reports equals the cross-entropy of the
// logits computed here from the flips and the reflected one-pixel translates.
TEST(FastRecipe, TestTimeAugmentationLevelTwo) {
  const int H = 3, W = 4, K = 2;
  data::Dataset ds;
  ds.source = "pixels";
  ds.channels = 1;
  ds.height = H;
  ds.width = W;
  ds.classes = {"a", "b"};
  Generator gen(5, 0);
  for (int i = 0; i < 3; ++i) {
    for (int p = 0; p < H * W; ++p) ds.images.push_back(static_cast<uint8_t>(gen.uniform() * 255));
    ds.labels.push_back(i % 2);
  }
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Flatten>());
  auto fc = std::make_shared<nn::Linear>(H * W, K, true);
  net->push_back(fc);
  const std::vector<float> wv = Tensor::randn({K, H * W}, gen).to_vector();
  fc->local_tensor("weight").copy_(Tensor::from_vector({K, H * W}, wv));
  fc->local_tensor("bias").copy_(Tensor::from_vector({K}, {0.1f, -0.2f}));
  auto logits_of = [&](const std::vector<double>& img, int k) {
    double s = k == 0 ? 0.1 : -0.2;
    for (int p = 0; p < H * W; ++p) s += wv[static_cast<size_t>(k * H * W + p)] * img[p];
    return s;
  };
  auto reflect = [](int i, int n) { return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i); };
  double want_loss = 0;
  for (size_t n = 0; n < ds.size(); ++n) {
    auto pixel = [&](int y, int x) { return ds.image(n)[y * W + x] / 255.0; };
    auto view = [&](int d, bool mirror) {
      std::vector<double> img(static_cast<size_t>(H * W));
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
          const int xs = mirror ? W - 1 - x : x;
          img[static_cast<size_t>(y * W + x)] = pixel(reflect(y - d, H), reflect(xs - d, W));
        }
      return img;
    };
    double logit[K];
    for (int k = 0; k < K; ++k) {
      auto mean_mirror = [&](int d) {
        return 0.5 * (logits_of(view(d, false), k) + logits_of(view(d, true), k));
      };
      logit[k] = 0.5 * mean_mirror(0) + 0.25 * (mean_mirror(1) + mean_mirror(-1));
    }
    const double m = std::max(logit[0], logit[1]);
    const double lse = m + std::log(std::exp(logit[0] - m) + std::exp(logit[1] - m));
    want_loss += lse - logit[ds.labels[n]];
  }
  want_loss /= static_cast<double>(ds.size());
  const auto r = training::evaluate(*net, ds, data::Normalization{}, 2, true, "eval", 2);
  EXPECT_NEAR(r.loss, want_loss, 1e-5);
  const auto r1 = training::evaluate(*net, ds, data::Normalization{}, 2, true, "eval", 1);
  EXPECT_GT(std::fabs(r1.loss - r.loss), 1e-6);  // the translates count
  EXPECT_THROW(training::evaluate(*net, ds, data::Normalization{}, 2, true, "eval", 3),
               std::invalid_argument);
}

TEST(FastRecipe, TrainsEndToEndAndRecordsItsSettings) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  const auto dir = testing::temp_dir("fast_recipe", "train");
  const std::string out = (dir / "fast.safetensors").string();
  const std::string json = (dir / "fast.json").string();
  const auto r = testing::run_glassbox(
      "train --recipe fast --epochs 4 --batch-size 64 --limit-train 256 --limit-test 64 "
      "--threads 2 --quiet --out " +
      out + " --json " + json);
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream in(json);
  const nlohmann::json j = nlohmann::json::parse(in);
  const nlohmann::json& c = j.at("train_config");
  EXPECT_EQ(c.at("tta_level"), 2);
  EXPECT_EQ(c.at("bn_bias_lr_scale"), 64.0);
  EXPECT_EQ(c.at("freeze_bn_weight"), true);
  EXPECT_EQ(c.at("whiten_bias_epochs"), 3);
  EXPECT_EQ(c.at("lookahead"), true);
  EXPECT_EQ(j.at("epochs").size(), 4u);
  const auto resumed = testing::run_glassbox("train --resume " + out +
                                             " --epochs 5 --threads 2 "
                                             "--quiet --out " +
                                             (dir / "more.safetensors").string());
  EXPECT_NE(resumed.status, 0);
  EXPECT_NE(resumed.output.find("cannot be resumed yet"), std::string::npos) << resumed.output;

  // Options given with the recipe override it, the negated flags included.
  const std::string json2 = (dir / "plain.json").string();
  const auto plain = testing::run_glassbox(
      "train --recipe fast --no-lookahead --no-freeze-bn-weight --tta-level 0 --epochs 1 "
      "--batch-size 64 --limit-train 128 --limit-test 32 --threads 2 --quiet --out " +
      (dir / "plain.safetensors").string() + " --json " + json2);
  ASSERT_EQ(plain.status, 0) << plain.output;
  std::ifstream in2(json2);
  const nlohmann::json c2 = nlohmann::json::parse(in2).at("train_config");
  EXPECT_EQ(c2.at("lookahead"), false);
  EXPECT_EQ(c2.at("freeze_bn_weight"), false);
  EXPECT_EQ(c2.at("tta_level"), 0);
  EXPECT_EQ(c2.at("bn_bias_lr_scale"), 64.0);  // not given: the recipe's
}

}  // namespace
}  // namespace gb
