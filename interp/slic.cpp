// SLIC superpixels (Achanta et al., "SLIC Superpixels Compared to State-of-the-Art Superpixel
// Methods", TPAMI 2012) written for this project, plus grid segmentations and label-map checks.
// Shape letters: C channels, H/W image size, S segments, P = H*W pixels.
#include "interp/slic.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace gb::interp {
namespace {

struct Feature {
  std::array<float, 3> c{};  // colour: CIELAB, or up to three raw channels
  float y = 0, x = 0;
};

// sRGB in [0,1] -> CIELAB (D65 white).
std::array<float, 3> rgb_to_lab(float r, float g, float b) {
  const auto lin = [](float v) {
    return v <= 0.04045f ? v / 12.92f : std::pow((v + 0.055f) / 1.055f, 2.4f);
  };
  const float R = lin(r), G = lin(g), B = lin(b);
  const float X = (0.4124564f * R + 0.3575761f * G + 0.1804375f * B) / 0.95047f;
  const float Y = 0.2126729f * R + 0.7151522f * G + 0.0721750f * B;
  const float Z = (0.0193339f * R + 0.1191920f * G + 0.9503041f * B) / 1.08883f;
  const auto f = [](float t) {
    constexpr float d = 6.0f / 29.0f;
    return t > d * d * d ? std::cbrt(t) : t / (3.0f * d * d) + 4.0f / 29.0f;
  };
  const float fx = f(X), fy = f(Y), fz = f(Z);
  return {116.0f * fy - 16.0f, 500.0f * (fx - fy), 200.0f * (fy - fz)};
}

// Colour features of every pixel, [P] of 3 floats (unused components are 0).
std::vector<std::array<float, 3>> colour_features(const Tensor& image, int64_t& H, int64_t& W) {
  const Tensor& img = image;  // [1,C,H,W] has the same element order as [C,H,W]
  if (!(img.dim() == 3 || (img.dim() == 4 && img.size(0) == 1))) {
    throw std::invalid_argument("slic: image must be [C,H,W] or [1,C,H,W], got " +
                                shape_str(image.shape()));
  }
  const int64_t C = img.size(-3);
  H = img.size(-2);
  W = img.size(-1);
  if (H < 1 || W < 1 || C < 1) throw std::invalid_argument("slic: empty image");
  std::vector<float> v = img.to_vector();
  const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  const float lo = *mn, hi = *mx;
  if (lo < 0.0f || hi > 1.0f) {
    const float span = hi > lo ? hi - lo : 1.0f;
    for (float& e : v) e = (e - lo) / span;
  }
  const int64_t P = H * W;
  std::vector<std::array<float, 3>> out(static_cast<size_t>(P));
  for (int64_t p = 0; p < P; ++p) {
    auto ch = [&](int64_t c) { return v[static_cast<size_t>(c * P + p)]; };
    if (C == 3) {
      out[p] = rgb_to_lab(ch(0), ch(1), ch(2));
    } else if (C == 1) {
      out[p] = {rgb_to_lab(ch(0), ch(0), ch(0))[0], 0.0f, 0.0f};
    } else {
      for (int64_t c = 0; c < std::min<int64_t>(C, 3); ++c) out[p][c] = 100.0f * ch(c);
    }
  }
  return out;
}

float colour_dist2(const std::array<float, 3>& a, const std::array<float, 3>& b) {
  const float d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2];
  return d0 * d0 + d1 * d1 + d2 * d2;
}

// Initial centres on a regular grid, each moved to the lowest-gradient pixel of its 3x3
// neighbourhood so that it does not start on an edge.
std::vector<Feature> initial_centres(const std::vector<std::array<float, 3>>& lab, int64_t H,
                                     int64_t W, int64_t rows, int64_t cols) {
  const auto at = [&](int64_t y, int64_t x) {
    return lab[static_cast<size_t>(std::clamp<int64_t>(y, 0, H - 1) * W +
                                   std::clamp<int64_t>(x, 0, W - 1))];
  };
  const auto gradient = [&](int64_t y, int64_t x) {
    return colour_dist2(at(y, x + 1), at(y, x - 1)) + colour_dist2(at(y + 1, x), at(y - 1, x));
  };
  std::vector<Feature> centres;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const auto y0 = static_cast<int64_t>((static_cast<double>(r) + 0.5) * H / rows);
      const auto x0 = static_cast<int64_t>((static_cast<double>(c) + 0.5) * W / cols);
      int64_t by = y0, bx = x0;
      float best = gradient(y0, x0);
      for (int64_t dy = -1; dy <= 1; ++dy) {
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t y = y0 + dy, x = x0 + dx;
          if (y < 0 || y >= H || x < 0 || x >= W) continue;
          const float g = gradient(y, x);
          if (g < best) best = g, by = y, bx = x;
        }
      }
      centres.push_back({at(by, bx), static_cast<float>(by), static_cast<float>(bx)});
    }
  }
  return centres;
}

// Relabels 4-connected pieces; pieces below min_size join the neighbour labelled before them.
// Returns the number of labels.
int64_t enforce_connectivity(std::vector<int32_t>& labels, int64_t H, int64_t W, int64_t min_size) {
  const int64_t P = H * W;
  std::vector<int32_t> out(static_cast<size_t>(P), -1);
  std::vector<int64_t> piece;
  piece.reserve(static_cast<size_t>(P));
  const int64_t dy[4] = {0, -1, 0, 1}, dx[4] = {-1, 0, 1, 0};
  int32_t next = 0;
  for (int64_t p0 = 0; p0 < P; ++p0) {
    if (out[p0] >= 0) continue;
    const int64_t y0 = p0 / W, x0 = p0 % W;
    int32_t adjacent = -1;
    for (int k = 0; k < 4 && adjacent < 0; ++k) {
      const int64_t y = y0 + dy[k], x = x0 + dx[k];
      if (y >= 0 && y < H && x >= 0 && x < W && out[y * W + x] >= 0) adjacent = out[y * W + x];
    }
    // Flood fill (breadth first over `piece`, which doubles as the queue).
    piece.clear();
    piece.push_back(p0);
    out[p0] = next;
    for (size_t head = 0; head < piece.size(); ++head) {
      const int64_t y1 = piece[head] / W, x1 = piece[head] % W;
      for (int k = 0; k < 4; ++k) {
        const int64_t y = y1 + dy[k], x = x1 + dx[k];
        if (y < 0 || y >= H || x < 0 || x >= W) continue;
        const int64_t q = y * W + x;
        if (out[q] < 0 && labels[q] == labels[p0]) {
          out[q] = next;
          piece.push_back(q);
        }
      }
    }
    if (static_cast<int64_t>(piece.size()) < min_size && adjacent >= 0) {
      for (const int64_t q : piece) out[q] = adjacent;
    } else {
      ++next;
    }
  }
  labels = std::move(out);
  return next;
}

}  // namespace

Tensor Segments::to_tensor() const {
  Tensor t = Tensor::empty({height, width}, DType::I64);
  auto* d = t.data<int64_t>();
  for (size_t i = 0; i < labels.size(); ++i) d[i] = labels[i];
  return t;
}

std::vector<int64_t> Segments::sizes() const {
  std::vector<int64_t> n(static_cast<size_t>(count), 0);
  for (const int32_t l : labels) ++n[static_cast<size_t>(l)];
  return n;
}

Segments segments_from_tensor(const Tensor& labels) {
  if (labels.dim() != 2) {
    throw std::invalid_argument("segments: label map must be [H,W], got " +
                                shape_str(labels.shape()));
  }
  Segments s;
  s.height = labels.size(0);
  s.width = labels.size(1);
  s.labels.resize(static_cast<size_t>(labels.numel()));
  int64_t mx = -1;
  if (labels.dtype() == DType::I64) {
    Tensor c = labels.is_contiguous() ? labels : labels.clone();
    for (size_t i = 0; i < s.labels.size(); ++i) {
      const int64_t v = c.data<int64_t>()[i];
      if (v < 0 || v > std::numeric_limits<int32_t>::max()) {
        throw std::invalid_argument("segments: label " + std::to_string(v) + " out of range");
      }
      s.labels[i] = static_cast<int32_t>(v);
      mx = std::max(mx, v);
    }
  } else {
    const std::vector<float> v = labels.to_vector();
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] < 0.0f || v[i] != std::floor(v[i]) || v[i] > 1e9f) {
        throw std::invalid_argument("segments: label " + std::to_string(v[i]) +
                                    " is not a non-negative integer");
      }
      s.labels[i] = static_cast<int32_t>(v[i]);
      mx = std::max<int64_t>(mx, s.labels[i]);
    }
  }
  s.count = mx + 1;
  for (size_t l = 0; const int64_t n : s.sizes()) {
    if (n == 0) {
      throw std::invalid_argument("segments: label " + std::to_string(l) +
                                  " is missing (labels must be 0..S-1)");
    }
    ++l;
  }
  return s;
}

bool segments_connected(const Segments& seg) {
  std::vector<int32_t> relabelled = seg.labels;
  return enforce_connectivity(relabelled, seg.height, seg.width, 0) == seg.count;
}

Segments slic(const Tensor& image, const SlicOptions& opt) {
  if (opt.segments < 1) throw std::invalid_argument("slic: segments must be >= 1");
  if (!(opt.compactness > 0.0f)) throw std::invalid_argument("slic: compactness must be > 0");
  if (opt.iterations < 0) throw std::invalid_argument("slic: iterations must be >= 0");
  int64_t H = 0, W = 0;
  const std::vector<std::array<float, 3>> lab = colour_features(image, H, W);
  const int64_t P = H * W;
  const int64_t K = std::min(opt.segments, P);
  const double nominal_step = std::sqrt(static_cast<double>(P) / static_cast<double>(K));
  const int64_t rows = std::clamp<int64_t>(std::llround(H / nominal_step), 1, H);
  const int64_t cols = std::clamp<int64_t>(std::llround(W / nominal_step), 1, W);
  std::vector<Feature> centres = initial_centres(lab, H, W, rows, cols);
  const int64_t n_centres = static_cast<int64_t>(centres.size());
  const double step = std::sqrt(static_cast<double>(P) / static_cast<double>(n_centres));
  const float spatial = static_cast<float>(opt.compactness / step);  // m / S
  const float spatial2 = spatial * spatial;
  const auto reach = static_cast<int64_t>(std::ceil(step));

  std::vector<int32_t> label(static_cast<size_t>(P), -1);
  std::vector<float> dist(static_cast<size_t>(P));
  const auto distance = [&](const Feature& c, int64_t p) {
    const float yy = static_cast<float>(p / W) - c.y, xx = static_cast<float>(p % W) - c.x;
    return colour_dist2(lab[p], c.c) + (yy * yy + xx * xx) * spatial2;
  };
  for (int it = 0; it <= opt.iterations; ++it) {
    // Assignment: each centre claims the pixels of its 2S x 2S window that are nearest to it.
    std::fill(dist.begin(), dist.end(), std::numeric_limits<float>::infinity());
    std::fill(label.begin(), label.end(), -1);
    for (int64_t k = 0; k < n_centres; ++k) {
      const Feature& c = centres[k];
      const int64_t cy = std::llround(c.y), cx = std::llround(c.x);
      for (int64_t y = std::max<int64_t>(0, cy - reach); y <= std::min(H - 1, cy + reach); ++y) {
        for (int64_t x = std::max<int64_t>(0, cx - reach); x <= std::min(W - 1, cx + reach); ++x) {
          const int64_t p = y * W + x;
          const float d = distance(c, p);
          if (d < dist[p]) dist[p] = d, label[p] = static_cast<int32_t>(k);
        }
      }
    }
    // A pixel no window reached goes to the nearest centre overall.
    for (int64_t p = 0; p < P; ++p) {
      if (label[p] >= 0) continue;
      for (int64_t k = 0; k < n_centres; ++k) {
        const float d = distance(centres[k], p);
        if (d < dist[p]) dist[p] = d, label[p] = static_cast<int32_t>(k);
      }
    }
    if (it == opt.iterations) break;
    // Update: each centre moves to the mean of its pixels (an empty cluster stays put).
    std::vector<std::array<double, 6>> acc(static_cast<size_t>(n_centres), {0, 0, 0, 0, 0, 0});
    for (int64_t p = 0; p < P; ++p) {
      auto& a = acc[static_cast<size_t>(label[p])];
      for (int c = 0; c < 3; ++c) a[c] += lab[p][c];
      a[3] += static_cast<double>(p / W);
      a[4] += static_cast<double>(p % W);
      a[5] += 1.0;
    }
    for (int64_t k = 0; k < n_centres; ++k) {
      const auto& a = acc[k];
      if (a[5] == 0.0) continue;
      for (int c = 0; c < 3; ++c) centres[k].c[c] = static_cast<float>(a[c] / a[5]);
      centres[k].y = static_cast<float>(a[3] / a[5]);
      centres[k].x = static_cast<float>(a[4] / a[5]);
    }
  }
  Segments seg;
  seg.height = H;
  seg.width = W;
  const auto min_size = static_cast<int64_t>(
      std::floor(opt.min_size_fraction * static_cast<double>(P) / static_cast<double>(n_centres)));
  seg.count = enforce_connectivity(label, H, W, min_size);
  seg.labels = std::move(label);
  return seg;
}

Segments grid_segments(int64_t height, int64_t width, int64_t rows, int64_t cols) {
  if (height < 1 || width < 1 || rows < 1 || cols < 1 || rows > height || cols > width) {
    throw std::invalid_argument("grid_segments: need 1 <= rows <= H and 1 <= cols <= W, got " +
                                std::to_string(rows) + "x" + std::to_string(cols) + " cells on " +
                                std::to_string(height) + "x" + std::to_string(width));
  }
  Segments s;
  s.height = height;
  s.width = width;
  s.count = rows * cols;
  s.labels.resize(static_cast<size_t>(height * width));
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      s.labels[y * width + x] = static_cast<int32_t>((y * rows / height) * cols + x * cols / width);
    }
  }
  return s;
}

}  // namespace gb::interp
