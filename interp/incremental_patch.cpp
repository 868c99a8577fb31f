// Spans, regions and patch assembly for incremental inference (incremental_patch.h).
// Shape letters: B images, C channels, H/W a layer's size, h/w a patch's size.
#include "interp/incremental_patch.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace gb::interp::incremental {
namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// One row of `rw` values from layer row `src` (W wide) starting at column x0 (possibly < 0 or
// running past W): fill outside [0, W).
void copy_row(float* out, const float* src, int64_t W, int64_t x0, int64_t rw, float fill) {
  for (int64_t i = 0; i < rw; ++i) {
    const int64_t x = x0 + i;
    if (x >= 0 && x < W) {
      const int64_t n = std::min(rw - i, W - x);
      std::memcpy(out + i, src + x, static_cast<size_t>(n) * sizeof(float));
      i += n - 1;
    } else {
      out[i] = fill;
    }
  }
}

}  // namespace

Span uniform_span(const std::vector<int64_t>& lo, const std::vector<int64_t>& len, int64_t extent) {
  if (extent < 1) throw std::invalid_argument("incremental: empty layer axis");
  Span s;
  s.size = 1;
  for (int64_t n : len) s.size = std::max(s.size, n);
  s.size = std::min(s.size, extent);
  s.start.resize(lo.size());
  for (size_t b = 0; b < lo.size(); ++b) {
    s.start[b] = std::clamp<int64_t>(lo[b], 0, extent - s.size);
  }
  return s;
}

Span reached_span(const Span& in, int64_t k, int64_t s, int64_t p, int64_t out_extent) {
  std::vector<int64_t> lo(in.start.size()), len(in.start.size());
  for (size_t b = 0; b < in.start.size(); ++b) {
    const int64_t a = in.start[b];
    const int64_t first = std::max<int64_t>(ceil_div(a + p - k + 1, s), 0);
    const int64_t last = std::min(floor_div(a + in.size - 1 + p, s), out_extent - 1);
    lo[b] = std::min(first, out_extent - 1);
    len[b] = std::max<int64_t>(last - first + 1, 0);
  }
  return uniform_span(lo, len, out_extent);
}

Span union_span(const std::vector<const Span*>& spans, int64_t extent) {
  const size_t B = spans.at(0)->start.size();
  std::vector<int64_t> lo(B), len(B);
  for (size_t b = 0; b < B; ++b) {
    int64_t first = extent, end = 0;
    for (const Span* s : spans) {
      first = std::min(first, s->start.at(b));
      end = std::max(end, s->start[b] + s->size);
    }
    lo[b] = first;
    len[b] = end - first;
  }
  return uniform_span(lo, len, extent);
}

Span input_span(const Span& out, int64_t k, int64_t s, int64_t p) {
  Span in;
  in.size = (out.size - 1) * s + k;
  in.start.resize(out.start.size());
  for (size_t b = 0; b < out.start.size(); ++b) in.start[b] = out.start[b] * s - p;
  return in;
}

Tensor assemble(const Tensor& base, const Tensor& patch, const Region& patch_region, const Span& ry,
                const Span& rx, int64_t B, float fill) {
  const int64_t C = base.size(1), H = base.size(2), W = base.size(3);
  const int64_t rh = ry.size, rw = rx.size;
  Tensor out = Tensor::empty({B, C, rh, rw});
  const float* src = base.f32();
  const float* pat = patch.defined() ? patch.f32() : nullptr;
  const int64_t ph = patch_region.y.size, pw = patch_region.x.size;
  float* dst = out.f32();
#pragma omp parallel for schedule(static)
  for (int64_t bc = 0; bc < B * C; ++bc) {
    const int64_t b = bc / C, c = bc % C;
    const auto bi = static_cast<size_t>(b);
    const int64_t y0 = ry.start[bi], x0 = rx.start[bi];
    float* o = dst + bc * rh * rw;
    for (int64_t r = 0; r < rh; ++r) {
      const int64_t y = y0 + r;
      if (y < 0 || y >= H) {
        std::fill(o + r * rw, o + (r + 1) * rw, fill);
      } else {
        copy_row(o + r * rw, src + (c * H + y) * W, W, x0, rw, fill);
      }
    }
    if (pat == nullptr) continue;
    // Overlay the intersection of the patch with the rectangle.
    const int64_t py0 = patch_region.y.start[bi], px0 = patch_region.x.start[bi];
    const int64_t ylo = std::max(y0, py0), yhi = std::min(y0 + rh, py0 + ph);
    const int64_t xlo = std::max(x0, px0), xhi = std::min(x0 + rw, px0 + pw);
    if (ylo >= yhi || xlo >= xhi) continue;
    const float* p = pat + bc * ph * pw;
    for (int64_t y = ylo; y < yhi; ++y) {
      std::memcpy(o + (y - y0) * rw + (xlo - x0), p + (y - py0) * pw + (xlo - px0),
                  static_cast<size_t>(xhi - xlo) * sizeof(float));
    }
  }
  return out;
}

Tensor interior(const Tensor& y, int64_t border) {
  const std::vector<int64_t> y0(static_cast<size_t>(y.size(0)), border);
  return crop(y, Region{Span{y0, y.size(2) - 2 * border}, Span{y0, y.size(3) - 2 * border}});
}

Tensor crop(const Tensor& batch, const Region& region) {
  const int64_t B = batch.size(0), C = batch.size(1), H = batch.size(2), W = batch.size(3);
  const int64_t h = region.y.size, w = region.x.size;
  Tensor out = Tensor::empty({B, C, h, w});
  const float* src = batch.f32();
  float* dst = out.f32();
  for (int64_t bc = 0; bc < B * C; ++bc) {
    const auto bi = static_cast<size_t>(bc / C);
    const int64_t y0 = region.y.start[bi], x0 = region.x.start[bi];
    for (int64_t r = 0; r < h; ++r) {
      std::memcpy(dst + (bc * h + r) * w, src + (bc * H + y0 + r) * W + x0,
                  static_cast<size_t>(w) * sizeof(float));
    }
  }
  return out;
}

}  // namespace gb::interp::incremental
