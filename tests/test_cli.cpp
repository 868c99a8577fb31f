// The glassbox binary as a user meets it: each bad input gives one clear message naming the file
// or cause on stderr, a non-zero exit, and leaves existing files alone; summary and ops print
// their tables.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include <unistd.h>
#include <fstream>
#include <string>

#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace {
using gb::testing::have_fashion_mnist;
gb::testing::RunResult run(const std::string& args) { return gb::testing::run_glassbox(args); }
fs::path temp_dir(const std::string& name) { return gb::testing::temp_dir("cli", name); }
}  // namespace

TEST(Cli, SummaryPrintsLayersParamsAndMacs) {
  auto r = run("summary --model resnet20");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("layer3.2.conv2"), std::string::npos);
  EXPECT_NE(r.output.find("total parameters 272474"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("MACs"), std::string::npos);
}

TEST(Cli, OpsListsEveryOpWithNoCudaKernel) {
  auto r = run("ops");
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* op : {"conv2d", "linear", "batch_norm2d", "cross_entropy", "bilinear_resize"}) {
    EXPECT_NE(r.output.find(op), std::string::npos) << op;
  }
}

TEST(CliBadInput, UnknownModel) {
  auto r = run("summary --model resnet21");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("unknown model 'resnet21'"), std::string::npos) << r.output;
}

TEST(CliBadInput, MissingCheckpoint) {
  auto r = run("eval --checkpoint /nonexistent/ck.safetensors");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/nonexistent/ck.safetensors"), std::string::npos) << r.output;
}

TEST(CliBadInput, TruncatedCheckpoint) {
  auto dir = temp_dir("trunc");
  auto ck = dir / "cut.safetensors";
  std::ofstream(ck, std::ios::binary) << std::string("\x40\x00\x00\x00\x00\x00\x00\x00{\"a\"", 12);
  auto r = run("eval --checkpoint " + ck.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("cut.safetensors"), std::string::npos) << r.output;
}

TEST(CliBadInput, MissingDataAndCorruptData) {
  auto dir = temp_dir("data");
  auto r = run("train --data " + (dir / "nope").string() + " --out " + (dir / "o.safetensors").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("nope"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "o.safetensors"));

  auto bad = dir / "bad.tar.gz";
  std::ofstream(bad, std::ios::binary) << "this is not a gzip file";
  r = run("train --data " + bad.string() + " --out " + (dir / "o.safetensors").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("bad.tar.gz"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "o.safetensors"));
}

TEST(CliBadInput, WrongImageSizeForCheckpoint) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  auto dir = temp_dir("size");
  auto ck = dir / "fm.safetensors";
  auto r = run("train --model smallcnn --width 0.25 --epochs 1 --limit-train 64 --limit-test 32 "
               "--batch-size 32 --quiet --out " + ck.string());
  ASSERT_EQ(r.status, 0) << r.output;
  // An image tree of 8x8 RGB images: the wrong size and channel count for this model.
  const std::string cifar = std::string(GB_SOURCE_DIR) + "/../shared/data/cifar10-jpg.tar.gz";
  const char* env = std::getenv("GB_CIFAR10");
  const std::string data = env ? env : cifar;
  if (!fs::exists(data)) GTEST_SKIP() << "CIFAR-10 archive not found";
  r = run("eval --limit 20 --checkpoint " + ck.string() + " --data " + data);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("expects"), std::string::npos) << r.output;
}

TEST(CliBadInput, ExistingOutputKept) {
  auto dir = temp_dir("keep");
  auto out = dir / "keep.safetensors";
  std::ofstream(out) << "precious";
  auto r = run("train --epochs 1 --limit-train 32 --out " + out.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--overwrite"), std::string::npos) << r.output;
  std::ifstream f(out);
  std::string s;
  f >> s;
  EXPECT_EQ(s, "precious");
}

TEST(Cli, ResumeTakesANewEpochTotalAndRejectsOtherFlags) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  auto dir = temp_dir("resume");
  auto ck = dir / "r.safetensors";
  auto r = run("train --model smallcnn --width 0.25 --epochs 1 --limit-train 64 --limit-test 32 "
               "--batch-size 32 --quiet --out " + ck.string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = run("train --resume " + ck.string() + " --out " + ck.string() + " --quiet");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("pass --epochs"), std::string::npos) << r.output;
  r = run("train --resume " + ck.string() + " --lr 0.5 --out " + ck.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--lr cannot be combined with --resume"), std::string::npos) << r.output;
  r = run("train --resume " + ck.string() + " --epochs 2 --quiet --out " + ck.string());
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST(CliBadInput, JsonMustNotNameTheCheckpointOrAnExistingFile) {
  auto dir = temp_dir("json");
  auto out = dir / "o.safetensors";
  auto r = run("train --epochs 1 --out " + out.string() + " --json " + out.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("must not name the checkpoint"), std::string::npos) << r.output;
  auto metrics = dir / "metrics.json";
  std::ofstream(metrics) << "{}";
  r = run("train --epochs 1 --out " + out.string() + " --json " + metrics.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("metrics.json: already exists"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
}
