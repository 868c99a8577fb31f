// Split loading and the data set / checkpoint compatibility check (see datasets.h).
#include "models/training/datasets.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace gb::training {

data::Dataset load_split(const std::string& path, data::Split split, int64_t limit) {
  data::LoadOptions lo;
  lo.limit = static_cast<size_t>(std::max<int64_t>(limit, 0));
  lo.balanced = limit > 0;
  if (path.empty()) return data::load_fashion_mnist(split, lo);
  return data::load_dataset(path, split, lo);
}

void check_dataset_fits(const data::Dataset& ds, const CheckpointMeta& meta,
                        const std::filesystem::path& checkpoint) {
  if (ds.classes.size() != meta.classes.size()) {
    throw std::runtime_error(fmt::format("{}: has {} classes, the model in {} has {}", ds.source,
                                         ds.classes.size(), checkpoint.string(),
                                         meta.classes.size()));
  }
  check_images_fit(ds, meta.input_shape, checkpoint);
}

void check_images_fit(const data::Dataset& ds, const Shape& input_shape,
                      const std::filesystem::path& checkpoint) {
  const Shape& s = input_shape;
  if (ds.channels != s.at(0) || ds.height != s.at(1) || ds.width != s.at(2)) {
    throw std::runtime_error(
        fmt::format("{}: images are {}x{}x{} but the model in {} expects {}x{}x{}", ds.source,
                    ds.channels, ds.height, ds.width, checkpoint.string(), s[0], s[1], s[2]));
  }
}

}  // namespace gb::training
