// load_dataset(): format detection, plus the helpers every format shares (validation, sample
// selection, subsets, known class names).
#include "data/dataset.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "data/error.h"
#include "data/file_io.h"
#include "data/formats.h"

namespace gb::data {
namespace {

bool is_cifar_dir(const std::string& d) {
  for (const char* f : {"data_batch_1.bin", "test_batch.bin", "train.bin", "test.bin"}) {
    if (is_file(d + "/" + f)) return true;
  }
  return false;
}

bool is_idx_dir(const std::string& d) {
  for (const char* f : {"train-images-idx3-ubyte", "t10k-images-idx3-ubyte"}) {
    if (is_file(d + "/" + f) || is_file(d + "/" + f + ".gz")) return true;
  }
  return false;
}

}  // namespace

const char* split_name(Split split) { return split == Split::Train ? "train" : "test"; }

Split parse_split(const std::string& name) {
  if (name == "train") return Split::Train;
  if (name == "test") return Split::Test;
  throw DataError(name, "unknown split (expected 'train' or 'test')");
}

Dataset load_dataset(const std::string& path, Split split, const LoadOptions& options) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw DataError(path, "no such file or directory");
  Dataset ds;
  if (is_directory(path)) {
    if (is_cifar_dir(path)) {
      ds = load_cifar_dir(path, split, options);
    } else if (is_cifar_dir(path + "/cifar-10-batches-bin")) {
      ds = load_cifar_dir(path + "/cifar-10-batches-bin", split, options);
    } else if (is_cifar_dir(path + "/cifar-100-binary")) {
      ds = load_cifar_dir(path + "/cifar-100-binary", split, options);
    } else if (is_idx_dir(path)) {
      ds = load_idx_dir(path, split, options);
    } else {
      ds = load_image_tree(path, split, options);
    }
  } else {
    const std::string file = std::filesystem::path(path).filename().string();
    const size_t at = file.find("images-idx3");
    if (at != std::string::npos) {
      const std::string labels = (std::filesystem::path(path).parent_path() /
                                  (file.substr(0, at) + "labels-idx1" + file.substr(at + 11)))
                                     .string();
      ds = load_idx(path, labels, options);
      ds.split = split;
    } else if (file.size() > 4 && file.compare(file.size() - 4, 4, ".bin") == 0) {
      const bool c100 = file == "train.bin" || file == "test.bin";
      ds = load_cifar_batches({path}, c100 ? CifarKind::Cifar100 : CifarKind::Cifar10, split,
                              options);
    } else {
      ds = load_image_archive(path, split, options);
    }
  }
  validate(ds);
  return ds;
}

std::string default_fashion_mnist_dir() {
  const char* env = std::getenv("GB_FASHION_MNIST");
  return env && *env ? env : "/usr/share/datasets/fashion-mnist";
}

Dataset load_fashion_mnist(Split split, const LoadOptions& options) {
  Dataset ds = load_idx_dir(default_fashion_mnist_dir(), split, options);
  ds.classes = fashion_mnist_classes();
  validate(ds);
  return ds;
}

void validate(const Dataset& ds) {
  if (ds.channels <= 0 || ds.height <= 0 || ds.width <= 0) {
    throw DataError(ds.source, "invalid image shape " + std::to_string(ds.channels) + "x" +
                                   std::to_string(ds.height) + "x" + std::to_string(ds.width));
  }
  if (ds.images.size() != ds.size() * ds.image_size()) {
    throw DataError(
        ds.source, "image buffer holds " + std::to_string(ds.images.size()) +
                       " bytes, expected N*C*H*W = " + std::to_string(ds.size() * ds.image_size()));
  }
  for (size_t i = 0; i < ds.size(); ++i) {
    if (ds.labels[i] < 0 || ds.labels[i] >= static_cast<int64_t>(ds.num_classes())) {
      throw DataError(ds.source, "sample " + std::to_string(i) + " has label " +
                                     std::to_string(ds.labels[i]) + ", outside [0, " +
                                     std::to_string(ds.num_classes()) + ")");
    }
  }
}

std::vector<size_t> select_samples(const std::vector<int64_t>& labels, size_t num_classes,
                                   const LoadOptions& options) {
  const size_t n = labels.size();
  const size_t want = options.limit ? std::min(options.limit, n) : n;
  std::vector<size_t> out;
  out.reserve(want);
  if (!options.balanced || !options.limit) {
    for (size_t i = 0; i < want; ++i) out.push_back(i);
    return out;
  }
  // Round-robin over classes, each class's samples in their original order.
  std::vector<std::vector<size_t>> by_class(num_classes);
  for (size_t i = 0; i < n; ++i) {
    const int64_t l = labels[i];
    if (l >= 0 && static_cast<size_t>(l) < num_classes)
      by_class[static_cast<size_t>(l)].push_back(i);
  }
  for (size_t round = 0; out.size() < want; ++round) {
    bool any = false;
    for (size_t c = 0; c < num_classes && out.size() < want; ++c) {
      if (round < by_class[c].size()) {
        out.push_back(by_class[c][round]);
        any = true;
      }
    }
    if (!any) break;
  }
  return out;
}

Dataset subset(const Dataset& ds, const std::vector<size_t>& indices) {
  Dataset out;
  out.source = ds.source;
  out.split = ds.split;
  out.channels = ds.channels;
  out.height = ds.height;
  out.width = ds.width;
  out.classes = ds.classes;
  const size_t sz = ds.image_size();
  out.images.resize(indices.size() * sz);
  out.labels.resize(indices.size());
  for (size_t j = 0; j < indices.size(); ++j) {
    std::copy_n(ds.image(indices[j]), sz, out.image(j));
    out.labels[j] = ds.labels[indices[j]];
  }
  return out;
}

const std::vector<std::string>& cifar10_classes() {
  static const std::vector<std::string> names = {
      "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return names;
}

const std::vector<std::string>& cifar100_classes() {
  static const std::vector<std::string> names = {
      "apple",       "aquarium_fish", "baby",      "bear",       "beaver",       "bed",
      "bee",         "beetle",        "bicycle",   "bottle",     "bowl",         "boy",
      "bridge",      "bus",           "butterfly", "camel",      "can",          "castle",
      "caterpillar", "cattle",        "chair",     "chimpanzee", "clock",        "cloud",
      "cockroach",   "couch",         "crab",      "crocodile",  "cup",          "dinosaur",
      "dolphin",     "elephant",      "flatfish",  "forest",     "fox",          "girl",
      "hamster",     "house",         "kangaroo",  "keyboard",   "lamp",         "lawn_mower",
      "leopard",     "lion",          "lizard",    "lobster",    "man",          "maple_tree",
      "motorcycle",  "mountain",      "mouse",     "mushroom",   "oak_tree",     "orange",
      "orchid",      "otter",         "palm_tree", "pear",       "pickup_truck", "pine_tree",
      "plain",       "plate",         "poppy",     "porcupine",  "possum",       "rabbit",
      "raccoon",     "ray",           "road",      "rocket",     "rose",         "sea",
      "seal",        "shark",         "shrew",     "skunk",      "skyscraper",   "snail",
      "snake",       "spider",        "squirrel",  "streetcar",  "sunflower",    "sweet_pepper",
      "table",       "tank",          "telephone", "television", "tiger",        "tractor",
      "train",       "trout",         "tulip",     "turtle",     "wardrobe",     "whale",
      "willow_tree", "wolf",          "woman",     "worm"};
  return names;
}

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

}  // namespace gb::data
