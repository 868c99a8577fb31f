// Single-image decoding with stb_image (the implementation is compiled into libstb).
#include "data/image.h"

#include <stb/stb_image.h>

#include <climits>
#include <memory>

#include "data/error.h"
#include "data/file_io.h"

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

}  // namespace

int native_channels(const uint8_t* bytes, size_t size, const std::string& name) {
  int w = 0, h = 0, comp = 0;
  if (size == 0) throw DataError(name, "cannot decode image: empty file");
  if (!stbi_info_from_memory(bytes, checked_size(size, name), &w, &h, &comp)) {
    throw DataError(name, "cannot decode image: " + stb_reason());
  }
  return comp <= 2 ? 1 : 3;
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
  Image img;
  img.channels = c;
  img.height = h;
  img.width = w;
  const size_t plane = static_cast<size_t>(h) * static_cast<size_t>(w);
  img.pixels.resize(plane * static_cast<size_t>(c));
  // Interleaved HWC -> planar CHW.
  for (size_t p = 0; p < plane; ++p) {
    for (int ch = 0; ch < c; ++ch) {
      img.pixels[static_cast<size_t>(ch) * plane + p] = hwc.get()[p * static_cast<size_t>(c) + ch];
    }
  }
  return img;
}

Image load_image(const std::string& path, int channels) {
  const std::vector<uint8_t> bytes = read_file(path);
  return decode_image(bytes.data(), bytes.size(), path, channels);
}

}  // namespace gb::data
