// How alike two attribution maps are, with the measures of the model-randomisation test (Adebayo
// et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): Pearson correlation, SSIM (Wang et
// al., IEEE TIP 2004) and the Pearson correlation of HOG features (Dalal & Triggs, CVPR 2005).
// SSIM and HOG follow scikit-image's defaults (structural_similarity, hog), so the agreement
// suite can check them against it. Shape letters: H/W map size; maps are [H,W] (or any shape
// with leading 1s).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

namespace gb::interp::eval {

// A map as H x W doubles, row-major.
struct Map2d {
  int64_t height = 0, width = 0;
  std::vector<double> values;
};
// requires: `map` holds H*W values with shape [H,W], [1,H,W] or [1,1,H,W].
Map2d to_map2d(const Tensor& map);

// |a| / max |a| and a / max |a| (an all-zero map stays zero): the normalisations Adebayo et al.
// apply before comparing absolute and signed maps.
Map2d normalise_abs_max(Map2d m);
Map2d normalise_signed_max(Map2d m);

// Pearson correlation of two equally long vectors; 0 when either is constant.
// requires: a.size() == b.size() >= 2.
double pearson(const std::vector<double>& a, const std::vector<double>& b);

struct SsimOptions {
  int64_t window = 7;        // odd; uniform (box) window, as skimage's default
  double k1 = 0.01, k2 = 0.03;
  double data_range = 0;     // <= 0: max - min over both maps (as Quantus passes it)
};
// Mean SSIM over the windows that lie wholly inside the image (skimage: the SSIM map cropped by
// (window - 1) / 2 at every border), with sample (co)variances (window^2 / (window^2 - 1)).
// 1 for identical maps. requires: equal sizes, H and W >= window.
double ssim(const Map2d& a, const Map2d& b, const SsimOptions& opt = {});

struct HogOptions {
  int64_t orientations = 9;  // unsigned, over [0, 180) degrees
  int64_t cell = 8;          // pixels per cell side
  int64_t block = 3;         // cells per block side
};
// skimage.feature.hog with its defaults: central-difference gradients (zero on the outer rows and
// columns), hard binning of each pixel's magnitude into its orientation bin of its cell (cell
// means over cell^2 pixels; only whole cells), blocks of block x block cells normalised by
// L2-Hys (L2, clip at 0.2, L2 again; eps 1e-5), all blocks concatenated in
// (block row, block col, cell row, cell col, orientation) order.
// requires: at least `block` whole cells per side.
std::vector<double> hog_features(const Map2d& m, const HogOptions& opt = {});
// Pearson correlation of the two maps' HOG features.
double hog_similarity(const Map2d& a, const Map2d& b, const HogOptions& opt = {});

}  // namespace gb::interp::eval
