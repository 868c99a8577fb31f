// Batched model evaluation for explanations: thousands of perturbed inputs go through the model
// in chunks sized to a memory budget, under a no-grad scope, never one at a time.
// Shape letters: N inputs, C channels, H/W image size, K classes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

#include "runtime/module.h"

namespace gb::interp {

struct BatchOptions {
  size_t mem_budget_bytes = size_t{512} << 20;  // activations of one chunk stay under this
  // Never more inputs than this per forward. Chunks of 32-64 images ran ~2x faster than
  // 256-1024 on the 2-core reference machine (activations stay in cache), so 64 is the default.
  int64_t max_chunk = 64;
  // Perturbation methods whose images differ from the explained one in a box (occlusion, feature
  // ablation, the coalition games) compute each layer only where the box reaches
  // (interp/incremental.h); false: every image runs the full forward (--no-incremental).
  bool incremental = true;
};

// How many inputs of shape [C,H,W] fit in one forward pass under `opt.mem_budget_bytes`,
// measured once by running a one-image forward (eval mode, no grad) and reading the runtime's
// peak tensor memory. ensures: 1 <= result <= opt.max_chunk.
int64_t chunk_size_for(Module& model, const Shape& chw, const BatchOptions& opt);

// Logits [N,K] of `inputs` [N,C,H,W], evaluated in eval mode under NoGradGuard in chunks of
// chunk_size_for(...). The model's train/eval mode is restored afterwards.
Tensor forward_batched(Module& model, const Tensor& inputs, const BatchOptions& opt = {});

// Streams inputs produced on demand: make(begin, count) returns [count,C,H,W] for inputs
// begin..begin+count-1; consume(begin, logits[count,K]) receives each chunk's logits in order.
// Lets callers evaluate 2^16 coalitions without holding all inputs at once.
void forward_streamed(Module& model, int64_t total, const Shape& chw,
                      const std::function<Tensor(int64_t begin, int64_t count)>& make,
                      const std::function<void(int64_t begin, const Tensor& logits)>& consume,
                      const BatchOptions& opt = {});

}  // namespace gb::interp
