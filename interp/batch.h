// Batched model evaluation for explanations: thousands of perturbed inputs go through the model
// in chunks sized to a memory budget, under a no-grad scope, never one at a time.
// Shape letters: N inputs, C channels, H/W image size, K classes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

#include "runtime/module.h"
#include "runtime/precision.h"

namespace gb::interp {

enum class IncrementalMode { Auto, On, Off };

// Auto's threshold. Measured with 2 threads (tools/bench_explain_peers.py, bench_incremental.py):
// on 32x32 ResNet-20 occlusion the changed region covers most layers (0.79 of the multiply-adds
// remain) and the trace and the small patch ops cost more than that saves (0.8-1.0x); on 224x224
// ResNet-18 (0.51 remain) it paid 1.66x. 64 is the smallest side at which it is tried.
inline constexpr int64_t kIncrementalMinSide = 64;

struct BatchOptions {
  size_t mem_budget_bytes = size_t{512} << 20;  // activations of one chunk stay under this
  // Never more inputs than this per forward. Chunks of 32-64 images ran ~2x faster than
  // 256-1024 on the 2-core reference machine (activations stay in cache), so 64 is the default.
  int64_t max_chunk = 64;
  // Perturbation methods whose images differ from the explained one in a box (occlusion, feature
  // ablation, the coalition games) can compute each layer only where the box reaches
  // (interp/incremental.h): On always, Off never (every image runs the full forward), Auto on
  // images of at least kIncrementalMinSide pixels a side (--incremental auto|on|off).
  IncrementalMode incremental = IncrementalMode::Auto;
  // The multiplications of these forwards (runtime/precision.h): Bf16 (--precision bf16) runs
  // the Winograd convolutions on bfloat16 operands with float32 accumulation. CPU models only.
  ForwardPrecision precision = ForwardPrecision::Fp32;
};

// opt with float32 forwards: what the evaluation metrics use, so that a bf16 explanation is
// scored by the exact model.
inline BatchOptions exact_forwards(BatchOptions opt) {
  opt.precision = ForwardPrecision::Fp32;
  return opt;
}

// The scope every batched forward of this header runs under: opt.precision on this thread.
// throws: std::invalid_argument for Bf16 with a model that is not on the CPU; std::runtime_error
// for Bf16 on a CPU without AVX512-BF16.
ForwardPrecisionScope forward_precision_scope(const Module& model, const BatchOptions& opt);

// How many inputs of shape [C,H,W] fit in one forward pass under `opt.mem_budget_bytes`,
// measured once by running a one-image forward (eval mode, no grad) and reading the runtime's
// peak tensor memory. ensures: 1 <= result <= opt.max_chunk.
// Whether `opt` asks for incremental inference on images of H x W.
inline bool use_incremental(const BatchOptions& opt, int64_t H, int64_t W) {
  return opt.incremental == IncrementalMode::On ||
         (opt.incremental == IncrementalMode::Auto && H >= kIncrementalMinSide &&
          W >= kIncrementalMinSide);
}

// Why incremental inference was not asked for (for the method's JSON), "" when it was.
inline const char* incremental_declined(const BatchOptions& opt, int64_t H, int64_t W) {
  if (use_incremental(opt, H, W)) return "";
  return opt.incremental == IncrementalMode::Off
             ? "--incremental off"
             : "--incremental auto: images under 64 pixels a side run the full forward";
}

int64_t chunk_size_for(Module& model, const Shape& chw, const BatchOptions& opt);

// Logits [N,K] of `inputs` [N,C,H,W], evaluated in eval mode under NoGradGuard (and
// opt.precision) in chunks of chunk_size_for(...). The model's train/eval mode is restored
// afterwards.
Tensor forward_batched(Module& model, const Tensor& inputs, const BatchOptions& opt = {});

// Streams inputs produced on demand: make(begin, count) returns [count,C,H,W] for inputs
// begin..begin+count-1; consume(begin, logits[count,K]) receives each chunk's logits in order.
// Lets callers evaluate 2^16 coalitions without holding all inputs at once. Input 0 runs alone
// first, and the peak memory of that forward sizes the chunks of the others (as chunk_size_for
// would, without a forward of its own).
void forward_streamed(Module& model, int64_t total, const Shape& chw,
                      const std::function<Tensor(int64_t begin, int64_t count)>& make,
                      const std::function<void(int64_t begin, const Tensor& logits)>& consume,
                      const BatchOptions& opt = {});

}  // namespace gb::interp
