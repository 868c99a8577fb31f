// Image trees on disk: <root>/[<top>/]<split>/<class>/*.png|jpg|jpeg -> Dataset.
#include <algorithm>
#include <filesystem>

#include "data/error.h"
#include "data/file_io.h"
#include "data/formats.h"
#include "data/image_list.h"

namespace gb::data {
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> sorted_entries(const fs::path& dir, bool want_dirs) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const bool is_dir = it->is_directory(ec);
    if (want_dirs ? is_dir : (!is_dir && it->is_regular_file(ec))) out.push_back(it->path());
  }
  if (ec) throw DataError(dir.string(), "cannot list directory: " + ec.message());
  std::sort(out.begin(), out.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  return out;
}

// <root>/<split>, or <root>/<top>/<split> when root holds a single folder; empty if neither.
fs::path find_split_dir(const fs::path& root, const std::string& split) {
  if (is_directory((root / split).string())) return root / split;
  const std::vector<fs::path> subdirs = sorted_entries(root, true);
  if (subdirs.size() == 1 && is_directory((subdirs[0] / split).string())) {
    return subdirs[0] / split;
  }
  return {};
}

}  // namespace

Dataset load_image_tree(const std::string& root, Split split, const LoadOptions& options) {
  if (!is_directory(root)) {
    throw DataError(root, fs::exists(root) ? "not a directory" : "no such file or directory");
  }
  const std::string name = split_name(split);
  const fs::path split_dir = find_split_dir(root, name);
  if (split_dir.empty()) {
    throw DataError(
        root, "no '" + name + "' folder (expected " + root + "/" + name + "/<class>/*.png|jpg)");
  }
  Dataset ds;
  ds.source = root;
  ds.split = split;
  std::vector<EncodedImage> items;
  for (const fs::path& class_dir : sorted_entries(split_dir, true)) {
    const auto label = static_cast<int64_t>(ds.classes.size());
    ds.classes.push_back(class_dir.filename().string());
    for (const fs::path& file : sorted_entries(class_dir, false)) {
      if (!has_image_extension(file.filename().string())) continue;
      EncodedImage item;
      item.name = item.path = file.string();
      item.label = label;
      items.push_back(std::move(item));
    }
  }
  if (ds.classes.empty()) throw DataError(split_dir.string(), "no class folders");
  if (items.empty()) {
    throw DataError(split_dir.string(), "no images (.png/.jpg/.jpeg) in any class folder");
  }
  std::vector<int64_t> labels(items.size());
  for (size_t i = 0; i < items.size(); ++i) labels[i] = items[i].label;
  std::vector<EncodedImage> chosen;
  for (size_t i : select_samples(labels, ds.classes.size(), options)) {
    chosen.push_back(std::move(items[i]));
  }
  decode_images(chosen, options.threads, ds);
  return ds;
}

}  // namespace gb::data
