// Pictures of explanations: colormaps (viridis, jet, a diverging blue-white-red, gray), map
// normalisation (min-max, percentile clipping, signed symmetric), images from normalised CHW
// tensors, heat-map overlays, nearest-neighbour upscaling (32x32 CIFAR images are tiny), text
// labels in a built-in 5x7 bitmap font, side-by-side sheets, channel grids of a layer's feature
// maps, per-layer histograms of weights or gradients, and PNG output through stb_image_write.
// Everything works on plain float buffers / Tensors and 8-bit RGB images.
// Shape letters: C channels, H/W height/width, K channels of a layer, h/w its spatial size.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/module.h"
#include "runtime/tensor.h"

namespace gb::interp {

using Rgb = std::array<uint8_t, 3>;

// An 8-bit image: rows top to bottom, `channels` interleaved values per pixel (3 = RGB,
// 1 = gray, 4 = RGBA). Every function here makes RGB images.
struct Image {
  int64_t width = 0, height = 0, channels = 3;
  std::vector<uint8_t> pixels;  // height * width * channels

  Image() = default;
  // An RGB image filled with `fill`. requires: width, height >= 0.
  Image(int64_t width, int64_t height, Rgb fill = {0, 0, 0});
  uint8_t* at(int64_t x, int64_t y) { return pixels.data() + (y * width + x) * channels; }
  const uint8_t* at(int64_t x, int64_t y) const {
    return pixels.data() + (y * width + x) * channels;
  }
};

// ---- colormaps -------------------------------------------------------------------------------
enum class Colormap { Viridis, Jet, Diverging, Gray };
const char* colormap_name(Colormap cm);
// "viridis", "jet", "diverging" (also "bwr"), "gray". throws: std::invalid_argument.
Colormap parse_colormap(const std::string& name);
// The color of t in [0,1] (clamped; NaN counts as 0). Viridis: dark purple (68,1,84) at 0 to
// yellow (253,231,37) at 1; Jet: dark blue (0,0,128) to dark red (128,0,0); Diverging: blue at
// 0, white at 0.5, red at 1 (for signed maps normalised by normalize_signed).
Rgb colormap_color(Colormap cm, float t);

// ---- normalisation (n values in, n values in [0,1] out) ---------------------------------------
// (v - min) / (max - min); a constant map gives all 0. NaNs count as the minimum.
std::vector<float> normalize_minmax(const float* v, size_t n);
// Clips to the [low_pct, high_pct] percentiles (0..100, low < high) then min-max scales, so a
// few extreme values do not wash out the map.
std::vector<float> normalize_percentile(const float* v, size_t n, float low_pct = 1.0f,
                                        float high_pct = 99.0f);
// Signed symmetric: 0.5 + 0.5 * v / m with m the pct-th percentile of |v| (clipped), so 0 maps
// to 0.5 (white in the diverging colormap) and +-m to 1 and 0.
std::vector<float> normalize_signed(const float* v, size_t n, float pct = 100.0f);

// ---- images ----------------------------------------------------------------------------------
// Colors an h x w map whose values are already in [0,1].
Image colorize(const float* v01, int64_t h, int64_t w, Colormap cm);
// A displayable image of a normalised CHW image: pixel = (v * std_c + mean_c) * 255, clamped.
// C = 1 gives gray, C = 3 RGB. mean/std empty: 0 and 1 (values already in [0,1]).
// requires: C in {1, 3}; mean/std empty or of size C.
Image image_from_chw(const float* chw, int64_t C, int64_t H, int64_t W,
                     const std::vector<float>& mean = {}, const std::vector<float>& std = {});
// The same for a tensor [C,H,W] or [1,C,H,W].
Image image_from_tensor(const Tensor& img, const std::vector<float>& mean = {},
                        const std::vector<float>& std = {});
// (1 - alpha) * base + alpha * heat, per pixel. requires: same size, both RGB, alpha in [0,1].
Image overlay(const Image& base, const Image& heat, float alpha = 0.5f);
// Every pixel becomes a factor x factor block. requires: factor >= 1.
Image upscale_nearest(const Image& img, int64_t factor);
// Writes a PNG. throws: std::runtime_error naming the path when it cannot be written.
void write_png(const std::string& path, const Image& img);
// The PNG file's bytes, in memory (TensorBoard images, data: URIs in HTML reports).
// throws: std::invalid_argument for an empty or malformed image.
std::vector<uint8_t> encode_png(const Image& img);

// ---- text (5x7 bitmap font, printable ASCII; other bytes draw as '?') -------------------------
// Width and height in pixels of `text` drawn at `scale` (each glyph 6*scale wide with spacing).
int64_t text_width(const std::string& text, int64_t scale = 1);
int64_t text_height(int64_t scale = 1);
// Draws text with its top-left corner at (x, y); pixels outside the image are skipped.
void draw_text(Image& img, int64_t x, int64_t y, const std::string& text, Rgb color,
               int64_t scale = 1);

// ---- sheets and grids --------------------------------------------------------------------------
struct SheetOptions {
  int64_t columns = 0;      // tiles per row; 0: all in one row
  int64_t pad = 4;          // pixels around and between cells
  int64_t label_scale = 1;  // font scale of the labels
  Rgb background{255, 255, 255};
  Rgb text{0, 0, 0};
};
// Tiles in a grid of cells of the largest tile's size, each with its label in a strip above it
// (a label too long for its cell is cut). With n tiles, c columns, r = ceil(n/c) rows, cells
// cw x ch and label height l = text_height(scale) + 2 * scale:
// width = c*cw + (c+1)*pad, height = r*(l + ch) + (r+1)*pad.
// requires: labels empty or one per tile; tiles RGB.
Image make_sheet(const std::vector<Image>& tiles, const std::vector<std::string>& labels,
                 const SheetOptions& opt = {});

struct GridOptions {
  int64_t columns = 0;  // 0: ceil(sqrt(K))
  int64_t scale = 4;    // nearest-neighbour upscaling of each map
  int64_t pad = 1;
  int64_t max_channels = 0;  // 0: all
  bool per_channel = true;   // min-max normalise each map on its own (else over all maps)
  Colormap colormap = Colormap::Viridis;
  Rgb background{64, 64, 64};
};
// The feature maps of one image, act [K,h,w] or [1,K,h,w], as a grid of colored tiles.
Image channel_grid(const Tensor& act, const GridOptions& opt = {});

// ---- histograms ------------------------------------------------------------------------------
struct NamedValues {
  std::string name;
  std::vector<float> values;
};
// The parameters of a model (weights and biases, in named_parameters order) or, with
// `gradients`, their .grad where defined.
std::vector<NamedValues> parameter_values(const Module& model, bool gradients = false);

struct HistogramOptions {
  int64_t bins = 40;
  int64_t bin_width = 6;    // pixels per bar
  int64_t bar_height = 48;  // pixels of the tallest bar
  int64_t pad = 4;
  bool log_counts = false;  // bar height ~ log(1 + count)
  Rgb bar{52, 101, 164};
  Rgb background{255, 255, 255};
};
// One panel per series stacked vertically: a label "name [min, max] n=count" then the bars
// of `bins` equal-width bins over [min, max]. Panel width = bins*bin_width + 2*pad.
Image histogram_sheet(const std::vector<NamedValues>& series, const HistogramOptions& opt = {});

}  // namespace gb::interp
