// Colormaps, normalisation, image assembly, the 5x7 font, sheets, channel grids, histograms and
// PNG output (stb_image_write from Debian's libstb, which carries the implementation).
// Shape letters: C channels, H/W height/width, K channels, h/w their size.
#include "interp/visualize.h"

#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace gb::interp {
namespace {

// Viridis sampled at t = k/10 from its published definition; linear in sRGB in between (the
// error against the full table stays within a few 8-bit levels).
constexpr std::array<Rgb, 11> kViridis{{{68, 1, 84},
                                        {72, 36, 117},
                                        {65, 68, 135},
                                        {53, 95, 141},
                                        {42, 120, 142},
                                        {33, 145, 140},
                                        {34, 168, 132},
                                        {68, 191, 112},
                                        {122, 209, 81},
                                        {189, 223, 38},
                                        {253, 231, 37}}};
constexpr Rgb kBlue{38, 84, 196};
constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kRed{196, 32, 38};

// 5x7 glyphs for ASCII 32..126, designed for this file: one byte per row, top row first, bit 4
// the leftmost column.
constexpr uint8_t kFont[95][7] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // space
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04},  // !
    {0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00},  // "
    {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A},  // #
    {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04},  // $
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03},  // %
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D},  // &
    {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00},  // '
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02},  // (
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08},  // )
    {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00},  // *
    {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00},  // +
    {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08},  // ,
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00},  // -
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C},  // .
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00},  // /
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E},  // 0
    {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},  // 1
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F},  // 2
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},  // 3
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02},  // 4
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},  // 5
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E},  // 6
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},  // 7
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E},  // 8
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},  // 9
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00},  // :
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08},  // ;
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02},  // <
    {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00},  // =
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08},  // >
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04},  // ?
    {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E},  // @
    {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},  // A
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E},  // B
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E},  // C
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C},  // D
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F},  // E
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10},  // F
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F},  // G
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},  // H
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E},  // I
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C},  // J
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11},  // K
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F},  // L
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11},  // M
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},  // N
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},  // O
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10},  // P
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D},  // Q
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11},  // R
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E},  // S
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},  // T
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},  // U
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04},  // V
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A},  // W
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11},  // X
    {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04},  // Y
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F},  // Z
    {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E},  // [
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00},  // backslash
    {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E},  // ]
    {0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00},  // ^
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F},  // _
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00},  // `
    {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F},  // a
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E},  // b
    {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E},  // c
    {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F},  // d
    {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E},  // e
    {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08},  // f
    {0x00, 0x00, 0x0F, 0x11, 0x0F, 0x01, 0x0E},  // g
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11},  // h
    {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E},  // i
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C},  // j
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12},  // k
    {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E},  // l
    {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11},  // m
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11},  // n
    {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E},  // o
    {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10},  // p
    {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01},  // q
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10},  // r
    {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E},  // s
    {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06},  // t
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D},  // u
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04},  // v
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A},  // w
    {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11},  // x
    {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E},  // y
    {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F},  // z
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02},  // {
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},  // |
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08},  // }
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00},  // ~
};

uint8_t to_byte(double v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0))); }

Rgb lerp(const Rgb& a, const Rgb& b, double f) {
  return {to_byte(a[0] + (b[0] - a[0]) * f), to_byte(a[1] + (b[1] - a[1]) * f),
          to_byte(a[2] + (b[2] - a[2]) * f)};
}

double clamp01(double v) { return std::clamp(v, 0.0, 1.0); }

// Value at percentile p (0..100) of the sorted values, linearly interpolated.
float percentile_of_sorted(const std::vector<float>& s, float p) {
  if (s.empty()) return 0.0f;
  const double pos = clamp01(p / 100.0) * static_cast<double>(s.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, s.size() - 1);
  return static_cast<float>(s[lo] + (s[hi] - s[lo]) * (pos - static_cast<double>(lo)));
}

std::vector<float> finite_sorted(const float* v, size_t n) {
  std::vector<float> s;
  s.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!std::isnan(v[i])) s.push_back(v[i]);
  }
  std::sort(s.begin(), s.end());
  return s;
}

// Scales v clipped to [lo, hi] onto [0, 1]; NaN and a degenerate range give 0.
std::vector<float> scale_to_unit(const float* v, size_t n, float lo, float hi) {
  std::vector<float> out(n, 0.0f);
  const double range = static_cast<double>(hi) - lo;
  if (!(range > 0.0)) return out;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isnan(v[i])) out[i] = static_cast<float>(clamp01((v[i] - lo) / range));
  }
  return out;
}

void fill_rect(Image& img, int64_t x0, int64_t y0, int64_t w, int64_t h, const Rgb& c) {
  for (int64_t y = std::max<int64_t>(y0, 0); y < std::min(y0 + h, img.height); ++y) {
    for (int64_t x = std::max<int64_t>(x0, 0); x < std::min(x0 + w, img.width); ++x) {
      uint8_t* p = img.at(x, y);
      p[0] = c[0];
      p[1] = c[1];
      p[2] = c[2];
    }
  }
}

void blit(Image& dst, const Image& src, int64_t x0, int64_t y0) {
  for (int64_t y = 0; y < src.height; ++y) {
    for (int64_t x = 0; x < src.width; ++x) {
      if (x0 + x < 0 || x0 + x >= dst.width || y0 + y < 0 || y0 + y >= dst.height) continue;
      const uint8_t* s = src.at(x, y);
      uint8_t* d = dst.at(x0 + x, y0 + y);
      for (int64_t c = 0; c < 3; ++c) d[c] = src.channels == 1 ? s[0] : s[c];
    }
  }
}

// The longest prefix of text that fits in max_width pixels.
std::string fit_text(const std::string& text, int64_t max_width, int64_t scale) {
  std::string t = text;
  while (!t.empty() && text_width(t, scale) > max_width) t.pop_back();
  return t;
}

void require_rgb(const Image& img, const char* who) {
  if (img.channels != 3 || static_cast<int64_t>(img.pixels.size()) != img.width * img.height * 3) {
    throw std::invalid_argument(std::string(who) + ": needs an RGB image");
  }
}

}  // namespace

Image::Image(int64_t w, int64_t h, Rgb fill) : width(w), height(h), channels(3) {
  if (w < 0 || h < 0) throw std::invalid_argument("Image: negative size");
  pixels.resize(static_cast<size_t>(w * h * 3));
  for (size_t i = 0; i < pixels.size(); i += 3) {
    pixels[i] = fill[0];
    pixels[i + 1] = fill[1];
    pixels[i + 2] = fill[2];
  }
}

const char* colormap_name(Colormap cm) {
  switch (cm) {
    case Colormap::Viridis:
      return "viridis";
    case Colormap::Jet:
      return "jet";
    case Colormap::Diverging:
      return "diverging";
    case Colormap::Gray:
      return "gray";
  }
  return "?";
}

Colormap parse_colormap(const std::string& name) {
  if (name == "viridis") return Colormap::Viridis;
  if (name == "jet") return Colormap::Jet;
  if (name == "diverging" || name == "bwr") return Colormap::Diverging;
  if (name == "gray" || name == "grey") return Colormap::Gray;
  throw std::invalid_argument("unknown colormap '" + name +
                              "'; known: viridis, jet, diverging, gray");
}

Rgb colormap_color(Colormap cm, float t) {
  const double v = std::isnan(t) ? 0.0 : clamp01(t);
  switch (cm) {
    case Colormap::Viridis: {
      const double pos = v * 10.0;
      const auto i = std::min<size_t>(static_cast<size_t>(pos), 9);
      return lerp(kViridis[i], kViridis[i + 1], pos - static_cast<double>(i));
    }
    case Colormap::Jet: {
      // Piecewise linear: blue rises, then green, then red, each ramp a quarter wide.
      auto ramp = [v](double centre) { return clamp01(1.5 - std::abs(4.0 * v - centre)); };
      return {to_byte(255.0 * ramp(3.0)), to_byte(255.0 * ramp(2.0)), to_byte(255.0 * ramp(1.0))};
    }
    case Colormap::Diverging:
      return v < 0.5 ? lerp(kBlue, kWhite, v * 2.0) : lerp(kWhite, kRed, (v - 0.5) * 2.0);
    case Colormap::Gray: {
      const uint8_t g = to_byte(255.0 * v);
      return {g, g, g};
    }
  }
  return {0, 0, 0};
}

std::vector<float> normalize_minmax(const float* v, size_t n) {
  const std::vector<float> s = finite_sorted(v, n);
  if (s.empty()) return std::vector<float>(n, 0.0f);
  return scale_to_unit(v, n, s.front(), s.back());
}

std::vector<float> normalize_percentile(const float* v, size_t n, float low_pct, float high_pct) {
  if (!(low_pct >= 0.0f && high_pct <= 100.0f && low_pct < high_pct)) {
    throw std::invalid_argument("normalize_percentile: need 0 <= low < high <= 100");
  }
  const std::vector<float> s = finite_sorted(v, n);
  if (s.empty()) return std::vector<float>(n, 0.0f);
  return scale_to_unit(v, n, percentile_of_sorted(s, low_pct), percentile_of_sorted(s, high_pct));
}

std::vector<float> normalize_signed(const float* v, size_t n, float pct) {
  std::vector<float> mag;
  mag.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!std::isnan(v[i])) mag.push_back(std::abs(v[i]));
  }
  std::sort(mag.begin(), mag.end());
  const float m = percentile_of_sorted(mag, pct);
  std::vector<float> out(n, 0.5f);
  if (!(m > 0.0f)) return out;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isnan(v[i])) out[i] = static_cast<float>(clamp01(0.5 + 0.5 * v[i] / m));
  }
  return out;
}

Image colorize(const float* v01, int64_t h, int64_t w, Colormap cm) {
  Image img(w, h);
  for (int64_t i = 0; i < h * w; ++i) {
    const Rgb c = colormap_color(cm, v01[i]);
    std::copy(c.begin(), c.end(), img.pixels.begin() + i * 3);
  }
  return img;
}

Image image_from_chw(const float* chw, int64_t C, int64_t H, int64_t W,
                     const std::vector<float>& mean, const std::vector<float>& std) {
  if (C != 1 && C != 3) throw std::invalid_argument("image_from_chw: C must be 1 or 3");
  if ((!mean.empty() && static_cast<int64_t>(mean.size()) != C) ||
      (!std.empty() && static_cast<int64_t>(std.size()) != C)) {
    throw std::invalid_argument("image_from_chw: mean/std need one value per channel");
  }
  Image img(W, H);
  for (int64_t y = 0; y < H; ++y) {
    for (int64_t x = 0; x < W; ++x) {
      uint8_t* p = img.at(x, y);
      for (int64_t c = 0; c < 3; ++c) {
        const int64_t ch = C == 1 ? 0 : c;
        const double m = mean.empty() ? 0.0 : mean[static_cast<size_t>(ch)];
        const double s = std.empty() ? 1.0 : std[static_cast<size_t>(ch)];
        p[c] = to_byte((chw[(ch * H + y) * W + x] * s + m) * 255.0);
      }
    }
  }
  return img;
}

Image image_from_tensor(const Tensor& img, const std::vector<float>& mean,
                        const std::vector<float>& std) {
  const bool batched = img.dim() == 4 && img.size(0) == 1;
  if (img.dim() != 3 && !batched) {
    throw std::invalid_argument("image_from_tensor: need [C,H,W] or [1,C,H,W], got " +
                                shape_str(img.shape()));
  }
  const int64_t o = batched ? 1 : 0;
  const std::vector<float> v = img.to_vector();
  return image_from_chw(v.data(), img.size(o), img.size(o + 1), img.size(o + 2), mean, std);
}

Image overlay(const Image& base, const Image& heat, float alpha) {
  require_rgb(base, "overlay");
  require_rgb(heat, "overlay");
  if (base.width != heat.width || base.height != heat.height) {
    throw std::invalid_argument("overlay: images differ in size");
  }
  if (!(alpha >= 0.0f && alpha <= 1.0f)) throw std::invalid_argument("overlay: alpha in [0,1]");
  Image out = base;
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    out.pixels[i] = to_byte((1.0 - alpha) * base.pixels[i] + alpha * heat.pixels[i]);
  }
  return out;
}

Image upscale_nearest(const Image& img, int64_t factor) {
  if (factor < 1) throw std::invalid_argument("upscale_nearest: factor must be >= 1");
  Image out;
  out.width = img.width * factor;
  out.height = img.height * factor;
  out.channels = img.channels;
  out.pixels.resize(static_cast<size_t>(out.width * out.height * out.channels));
  for (int64_t y = 0; y < out.height; ++y) {
    for (int64_t x = 0; x < out.width; ++x) {
      std::copy_n(img.at(x / factor, y / factor), img.channels, out.at(x, y));
    }
  }
  return out;
}

namespace {
void check_encodable(const Image& img, const std::string& what) {
  if (img.width < 1 || img.height < 1 ||
      static_cast<int64_t>(img.pixels.size()) != img.width * img.height * img.channels) {
    throw std::invalid_argument(what + ": empty or malformed image");
  }
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  const auto* bytes = static_cast<const uint8_t*>(data);
  out->insert(out->end(), bytes, bytes + size);
}
}  // namespace

std::vector<uint8_t> encode_png(const Image& img) {
  check_encodable(img, "encode_png");
  std::vector<uint8_t> out;
  const int ok =
      stbi_write_png_to_func(append_bytes, &out, static_cast<int>(img.width),
                             static_cast<int>(img.height), static_cast<int>(img.channels),
                             img.pixels.data(), static_cast<int>(img.width * img.channels));
  if (ok == 0) throw std::runtime_error("encode_png: the encoder failed");
  return out;
}

void write_png(const std::string& path, const Image& img) {
  check_encodable(img, "write_png: " + path);
  const int ok = stbi_write_png(path.c_str(), static_cast<int>(img.width),
                                static_cast<int>(img.height), static_cast<int>(img.channels),
                                img.pixels.data(), static_cast<int>(img.width * img.channels));
  if (ok == 0) throw std::runtime_error(path + ": cannot write PNG");
}

int64_t text_width(const std::string& text, int64_t scale) {
  if (text.empty()) return 0;
  return (static_cast<int64_t>(text.size()) * 6 - 1) * scale;
}

int64_t text_height(int64_t scale) { return 7 * scale; }

void draw_text(Image& img, int64_t x, int64_t y, const std::string& text, Rgb color,
               int64_t scale) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto ch = static_cast<unsigned char>(text[i]);
    const uint8_t* glyph = kFont[(ch >= 32 && ch < 127 ? ch : '?') - 32];
    const int64_t gx = x + static_cast<int64_t>(i) * 6 * scale;
    for (int64_t row = 0; row < 7; ++row) {
      for (int64_t col = 0; col < 5; ++col) {
        if (glyph[row] & (0x10 >> col)) {
          fill_rect(img, gx + col * scale, y + row * scale, scale, scale, color);
        }
      }
    }
  }
}

Image make_sheet(const std::vector<Image>& tiles, const std::vector<std::string>& labels,
                 const SheetOptions& opt) {
  if (tiles.empty()) throw std::invalid_argument("make_sheet: no tiles");
  if (!labels.empty() && labels.size() != tiles.size()) {
    throw std::invalid_argument("make_sheet: one label per tile");
  }
  const auto n = static_cast<int64_t>(tiles.size());
  const int64_t cols = opt.columns > 0 ? std::min(opt.columns, n) : n;
  const int64_t rows = (n + cols - 1) / cols;
  int64_t cw = 0, ch = 0;
  for (const Image& t : tiles) {
    require_rgb(t, "make_sheet");
    cw = std::max(cw, t.width);
    ch = std::max(ch, t.height);
  }
  const int64_t s = std::max<int64_t>(opt.label_scale, 1);
  const int64_t lh = text_height(s) + 2 * s;
  const int64_t pad = std::max<int64_t>(opt.pad, 0);
  Image sheet(cols * cw + (cols + 1) * pad, rows * (lh + ch) + (rows + 1) * pad, opt.background);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t x0 = pad + (i % cols) * (cw + pad);
    const int64_t y0 = pad + (i / cols) * (lh + ch + pad);
    if (!labels.empty()) {
      draw_text(sheet, x0, y0 + s, fit_text(labels[static_cast<size_t>(i)], cw, s), opt.text, s);
    }
    blit(sheet, tiles[static_cast<size_t>(i)], x0, y0 + lh);
  }
  return sheet;
}

Image channel_grid(const Tensor& act, const GridOptions& opt) {
  const bool batched = act.dim() == 4 && act.size(0) == 1;
  if (act.dim() != 3 && !batched) {
    throw std::invalid_argument("channel_grid: need [K,h,w] or [1,K,h,w], got " +
                                shape_str(act.shape()));
  }
  const int64_t o = batched ? 1 : 0;
  const int64_t K_all = act.size(o), h = act.size(o + 1), w = act.size(o + 2), hw = h * w;
  const int64_t K = opt.max_channels > 0 ? std::min(opt.max_channels, K_all) : K_all;
  if (K < 1) throw std::invalid_argument("channel_grid: no channels");
  const int64_t cols = opt.columns > 0
                           ? std::min(opt.columns, K)
                           : static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(K))));
  const int64_t rows = (K + cols - 1) / cols;
  const int64_t sc = std::max<int64_t>(opt.scale, 1), pad = std::max<int64_t>(opt.pad, 0);
  const std::vector<float> v = act.to_vector();
  std::vector<float> unit;
  if (!opt.per_channel) unit = normalize_minmax(v.data(), static_cast<size_t>(K * hw));
  Image grid(cols * w * sc + (cols + 1) * pad, rows * h * sc + (rows + 1) * pad, opt.background);
  for (int64_t k = 0; k < K; ++k) {
    const std::vector<float> m =
        opt.per_channel ? normalize_minmax(v.data() + k * hw, static_cast<size_t>(hw))
                        : std::vector<float>(unit.begin() + k * hw, unit.begin() + (k + 1) * hw);
    const Image tile = upscale_nearest(colorize(m.data(), h, w, opt.colormap), sc);
    blit(grid, tile, pad + (k % cols) * (w * sc + pad), pad + (k / cols) * (h * sc + pad));
  }
  return grid;
}

std::vector<NamedValues> parameter_values(const Module& model, bool gradients) {
  std::vector<NamedValues> out;
  for (const auto& [name, t] : model.named_parameters()) {
    const Tensor src = gradients ? t.grad() : t;
    if (!src.defined()) continue;
    out.push_back({name, src.to_vector()});
  }
  return out;
}

Image histogram_sheet(const std::vector<NamedValues>& series, const HistogramOptions& opt) {
  if (series.empty()) throw std::invalid_argument("histogram_sheet: no series");
  const int64_t bins = std::max<int64_t>(opt.bins, 1), bw = std::max<int64_t>(opt.bin_width, 1);
  const int64_t bh = std::max<int64_t>(opt.bar_height, 1), pad = std::max<int64_t>(opt.pad, 0);
  const int64_t panel_w = bins * bw + 2 * pad;
  const int64_t label_h = text_height(1) + 2;
  const int64_t panel_h = label_h + bh + 1 + pad;  // label, bars, axis line, gap
  Image img(panel_w, pad + static_cast<int64_t>(series.size()) * panel_h, opt.background);
  const Rgb axis{160, 160, 160};
  for (size_t si = 0; si < series.size(); ++si) {
    const NamedValues& s = series[si];
    const int64_t y0 = pad + static_cast<int64_t>(si) * panel_h;
    float lo = 0.0f, hi = 0.0f;
    bool any = false;
    for (float v : s.values) {
      if (!std::isfinite(v)) continue;
      lo = any ? std::min(lo, v) : v;
      hi = any ? std::max(hi, v) : v;
      any = true;
    }
    char range[96];
    std::snprintf(range, sizeof range, " [%.3g, %.3g] n=%zu", static_cast<double>(lo),
                  static_cast<double>(hi), s.values.size());
    draw_text(img, pad, y0, fit_text(s.name + range, panel_w - 2 * pad, 1), {0, 0, 0}, 1);
    std::vector<int64_t> counts(static_cast<size_t>(bins), 0);
    for (float v : s.values) {
      if (!std::isfinite(v)) continue;
      int64_t b = hi > lo ? static_cast<int64_t>((static_cast<double>(v) - lo) / (hi - lo) *
                                                 static_cast<double>(bins))
                          : bins / 2;
      ++counts[static_cast<size_t>(std::clamp<int64_t>(b, 0, bins - 1))];
    }
    const int64_t top = *std::max_element(counts.begin(), counts.end());
    const int64_t base_y = y0 + label_h + bh;  // the axis row
    fill_rect(img, pad, base_y, bins * bw, 1, axis);
    if (top == 0) continue;
    for (int64_t b = 0; b < bins; ++b) {
      const double c = static_cast<double>(counts[static_cast<size_t>(b)]);
      const double f = opt.log_counts ? std::log1p(c) / std::log1p(static_cast<double>(top))
                                      : c / static_cast<double>(top);
      const auto h = static_cast<int64_t>(std::lround(f * static_cast<double>(bh)));
      const int64_t bar_w = bw > 2 ? bw - 1 : bw;  // a one-pixel gap between wide bars
      fill_rect(img, pad + b * bw, base_y - h, bar_w, h, opt.bar);
    }
  }
  return img;
}

}  // namespace gb::interp
