// Internal to the data module: decoding a list of encoded images (from an image tree or an
// archive) into a Dataset's N x C x H x W uint8 buffer, on a few threads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace gb::data {

struct EncodedImage {
  std::string name;            // shown in errors: a path, or "<archive>:<entry>"
  std::string path;            // read from this file when `bytes` is empty
  std::vector<uint8_t> bytes;  // the encoded file, when already in memory
  int64_t label = 0;
};

// Decodes items[0] first to fix C (1 if grey, else 3), H and W, then the rest on `threads`
// threads; images of another channel count are converted to C. Sets ds.channels/height/width,
// ds.images (N x C x H x W) and ds.labels. Frees each item's bytes once decoded.
// requires: !items.empty().
// throws: DataError for the lowest-index item that fails (undecodable, or H x W differing from
//   items[0]), so the message does not depend on thread timing.
void decode_images(std::vector<EncodedImage>& items, int threads, Dataset& ds);

// True if the file name ends in .png, .jpg or .jpeg (any case).
bool has_image_extension(const std::string& name);

}  // namespace gb::data
