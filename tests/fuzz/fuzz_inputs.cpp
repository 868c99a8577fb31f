// The per-target input functions of fuzz_inputs.h.
#include "tests/fuzz/fuzz_inputs.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/file_io.h"
#include "data/formats.h"
#include "data/image.h"
#include "models/onnx/onnx_import.h"
#include "models/training/checkpoint_meta.h"
#include "runtime/safetensors.h"

namespace gb::fuzz {
namespace {

// Runs `parse`. requires: a std::runtime_error it throws mentions `name` (the file name passed to
// the parser); otherwise the message is printed and the process aborts. Other exceptions escape.
template <class Parse>
void expect_clean(std::string_view name, Parse&& parse) {
  try {
    parse();
  } catch (const std::runtime_error& e) {
    if (std::string_view(e.what()).find(name) == std::string_view::npos) {
      std::fprintf(stderr, "refusal does not name the input '%.*s': %s\n",
                   static_cast<int>(name.size()), name.data(), e.what());
      std::abort();
    }
  }
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "accepted input breaks an invariant: %s\n", what);
    std::abort();
  }
}

}  // namespace

void safetensors_input(const uint8_t* data, size_t size) {
  expect_clean("fuzz.safetensors", [&] {
    const SafetensorsFile f = parse_safetensors({data, size}, "fuzz.safetensors");
    uint64_t total = 0;
    for (const auto& e : f.entries) {
      check(e.bytes.size() == safetensors_numel(e.shape) * safetensors_dtype_size(e.dtype),
            "tensor bytes match dtype and shape");
      total += e.bytes.size();
    }
    check(total <= size, "tensors fit in the file");
  });
}

void cifar_input(const uint8_t* data, size_t size) {
  using namespace data;
  const std::vector<uint8_t> bytes(data, data + size);
  for (CifarKind kind : {CifarKind::Cifar10, CifarKind::Cifar100}) {
    for (size_t limit : {size_t{0}, size_t{3}}) {
      LoadOptions options;
      options.limit = limit;
      options.balanced = limit != 0;
      expect_clean("batch.bin", [&] {
        const Dataset ds = parse_cifar_batch(bytes, "batch.bin", kind, Split::Train, options);
        check(ds.images.size() == ds.labels.size() * 3 * 32 * 32, "CIFAR images match labels");
      });
    }
  }
}

void idx_input(const uint8_t* data, size_t size) {
  using namespace data;
  if (size < 2) return;
  const size_t labels_len = std::min((size_t{data[0]} << 8) | data[1], size - 2);
  const std::vector<uint8_t> labels(data + 2, data + 2 + labels_len);
  const std::vector<uint8_t> images(data + 2 + labels_len, data + size);
  expect_clean("images.gz", [&] { (void)gunzip(images, "images.gz", size_t{1} << 20); });
  expect_clean("idx", [&] {
    const Dataset ds = parse_idx(images, "images-idx3", labels, "labels-idx1");
    check(ds.images.size() == ds.labels.size() * ds.image_size(), "IDX images match labels");
  });
}

void image_input(const uint8_t* data, size_t size) {
  using namespace data;
  const int channels[] = {0, 1, 3};
  const int want = channels[size % 3];
  const bool convert = (size / 3) % 2 == 1;
  expect_clean("image.png", [&] {
    const Image img = decode_image(data, size, "image.png", want, convert);
    const auto pixels = static_cast<int64_t>(img.height) * img.width;
    check(pixels > 0 && pixels <= kMaxImagePixels, "decoded size within the limits");
    check(img.pixels.size() == static_cast<size_t>(pixels) * static_cast<size_t>(img.channels),
          "pixel count matches the size");
  });
}

void archive_input(const uint8_t* data, size_t size) {
  using namespace data;
  LoadOptions options;
  options.threads = 1;
  expect_clean("data.tar.gz", [&] {
    const Dataset ds = parse_image_archive(data, size, "data.tar.gz", Split::Train, options);
    check(ds.images.size() == ds.labels.size() * ds.image_size(), "archive images match labels");
  });
}

void checkpoint_meta_input(const uint8_t* data, size_t size) {
  SafetensorsFile file;
  file.metadata["glassbox"] = std::string(reinterpret_cast<const char*>(data), size);
  const std::filesystem::path path = "fuzz.safetensors";
  expect_clean("fuzz.safetensors", [&] {
    const training::CheckpointMeta meta = training::read_checkpoint_meta(file, path);
    (void)training::read_training_state(meta, path);
  });
}

void onnx_input(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  expect_clean("fuzz.onnx", [&] { (void)models::import_onnx_bytes(bytes, "fuzz.onnx"); });
}

InputFn input_fn(std::string_view name) {
  if (name.starts_with("fuzz_")) name.remove_prefix(5);
  static const std::pair<std::string_view, InputFn> kTable[] = {
      {"safetensors", safetensors_input},
      {"cifar", cifar_input},
      {"idx", idx_input},
      {"image", image_input},
      {"archive", archive_input},
      {"checkpoint_meta", checkpoint_meta_input},
      {"onnx", onnx_input}};
  for (const auto& [n, fn] : kTable)
    if (n == name) return fn;
  return nullptr;
}

}  // namespace gb::fuzz
