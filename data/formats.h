// The per-format loaders behind load_dataset() (dataset.h). Each returns a Dataset of uint8
// images N x C x H x W (CHW per image) and int64 labels, and throws DataError("<file>: <cause>").
// Call these directly when the format is known; load_dataset() detects it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace gb::data {

// IDX (MNIST / Fashion-MNIST): an idx3 ubyte images file N x H x W and an idx1 ubyte labels
// file N, each gzipped or not. C = 1. Class names: Fashion-MNIST's when a path contains
// "fashion" (any case), else "0", "1", ... up to the largest label.
// throws: wrong magic, size not matching the header, N differing between the files, gzip errors.
Dataset load_idx(const std::string& images_path, const std::string& labels_path,
                 const LoadOptions& options = {});
// The same from the contents of the two files (each gzipped or not); the names stand for the
// files in messages. Image sides above kMaxImageSide (data/image.h) are refused.
Dataset parse_idx(std::vector<uint8_t> images, const std::string& images_name,
                  std::vector<uint8_t> labels, const std::string& labels_name,
                  const LoadOptions& options = {});
// A directory holding train-/t10k- IDX files (gzipped or not).
Dataset load_idx_dir(const std::string& dir, Split split, const LoadOptions& options = {});

// CIFAR binary batches: records of <label byte(s)><3072 bytes: 1024 R, 1024 G, 1024 B>, 32x32.
enum class CifarKind { Cifar10, Cifar100 };
// `files` are read in order; CIFAR-100 records carry <coarse><fine> labels and the fine one is
// used. Class names come from batches.meta.txt / fine_label_names.txt next to the first file
// when present, else the built-in lists.
// throws: a file whose size is not a whole number of records, a label out of range.
Dataset load_cifar_batches(const std::vector<std::string>& files, CifarKind kind, Split split,
                           const LoadOptions& options = {});
// One batch held in memory (gzipped or not), with the built-in class names; `name` stands for
// the file in messages. throws: as load_cifar_batches.
Dataset parse_cifar_batch(std::vector<uint8_t> bytes, const std::string& name, CifarKind kind,
                          Split split, const LoadOptions& options = {});
// A directory with data_batch_1..5.bin + test_batch.bin (CIFAR-10) or train.bin + test.bin
// (CIFAR-100). throws: no CIFAR batch files there.
Dataset load_cifar_dir(const std::string& dir, Split split, const LoadOptions& options = {});

// An image tree on disk: <root>/<split>/<class>/*.png|jpg|jpeg, or the same below a single top
// folder of root. Classes are the sorted sub-folders of <split>; files are sorted by name.
// C is 1 when the first image is grey (with or without alpha), else 3 (alpha dropped); the
// others are converted to C. Every image must have the first image's H x W.
// throws: no <split> folder, no images, an undecodable file, an image of a different size.
Dataset load_image_tree(const std::string& root, Split split, const LoadOptions& options = {});

// The same tree read straight from an archive (.tar.gz, .tgz, .tar; anything libarchive reads),
// with an optional single leading folder. Errors name "<archive>:<entry>".
// Formats read: tar (ustar, pax, gnu) and zip; filters: none, gzip, bzip2, xz, zstd. An
// image entry larger than kMaxArchiveEntryBytes is refused before it is read.
Dataset load_image_archive(const std::string& archive, Split split,
                           const LoadOptions& options = {});
// The same from the archive's bytes in memory; `name` stands for the archive in messages.
Dataset parse_image_archive(const uint8_t* bytes, size_t size, const std::string& name, Split split,
                            const LoadOptions& options = {});
// The largest archive entry kept for decoding (64 MiB): no PNG or JPEG within the pixel limit of
// data/image.h needs more.
inline constexpr int64_t kMaxArchiveEntryBytes = int64_t{1} << 26;

}  // namespace gb::data
