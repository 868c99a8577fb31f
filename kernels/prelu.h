// PReLU with a learnable slope per channel, as PyTorch's nn.PReLU / ONNX PRelu: over x [N,C,L]
// (L = the product of the dimensions after C; a single shared slope is the case C = 1, x viewed
// as [N,1,C*L]), y = x > 0 ? x : slope[c] * x. One contract for the reference (ref::,
// kernels/ref/prelu.cpp) and CUDA (cuda::, kernels/cuda/prelu.cu) kernels; the CPU set names
// ref's. Shape letters: N batch, C channels, L elements per (n, c).
//   forward   x [N,C,L], slope [C] -> y [N,C,L]
//   backward  x, slope, dy -> dx = x > 0 ? dy : slope[c] * dy (overwritten; nullptr skips it),
//             dslope[c] = sum over n, l of (x > 0 ? 0 : x * dy) (overwritten; nullptr skips it),
//             PyTorch's rule (a NaN x counts on the slope side). ref sums in double, n then l
//             ascending; cuda sums each channel in double in a fixed tree (one block per channel,
//             no atomics), so dslope may differ from ref's in the last bit of the float result.
// y, dx: one float expression per element, bit-identical across backends. Outputs may alias
// inputs exactly (y == x, dx == dy), not partially.
#pragma once
#include <cstdint>

#include "kernels/kernel_fn.h"

namespace gb::kernels {

using PreluForwardFn = void(int64_t N, int64_t C, int64_t L, const float* x, const float* slope,
                            float* y);
using PreluBackwardFn = void(int64_t N, int64_t C, int64_t L, const float* x, const float* slope,
                             const float* dy, float* dx, float* dslope);

struct PreluKernels {
  KernelFn<PreluForwardFn> forward;
  KernelFn<PreluBackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};

namespace ref {
PreluForwardFn prelu_forward;
PreluBackwardFn prelu_backward;
extern const PreluKernels prelu_kernels;
}  // namespace ref

namespace cuda {
PreluForwardFn prelu_forward;
PreluBackwardFn prelu_backward;
extern const PreluKernels prelu_kernels;
}  // namespace cuda

}  // namespace gb::kernels
