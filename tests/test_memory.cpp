// Memory that stays flat, measured on the glassbox binary (Fashion-MNIST subsets): the resident
// memory train records after each epoch (--json "rss_mb") does not grow from epoch 2 to epoch 8,
// and evaluate-explanations over 1,000 images, sampled every 20 ms from /proc/<pid>/status, holds
// no more resident memory in its last quarter than in its second quarter. Bounds are stated next
// to each check; the first epoch / quarter is left out (allocator pools and caches fill there).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace gb {
namespace {
namespace fs = std::filesystem;
using testing::temp_dir;

// Growth allowed: 4 MB, or 3% of the smaller reading, whichever is larger.
double allowed_growth_mb(double rss_mb) { return std::max(4.0, 0.03 * rss_mb); }

// VmRSS of process `pid` in MB, or -1 when it cannot be read (the process has ended).
double resident_mb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      double kb = 0;
      in >> kb;
      return kb / 1000.0;
    }
    in.ignore(1 << 16, '\n');
  }
  return -1;
}

// Runs glassbox with `args` (through the shell, output discarded) and samples its resident
// memory every 20 ms until it ends. Returns the samples; `status` gets the exit status.
std::vector<double> sample_resident(const std::string& args, int& status) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string cmd = "exec " + std::string(GB_BINARY_DIR) + "/glassbox " + args +
                            " > /dev/null 2>&1";
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::vector<double> samples;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    const double mb = resident_mb(pid);
    if (mb > 0) samples.push_back(mb);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return samples;
}

// AddressSanitizer's quarantine holds freed memory on purpose, so resident memory grows there.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

double max_of(const std::vector<double>& v, size_t begin, size_t end) {
  return *std::max_element(v.begin() + static_cast<std::ptrdiff_t>(begin),
                           v.begin() + static_cast<std::ptrdiff_t>(end));
}

TEST(Memory, TrainingStaysFlatFromEpochToEpoch) {
  if (kSanitized) GTEST_SKIP() << "resident memory is not meaningful under AddressSanitizer";
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  const auto dir = temp_dir("memory", "train");
  const auto metrics = dir / "m.json";
  const auto r = testing::run_glassbox(
      "train --model smallcnn --width 0.25 --limit-train 1024 --limit-test 256 --batch-size 64 "
      "--epochs 8 --threads 1 --quiet --out " +
      (dir / "ck.safetensors").string() + " --json " + metrics.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const auto epochs = nlohmann::json::parse(std::ifstream(metrics))["epochs"];
  ASSERT_EQ(epochs.size(), 8u);
  const double second = epochs[1]["rss_mb"].get<double>();
  ASSERT_GT(second, 0);
  for (size_t e = 2; e < epochs.size(); ++e) {
    const double rss = epochs[e]["rss_mb"].get<double>();
    EXPECT_LE(rss - second, allowed_growth_mb(second))
        << "epoch " << e + 1 << ": " << rss << " MB resident against " << second
        << " MB after epoch 2";
  }
  fs::remove_all(dir);
}

TEST(Memory, ExplainingAThousandImagesDoesNotGrowTheProcess) {
  if (kSanitized) GTEST_SKIP() << "resident memory is not meaningful under AddressSanitizer";
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  const auto dir = temp_dir("memory", "explain");
  const auto ck = dir / "ck.safetensors";
  auto r = testing::run_glassbox(
      "train --model smallcnn --width 0.25 --limit-train 256 --limit-test 64 --epochs 1 "
      "--threads 1 --quiet --out " +
      ck.string());
  ASSERT_EQ(r.status, 0) << r.output;
  int status = 0;
  const std::vector<double> rss =
      sample_resident("evaluate-explanations --checkpoint " + ck.string() +
                          " --count 1000 --methods gradcam --threads 1 --quiet",
                      status);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_GE(rss.size(), 20u) << "too few samples to judge";
  const size_t q = rss.size() / 4;
  const double second_quarter = max_of(rss, q, 2 * q), last_quarter = max_of(rss, 3 * q, rss.size());
  EXPECT_LE(last_quarter - second_quarter, allowed_growth_mb(second_quarter))
      << "resident memory grew from " << second_quarter << " MB to " << last_quarter << " MB";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gb
