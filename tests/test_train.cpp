// Training jobs end to end on small subsets: bit-identical determinism from a seed, resume that
// ends with the same weights as an uninterrupted run, evaluation, the training losses
// (distillation value and gradient, the BN-L1 subgradient), and bad input that fails with a clear
// message and leaves existing files untouched.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "data/dataset.h"
#include "models/registry.h"
#include "models/training/checkpoint_meta.h"
#include "models/training/datasets.h"
#include "models/training/evaluate.h"
#include "models/training/losses.h"
#include "models/training/trainer.h"
#include "runtime/checkpoint.h"
#include "runtime/layers.h"
#include "runtime/rng.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace gb;

namespace {
using gb::testing::have_fashion_mnist;
fs::path temp_dir(const std::string& name) { return gb::testing::temp_dir("train", name); }

training::TrainConfig tiny_config() {
  training::TrainConfig c;
  c.model = "smallcnn";
  c.width = 0.25f;
  c.epochs = 2;
  c.batch_size = 32;
  c.lr = 0.05f;
  c.limit_train = 128;
  c.limit_test = 64;
  c.seed = 7;
  c.eval_each_epoch = false;
  return c;
}

// All tensors of two checkpoints are byte-identical (metadata aside).
void expect_same_tensors(const fs::path& a, const fs::path& b) {
  auto fa = read_safetensors(a), fb = read_safetensors(b);
  ASSERT_EQ(fa.entries.size(), fb.entries.size());
  for (size_t i = 0; i < fa.entries.size(); ++i) {
    EXPECT_EQ(fa.entries[i].name, fb.entries[i].name);
    EXPECT_TRUE(fa.entries[i].bytes == fb.entries[i].bytes) << fa.entries[i].name;
  }
}

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
}  // namespace

TEST(Train, SameSeedGivesBitIdenticalCheckpoints) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  auto dir = temp_dir("determinism");
  training::TrainOptions o;
  o.quiet = true;
  o.out = dir / "a.safetensors";
  training::train(tiny_config(), o);
  o.out = dir / "b.safetensors";
  training::train(tiny_config(), o);
  expect_same_tensors(dir / "a.safetensors", dir / "b.safetensors");

  auto other = tiny_config();
  other.seed = 8;
  o.out = dir / "c.safetensors";
  training::train(other, o);
  auto fa = read_safetensors(dir / "a.safetensors"), fc = read_safetensors(dir / "c.safetensors");
  EXPECT_FALSE(fa.find("fc.weight")->bytes == fc.find("fc.weight")->bytes);
}

TEST(Train, ResumeEndsWithTheSameWeightsAsAnUninterruptedRun) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  auto dir = temp_dir("resume");
  training::TrainOptions o;
  o.quiet = true;
  o.out = dir / "full.safetensors";
  auto full = training::train(tiny_config(), o);
  ASSERT_EQ(full.epochs.size(), 2u);

  o.out = dir / "part.safetensors";
  o.stop_after_epoch = 1;
  auto part = training::train(tiny_config(), o);
  ASSERT_EQ(part.epochs.size(), 1u);

  training::TrainOptions r;
  r.quiet = true;
  r.resume = dir / "part.safetensors";
  r.out = dir / "resumed.safetensors";
  auto resumed =
      training::train(training::TrainConfig{}, r);  // configuration comes from the checkpoint
  ASSERT_EQ(resumed.epochs.size(), 1u);
  EXPECT_EQ(resumed.epochs[0].epoch, 2);
  expect_same_tensors(dir / "full.safetensors", dir / "resumed.safetensors");
}

TEST(Train, EvaluateReportsAccuracyAndConfusion) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  auto dir = temp_dir("eval");
  training::TrainOptions o;
  o.quiet = true;
  o.out = dir / "m.safetensors";
  training::train(tiny_config(), o);
  auto lm = training::load_model(o.out);
  EXPECT_EQ(lm.meta.model_name, "smallcnn");
  EXPECT_EQ(lm.meta.classes.size(), 10u);
  auto ds = training::load_split("", data::Split::Test, 50);
  auto r = training::evaluate(*lm.model, ds, lm.meta.norm, 16, true);
  EXPECT_EQ(r.samples, 50);
  int64_t total = 0;
  for (auto& row : r.confusion) {
    for (auto v : row) total += v;
  }
  EXPECT_EQ(total, 50);
  EXPECT_GE(r.accuracy, 0.0);
  EXPECT_LE(r.accuracy, 1.0);
  EXPECT_NE(training::format_eval_report(r).find("confusion matrix"), std::string::npos);
}

// The distillation loss against its formula in double, and its gradient against central
// differences.
TEST(TrainLosses, DistillationValueAndGradient) {
  Generator gen(2, 0);
  Tensor s = Tensor::randn({3, 5}, gen);
  Tensor t = Tensor::randn({3, 5}, gen, 2.0f);
  Tensor y = Tensor::from_labels({0, 3, 4});
  const float T = 3.0f, alpha = 0.7f;
  const auto value = [&](const std::vector<float>& sv) {
    // alpha T^2 mean_n KL(p_t || q_s) + (1 - alpha) mean_n CE, in double.
    const auto tv = t.to_vector();
    double kl = 0, ce = 0;
    for (int n = 0; n < 3; ++n) {
      double zt = 0, zs = 0, z1 = 0;
      for (int k = 0; k < 5; ++k) {
        zt += std::exp(tv[n * 5 + k] / T);
        zs += std::exp(sv[n * 5 + k] / T);
        z1 += std::exp(sv[n * 5 + k]);
      }
      for (int k = 0; k < 5; ++k) {
        const double p = std::exp(tv[n * 5 + k] / T) / zt;
        const double q = std::exp(sv[n * 5 + k] / T) / zs;
        kl += p * std::log(p / q);
      }
      const int64_t label = y.i64()[n];
      ce -= sv[static_cast<size_t>(n * 5 + label)] - std::log(z1);
    }
    return alpha * T * T * kl / 3.0 + (1 - alpha) * ce / 3.0;
  };
  Tensor leaf = s.clone().set_requires_grad(true);
  Tensor loss = training::distillation_loss(leaf, t, y, T, alpha);
  EXPECT_NEAR(loss.item(), value(s.to_vector()), 1e-5);
  loss.backward();
  const auto g = leaf.grad().to_vector();
  const auto sv = s.to_vector();
  for (size_t i = 0; i < sv.size(); ++i) {
    auto plus = sv, minus = sv;
    const float h = 1e-2f;
    plus[i] += h;
    minus[i] -= h;
    const double num = (value(plus) - value(minus)) / (2.0 * h);
    EXPECT_NEAR(g[i], num, 1e-3 + 1e-2 * std::abs(num)) << i;
  }
  // Student equal to the teacher: the KL term vanishes.
  EXPECT_NEAR(training::distillation_loss(t, t, y, T, 1.0f).item(), 0.0, 1e-6);
  EXPECT_THROW(training::distillation_loss(s, t, y, 0.0f, 0.5f), std::invalid_argument);
  EXPECT_THROW(training::distillation_loss(s, t, y, 2.0f, 1.5f), std::invalid_argument);
}

// Network slimming adds lambda * sign(gamma) to every BN scale's gradient.
TEST(TrainLosses, BnL1AddsSignOfGamma) {
  manual_seed(0);
  nn::BatchNorm2d bn(3);
  Tensor gamma = bn.local_tensor("weight");
  gamma.copy_(Tensor::from_vector({3}, {0.5f, -0.25f, 0.0f}));
  gamma.set_grad(Tensor::from_vector({3}, {1.0f, 1.0f, 1.0f}));
  training::add_bn_l1_subgradient(bn, 0.1f);
  const auto g = gamma.grad().to_vector();
  EXPECT_FLOAT_EQ(g[0], 1.1f);
  EXPECT_FLOAT_EQ(g[1], 0.9f);
  EXPECT_FLOAT_EQ(g[2], 1.0f);
}

TEST(TrainBadInput, MissingDataNamesThePath) {
  auto dir = temp_dir("missing");
  auto c = tiny_config();
  c.data = (dir / "no_such_data.tar.gz").string();
  training::TrainOptions o;
  o.quiet = true;
  o.out = dir / "x.safetensors";
  try {
    training::train(c, o);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_data.tar.gz"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(o.out));
}

TEST(TrainBadInput, ExistingOutputIsNotOverwrittenWithoutConsent) {
  auto dir = temp_dir("exists");
  fs::path out = dir / "keep.safetensors";
  std::ofstream(out) << "precious";
  training::TrainOptions o;
  o.quiet = true;
  o.out = out;
  try {
    training::train(tiny_config(), o);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_all(out), "precious");
}

TEST(TrainBadInput, NanLossStopsWithoutWritingACheckpoint) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  auto dir = temp_dir("nan");
  auto c = tiny_config();
  c.lr = 1e30f;
  c.schedule = "constant";
  c.optimizer = "sgd";
  training::TrainOptions o;
  o.quiet = true;
  o.out = dir / "nan.safetensors";
  try {
    training::train(c, o);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("loss became"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(o.out));
}

TEST(TrainBadInput, CorruptAndForeignCheckpointsNameTheFile) {
  auto dir = temp_dir("ck");
  fs::path bad = dir / "truncated.safetensors";
  std::ofstream(bad) << "abc";
  try {
    training::load_model(bad);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("truncated.safetensors"), std::string::npos) << e.what();
  }
  // A resnet20 state loaded into a smallcnn: names the file and the mismatching tensor.
  models::ModelConfig mc;
  auto resnet = models::build_model("resnet20", mc);
  fs::path foreign = dir / "resnet20.safetensors";
  save_checkpoint(foreign, *resnet, nullptr, {});
  auto small = models::build_model("smallcnn", mc);
  auto file = read_checkpoint(foreign);
  const auto before = small->named_parameters()[0].second.to_vector();
  try {
    load_model_state(file, *small, foreign);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("resnet20.safetensors"), std::string::npos) << e.what();
  }
  EXPECT_EQ(small->named_parameters()[0].second.to_vector(), before);  // untouched
}

TEST(TrainBadInput, UnknownModelListsTheZoo) {
  try {
    models::build_model("resnet21", models::ModelConfig{});
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("resnet20"), std::string::npos) << e.what();
  }
}
