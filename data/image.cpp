// Single-image decoding with stb_image (the implementation is compiled into libstb), PNG and JPEG
// only, with the size declared in the header checked against the limits before decoding.
#include "data/image.h"

#include <stb/stb_image.h>

#include <algorithm>
#include <climits>
#include <memory>

#include "data/error.h"
#include "data/file_io.h"
#include "data/image_checks.h"

namespace gb::data {
namespace {

std::string stb_reason() {
  const char* r = stbi_failure_reason();
  return r ? r : "unknown error";
}

int checked_size(size_t size, const std::string& name) {
  if (size > static_cast<size_t>(INT_MAX)) throw DataError(name, "image file too large");
  return static_cast<int>(size);
}

bool is_png(const uint8_t* b, size_t size) {
  static constexpr uint8_t kMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return size >= 8 && std::equal(kMagic, kMagic + 8, b);
}

bool is_jpeg(const uint8_t* b, size_t size) {
  return size >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
}

// throws: DataError when a declared w x h exceeds the limits of image.h.
void check_limits(int64_t w, int64_t h, const std::string& name) {
  if (w > kMaxImageSide || h > kMaxImageSide || w * h > kMaxImagePixels) {
    throw DataError(name, "image of " + std::to_string(w) + " x " + std::to_string(h) +
                              " pixels exceeds the limit (" + std::to_string(kMaxImageSide) +
                              " per side, " + std::to_string(kMaxImagePixels) +
                              " in all); refused before decoding");
  }
}

// The header's width, height and channel count (with alpha), after the format and size checks.
struct Header {
  int w = 0, h = 0, comp = 0;
};

Header probe(const uint8_t* bytes, size_t size, const std::string& name) {
  if (size == 0) throw DataError(name, "cannot decode image: empty file");
  if (!is_png(bytes, size) && !is_jpeg(bytes, size)) {
    throw DataError(name, "cannot decode image: not a PNG or JPEG file (unknown magic bytes)");
  }
  const ImageBytesCheck check =
      is_png(bytes, size) ? check_png_bytes(bytes, size) : check_jpeg_bytes(bytes, size);
  if (!check.problem.empty()) throw DataError(name, "cannot decode image: " + check.problem);
  check_limits(check.width, check.height, name);  // before stb_image: a clear message
  Header hd;
  if (!stbi_info_from_memory(bytes, checked_size(size, name), &hd.w, &hd.h, &hd.comp)) {
    throw DataError(name, "cannot decode image: " + stb_reason());
  }
  if (hd.w <= 0 || hd.h <= 0) throw DataError(name, "image has no pixels");
  check_limits(hd.w, hd.h, name);
  return hd;
}

}  // namespace

int native_channels(const uint8_t* bytes, size_t size, const std::string& name) {
  return probe(bytes, size, name).comp <= 2 ? 1 : 3;
}

Image decode_image(const uint8_t* bytes, size_t size, const std::string& name, int channels,
                   bool convert) {
  if (channels != 0 && channels != 1 && channels != 3) {
    throw DataError(
        name, "requested " + std::to_string(channels) + " channels; only 1 or 3 are supported");
  }
  const int native = native_channels(bytes, size, name);
  if (channels != 0 && channels != native && !convert) {
    throw DataError(name, "image has " + std::to_string(native) + " channel(s) (" +
                              (native == 1 ? "grey" : "colour") + "), expected " +
                              std::to_string(channels));
  }
  const int c = channels != 0 ? channels : native;
  int w = 0, h = 0, comp = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> hwc(
      stbi_load_from_memory(bytes, checked_size(size, name), &w, &h, &comp, c), stbi_image_free);
  if (!hwc) throw DataError(name, "cannot decode image: " + stb_reason());
  if (w <= 0 || h <= 0) throw DataError(name, "image has no pixels");
  if (int64_t{w} * h > kMaxImagePixels) throw DataError(name, "decoded size differs from header");
  Image img;
  img.channels = c;
  img.height = h;
  img.width = w;
  const size_t plane = static_cast<size_t>(h) * static_cast<size_t>(w);
  img.pixels.resize(plane * static_cast<size_t>(c));
  // Interleaved HWC -> planar CHW.
  const auto cs = static_cast<size_t>(c);
  for (size_t ch = 0; ch < cs; ++ch) {
    uint8_t* out = img.pixels.data() + ch * plane;
    const stbi_uc* in = hwc.get() + ch;
    for (size_t p = 0; p < plane; ++p) out[p] = in[p * cs];
  }
  return img;
}

Image load_image(const std::string& path, int channels) {
  const std::vector<uint8_t> bytes = read_file(path);
  return decode_image(bytes.data(), bytes.size(), path, channels);
}

}  // namespace gb::data
