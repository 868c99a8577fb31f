// Influential superpixels over a data set: SLIC + KernelSHAP per image, top segments per class
// with crops (see influential_segments.h). Shape letters: C channels, H/W image size,
// S superpixels.
#include "interp/global/influential_segments.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "interp/perturb.h"
#include "interp/registry.h"
#include "interp/shapley.h"

namespace gb::interp {

ImageSegmentValues segment_values(Module& model, const Tensor& x, int64_t target,
                                  const SegmentShapOptions& opt) {
  if (x.dim() != 4 || x.size(0) != 1) {
    throw std::invalid_argument("segment_values: x must be [1,C,H,W], got " + shape_str(x.shape()));
  }
  SlicOptions so;
  so.segments = opt.segments;
  ImageSegmentValues out;
  out.segments = slic(pixel_image(x, opt.norm), so);
  ImageGameOptions go;
  go.batch = opt.batch;
  const ValueFn v = image_value_fn(model, x, out.segments, target, go);
  KernelShapOptions ko;
  ko.samples = opt.samples;
  ko.seed = opt.seed;
  const ShapleyResult r = kernel_shap(v, out.segments.count, ko);
  out.phi = r.phi;
  out.efficiency_gap = r.efficiency_gap();
  return out;
}

TopSegments::TopSegments(int64_t classes, int64_t top) : top_(top) {
  if (classes < 1 || top < 1) throw std::invalid_argument("TopSegments: classes and top >= 1");
  best_.resize(static_cast<size_t>(classes));
}

namespace {

// Bounding box and pixel count of segment `label`.
void box_of(const Segments& seg, int32_t label, InfluentialSegment& s) {
  s.y0 = seg.height;
  s.x0 = seg.width;
  for (int64_t y = 0; y < seg.height; ++y) {
    for (int64_t x = 0; x < seg.width; ++x) {
      if (seg.at(y, x) != label) continue;
      ++s.pixels;
      s.y0 = std::min(s.y0, y);
      s.x0 = std::min(s.x0, x);
      s.y1 = std::max(s.y1, y + 1);
      s.x1 = std::max(s.x1, x + 1);
    }
  }
}

// [lo, hi) widened around its centre to at least `side` (clamped to [0, size)).
std::pair<int64_t, int64_t> widened(int64_t lo, int64_t hi, int64_t side, int64_t size) {
  if (hi - lo >= side) return {lo, hi};
  int64_t a = std::max<int64_t>(0, (lo + hi - side) / 2);
  const int64_t b = std::min(size, a + side);
  a = std::max<int64_t>(0, b - side);
  return {a, b};
}

// The segment's box widened to at least half the image per side (some context), from the
// pixels [C,H,W]; pixels of other segments at a quarter brightness.
Image crop_of(const Tensor& pixels, const Segments& seg, const InfluentialSegment& s) {
  const int64_t C = pixels.size(0), H = pixels.size(1), W = pixels.size(2);
  const std::vector<float> v = pixels.to_vector();
  const auto [y0, y1] = widened(s.y0, s.y1, (H + 1) / 2, H);
  const auto [x0, x1] = widened(s.x0, s.x1, (W + 1) / 2, W);
  Image img(x1 - x0, y1 - y0);
  for (int64_t y = y0; y < y1; ++y) {
    for (int64_t x = x0; x < x1; ++x) {
      const float dim = seg.at(y, x) == s.segment ? 1.0f : 0.25f;
      uint8_t* p = img.at(x - x0, y - y0);
      for (int64_t ch = 0; ch < 3; ++ch) {
        const float e = v[static_cast<size_t>((C == 3 ? ch : 0) * H * W + y * W + x)];
        p[ch] = static_cast<uint8_t>(std::clamp(e * dim, 0.0f, 1.0f) * 255.0f + 0.5f);
      }
    }
  }
  return img;
}

}  // namespace

void TopSegments::add(int64_t k, int64_t image, const Tensor& x, const data::Normalization& norm,
                      const ImageSegmentValues& values) {
  std::vector<InfluentialSegment>& best = best_.at(static_cast<size_t>(k));
  const Tensor pixels = pixel_image(x, norm);
  for (int32_t j = 0; j < static_cast<int32_t>(values.phi.size()); ++j) {
    const double value = values.phi[static_cast<size_t>(j)];
    // Strictly better than the current last, so ties keep the earlier image / lower label.
    if (static_cast<int64_t>(best.size()) >= top_ && !(value > best.back().value)) continue;
    InfluentialSegment s;
    s.image = image;
    s.segment = j;
    s.value = value;
    box_of(values.segments, j, s);
    s.crop = crop_of(pixels, values.segments, s);
    const auto at =
        std::upper_bound(best.begin(), best.end(), value,
                         [](double v, const InfluentialSegment& e) { return v > e.value; });
    best.insert(at, std::move(s));
    if (static_cast<int64_t>(best.size()) > top_) best.pop_back();
  }
}

}  // namespace gb::interp
