// The depthwise convolution benchmark on the CPU (see bench_depthwise.h).
#include "tools/cli/bench_depthwise.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "kernels/conv2d.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"

namespace gb::cli {
namespace {

struct Layer {
  const char* name;
  int64_t C, HW, R, stride;
};

// MobileNetV2 (224x224 input) depthwise layers, and EfficientNet-B0's 5x5 ones.
constexpr Layer kLayers[] = {
    {"mnv2 block1", 32, 112, 3, 1},  {"mnv2 block2", 96, 112, 3, 2},
    {"mnv2 block3", 144, 56, 3, 1},  {"mnv2 block4", 144, 56, 3, 2},
    {"mnv2 block8", 384, 14, 3, 1},  {"mnv2 block14", 576, 14, 3, 2},
    {"mnv2 block15", 960, 7, 3, 1},  {"effb0 stage3", 144, 56, 5, 2},
    {"effb0 stage5", 672, 14, 5, 1},
};

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <class Fn>
double median_ms(int64_t warmup, int64_t reps, Fn&& fn) {
  for (int64_t i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  for (int64_t i = 0; i < std::max<int64_t>(reps, 1); ++i) {
    const double t0 = now_ms();
    fn();
    t.push_back(now_ms() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double max_rel_diff(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

// The three passes' outputs of one run.
struct Outputs {
  std::vector<float> y, dx, dw, db;
};

// Times the three passes under `algorithm`, leaving their last outputs in out.
void time_passes(const kernels::Conv2dShape& s, kernels::cpu::ConvAlgorithm algorithm,
                 const std::vector<float>& x, const std::vector<float>& w,
                 const std::vector<float>& dy, int64_t warmup, int64_t reps, double* ms,
                 Outputs& out) {
  namespace cpu = kernels::cpu;
  cpu::set_conv_algorithm(algorithm);
  ms[0] = median_ms(warmup, reps,
                    [&] { cpu::conv2d_forward(s, x.data(), w.data(), nullptr, out.y.data()); });
  ms[1] = median_ms(warmup, reps,
                    [&] { cpu::conv2d_backward_input(s, dy.data(), w.data(), out.dx.data()); });
  ms[2] = median_ms(warmup, reps, [&] {
    cpu::conv2d_backward_weight(s, x.data(), dy.data(), out.dw.data(), out.db.data());
  });
}

}  // namespace

DepthwiseReport run_depthwise_bench(const std::vector<int64_t>& batches, int64_t warmup,
                                    int64_t reps) {
  for (int64_t n : batches) {
    if (n < 1 || n > 4096) {
      throw std::invalid_argument("bench --depthwise: batch size " + std::to_string(n) +
                                  " is outside 1..4096");
    }
  }
  namespace cpu = kernels::cpu;
  DepthwiseReport report;
  report.threads = omp_get_max_threads();
  report.warmup = warmup;
  report.reps = reps;
  const cpu::ConvAlgorithm saved = cpu::conv_algorithm();
  Generator gen(5, 0);
  try {
    for (int64_t n : batches) {
      for (const Layer& l : kLayers) {
        kernels::Conv2dShape s;
        s.N = n, s.C = s.K = s.groups = l.C, s.H = s.W = l.HW, s.R = s.S = l.R;
        s.stride_h = s.stride_w = l.stride;
        s.pad_h = s.pad_w = l.R / 2;
        const int64_t nx = s.N * s.C * s.H * s.W, nw = s.C * s.R * s.S;
        const int64_t ny = s.N * s.C * s.P() * s.Q();
        const std::vector<float> x = Tensor::randn({nx}, gen).to_vector();
        const std::vector<float> w = Tensor::randn({nw}, gen).to_vector();
        const std::vector<float> dy = Tensor::randn({ny}, gen).to_vector();
        auto outputs = [&] {
          return Outputs{std::vector<float>(static_cast<size_t>(ny)),
                         std::vector<float>(static_cast<size_t>(nx)),
                         std::vector<float>(static_cast<size_t>(nw)),
                         std::vector<float>(static_cast<size_t>(s.C))};
        };
        DepthwiseRow row{l.name, s, {0, 0, 0}, {0, 0, 0}, 0};
        Outputs old_out = outputs(), new_out = outputs();
        time_passes(s, cpu::ConvAlgorithm::Im2colGemm, x, w, dy, warmup, reps, row.old_ms, old_out);
        time_passes(s, cpu::ConvAlgorithm::Auto, x, w, dy, warmup, reps, row.new_ms, new_out);
        row.max_rel_diff =
            std::max({max_rel_diff(new_out.y, old_out.y), max_rel_diff(new_out.dx, old_out.dx),
                      max_rel_diff(new_out.dw, old_out.dw), max_rel_diff(new_out.db, old_out.db)});
        report.rows.push_back(row);
      }
    }
  } catch (...) {
    cpu::set_conv_algorithm(saved);
    throw;
  }
  cpu::set_conv_algorithm(saved);
  return report;
}

std::string format_depthwise(const DepthwiseReport& r) {
  std::string out = fmt::format(
      "\ndepthwise convolution on the CPU, {} threads: im2col + GEMM (old) vs the depthwise "
      "kernels (new), median ms of {} reps\n"
      "{:<13} {:<22} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
      r.threads, r.reps, "layer", "N,C,HxW,RxS/stride", "fwd old", "new", "bwd-in", "new", "bwd-w",
      "new", "speedup", "rel diff");
  for (const auto& row : r.rows) {
    const auto& s = row.shape;
    const double o = row.old_ms[0] + row.old_ms[1] + row.old_ms[2];
    const double n = row.new_ms[0] + row.new_ms[1] + row.new_ms[2];
    out += fmt::format(
        "{:<13} {:<22} {:>8.3f} {:>8.3f} {:>8.3f} {:>8.3f} {:>8.3f} {:>8.3f} {:>7.1f}x {:>8.1e}\n",
        row.layer, fmt::format("{},{},{}x{},{}x{}/{}", s.N, s.C, s.H, s.W, s.R, s.S, s.stride_h),
        row.old_ms[0], row.new_ms[0], row.old_ms[1], row.new_ms[1], row.old_ms[2], row.new_ms[2],
        n > 0 ? o / n : 0.0, row.max_rel_diff);
  }
  out += "(speedup: the three passes together; rel diff: max |new - old| / max |old| over them)\n";
  return out;
}

nlohmann::json depthwise_to_json(const DepthwiseReport& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : r.rows) {
    const auto& s = row.shape;
    rows.push_back({{"layer", row.layer},
                    {"N", s.N},
                    {"C", s.C},
                    {"H", s.H},
                    {"W", s.W},
                    {"R", s.R},
                    {"S", s.S},
                    {"stride", s.stride_h},
                    {"pad", s.pad_h},
                    {"old_ms", {row.old_ms[0], row.old_ms[1], row.old_ms[2]}},
                    {"new_ms", {row.new_ms[0], row.new_ms[1], row.new_ms[2]}},
                    {"max_rel_diff", row.max_rel_diff}});
  }
  return {{"threads", r.threads}, {"warmup", r.warmup}, {"reps", r.reps}, {"rows", rows}};
}

}  // namespace gb::cli
