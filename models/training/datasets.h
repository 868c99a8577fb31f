// The data sets a job reads: a split by name (Fashion-MNIST by default) with a class-balanced
// limit, and the one check that a data set fits a checkpoint's model (class count and image
// shape), with messages that name the data set and the checkpoint.
// Shape letters: C channels, H/W image size.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "data/dataset.h"
#include "models/training/checkpoint_meta.h"

namespace gb::training {

// The split of the data set at `path` ("": Fashion-MNIST from Debian's package); with limit > 0
// only `limit` images, balanced over the classes. throws: data::DataError naming the path.
data::Dataset load_split(const std::string& path, data::Split split, int64_t limit);

// Requires `ds` to have the checkpoint's classes (count) and input shape.
// throws: std::runtime_error "<data>: has N classes, the model in <checkpoint> has M" or
// "<data>: images are CxHxW but the model in <checkpoint> expects CxHxW".
void check_dataset_fits(const data::Dataset& ds, const CheckpointMeta& meta,
                        const std::filesystem::path& checkpoint);

// The image-shape half of check_dataset_fits, for data sets read only in part (explain --index).
void check_images_fit(const data::Dataset& ds, const Shape& input_shape,
                      const std::filesystem::path& checkpoint);

}  // namespace gb::training
