// Progress reporting for training and evaluation: a one-line bar redrawn in place when stdout is
// a terminal (epoch, step, loss, accuracy, images/s, ETA), plain lines at 10% steps otherwise.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace gb::training {

class ProgressBar {
 public:
  // `label` prefixes each line ("epoch 3/10", "eval"); total is the number of steps.
  ProgressBar(std::string label, int64_t total, bool quiet = false);
  // Reports step `done` (1-based) with running loss/accuracy and samples seen so far.
  void update(int64_t done, double loss, double accuracy, int64_t samples);
  // Ends the line with a summary.
  void finish(const std::string& summary);
  double elapsed_seconds() const;

 private:
  std::string label_;
  int64_t total_;
  bool quiet_;
  bool tty_;
  int next_percent_ = 10;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// Human-readable duration "1m23s".
std::string format_duration(double seconds);

}  // namespace gb::training
