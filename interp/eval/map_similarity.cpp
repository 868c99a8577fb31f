// Pearson, SSIM and HOG similarity of maps (see map_similarity.h).
#include "interp/eval/map_similarity.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

namespace gb::interp::eval {
namespace {

void require_same_size(const Map2d& a, const Map2d& b, const char* who) {
  if (a.height != b.height || a.width != b.width) {
    throw std::invalid_argument(std::string(who) + ": maps of different sizes");
  }
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Per-pixel gradient magnitude and unsigned orientation in degrees [0, 180), skimage's way.
void gradients(const Map2d& m, std::vector<double>& magnitude, std::vector<double>& angle) {
  const int64_t h = m.height, w = m.width;
  magnitude.assign(static_cast<size_t>(h * w), 0.0);
  angle.assign(static_cast<size_t>(h * w), 0.0);
  auto at = [&](int64_t y, int64_t x) { return m.values[static_cast<size_t>(y * w + x)]; };
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      const double gr = (y > 0 && y < h - 1) ? at(y + 1, x) - at(y - 1, x) : 0.0;
      const double gc = (x > 0 && x < w - 1) ? at(y, x + 1) - at(y, x - 1) : 0.0;
      const auto i = static_cast<size_t>(y * w + x);
      magnitude[i] = std::hypot(gr, gc);
      double deg = std::atan2(gr, gc) * 180.0 / std::numbers::pi;
      deg = std::fmod(deg, 180.0);
      if (deg < 0) deg += 180.0;
      angle[i] = deg;
    }
  }
}

// The L2-Hys normalisation of one block, in place.
void l2_hys(std::vector<double>& block) {
  constexpr double kEps = 1e-5;
  auto normalise = [&] {
    double s = 0;
    for (double v : block) s += v * v;
    const double d = std::sqrt(s + kEps * kEps);
    for (double& v : block) v /= d;
  };
  normalise();
  for (double& v : block) v = std::min(v, 0.2);
  normalise();
}

}  // namespace

Map2d to_map2d(const Tensor& map) {
  const Shape& s = map.shape();
  if (s.size() < 2) throw std::invalid_argument("map must be [H,W]");
  for (size_t i = 0; i + 2 < s.size(); ++i) {
    if (s[i] != 1) throw std::invalid_argument("map must be [H,W] (or with leading 1s)");
  }
  Map2d m;
  m.height = s[s.size() - 2];
  m.width = s[s.size() - 1];
  const std::vector<float> v = map.to_vector();
  m.values.assign(v.begin(), v.end());
  return m;
}

Map2d normalise_abs_max(Map2d m) {
  double peak = 0;
  for (double& v : m.values) {
    v = std::fabs(v);
    peak = std::max(peak, v);
  }
  if (peak > 0) {
    for (double& v : m.values) v /= peak;
  }
  return m;
}

Map2d normalise_signed_max(Map2d m) {
  double peak = 0;
  for (double v : m.values) peak = std::max(peak, std::fabs(v));
  if (peak > 0) {
    for (double& v : m.values) v /= peak;
  }
  return m;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.size() < 2) {
    throw std::invalid_argument("pearson: needs two vectors of equal length >= 2");
  }
  const double ma = mean_of(a), mb = mean_of(b);
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (saa == 0 || sbb == 0) return 0.0;
  return sab / std::sqrt(saa * sbb);
}

double ssim(const Map2d& a, const Map2d& b, const SsimOptions& opt) {
  require_same_size(a, b, "ssim");
  const int64_t win = opt.window, pad = (win - 1) / 2;
  if (win < 3 || win % 2 == 0) throw std::invalid_argument("ssim: window must be odd and >= 3");
  if (a.height < win || a.width < win) throw std::invalid_argument("ssim: map smaller than window");
  double range = opt.data_range;
  if (range <= 0) {
    const auto [amin, amax] = std::minmax_element(a.values.begin(), a.values.end());
    const auto [bmin, bmax] = std::minmax_element(b.values.begin(), b.values.end());
    range = std::max(*amax, *bmax) - std::min(*amin, *bmin);
  }
  const double c1 = (opt.k1 * range) * (opt.k1 * range), c2 = (opt.k2 * range) * (opt.k2 * range);
  const double np = static_cast<double>(win * win), cov_norm = np / (np - 1.0);
  double total = 0;
  int64_t count = 0;
  for (int64_t y = pad; y < a.height - pad; ++y) {
    for (int64_t x = pad; x < a.width - pad; ++x) {
      double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
      for (int64_t dy = -pad; dy <= pad; ++dy) {
        for (int64_t dx = -pad; dx <= pad; ++dx) {
          const auto i = static_cast<size_t>((y + dy) * a.width + (x + dx));
          sa += a.values[i];
          sb += b.values[i];
          saa += a.values[i] * a.values[i];
          sbb += b.values[i] * b.values[i];
          sab += a.values[i] * b.values[i];
        }
      }
      const double ua = sa / np, ub = sb / np;
      const double va = cov_norm * (saa / np - ua * ua), vb = cov_norm * (sbb / np - ub * ub);
      const double vab = cov_norm * (sab / np - ua * ub);
      total += ((2 * ua * ub + c1) * (2 * vab + c2)) / ((ua * ua + ub * ub + c1) * (va + vb + c2));
      ++count;
    }
  }
  return total / static_cast<double>(count);
}

std::vector<double> hog_features(const Map2d& m, const HogOptions& opt) {
  const int64_t cells_y = m.height / opt.cell, cells_x = m.width / opt.cell;
  if (cells_y < opt.block || cells_x < opt.block) {
    throw std::invalid_argument("hog: the map holds fewer whole cells than a block");
  }
  std::vector<double> magnitude, angle;
  gradients(m, magnitude, angle);
  const int64_t bins = opt.orientations;
  const double bin_width = 180.0 / static_cast<double>(bins);
  std::vector<double> hist(static_cast<size_t>(cells_y * cells_x * bins), 0.0);
  for (int64_t y = 0; y < cells_y * opt.cell; ++y) {
    for (int64_t x = 0; x < cells_x * opt.cell; ++x) {
      const auto i = static_cast<size_t>(y * m.width + x);
      const auto bin = std::min<int64_t>(static_cast<int64_t>(angle[i] / bin_width), bins - 1);
      const int64_t cell = (y / opt.cell) * cells_x + x / opt.cell;
      hist[static_cast<size_t>(cell * bins + bin)] += magnitude[i];
    }
  }
  for (double& v : hist) v /= static_cast<double>(opt.cell * opt.cell);
  std::vector<double> features;
  for (int64_t by = 0; by + opt.block <= cells_y; ++by) {
    for (int64_t bx = 0; bx + opt.block <= cells_x; ++bx) {
      std::vector<double> block;
      for (int64_t cy = by; cy < by + opt.block; ++cy) {
        for (int64_t cx = bx; cx < bx + opt.block; ++cx) {
          const auto first = hist.begin() + static_cast<std::ptrdiff_t>((cy * cells_x + cx) * bins);
          block.insert(block.end(), first, first + bins);
        }
      }
      l2_hys(block);
      features.insert(features.end(), block.begin(), block.end());
    }
  }
  return features;
}

double hog_similarity(const Map2d& a, const Map2d& b, const HogOptions& opt) {
  require_same_size(a, b, "hog_similarity");
  return pearson(hog_features(a, opt), hog_features(b, opt));
}

}  // namespace gb::interp::eval
