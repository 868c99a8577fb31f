// The fuzz targets' inputs in the normal suite: every seed (tests/fuzz/corpus/<target>/) and every
// input a fuzzer once crashed on (tests/fuzz/regressions/<target>/, one file per finding, named
// after what it found) fed through the same function as the fuzz target (tests/fuzz/fuzz_inputs.h).
// Each must parse or be refused with a std::runtime_error naming the input; anything else aborts.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_inputs.h"

namespace gb {
namespace {

namespace fs = std::filesystem;

const char* const kTargets[] = {"safetensors", "cifar",           "idx", "image",
                                "archive",     "checkpoint_meta", "onnx"};

// Feeds every file of tests/fuzz/<kind>/<target>/ to the target; returns how many there were.
size_t run_all(const std::string& kind, const std::string& target) {
  const fs::path dir = fs::path(GB_SOURCE_DIR) / "tests" / "fuzz" / kind / target;
  if (!fs::is_directory(dir)) return 0;
  const fuzz::InputFn fn = fuzz::input_fn(target);
  EXPECT_NE(fn, nullptr) << target;
  if (!fn) return 0;
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    SCOPED_TRACE(e.path().string());
    std::ifstream in(e.path(), std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
    fn(bytes.data(), bytes.size());
    ++n;
  }
  return n;
}

TEST(FuzzRegressions, SeedsParseOrAreRefusedCleanly) {
  for (const char* t : kTargets) EXPECT_GT(run_all("corpus", t), 0u) << t;
}

TEST(FuzzRegressions, FormerCrashesAreRefusedCleanly) {
  for (const char* t : kTargets) run_all("regressions", t);
}

}  // namespace
}  // namespace gb
