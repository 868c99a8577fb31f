// Per-class averages of normalised maps and of inputs (see class_maps.h).
// Shape letters: C channels, H/W image size, K classes.
#include "interp/global/class_maps.h"

#include <cmath>
#include <stdexcept>

namespace gb::interp {

MapNormalisation parse_map_normalisation(const std::string& name) {
  if (name == "max-abs") return MapNormalisation::MaxAbs;
  if (name == "sum-abs") return MapNormalisation::SumAbs;
  throw std::invalid_argument("--normalise must be max-abs or sum-abs, got '" + name + "'");
}

const char* map_normalisation_name(MapNormalisation n) {
  return n == MapNormalisation::MaxAbs ? "max-abs" : "sum-abs";
}

ClassMapAccumulator::ClassMapAccumulator(int64_t classes, int64_t C, int64_t H, int64_t W,
                                         MapNormalisation norm)
    : C_(C), H_(H), W_(W), norm_(norm) {
  if (classes < 1 || C < 1 || H < 1 || W < 1) {
    throw std::invalid_argument("ClassMapAccumulator: classes, C, H, W must be >= 1");
  }
  count_.assign(static_cast<size_t>(classes), 0);
  map_sum_.assign(static_cast<size_t>(classes), std::vector<double>(static_cast<size_t>(H * W)));
  input_sum_.assign(static_cast<size_t>(classes),
                    std::vector<double>(static_cast<size_t>(C * H * W)));
}

void ClassMapAccumulator::add(int64_t k, const Tensor& map, const Tensor& input) {
  if (k < 0 || k >= classes()) {
    throw std::invalid_argument("class maps: class " + std::to_string(k) + " out of range");
  }
  if (map.dim() != 2 || map.size(0) != H_ || map.size(1) != W_ || input.numel() != C_ * H_ * W_) {
    throw std::invalid_argument("class maps: map " + shape_str(map.shape()) + " or input " +
                                shape_str(input.shape()) + " does not match the image size");
  }
  const std::vector<float> m = map.to_vector();
  double scale = 0;
  for (float v : m) {
    const double a = std::fabs(static_cast<double>(v));
    scale = norm_ == MapNormalisation::MaxAbs ? std::max(scale, a) : scale + a;
  }
  std::vector<double>& ms = map_sum_[static_cast<size_t>(k)];
  if (scale > 0) {
    for (size_t i = 0; i < m.size(); ++i) ms[i] += m[i] / scale;
  }
  const std::vector<float> x = input.to_vector();
  std::vector<double>& xs = input_sum_[static_cast<size_t>(k)];
  for (size_t i = 0; i < x.size(); ++i) xs[i] += x[i];
  ++count_[static_cast<size_t>(k)];
}

namespace {

Tensor mean_of(const std::vector<double>& sum, int64_t count, Shape shape) {
  std::vector<float> v(sum.size());
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = count > 0 ? static_cast<float>(sum[i] / static_cast<double>(count)) : 0.0f;
  }
  return Tensor::from_vector(std::move(shape), v);
}

}  // namespace

Tensor ClassMapAccumulator::mean_map(int64_t k) const {
  return mean_of(map_sum_.at(static_cast<size_t>(k)), count(k), {H_, W_});
}

Tensor ClassMapAccumulator::mean_input(int64_t k) const {
  return mean_of(input_sum_.at(static_cast<size_t>(k)), count(k), {C_, H_, W_});
}

}  // namespace gb::interp
