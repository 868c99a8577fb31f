// Lookahead weights as airbench trains with them: a slow copy of the model's float parameters and
// buffers (batch-norm running statistics included); every `kEvery` optimizer steps the slow copy
// moves toward the model, slow += (1 - decay) * (model - slow), and the model is set to it. The
// decay grows with training, 0.95^5 * (step / total)^3, so early steps move freely and late ones
// are averaged; at the end of the run the model takes the slow copy (update with decay 1).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/module.h"

namespace gb::training {

class Lookahead {
 public:
  static constexpr int64_t kEvery = 5;
  // The slow copy starts as the model's tensors (on the model's device).
  explicit Lookahead(Module& model);
  // slow = slow * decay + model * (1 - decay); model = slow. requires: the same model.
  void update(Module& model, float decay);
  // The decay at optimizer step `step` of `total`: 0.95^5 * (step / total)^3.
  static float decay_at(int64_t step, int64_t total);
  // Whether an update is due after optimizer step `step` (1-based count of steps taken).
  static bool due(int64_t step) { return step % kEvery == 0; }

 private:
  std::vector<Tensor> slow_;
};

}  // namespace gb::training
