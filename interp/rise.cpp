// RISE (rise.h): masks from Philox(seed, mask index), reflect-padded bilinear upsampling as
// skimage's resize(order=1, mode='reflect'), weighted sum of the masks by the target's score.
// Shape letters: C channels, H/W image size, K classes, s grid cells per side.
#include "interp/rise.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "interp/perturb.h"
#include "runtime/rng.h"

namespace gb::interp {
namespace {

// Source coordinate of output pixel o when n source pixels are stretched over m outputs
// (pixel centres, as skimage/ndimage zoom without align_corners), mirrored about the first and
// last source pixel centres (ndimage 'mirror' = skimage 'reflect').
double source_coord(int64_t o, int64_t n, int64_t m) {
  double c = (static_cast<double>(o) + 0.5) * static_cast<double>(n) / static_cast<double>(m) - 0.5;
  const double last = static_cast<double>(n - 1);
  if (n == 1) return 0.0;
  if (c < 0) c = -c;
  if (c > last) c = 2 * last - c;
  return std::clamp(c, 0.0, last);
}

}  // namespace

void check_rise_options(const RiseOptions& opt) {
  if (opt.masks < 1) throw std::invalid_argument("--rise-masks must be at least 1");
  if (opt.cells < 1) throw std::invalid_argument("--rise-cells must be at least 1");
  if (!(opt.p > 0.0 && opt.p <= 1.0)) {
    throw std::invalid_argument("--rise-p must be in (0, 1], got " + std::to_string(opt.p));
  }
}

Tensor rise_mask(int64_t index, int64_t H, int64_t W, const RiseOptions& opt) {
  const Philox rng(opt.seed, static_cast<uint64_t>(index));
  const int64_t s = opt.cells;
  std::vector<float> grid(static_cast<size_t>(s * s));
  for (size_t k = 0; k < grid.size(); ++k) grid[k] = rng.uniform(k) < opt.p ? 1.0f : 0.0f;
  const int64_t cell_h = (H + s - 1) / s, cell_w = (W + s - 1) / s;
  const int64_t up_h = (s + 1) * cell_h, up_w = (s + 1) * cell_w;
  const int64_t dy = static_cast<int64_t>(rng.below(grid.size(), static_cast<uint64_t>(cell_h)));
  const int64_t dx =
      static_cast<int64_t>(rng.below(grid.size() + 1, static_cast<uint64_t>(cell_w)));
  std::vector<float> out(static_cast<size_t>(H * W));
  for (int64_t y = 0; y < H; ++y) {
    const double sy = source_coord(y + dy, s, up_h);
    const int64_t y0 = static_cast<int64_t>(std::floor(sy)), y1 = std::min(y0 + 1, s - 1);
    const double fy = sy - static_cast<double>(y0);
    for (int64_t x = 0; x < W; ++x) {
      const double sx = source_coord(x + dx, s, up_w);
      const int64_t x0 = static_cast<int64_t>(std::floor(sx)), x1 = std::min(x0 + 1, s - 1);
      const double fx = sx - static_cast<double>(x0);
      auto g = [&](int64_t r, int64_t c) {
        return static_cast<double>(grid[static_cast<size_t>(r * s + c)]);
      };
      const double v = (1 - fy) * ((1 - fx) * g(y0, x0) + fx * g(y0, x1)) +
                       fy * ((1 - fx) * g(y1, x0) + fx * g(y1, x1));
      out[static_cast<size_t>(y * W + x)] = static_cast<float>(v);
    }
  }
  return Tensor::from_vector({H, W}, out);
}

RiseResult rise(Module& model, const Tensor& x, int64_t target, const RiseOptions& opt) {
  check_rise_options(opt);
  if (x.dim() != 4 || x.size(0) != 1) {
    throw std::invalid_argument("rise: input must be [1,C,H,W], got " + shape_str(x.shape()));
  }
  const int64_t C = x.size(1), H = x.size(2), W = x.size(3), HW = H * W;
  const std::vector<float> image = x.to_vector();
  std::vector<double> sal(static_cast<size_t>(HW), 0.0);
  std::vector<std::vector<float>> chunk_masks;  // masks of the chunk in flight
  RiseResult res;
  auto make = [&](int64_t begin, int64_t count) {
    chunk_masks.clear();
    std::vector<float> batch(static_cast<size_t>(count * C * HW));
    for (int64_t i = 0; i < count; ++i) {
      chunk_masks.push_back(rise_mask(begin + i, H, W, opt).to_vector());
      const auto& m = chunk_masks.back();
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t p = 0; p < HW; ++p) {
          batch[static_cast<size_t>((i * C + c) * HW + p)] =
              image[static_cast<size_t>(c * HW + p)] * m[static_cast<size_t>(p)];
        }
      }
    }
    return Tensor::from_vector({count, C, H, W}, batch);
  };
  auto consume = [&](int64_t, const Tensor& logits) {
    const int64_t count = logits.size(0);
    std::vector<float> score(static_cast<size_t>(count));
    target_scores(logits, target, opt.probability ? Score::Probability : Score::Logit,
                  score.data());
    for (int64_t i = 0; i < count; ++i) {
      const auto& m = chunk_masks.at(static_cast<size_t>(i));
      for (int64_t p = 0; p < HW; ++p) {
        sal[static_cast<size_t>(p)] +=
            static_cast<double>(score[static_cast<size_t>(i)]) * m[static_cast<size_t>(p)];
      }
    }
    ++res.chunks;
    res.chunk = std::max(res.chunk, count);
  };
  forward_streamed(model, opt.masks, {C, H, W}, make, consume, opt.batch);
  const double norm = 1.0 / (static_cast<double>(opt.masks) * opt.p);
  std::vector<float> map(sal.size());
  for (size_t p = 0; p < sal.size(); ++p) map[p] = static_cast<float>(sal[p] * norm);
  res.map = Tensor::from_vector({H, W}, map);
  return res;
}

}  // namespace gb::interp
