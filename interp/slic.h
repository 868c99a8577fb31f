// Superpixels for the perturbation methods: this project's own SLIC (simple linear iterative
// clustering: k-means in CIELAB + xy where each centre only searches a 2S x 2S window, then
// connectivity enforcement) and a plain rectangular grid. Both return a Segments label map.
// Shape letters: C channels, H/W image size, S number of segments (the players of LIME/SHAP).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

namespace gb::interp {

// A label map: every pixel carries a segment label in [0, count), and every label occurs.
struct Segments {
  int64_t height = 0;
  int64_t width = 0;
  int64_t count = 0;            // S
  std::vector<int32_t> labels;  // H*W labels, row-major

  int32_t at(int64_t y, int64_t x) const { return labels[static_cast<size_t>(y * width + x)]; }
  // I64 tensor [H,W] of the labels.
  Tensor to_tensor() const;
  // Pixels per segment, [S].
  std::vector<int64_t> sizes() const;
};

// requires: labels is a [H,W] tensor (I64 or F32 holding integers) whose values are exactly
// 0..S-1 with every value present. Throws std::invalid_argument otherwise.
Segments segments_from_tensor(const Tensor& labels);

// True when every label's pixels form one 4-connected region.
bool segments_connected(const Segments& seg);

struct SlicOptions {
  int64_t segments = 16;      // requested count; the result has roughly this many
  float compactness = 10.0f;  // m: weight of xy distance against CIELAB distance (L in 0..100)
  int iterations = 10;        // k-means rounds (fixed count: no convergence test)
  // Connected pieces smaller than this fraction of the nominal segment size H*W/S are merged into
  // the neighbouring segment met first in scan order.
  float min_size_fraction = 0.25f;
};

// SLIC superpixels of `image` [C,H,W] (or [1,C,H,W]).
// The values are first mapped onto [0,1]: left alone when they already lie there, otherwise by the
// image's global min/max (so normalised network inputs work). C = 3 is read as sRGB and converted
// to CIELAB; C = 1 as grey (L only); other C use the channels scaled to 0..100 as they are.
// requires: opt.segments >= 1, opt.compactness > 0, opt.iterations >= 0, H, W >= 1.
// ensures: every pixel is labelled, the labels are 0..count-1 and each label is one 4-connected
// region; the result depends only on the image and the options (no randomness, ties broken by
// index), so it is identical run to run and for any thread count.
Segments slic(const Tensor& image, const SlicOptions& opt = {});

// A rows x cols grid: pixel (y,x) is in cell (y*rows/H, x*cols/W) (integer division), labelled
// row*cols + col. requires: 1 <= rows <= H, 1 <= cols <= W.
Segments grid_segments(int64_t height, int64_t width, int64_t rows, int64_t cols);

}  // namespace gb::interp
