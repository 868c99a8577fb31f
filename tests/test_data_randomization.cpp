// The data-randomisation test (interp/explain/data_randomization.h) on Fashion-MNIST with a
// small CNN: the random-label copy memorises permuted labels, its maps are compared with the real
// model's, bad options and an existing output are refused before training, an under-fitted copy
// is not compared unless asked, and the same seed gives the same result.
// Shape letters: H/W image size.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "interp/explain/data_randomization.h"
#include "models/training/trainer.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace gb;
using gb::testing::have_fashion_mnist;
using gb::testing::temp_dir;

namespace {

// A smallcnn trained 2 epochs on 256 Fashion-MNIST images, once for the suite.
class DataRandomization : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_fashion_mnist()) return;
    dir_ = temp_dir("data_randomization", "suite");
    checkpoint_ = dir_ / "fm.safetensors";
    training::TrainConfig c;
    c.model = "smallcnn";
    c.width = 0.25f;
    c.epochs = 2;
    c.batch_size = 32;
    c.lr = 0.05f;
    c.limit_train = 256;
    c.limit_test = 16;
    c.eval_each_epoch = false;
    training::TrainOptions o;
    o.out = checkpoint_;
    o.quiet = true;
    training::train(c, o);
  }
  void SetUp() override {
    if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  }

  static interp::DataRandomizationConfig config() {
    interp::DataRandomizationConfig c;
    c.checkpoint = checkpoint_;
    c.methods = {"gradcam,saliency"};
    c.count = 4;
    c.train_images = 64;
    c.max_epochs = 120;
    c.epochs_per_round = 20;
    c.min_accuracy = 0.9;
    c.batch_size = 32;
    c.lr = 0.05f;
    c.seed = 5;
    c.quiet = true;
    return c;
  }

  static fs::path dir_, checkpoint_;
};
fs::path DataRandomization::dir_, DataRandomization::checkpoint_;

}  // namespace

TEST_F(DataRandomization, MemorisesPermutedLabelsAndComparesEveryMethod) {
  interp::DataRandomizationConfig c = config();
  c.save_model = dir_ / "random_labels.safetensors";
  const interp::DataRandomizationResult r = interp::data_randomization(c);
  EXPECT_TRUE(r.memorised) << r.memorisation_accuracy;
  EXPECT_GE(r.memorisation_accuracy, 0.9);
  EXPECT_LE(r.epochs, 120.0);
  EXPECT_EQ(r.train_images, 64);
  EXPECT_EQ(r.test_images, 4);
  ASSERT_EQ(r.methods.size(), 2u);
  EXPECT_EQ(r.methods[0].method, "gradcam");
  EXPECT_EQ(r.methods[1].method, "saliency");
  for (const auto& m : r.methods) {
    EXPECT_EQ(m.spearman.n, 4);
    EXPECT_EQ(m.per_image_spearman_abs.size(), 4u);
    for (const auto* s : {&m.spearman, &m.spearman_abs, &m.ssim, &m.hog}) {
      EXPECT_GE(s->mean, -1.0);
      EXPECT_LE(s->mean, 1.0);
    }
    // Two different networks: their maps are not the same map.
    EXPECT_LT(m.spearman_abs.mean, 0.999) << m.method;
  }
  EXPECT_TRUE(fs::exists(c.save_model));
  const nlohmann::json j = interp::data_randomization_to_json(r, c);
  EXPECT_EQ(j["parameters"]["train_images"], 64);
  EXPECT_TRUE(j["methods"].contains("gradcam"));
  EXPECT_NE(interp::format_data_randomization(r).find("Spearman"), std::string::npos);
}

TEST_F(DataRandomization, SameSeedSameResult) {
  interp::DataRandomizationConfig c = config();
  c.methods = {"saliency"};
  c.count = 2;
  const auto a = interp::data_randomization(c);
  const auto b = interp::data_randomization(c);
  EXPECT_EQ(a.memorisation_accuracy, b.memorisation_accuracy);
  EXPECT_EQ(a.epochs, b.epochs);
  ASSERT_EQ(a.methods.size(), 1u);
  EXPECT_EQ(a.methods[0].per_image_spearman_abs, b.methods[0].per_image_spearman_abs);
}

TEST_F(DataRandomization, UnderfitIsNotComparedUnlessAllowed) {
  interp::DataRandomizationConfig c = config();
  c.methods = {"saliency"};
  c.count = 2;
  c.max_epochs = 1;
  c.epochs_per_round = 1;
  c.min_accuracy = 1.0;
  const auto r = interp::data_randomization(c);
  EXPECT_FALSE(r.memorised);
  EXPECT_TRUE(r.methods.empty());
  EXPECT_NE(interp::format_data_randomization(r).find("not memorised"), std::string::npos);
  c.allow_underfit = true;
  const auto forced = interp::data_randomization(c);
  EXPECT_EQ(forced.methods.size(), 1u);
}

TEST_F(DataRandomization, BadOptionsAndExistingOutputAreRefusedBeforeTraining) {
  interp::DataRandomizationConfig c = config();
  c.min_accuracy = 1.5;
  EXPECT_THROW(interp::data_randomization(c), std::invalid_argument);
  c = config();
  c.epochs_per_round = 10;
  c.max_epochs = 5;
  EXPECT_THROW(interp::data_randomization(c), std::invalid_argument);
  c = config();
  c.methods = {"nonsense"};
  EXPECT_THROW(interp::data_randomization(c), std::invalid_argument);
  c = config();
  c.save_model = dir_ / "existing.safetensors";
  std::ofstream(c.save_model) << "keep me";
  try {
    interp::data_randomization(c);
    FAIL() << "an existing --dr-save-model was overwritten";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("existing.safetensors"), std::string::npos) << e.what();
  }
  std::ifstream f(c.save_model);
  std::string kept;
  std::getline(f, kept);
  EXPECT_EQ(kept, "keep me");
}
