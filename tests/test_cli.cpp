// The glassbox binary as a user meets it: each bad input gives one clear message naming the file
// or cause on stderr, a non-zero exit, and leaves existing files alone; summary and ops print
// their tables.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/safetensors.h"
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

TEST(Cli, BenchPerLayerTableMemoryAndJson) {
  auto dir = temp_dir("bench");
  auto js = dir / "bench.json";
  auto r =
      run("bench --model smallcnn --batch-size 4 --infer-batch-size 4 --warmup 0 --reps 1 "
          "--threads 1 --per-layer --profile-steps 1 --json " +
          js.string());
  ASSERT_EQ(r.status, 0) << r.output;
  // Not "Linear": the printed table hides rows under 0.005 ms, and on a fast machine the fc
  // layer of a batch of 4 takes less (the JSON below must still list it).
  for (const char* text : {"peak RSS MB", "RSS base MB", "per-layer profile: smallcnn train",
                           "per-layer profile: smallcnn inference", "features.0", "Conv2d",
                           "conv2d", "not in any row"}) {
    EXPECT_NE(r.output.find(text), std::string::npos) << text << "\n" << r.output;
  }
  std::ifstream in(js);
  const auto j = nlohmann::json::parse(in);
  ASSERT_EQ(j.at("rows").size(), 2u);
  for (const auto& row : j.at("rows")) {
    EXPECT_GT(row.at("rss_baseline_mb").get<double>(), 0.0);
    // The high-water mark is at least any RSS seen earlier in the process.
    EXPECT_GE(row.at("peak_rss_mb").get<double>(), row.at("rss_baseline_mb").get<double>());
    EXPECT_GT(row.at("maxrss_mb").get<double>(), 0.0);
    const auto& pl = row.at("per_layer");
    EXPECT_EQ(pl.at("steps").get<int>(), 1);
    // Training runs every module; inference may fuse conv+BN+ReLU (runtime/fusion.h), whose
    // time then counts for the calling container, but fc always runs as a module.
    const bool train = row.at("mode") == "train";
    bool fwd_fc = false, fwd_conv = false, bwd_conv = false, any_bwd = false;
    for (const auto& l : pl.at("rows")) {
      const bool fwd = l.at("pass") == "forward";
      any_bwd = any_bwd || !fwd;
      fwd_fc = fwd_fc || (fwd && l.at("module") == "fc" && l.at("op_or_type") == "Linear");
      fwd_conv =
          fwd_conv || (fwd && l.at("module") == "features.0" && l.at("op_or_type") == "Conv2d");
      bwd_conv =
          bwd_conv || (!fwd && l.at("module") == "features.0" && l.at("op_or_type") == "conv2d");
    }
    EXPECT_TRUE(fwd_fc) << row.at("mode");
    EXPECT_EQ(fwd_conv && bwd_conv, train) << row.at("mode");
    EXPECT_EQ(any_bwd, train) << row.at("mode");
  }
}

TEST(Cli, BenchGemmAgainstOpenBlasWhenPresent) {
  auto dir = temp_dir("gemm");
  auto js = dir / "gemm.json";
  auto r = run("bench --gemm 48,96 --warmup 0 --reps 1 --threads 2 --json " + js.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("SGEMM"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("img/s"), std::string::npos) << "no model bench without --model";
  std::ifstream in(js);
  const auto g = nlohmann::json::parse(in).at("gemm");
  ASSERT_EQ(g.at("rows").size(), 2u);
  EXPECT_EQ(g.at("rows")[1].at("n").get<int>(), 96);
  EXPECT_GT(g.at("rows")[0].at("glassbox_gflops").get<double>(), 0.0);
  if (g.at("openblas").at("loaded").get<bool>()) {
    EXPECT_NE(r.output.find("ours/OpenBLAS"), std::string::npos) << r.output;
    for (const auto& row : g.at("rows")) EXPECT_LT(row.at("max_rel_diff").get<double>(), 1e-4);
  } else {
    EXPECT_NE(r.output.find("OpenBLAS not loaded"), std::string::npos) << r.output;
  }
}

TEST(Cli, BenchDepthwiseAgainstIm2col) {
  auto dir = temp_dir("depthwise");
  auto js = dir / "depthwise.json";
  auto r = run("bench --depthwise 1 --warmup 0 --reps 1 --threads 2 --json " + js.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("depthwise convolution on the CPU"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("img/s"), std::string::npos) << "no model bench without --model";
  std::ifstream in(js);
  const auto d = nlohmann::json::parse(in).at("depthwise");
  ASSERT_EQ(d.at("rows").size(), 9u);
  for (const auto& row : d.at("rows")) {
    EXPECT_EQ(row.at("N").get<int>(), 1);
    EXPECT_GT(row.at("new_ms")[0].get<double>(), 0.0);
    EXPECT_LT(row.at("max_rel_diff").get<double>(), 1e-4);  // the two paths agree
  }
  // An existing --json file is refused before any measuring, and replaced with --overwrite.
  const std::string again =
      "bench --depthwise 1 --warmup 0 --reps 1 --threads 2 --json " + js.string();
  r = run(again);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("already exists; pass --overwrite"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("depthwise convolution on the CPU"), std::string::npos) << r.output;
  r = run(again + " --overwrite");
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST(CliBadInput, BenchBadGemmSizeAndSort) {
  auto r = run("bench --gemm 0");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("sizes must be in 1..16384"), std::string::npos) << r.output;
  r = run("bench --depthwise 0");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("outside 1..4096"), std::string::npos) << r.output;
  r = run("bench --model smallcnn --sort slowest");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--sort must be 'order' or 'time'"), std::string::npos) << r.output;
}

TEST(Cli, BenchConvAlgorithmChoosesTheKernelsShownPerLayer) {
  const std::string args =
      "bench --model resnet20 --batch-size 2 --warmup 0 --reps 1 --threads 1 --no-inference "
      "--per-layer --profile-steps 1";
  auto r = run(args);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("winograd F(4x4,3x3)"), std::string::npos) << r.output;
  r = run(args + " --conv-algorithm padded-flat");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("winograd"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("padded-flat"), std::string::npos) << r.output;
  r = run("bench --model resnet20 --conv-algorithm fft");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--conv-algorithm: expected auto, winograd, padded-flat or im2col, got "
                          "'fft'"),
            std::string::npos)
      << r.output;
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
  auto r =
      run("train --data " + (dir / "nope").string() + " --out " + (dir / "o.safetensors").string());
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
  auto r =
      run("train --model smallcnn --width 0.25 --epochs 1 --limit-train 64 --limit-test 32 "
          "--batch-size 32 --quiet --out " +
          ck.string());
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
  auto r =
      run("train --model smallcnn --width 0.25 --epochs 1 --limit-train 64 --limit-test 32 "
          "--batch-size 32 --quiet --out " +
          ck.string());
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

TEST(Cli, InitFineTunesFromACheckpointsWeights) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  auto dir = temp_dir("init");
  const auto base = dir / "base.safetensors", tuned = dir / "tuned.safetensors";
  const std::string tiny = " --epochs 1 --limit-train 64 --limit-test 32 --batch-size 32 --quiet";
  auto r = run("train --model smallcnn --width 0.25" + tiny + " --out " + base.string());
  ASSERT_EQ(r.status, 0) << r.output;
  // Learning rate 0: every weight stays the one --init loaded (the model comes from the file,
  // not from --model's default).
  r = run("train --init " + base.string() + tiny + " --lr 0 --weight-decay 0 --seed 9 --out " +
          tuned.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const gb::SafetensorsFile a = gb::read_safetensors(base), b = gb::read_safetensors(tuned);
  int compared = 0;
  for (const auto& e : a.entries) {
    if (e.name.size() < 7 || e.name.compare(e.name.size() - 7, 7, ".weight") != 0) continue;
    const gb::SafetensorsEntry* f = b.find(e.name);
    ASSERT_NE(f, nullptr) << e.name;
    EXPECT_EQ(e.bytes, f->bytes) << e.name;
    ++compared;
  }
  EXPECT_GT(compared, 3);
  r = run("train --init " + base.string() + " --resume " + base.string() + " --out " +
          (dir / "x.safetensors").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--init cannot go with --resume"), std::string::npos) << r.output;
}

TEST(Cli, ExportWritesOnnxAndRefusesBadOutputsBeforeWork) {
  auto dir = temp_dir("export");
  const auto onnx = dir / "smallcnn.onnx";
  auto r = run("export --model smallcnn --width 0.25 --input-size 1x28x28 --out " + onnx.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("opset 17"), std::string::npos) << r.output;
  const auto size = std::filesystem::file_size(onnx);
  EXPECT_GT(size, 1000u);
  r = run("export --model smallcnn --out " + onnx.string());  // exists: refused, kept
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(onnx.string() + ": already exists"), std::string::npos) << r.output;
  EXPECT_EQ(std::filesystem::file_size(onnx), size);
  r = run("export --checkpoint " + (dir / "missing.safetensors").string() + " --out " +
          (dir / "m.onnx").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("missing.safetensors"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "m.onnx"));
  r = run("export --model smallcnn --opset 12 --out " + (dir / "o.onnx").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("opset 12 is not supported"), std::string::npos) << r.output;
  // The exported file imports back as a checkpoint with the same class count.
  r = run("import " + onnx.string() + " --out " + (dir / "back.safetensors").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("10 classes"), std::string::npos) << r.output;
}
