// The training half of the data-randomisation test (interp/explain/evaluate_data_randomization.h)
// on Fashion-MNIST with a small CNN: a fresh copy memorises permuted labels (which the CLI test in
// test_explain.cpp does not wait for), the permutation keeps the class counts, the same seed gives
// the same model, and the comparison is withheld below the memorisation threshold.
// Shape letters: H/W image size.
#include <gtest/gtest.h>

#include <filesystem>

#include "interp/explain/evaluate_data_randomization.h"
#include "models/training/checkpoint_meta.h"
#include "models/training/trainer.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace gb;
using gb::testing::have_fashion_mnist;
using gb::testing::temp_dir;

namespace {

// A smallcnn trained 1 epoch on 64 Fashion-MNIST images, once for the suite: its metadata is what
// the permuted-label copy is rebuilt from.
class DataRandomization : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_fashion_mnist()) return;
    dir_ = temp_dir("data_randomization", "suite");
    checkpoint_ = dir_ / "fm.safetensors";
    training::TrainConfig c;
    c.model = "smallcnn";
    c.width = 0.25f;
    c.epochs = 1;
    c.batch_size = 32;
    c.limit_train = 64;
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

  static interp::PermutedModel permuted(const interp::eval::DataRandomizationParams& p,
                                        uint64_t seed) {
    const training::LoadedModel lm = training::load_model(checkpoint_);
    return interp::train_on_permuted_labels(
        lm.meta, "", p, seed, [](Module&) { return 0.0; }, true);
  }

  static interp::eval::DataRandomizationParams small() {
    interp::eval::DataRandomizationParams p;
    p.train_limit = 64;
    p.max_epochs = 120;
    p.min_accuracy = 0.9;
    p.batch_size = 32;
    p.lr = 0.05;
    return p;
  }

  static fs::path dir_, checkpoint_;
};
fs::path DataRandomization::dir_, DataRandomization::checkpoint_;

}  // namespace

TEST_F(DataRandomization, AFreshCopyMemorisesPermutedLabels) {
  const interp::PermutedModel pm = permuted(small(), 5);
  EXPECT_TRUE(pm.compared);
  EXPECT_GE(pm.memorisation_accuracy, 0.9);
  EXPECT_GE(pm.epochs, 2);  // not memorised by chance after one epoch
  EXPECT_LE(pm.epochs, 120);
  EXPECT_EQ(pm.info["train_images"], 64);
  EXPECT_EQ(pm.info["epochs"], pm.epochs);
  EXPECT_FALSE(pm.info.contains("withheld"));
}

TEST_F(DataRandomization, SameSeedSameModelAndAnotherSeedAnother) {
  interp::eval::DataRandomizationParams p = small();
  p.max_epochs = 3;
  p.min_accuracy = 1.0;
  const auto a = permuted(p, 7), b = permuted(p, 7), c = permuted(p, 8);
  const auto pa = a.model->named_parameters(), pb = b.model->named_parameters(),
             pc = c.model->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  bool other_differs = false;
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].second.to_vector(), pb[i].second.to_vector()) << pa[i].first;
    other_differs = other_differs || pa[i].second.to_vector() != pc[i].second.to_vector();
  }
  EXPECT_TRUE(other_differs);
  EXPECT_EQ(a.memorisation_accuracy, b.memorisation_accuracy);
}

TEST_F(DataRandomization, BelowTheThresholdTheComparisonIsWithheldUnlessAllowed) {
  interp::eval::DataRandomizationParams p = small();
  p.max_epochs = 1;
  p.min_accuracy = 1.0;
  const auto withheld = permuted(p, 5);
  EXPECT_FALSE(withheld.compared);
  EXPECT_EQ(withheld.epochs, 1);
  ASSERT_TRUE(withheld.info.contains("withheld"));
  EXPECT_NE(withheld.info["withheld"].get<std::string>().find("--dr-allow-underfit"),
            std::string::npos);
  p.allow_underfit = true;
  EXPECT_TRUE(permuted(p, 5).compared);
}
