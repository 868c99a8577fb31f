// Helpers shared by the end-to-end suites (training, CLI, explanations): a fresh per-process
// temporary directory, whether Fashion-MNIST is installed, and running the glassbox binary.
#pragma once
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "data/dataset.h"

namespace gb::testing {

// An empty directory <tmp>/glassbox_test_<suite>_<pid>_<name>; per process, because ctest runs
// tests of one binary in parallel processes.
inline std::filesystem::path temp_dir(const std::string& suite, const std::string& name) {
  namespace fs = std::filesystem;
  fs::path d = fs::temp_directory_path() /
               ("glassbox_test_" + suite + "_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

inline bool have_fashion_mnist() {
  return std::filesystem::exists(std::filesystem::path(data::default_fashion_mnist_dir()) /
                                 "train-images-idx3-ubyte.gz");
}

struct RunResult {
  int status;
  std::string output;  // stdout and stderr together
};

// Runs `GB_BINARY_DIR/glassbox <args>` through the shell and collects its output.
inline RunResult run_glassbox(const std::string& args) {
  const std::string cmd = std::string(GB_BINARY_DIR) + "/glassbox " + args + " 2>&1";
  RunResult r{0, ""};
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  r.status = pclose(p);
  return r;
}

}  // namespace gb::testing
