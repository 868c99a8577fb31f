// Terminal progress bar with a plain-line fallback for logs and CI.
#include "models/training/progress.h"

#include <fmt/format.h>
#include <unistd.h>

namespace gb::training {

ProgressBar::ProgressBar(std::string label, int64_t total, bool quiet)
    : label_(std::move(label)),
      total_(total),
      quiet_(quiet),
      tty_(isatty(fileno(stdout)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string format_duration(double seconds) {
  if (seconds < 0) seconds = 0;
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

void ProgressBar::update(int64_t done, double loss, double accuracy, int64_t samples) {
  if (quiet_) return;
  const double t = elapsed_seconds();
  const double rate = t > 0 ? static_cast<double>(samples) / t : 0.0;
  const double eta =
      done > 0 ? t / static_cast<double>(done) * static_cast<double>(total_ - done) : 0;
  const std::string stats = fmt::format("loss {:.4f}  acc {:5.2f}%  {:7.1f} img/s  ETA {}", loss,
                                        100.0 * accuracy, rate, format_duration(eta));
  if (tty_) {
    const auto now = std::chrono::steady_clock::now();
    if (done != total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    constexpr int kWidth = 24;
    const int filled = total_ > 0 ? static_cast<int>(kWidth * done / total_) : kWidth;
    fmt::print("\r{} [{}{}] {}/{}  {}\x1b[K", label_, std::string(static_cast<size_t>(filled), '#'),
               std::string(static_cast<size_t>(kWidth - filled), '.'), done, total_, stats);
    std::fflush(stdout);
    return;
  }
  const int percent = total_ > 0 ? static_cast<int>(100 * done / total_) : 100;
  if (percent >= next_percent_ && done != total_) {
    fmt::print("{} step {}/{}  {}\n", label_, done, total_, stats);
    std::fflush(stdout);
    while (next_percent_ <= percent) next_percent_ += 10;
  }
}

void ProgressBar::finish(const std::string& summary) {
  if (quiet_) return;
  if (tty_) {
    fmt::print("\r{}  {}\x1b[K\n", label_, summary);
  } else {
    fmt::print("{}  {}\n", label_, summary);
  }
  std::fflush(stdout);
}

}  // namespace gb::training
