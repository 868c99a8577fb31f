// CIFAR-10/100 binary batches. A record is <label> (CIFAR-10) or <coarse><fine> (CIFAR-100)
// followed by 3072 bytes: the 32x32 red plane, then green, then blue, i.e. already CHW.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>

#include "data/error.h"
#include "data/file_io.h"
#include "data/formats.h"

namespace gb::data {
namespace {

constexpr int kSide = 32;
constexpr size_t kPixels = 3 * kSide * kSide;

// Non-empty lines of a text file next to the batches; empty if the file is absent.
std::vector<std::string> read_names(const std::filesystem::path& file) {
  std::vector<std::string> names;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

std::vector<std::string> class_names(const std::string& first_file, CifarKind kind) {
  const auto dir = std::filesystem::path(first_file).parent_path();
  const bool c10 = kind == CifarKind::Cifar10;
  std::vector<std::string> names =
      read_names(dir / (c10 ? "batches.meta.txt" : "fine_label_names.txt"));
  const auto& builtin = c10 ? cifar10_classes() : cifar100_classes();
  return names.size() == builtin.size() ? names : builtin;
}

}  // namespace

namespace {

// Appends the records of one batch (already gunzipped) to `ds`, stopping at `stop` records.
void append_batch(Dataset& ds, const std::vector<uint8_t>& bytes, const std::string& name,
                  size_t label_bytes, size_t stop) {
  const size_t record = label_bytes + kPixels;
  if (bytes.empty()) throw DataError(name, "empty CIFAR batch");
  if (bytes.size() % record != 0) {
    throw DataError(name, "truncated or corrupt CIFAR batch: " + std::to_string(bytes.size()) +
                              " bytes is not a whole number of " + std::to_string(record) +
                              "-byte records");
  }
  const size_t n = std::min(bytes.size() / record, stop - ds.labels.size());
  const size_t base = ds.labels.size();
  ds.labels.resize(base + n);
  ds.images.resize((base + n) * kPixels);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* r = bytes.data() + i * record;
    const int64_t label = r[label_bytes - 1];  // CIFAR-100: the fine label, second byte
    if (label >= static_cast<int64_t>(ds.classes.size())) {
      throw DataError(name, "record " + std::to_string(i) + ": label " + std::to_string(label) +
                                " out of range (" + std::to_string(ds.classes.size()) +
                                " classes)");
    }
    ds.labels[base + i] = label;
    std::copy_n(r + label_bytes, kPixels, ds.image(base + i));
  }
}

// Reads batches one at a time through `next` (false when there are no more) into a data set.
template <class Next>
Dataset read_batches(Dataset ds, CifarKind kind, const LoadOptions& options, Next next) {
  const size_t label_bytes = kind == CifarKind::Cifar10 ? 1 : 2;
  ds.channels = 3;
  ds.height = ds.width = kSide;
  // Without `balanced`, reading stops once `limit` records are in.
  const size_t stop = options.limit && !options.balanced ? options.limit : SIZE_MAX;
  std::vector<uint8_t> bytes;
  std::string name;
  while (ds.labels.size() < stop && next(bytes, name)) {
    append_batch(ds, bytes, name, label_bytes, stop);
  }
  if (options.balanced && options.limit) {
    return subset(ds, select_samples(ds.labels, ds.classes.size(), options));
  }
  return ds;
}

}  // namespace

Dataset load_cifar_batches(const std::vector<std::string>& files, CifarKind kind, Split split,
                           const LoadOptions& options) {
  if (files.empty()) throw DataError("(no files)", "no CIFAR batch files given");
  Dataset ds;
  ds.source = files.size() == 1 ? files[0] : std::filesystem::path(files[0]).parent_path().string();
  ds.split = split;
  ds.classes = class_names(files[0], kind);
  size_t at = 0;
  return read_batches(std::move(ds), kind, options,
                      [&](std::vector<uint8_t>& bytes, std::string& name) {
                        if (at == files.size()) return false;
                        name = files[at++];
                        bytes = read_maybe_gzip(name);
                        return true;
                      });
}

Dataset parse_cifar_batch(std::vector<uint8_t> bytes, const std::string& name, CifarKind kind,
                          Split split, const LoadOptions& options) {
  Dataset ds;
  ds.source = name;
  ds.split = split;
  ds.classes = kind == CifarKind::Cifar10 ? cifar10_classes() : cifar100_classes();
  bool done = false;
  return read_batches(std::move(ds), kind, options,
                      [&](std::vector<uint8_t>& out, std::string& out_name) {
                        if (done) return false;
                        done = true;
                        out = maybe_gunzip(std::move(bytes), name);
                        out_name = name;
                        return true;
                      });
}

Dataset load_cifar_dir(const std::string& dir, Split split, const LoadOptions& options) {
  auto in = [&](const std::string& name) { return dir + "/" + name; };
  std::vector<std::string> files;
  CifarKind kind = CifarKind::Cifar10;
  if (is_file(in("test_batch.bin")) || is_file(in("data_batch_1.bin"))) {
    if (split == Split::Test) {
      files.push_back(in("test_batch.bin"));
    } else {
      for (int k = 1; k <= 5; ++k) {
        const std::string f = in("data_batch_" + std::to_string(k) + ".bin");
        if (is_file(f)) files.push_back(f);
      }
      if (files.empty()) files.push_back(in("data_batch_1.bin"));  // reported as missing
    }
  } else if (is_file(in("train.bin")) || is_file(in("test.bin"))) {
    kind = CifarKind::Cifar100;
    files.push_back(in(split == Split::Train ? "train.bin" : "test.bin"));
  } else {
    throw DataError(dir,
                    "no CIFAR batches (data_batch_N.bin, test_batch.bin, train.bin, test.bin)");
  }
  return load_cifar_batches(files, kind, split, options);
}

}  // namespace gb::data
