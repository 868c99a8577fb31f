// Decoding one PNG or JPEG into planar uint8 pixels (stb_image), with size limits checked on the
// header before anything is decoded.
// Shape letters: C channels, H height, W width; pixels are C x H x W (CHW), row-major.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gb::data {

// Limits on a decoded image, checked on the header before decoding: at most kMaxImageSide pixels
// per side and kMaxImagePixels pixels in all (2^26, 64 Mi: 192 MiB of RGB).
inline constexpr int64_t kMaxImageSide = 32768;
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

struct Image {
  int channels = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;  // C x H x W
};

// The number of channels a file's pixels carry once alpha is dropped: 1 (grey, grey+alpha) or
// 3 (RGB, RGBA). throws: DataError(name, ...) if the bytes are not a PNG or JPEG (by their magic
// bytes), their header is unreadable, or the size it declares exceeds the limits above.
int native_channels(const uint8_t* bytes, size_t size, const std::string& name);

// Decode an encoded image held in memory. `channels`: 0 keeps the file's own (1 or 3, see
// native_channels); 1 or 3 demands that count. Alpha is dropped. With `convert`, a file whose
// count differs is converted instead (grey replicated to RGB, or RGB reduced to luma).
// throws: DataError(name, cause) for undecodable bytes, a format other than PNG or JPEG, a size
//   over the limits (refused before decoding), or (without `convert`) when the file's
//   channel count is not `channels` (e.g. a grey file where 3 channels are asked for).
Image decode_image(const uint8_t* bytes, size_t size, const std::string& name, int channels = 0,
                   bool convert = false);

// Read and decode one image file (for `explain --image`); same contract as decode_image, with
// the path in error messages. throws: DataError for a missing file too.
Image load_image(const std::string& path, int channels = 0);

}  // namespace gb::data
