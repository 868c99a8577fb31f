// Single-image decoding with stb_image (the implementation is compiled into libstb), PNG and JPEG
// only, with the size declared in the header checked against the limits before decoding.
#include "data/image.h"

#include <stb/stb_image.h>

#include <algorithm>
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

bool is_png(const uint8_t* b, size_t size) {
  static constexpr uint8_t kMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return size >= 8 && std::equal(kMagic, kMagic + 8, b);
}

bool is_jpeg(const uint8_t* b, size_t size) {
  return size >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
}

// True if the 16 code counts of a JPEG Huffman table (`counts[i]` codes of i + 1 bits) make a
// code that stb_image decodes safely: at most 256 codes, and complete (every bit string starts
// with a code) or complete but for the all-ones code of the longest length, which the JPEG
// standard reserves. libjpeg and the standard's example tables are always of this form.
bool huffman_counts_ok(const int counts[16]) {
  int codes = 0, longest = 0;
  int64_t space = 0;  // the code space used, in units of 2^-16
  for (int i = 0; i < 16; ++i) {
    codes += counts[i];
    space += int64_t{counts[i]} << (15 - i);
    if (counts[i] > 0) longest = i + 1;
  }
  if (codes == 0) return true;  // decodes nothing: every symbol is an error
  const int64_t full = int64_t{1} << 16;
  return codes <= 256 && (space == full || space == full - (int64_t{1} << (16 - longest)));
}

// False if a JPEG Huffman table (DHT segment) is one huffman_counts_ok refuses. stb_image 2.27
// (Debian's libstb) writes past its tables when a table has more than 256 codes, and fails an
// assertion (aborting the process) on corrupt data coded with an incomplete table. Every FF C4
// in the bytes is read as a DHT segment, the way stb_image would, before stb_image sees the file.
bool jpeg_huffman_tables_ok(const uint8_t* b, size_t size) {
  for (size_t at = 0; at + 4 <= size; ++at) {
    if (b[at] != 0xff || b[at + 1] != 0xc4) continue;
    int64_t left = ((int64_t{b[at + 2]} << 8) | b[at + 3]) - 2;  // segment length after itself
    size_t p = at + 4;
    while (left > 0 && p < size) {
      int counts[16], codes = 0;
      for (size_t i = 0; i < 16; ++i) {
        counts[i] = p + 1 + i < size ? b[p + 1 + i] : 0;  // stb_image reads 0 past the end
        codes += counts[i];
      }
      if (!huffman_counts_ok(counts)) return false;
      p += 17 + static_cast<size_t>(codes);
      left -= 17 + codes;
    }
  }
  return true;
}

// False if a PNG chunk declares more bytes than the file holds after its header. stb_image
// allocates an IDAT chunk's declared length (up to 2 GiB) before reading it, so the chunks are
// walked here first, the way stb_image walks them (length, type, data, CRC), up to IEND.
bool png_chunks_fit(const uint8_t* b, size_t size) {
  size_t at = 8;  // after the signature
  while (at + 8 <= size) {
    const uint64_t length = (uint64_t{b[at]} << 24) | (uint64_t{b[at + 1]} << 16) |
                            (uint64_t{b[at + 2]} << 8) | b[at + 3];
    if (length > size - at - 8) return false;
    if (std::equal(b + at + 4, b + at + 8, "IEND")) break;
    at += 12 + length;
  }
  return true;
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
  if (is_jpeg(bytes, size) && !jpeg_huffman_tables_ok(bytes, size)) {
    throw DataError(name,
                    "cannot decode image: corrupt JPEG (a Huffman table of more than 256 codes, or "
                    "incomplete)");
  }
  if (is_png(bytes, size) && !png_chunks_fit(bytes, size)) {
    throw DataError(name,
                    "cannot decode image: truncated or corrupt PNG (a chunk longer than the "
                    "file)");
  }
  Header hd;
  if (!stbi_info_from_memory(bytes, checked_size(size, name), &hd.w, &hd.h, &hd.comp)) {
    throw DataError(name, "cannot decode image: " + stb_reason());
  }
  const int64_t pixels = int64_t{hd.w} * int64_t{hd.h};
  if (hd.w <= 0 || hd.h <= 0) throw DataError(name, "image has no pixels");
  if (hd.w > kMaxImageSide || hd.h > kMaxImageSide || pixels > kMaxImagePixels) {
    throw DataError(name, "image of " + std::to_string(hd.w) + " x " + std::to_string(hd.h) +
                              " pixels exceeds the limit (" + std::to_string(kMaxImageSide) +
                              " per side, " + std::to_string(kMaxImagePixels) +
                              " in all); refused before decoding");
  }
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
