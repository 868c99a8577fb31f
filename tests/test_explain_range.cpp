// Tests of `explain --indices A-B` in one process (interp/explain/explain_range.h): every image
// exactly as `explain --index K` writes it, the summary in index order, the early refusal of an
// index past the data set and of a malformed range. The same job over several processes is
// tests/test_mpi.cpp's. Shape letters: none.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "interp/explain/explain_range.h"
#include "models/training/trainer.h"
#include "tests/test_util.h"

namespace gb {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

json read_json(const fs::path& p) { return json::parse(std::ifstream(p)); }

json without_times(json j) {
  for (auto& m : j["methods"]) m.erase("time_ms");
  return j;
}

class ExplainRange : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::have_fashion_mnist()) GTEST_FAIL() << "Fashion-MNIST is not installed";
    dir_ = testing::temp_dir("explain_range",
                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    training::TrainConfig c;
    c.model = "smallcnn";
    c.width = 0.25f;
    c.epochs = 1;
    c.batch_size = 32;
    c.limit_train = 64;
    c.limit_test = 16;
    c.eval_each_epoch = false;
    training::TrainOptions o;
    o.out = dir_ / "m.safetensors";
    o.quiet = true;
    training::train(c, o);
  }

  interp::ExplainConfig image_config(const fs::path& out) const {
    interp::ExplainConfig c;
    c.checkpoint = dir_ / "m.safetensors";
    c.methods = interp::parse_method_list("gradcam,kernelshap");
    c.method.seed = 3;
    c.method.samples = 32;
    c.method.segments = 8;
    c.out = out;
    return c;
  }

  fs::path dir_;
};

TEST_F(ExplainRange, WritesEveryImageAsExplainIndexWould) {
  interp::ExplainRangeConfig rc;
  rc.image = image_config(dir_ / "range");
  rc.first = 2;
  rc.last = 4;
  rc.quiet = true;
  const json summary = interp::explain_range(rc);
  ASSERT_EQ(summary["images"].size(), 3u);
  for (int k = 2; k <= 4; ++k) EXPECT_EQ(summary["images"][k - 2]["index"], k);
  EXPECT_EQ(summary, read_json(dir_ / "range/explanations.json"));
  EXPECT_EQ(summary["methods"][1]["method"], "kernelshap");
  double mean = 0;
  for (const auto& image : summary["images"])
    mean += image["methods"][1]["deletion_auc"].get<double>();
  EXPECT_NEAR(summary["methods"][1]["mean_deletion_auc"].get<double>(), mean / 3, 1e-12);

  interp::ExplainConfig one = image_config(dir_ / "one");
  one.index = 3;
  interp::explain(one);
  EXPECT_EQ(without_times(read_json(dir_ / "one/explanation.json")),
            without_times(read_json(dir_ / "range/image_3/explanation.json")));
}

TEST_F(ExplainRange, RefusesAnIndexPastTheDataSetBeforeWriting) {
  interp::ExplainRangeConfig rc;
  rc.image = image_config(dir_ / "range");
  rc.first = 0;
  rc.last = 10000;  // Fashion-MNIST has 10,000 test images: 0..9999
  try {
    interp::explain_range(rc);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--indices 0-10000: --index 10000: "), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("has only 10000 test images"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "range"));
}

TEST_F(ExplainRange, CommandLineRefusesAMalformedRange) {
  const testing::RunResult r =
      testing::run_glassbox("explain --checkpoint " + (dir_ / "m.safetensors").string() +
                            " --indices 3-x --method gradcam --out " + (dir_ / "o").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--indices: expected A-B"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace gb
