// IDX files (MNIST, Fashion-MNIST): big-endian header <0 0 type ndims><dims...>, then raw data.
// Images are idx3 ubyte N x H x W (C = 1), labels idx1 ubyte N. Gzipped or not.
#include <algorithm>
#include <cctype>
#include <cstdio>

#include "data/error.h"
#include "data/file_io.h"
#include "data/formats.h"
#include "data/image.h"

namespace gb::data {
namespace {

struct IdxArray {
  std::vector<uint64_t> dims;
  std::vector<uint8_t> bytes;  // the whole (decompressed) file
  size_t offset = 0;           // where the data starts
};

IdxArray parse_idx_array(std::vector<uint8_t> bytes, const std::string& path, size_t want_dims) {
  IdxArray a;
  a.bytes = maybe_gunzip(std::move(bytes), path);
  const auto& b = a.bytes;
  if (b.size() < 4)
    throw DataError(path, "too short for an IDX header (" + std::to_string(b.size()) + " bytes)");
  if (b[0] != 0 || b[1] != 0) {
    char magic[16];
    std::snprintf(magic, sizeof(magic), "%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
    throw DataError(path, std::string("bad IDX magic 0x") + magic + " (not an IDX file)");
  }
  if (b[2] != 0x08) {
    char type[8];
    std::snprintf(type, sizeof(type), "%02x", b[2]);
    throw DataError(path, std::string("unsupported IDX element type 0x") + type +
                              " (only unsigned byte, 0x08, is read)");
  }
  if (b[3] != want_dims) {
    throw DataError(path, "IDX file has " + std::to_string(b[3]) + " dimension(s), expected " +
                              std::to_string(want_dims));
  }
  a.offset = 4 + 4 * want_dims;
  if (b.size() < a.offset) throw DataError(path, "truncated IDX header");
  uint64_t count = 1;
  std::string shape;
  for (size_t d = 0; d < want_dims; ++d) {
    const uint8_t* p = b.data() + 4 + 4 * d;
    const uint64_t v =
        (uint64_t{p[0]} << 24) | (uint64_t{p[1]} << 16) | (uint64_t{p[2]} << 8) | p[3];
    a.dims.push_back(v);
    if (v != 0 && count > (uint64_t{1} << 40) / v) {
      throw DataError(path, "IDX header dimensions are implausibly large");
    }
    count *= v;
    shape += (d ? " x " : "") + std::to_string(v);
  }
  const uint64_t have = b.size() - a.offset;
  if (have != count) {
    throw DataError(path, std::string(have < count ? "truncated" : "size mismatch") +
                              ": header says " + shape + " = " + std::to_string(count) +
                              " bytes of data, file holds " + std::to_string(have));
  }
  return a;
}

bool mentions_fashion(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s.find("fashion") != std::string::npos;
}

// <dir>/<stem>.gz if present, else <dir>/<stem>; empty if neither exists.
std::string find_idx_file(const std::string& dir, const std::string& stem) {
  for (const std::string& name : {stem + ".gz", stem}) {
    if (is_file(dir + "/" + name)) return dir + "/" + name;
  }
  return {};
}

}  // namespace

Dataset load_idx(const std::string& images_path, const std::string& labels_path,
                 const LoadOptions& options) {
  return parse_idx(read_file(images_path), images_path, read_file(labels_path), labels_path,
                   options);
}

Dataset parse_idx(std::vector<uint8_t> image_bytes, const std::string& images_path,
                  std::vector<uint8_t> label_bytes, const std::string& labels_path,
                  const LoadOptions& options) {
  const IdxArray images = parse_idx_array(std::move(image_bytes), images_path, 3);
  const IdxArray labels = parse_idx_array(std::move(label_bytes), labels_path, 1);
  if (images.dims[1] > kMaxImageSide || images.dims[2] > kMaxImageSide) {
    throw DataError(images_path, "IDX images of " + std::to_string(images.dims[1]) + " x " +
                                     std::to_string(images.dims[2]) +
                                     " pixels exceed the limit of " +
                                     std::to_string(kMaxImageSide) + " per side");
  }
  if (images.dims[0] != labels.dims[0]) {
    throw DataError(labels_path, "holds " + std::to_string(labels.dims[0]) + " labels but " +
                                     images_path + " holds " + std::to_string(images.dims[0]) +
                                     " images");
  }
  Dataset ds;
  ds.source = images_path;
  ds.channels = 1;
  ds.height = static_cast<int>(images.dims[1]);
  ds.width = static_cast<int>(images.dims[2]);
  if (ds.height <= 0 || ds.width <= 0) throw DataError(images_path, "images have no pixels");
  const size_t n = images.dims[0];
  std::vector<int64_t> all(n);
  int64_t max_label = 0;
  for (size_t i = 0; i < n; ++i) {
    all[i] = labels.bytes[labels.offset + i];
    max_label = std::max(max_label, all[i]);
  }
  if (mentions_fashion(images_path) && max_label < 10) {
    ds.classes = fashion_mnist_classes();
  } else {
    for (int64_t k = 0; k <= max_label; ++k) ds.classes.push_back(std::to_string(k));
  }
  const std::vector<size_t> keep = select_samples(all, ds.classes.size(), options);
  const size_t sz = ds.image_size();
  ds.images.resize(keep.size() * sz);
  ds.labels.resize(keep.size());
  for (size_t j = 0; j < keep.size(); ++j) {
    std::copy_n(images.bytes.data() + images.offset + keep[j] * sz, sz, ds.image(j));
    ds.labels[j] = all[keep[j]];
  }
  return ds;
}

Dataset load_idx_dir(const std::string& dir, Split split, const LoadOptions& options) {
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  const std::string images = find_idx_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
  if (images.empty() || labels.empty()) {
    throw DataError(dir, "missing " + prefix + "-" +
                             (images.empty() ? "images-idx3" : "labels-idx1") + "-ubyte[.gz]");
  }
  Dataset ds = load_idx(images, labels, options);
  ds.source = dir;
  ds.split = split;
  return ds;
}

}  // namespace gb::data
