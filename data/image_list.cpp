// Parallel decoding of a list of encoded images into one N x C x H x W buffer.
#include "data/image_list.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>

#include "data/error.h"
#include "data/file_io.h"
#include "data/image.h"

namespace gb::data {
namespace {

Image decode_item(EncodedImage& item, int channels) {
  if (item.bytes.empty() && !item.path.empty()) item.bytes = read_file(item.path);
  Image img = decode_image(item.bytes.data(), item.bytes.size(), item.name, channels, true);
  std::vector<uint8_t>().swap(item.bytes);
  return img;
}

}  // namespace

bool has_image_extension(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == "png" || ext == "jpg" || ext == "jpeg";
}

void decode_images(std::vector<EncodedImage>& items, int threads, Dataset& ds) {
  const size_t n = items.size();
  {
    EncodedImage& first = items[0];
    if (first.bytes.empty() && !first.path.empty()) first.bytes = read_file(first.path);
    const int c = native_channels(first.bytes.data(), first.bytes.size(), first.name);
    const Image img = decode_item(first, c);
    ds.channels = img.channels;
    ds.height = img.height;
    ds.width = img.width;
    ds.images.assign(n * ds.image_size(), 0);
    std::memcpy(ds.images.data(), img.pixels.data(), img.pixels.size());
  }
  ds.labels.resize(n);
  for (size_t i = 0; i < n; ++i) ds.labels[i] = items[i].label;

  const std::string first_name = items[0].name;
  std::atomic<size_t> first_error{std::numeric_limits<size_t>::max()};
  std::exception_ptr error;
  std::mutex error_mutex;
  // Each worker takes every T-th item in increasing order and stops once it is past the lowest
  // failing index seen, so the reported failure is always the lowest-index one.
  auto work = [&](size_t start, size_t step) {
    for (size_t i = start; i < n; i += step) {
      if (i > first_error.load()) return;
      try {
        const Image img = decode_item(items[i], ds.channels);
        if (img.height != ds.height || img.width != ds.width) {
          throw DataError(items[i].name, "image is " + std::to_string(img.width) + "x" +
                                             std::to_string(img.height) + ", expected " +
                                             std::to_string(ds.width) + "x" +
                                             std::to_string(ds.height) + " like the first image (" +
                                             first_name + ")");
        }
        std::memcpy(ds.image(i), img.pixels.data(), img.pixels.size());
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (i < first_error.load()) {
          first_error.store(i);
          error = std::current_exception();
        }
        return;
      }
    }
  };
  const size_t t =
      std::clamp<size_t>(static_cast<size_t>(std::max(threads, 1)), 1, std::max<size_t>(n - 1, 1));
  if (t <= 1) {
    work(1, 1);
  } else {
    std::vector<std::thread> pool;
    for (size_t k = 0; k < t; ++k) pool.emplace_back(work, 1 + k, t);
    for (auto& th : pool) th.join();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace gb::data
