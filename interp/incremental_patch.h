// The geometry of incremental inference (interp/incremental.h): which part of a layer a changed
// input region reaches, patches of one size per chunk, and the assembly of a layer's values over
// a rectangle from the cached activation of the original image overlaid with an image's patch.
// Shape letters: B images in a chunk, C channels, H/W a layer's size, h/w a patch's size.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

namespace gb::interp::incremental {

// One interval per image along one axis of a layer: [start[b], start[b] + size), all of one size
// (the union of the images' own intervals is covered; the extra positions are unchanged ones,
// recomputed). The spans of uniform_span, reached_span and union_span lie inside the layer
// (0 <= start[b], start[b] + size <= extent, size >= 1); input_span's may reach into the padding.
struct Span {
  std::vector<int64_t> start;
  int64_t size = 1;
};

// The changed region of one layer of each image: rows y, columns x.
struct Region {
  Span y, x;
};

// Per-image intervals [lo[b], lo[b] + len[b]) (len 0: nothing changed) made one size within an
// extent of `extent`: size = the largest len (at least 1), each start moved left as needed to fit.
// requires: 0 <= lo, lo + len <= extent, extent >= 1.
Span uniform_span(const std::vector<int64_t>& lo, const std::vector<int64_t>& len, int64_t extent);

// The output positions of a sliding window (kernel k, stride s, padding p, dilation 1) reached by
// the changed input positions of `in`, on an output axis of `out_extent`.
// requires: k, s >= 1, p >= 0.
Span reached_span(const Span& in, int64_t k, int64_t s, int64_t p, int64_t out_extent);

// The interval per image covering the intervals of all `spans` (same image count), uniform.
Span union_span(const std::vector<const Span*>& spans, int64_t extent);

// The input interval a window reads for the outputs of `out`: starts out.start*s - p (possibly
// negative: padding), size (out.size - 1) * s + k. Not clamped.
Span input_span(const Span& out, int64_t k, int64_t s, int64_t p);

// [B,C,rh,rw]: for each image b, the rectangle rows [ry.start[b], +ry.size) x columns
// [rx.start[b], +rx.size) of a layer whose original values are `base` [1,C,H,W], with image b's
// changed values `patch` [B,C,h,w] over `patch_region` written over them, and `fill` outside the
// layer (the padding a window op would read). patch undefined: the original values only.
// requires: base [1,C,H,W] contiguous F32; patch (when defined) [B,C,h,w] contiguous with h, w the
// region's sizes; ry.start.size() == rx.start.size() == B.
Tensor assemble(const Tensor& base, const Tensor& patch, const Region& patch_region, const Span& ry,
                const Span& rx, int64_t B, float fill);

// y [B,C,h,w] without its outer `border` rows and columns: [B,C,h-2*border,w-2*border].
// requires: h, w > 2 * border.
Tensor interior(const Tensor& y, int64_t border);

// The rectangle of `batch` [B,C,H,W] over `region` (each image's own place), [B,C,h,w].
Tensor crop(const Tensor& batch, const Region& region);

}  // namespace gb::interp::incremental
