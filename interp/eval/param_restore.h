// Saving and re-drawing model tensors for the parameter-randomisation tests (interp/metrics.h
// cascading_randomization, interp/eval/randomisation.h): a restorer that puts saved values back
// when it goes out of scope (also during unwinding), and the "spread" re-draw.
#pragma once
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace gb::interp {

// Restores saved tensor values when it goes out of scope, in reverse order of saving.
class ParameterRestorer {
 public:
  ParameterRestorer() = default;
  ParameterRestorer(const ParameterRestorer&) = delete;
  ParameterRestorer& operator=(const ParameterRestorer&) = delete;
  ~ParameterRestorer();
  // Saves `t` unless it is saved already; returns false when it was.
  bool save(const Tensor& t);

 private:
  std::vector<std::pair<Tensor, Tensor>> saved_;
  std::set<const TensorImpl*> seen_;
};

// Redraws `t` from N(mean(t), std(t)^2) using Philox(seed, stream); a tensor with no spread keeps
// its values.
void randomize_like(const Tensor& t, uint64_t seed, uint64_t stream);

// The first Philox stream of the randomisation tests ("RAND"); tensor i gets kRandomizeStream + i.
inline constexpr uint64_t kRandomizeStream = 0x52414e44;

}  // namespace gb::interp
