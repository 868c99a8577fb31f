// Dataset: a labelled image set held in memory as plain buffers, and the one entry point
// load_dataset() that detects a format on disk and loads a split of it.
// Shape letters: N images, C channels, H height, W width. Images are uint8 N x C x H x W, each
// image stored CHW (planar), row-major; labels are int64 class indices into `classes`.
// The data module does not depend on the runtime's Tensor: the loader turns these buffers into
// float batches (see loader.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gb::data {

enum class Split { Train, Test };

// "train" / "test".
const char* split_name(Split split);
// requires: name is "train" or "test". throws: DataError otherwise.
Split parse_split(const std::string& name);

struct Dataset {
  std::string source;  // where it came from (path), for messages
  Split split = Split::Train;
  int channels = 0, height = 0, width = 0;
  std::vector<uint8_t> images;       // N x C x H x W, values 0..255
  std::vector<int64_t> labels;       // N, each in [0, classes.size())
  std::vector<std::string> classes;  // class names, index = label

  size_t size() const { return labels.size(); }
  size_t image_size() const {  // C * H * W
    return static_cast<size_t>(channels) * static_cast<size_t>(height) * static_cast<size_t>(width);
  }
  size_t num_classes() const { return classes.size(); }
  // requires: i < size(). The CHW pixels of image i.
  const uint8_t* image(size_t i) const { return images.data() + i * image_size(); }
  uint8_t* image(size_t i) { return images.data() + i * image_size(); }
};

// Options shared by every format.
struct LoadOptions {
  // 0: every sample of the split. Otherwise keep only `limit` samples: the first ones in the
  // format's order (file order; image trees: class by class, files sorted by name), or, with
  // `balanced`, taken round-robin over the classes (class 0's first, class 1's first, ...).
  // Image trees and archives decode only the selected files, so a small limit is fast.
  size_t limit = 0;
  bool balanced = false;
  // Threads that decode PNG/JPEG files (image trees and archives); 1 decodes inline.
  int threads = 2;
};

// Load split `split` of the data set at `path`, detecting the format:
//   - a .tar.gz / .tgz / .tar archive of an image tree   [<top>/]<split>/<class>/*.png|jpg|jpeg
//   - a directory of CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin) or CIFAR-100
//     (train.bin, test.bin; the fine label is used), also inside cifar-10-batches-bin/ or
//     cifar-100-binary/
//   - a directory of IDX files: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
//   - an IDX images file (…images-idx3-ubyte[.gz]); its labels file is the same name with
//     images-idx3 -> labels-idx1. The file names the data, so `split` only labels the result.
//   - one CIFAR batch file *.bin (train.bin / test.bin are read as CIFAR-100, others as
//     CIFAR-10); like an IDX file it names the data, so `split` only labels the result
//   - a directory image tree [<top>/]<split>/<class>/*.png|jpg|jpeg (classes = sorted folders)
// ensures: result passes validate().
// throws: DataError naming the file and the cause (missing path, unknown format, corrupt or
//   truncated file, empty tree, image of the wrong size, ...).
Dataset load_dataset(const std::string& path, Split split, const LoadOptions& options = {});

// Fashion-MNIST from its Debian location (/usr/share/datasets/fashion-mnist), or from the
// directory named by the environment variable GB_FASHION_MNIST when set.
std::string default_fashion_mnist_dir();
Dataset load_fashion_mnist(Split split, const LoadOptions& options = {});

// Checks the invariants: C, H, W > 0; images.size() == N * C * H * W; every label in
// [0, classes.size()). throws: DataError naming ds.source and the broken invariant.
void validate(const Dataset& ds);

// The indices that `options` (limit, balanced) keeps out of `labels`, in output order.
std::vector<size_t> select_samples(const std::vector<int64_t>& labels, size_t num_classes,
                                   const LoadOptions& options);

// A copy of ds holding only samples `indices`, in that order. requires: each index < ds.size().
Dataset subset(const Dataset& ds, const std::vector<size_t>& indices);

// Class names of the known sets.
const std::vector<std::string>& cifar10_classes();
const std::vector<std::string>& cifar100_classes();  // the 100 fine labels
const std::vector<std::string>& fashion_mnist_classes();

}  // namespace gb::data
