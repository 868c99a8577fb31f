// Crop / flip / cutout with Philox-drawn decisions, and the per-epoch shuffle.
#include "data/augment.h"

#include <algorithm>
#include <numeric>

#include "runtime/rng.h"

namespace gb::data {
namespace {

// A uniform integer in [0, n) from 32 random bits (multiply-high, bias below n / 2^32).
int below(uint32_t bits, int n) {
  return static_cast<int>((static_cast<uint64_t>(bits) * static_cast<uint64_t>(n)) >> 32);
}

template <typename T>
void augment_impl(const T* src, T* dst, int C, int H, int W, const AugmentConfig& cfg,
                  const AugmentDraw& d) {
  const int pad = std::max(cfg.crop_pad, 0);
  const size_t plane = static_cast<size_t>(H) * static_cast<size_t>(W);
  for (int c = 0; c < C; ++c) {
    const T* s = src + static_cast<size_t>(c) * plane;
    T* o = dst + static_cast<size_t>(c) * plane;
    for (int y = 0; y < H; ++y) {
      const int sy = y + d.dy - pad;
      T* row = o + static_cast<size_t>(y) * W;
      if (sy < 0 || sy >= H) {
        std::fill(row, row + W, T(0));
        continue;
      }
      const T* srow = s + static_cast<size_t>(sy) * W;
      for (int x = 0; x < W; ++x) {
        const int sx = (d.flip ? W - 1 - x : x) + d.dx - pad;
        row[x] = (sx >= 0 && sx < W) ? srow[sx] : T(0);
      }
    }
    if (cfg.cutout > 0) {
      const int y0 = std::max(d.cut_y - cfg.cutout / 2, 0);
      const int y1 = std::min(d.cut_y - cfg.cutout / 2 + cfg.cutout, H);
      const int x0 = std::max(d.cut_x - cfg.cutout / 2, 0);
      const int x1 = std::min(d.cut_x - cfg.cutout / 2 + cfg.cutout, W);
      for (int y = y0; y < y1; ++y) {
        for (int x = x0; x < x1; ++x) o[static_cast<size_t>(y) * W + x] = T(0);
      }
    }
  }
}

}  // namespace

uint64_t shuffle_stream(uint64_t epoch) { return (uint64_t{1} << 56) ^ epoch; }
uint64_t augment_stream(uint64_t epoch) { return (uint64_t{2} << 56) ^ epoch; }

AugmentDraw draw_augment(const AugmentConfig& cfg, uint64_t seed, uint64_t epoch, uint64_t index,
                         int H, int W) {
  const Philox philox(seed, augment_stream(epoch));
  const auto b0 = philox.block(2 * index);
  const auto b1 = philox.block(2 * index + 1);
  AugmentDraw d;
  if (cfg.crop_pad > 0) {
    d.dy = below(b0[0], 2 * cfg.crop_pad + 1);
    d.dx = below(b0[1], 2 * cfg.crop_pad + 1);
  }
  d.flip = cfg.flip && (b0[2] >> 31) != 0;
  if (cfg.cutout > 0) {
    d.cut_y = below(b0[3], H);
    d.cut_x = below(b1[0], W);
  }
  return d;
}

void apply_augment(const float* src, float* dst, int C, int H, int W, const AugmentConfig& cfg,
                   const AugmentDraw& draw) {
  augment_impl(src, dst, C, H, W, cfg, draw);
}

void apply_augment(const uint8_t* src, uint8_t* dst, int C, int H, int W, const AugmentConfig& cfg,
                   const AugmentDraw& draw) {
  augment_impl(src, dst, C, H, W, cfg, draw);
}

std::vector<size_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch, bool shuffle) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  if (!shuffle || n < 2) return order;
  Generator gen(seed, shuffle_stream(epoch));
  for (size_t i = n - 1; i > 0; --i) std::swap(order[i], order[gen.below(i + 1)]);
  return order;
}

}  // namespace gb::data
