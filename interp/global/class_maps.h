// Per-class average explanations: every map is normalised on its own (so a confident image with
// large gradients does not outweigh the rest), then averaged over the images of its class,
// together with the mean input of the class (what "the average shirt" looks like).
// Shape letters: C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace gb::interp {

// How one map is scaled before it is averaged. A map that is zero everywhere stays zero.
enum class MapNormalisation {
  MaxAbs,  // a / max|a|: values in [-1, 1], the strongest pixel of each map weighs 1
  SumAbs,  // a / sum|a|: each map carries the same total mass 1
};

// "max-abs" / "sum-abs". throws: std::invalid_argument listing them.
MapNormalisation parse_map_normalisation(const std::string& name);
const char* map_normalisation_name(MapNormalisation n);

class ClassMapAccumulator {
 public:
  // requires: classes, C, H, W >= 1.
  ClassMapAccumulator(int64_t classes, int64_t C, int64_t H, int64_t W, MapNormalisation norm);

  // Adds map [H,W] (normalised here) and its input [C,H,W] or [1,C,H,W] to class k.
  // throws: std::invalid_argument for k out of range or a shape that does not match.
  void add(int64_t k, const Tensor& map, const Tensor& input);

  int64_t classes() const { return static_cast<int64_t>(count_.size()); }
  int64_t count(int64_t k) const { return count_.at(static_cast<size_t>(k)); }
  // The mean of class k's normalised maps [H,W] and inputs [C,H,W]; zeros when it has none.
  Tensor mean_map(int64_t k) const;
  Tensor mean_input(int64_t k) const;

 private:
  int64_t C_, H_, W_;
  MapNormalisation norm_;
  std::vector<int64_t> count_;
  std::vector<std::vector<double>> map_sum_, input_sum_;
};

}  // namespace gb::interp
