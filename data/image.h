// Decoding one PNG/JPEG (or anything stb_image reads) into planar uint8 pixels.
// Shape letters: C channels, H height, W width; pixels are C x H x W (CHW), row-major.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gb::data {

struct Image {
  int channels = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;  // C x H x W
};

// The number of channels a file's pixels carry once alpha is dropped: 1 (grey, grey+alpha) or
// 3 (RGB, RGBA). throws: DataError(name, ...) if the bytes are not a decodable image.
int native_channels(const uint8_t* bytes, size_t size, const std::string& name);

// Decode an encoded image held in memory. `channels`: 0 keeps the file's own (1 or 3, see
// native_channels); 1 or 3 demands that count. Alpha is dropped. With `convert`, a file whose
// count differs is converted instead (grey replicated to RGB, or RGB reduced to luma).
// throws: DataError(name, cause) for undecodable bytes, or (without `convert`) when the file's
//   channel count is not `channels` (e.g. a grey file where 3 channels are asked for).
Image decode_image(const uint8_t* bytes, size_t size, const std::string& name, int channels = 0,
                   bool convert = false);

// Read and decode one image file (for `explain --image`); same contract as decode_image, with
// the path in error messages. throws: DataError for a missing file too.
Image load_image(const std::string& path, int channels = 0);

}  // namespace gb::data
