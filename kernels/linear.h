// The fully connected family, as PyTorch's nn.Linear: y = x * w^T + b. One contract for the
// reference (ref::, kernels/ref/linear.cpp: plain loops, double accumulators), fast CPU (cpu::,
// kernels/cpu/linear.cpp: three sgemm_parallel calls, bit-identical for any thread count) and
// CUDA (cuda::, kernels/cuda/linear.cu: the tiled SGEMM, deterministic) kernels.
// Shape letters: N rows (batch), I input features, O output features.
//   forward   x [N,I], w [O,I], b [O] or nullptr -> y [N,O]
//   backward  x, w, dy [N,O] -> dx [N,I], dw [O,I], db [O], all overwritten; any may be nullptr
//             to skip it (dx when the input needs no gradient, db without bias).
#pragma once
#include <cstdint>

#include "kernels/kernel_fn.h"

namespace gb::kernels {

using LinearForwardFn = void(int64_t N, int64_t I, int64_t O, const float* x, const float* w,
                             const float* b, float* y);
using LinearBackwardFn = void(int64_t N, int64_t I, int64_t O, const float* x, const float* w,
                              const float* dy, float* dx, float* dw, float* db);

struct LinearKernels {
  KernelFn<LinearForwardFn> forward;
  KernelFn<LinearBackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};

namespace ref {
LinearForwardFn linear_forward;
LinearBackwardFn linear_backward;
extern const LinearKernels linear_kernels;
}  // namespace ref

namespace cpu {
LinearForwardFn linear_forward;
LinearBackwardFn linear_backward;
extern const LinearKernels linear_kernels;
}  // namespace cpu

namespace cuda {
LinearForwardFn linear_forward;
LinearBackwardFn linear_backward;
extern const LinearKernels linear_kernels;
}  // namespace cuda

}  // namespace gb::kernels
