// The most influential superpixels of a data set: every image is cut into SLIC superpixels,
// each superpixel's KernelSHAP value for the image's class is computed (interp/shapley.h; hidden
// superpixels show the image's per-channel mean, as `glassbox explain --method kernelshap`),
// and the K superpixels with the largest values are kept per class over all images, with a crop
// of each for a picture. Shape letters: C channels, H/W image size, S superpixels per image.
#pragma once
#include <cstdint>
#include <vector>

#include "data/normalize.h"
#include "interp/batch.h"
#include "interp/slic.h"
#include "interp/visualize.h"
#include "runtime/module.h"

namespace gb::interp {

struct SegmentShapOptions {
  int64_t segments = 16;  // requested from SLIC
  int64_t samples = 256;  // KernelSHAP coalitions per image
  uint64_t seed = 0;      // KernelSHAP's Philox seed (the same for every image)
  BatchOptions batch;
  data::Normalization norm;  // of the model's inputs: SLIC works on pixel colours
};

struct ImageSegmentValues {
  Segments segments;
  std::vector<double> phi;  // [S] Shapley values of the target logit
  double efficiency_gap = 0;
};

// SLIC superpixels of x [1,C,H,W] (de-normalised to pixels) and their KernelSHAP values for
// class `target`. throws: std::invalid_argument for a bad input or target.
ImageSegmentValues segment_values(Module& model, const Tensor& x, int64_t target,
                                  const SegmentShapOptions& opt);

struct InfluentialSegment {
  int64_t image = 0;    // the caller's index of the image
  int32_t segment = 0;  // label within the image's segments
  double value = 0;     // Shapley value
  int64_t pixels = 0;
  int64_t y0 = 0, x0 = 0, y1 = 0, x1 = 0;  // bounding box, inclusive-exclusive
  Image crop;  // the box widened to >= half the image per side, other segments dimmed
};

// Keeps the `top` segments with the largest value per class (ties: the earlier image, then the
// lower label), with their crops.
class TopSegments {
 public:
  // requires: classes >= 1, top >= 1.
  TopSegments(int64_t classes, int64_t top);
  // Offers every segment of one image (x [1,C,H,W], normalised with norm) of class k.
  void add(int64_t k, int64_t image, const Tensor& x, const data::Normalization& norm,
           const ImageSegmentValues& values);
  const std::vector<InfluentialSegment>& of(int64_t k) const {
    return best_.at(static_cast<size_t>(k));
  }

 private:
  int64_t top_;
  std::vector<std::vector<InfluentialSegment>> best_;
};


}  // namespace gb::interp
