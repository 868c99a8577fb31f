// The bilinear-resize family over NCHW planes, align_corners=false (PyTorch's F.interpolate
// default): x [N,C,H,W] -> y [N,C,OH,OW]; the backward spreads dy into dx (overwritten) with the
// same weights. Shape letters: N batch, C channels, H/W input, OH/OW output.
// ref:: (kernels/ref/resize.cpp): source index src = max((o + 0.5) * in/out - 0.5, 0), float
// index and weight arithmetic as PyTorch's CPU kernel, the blend in double; it is also what the
// CPU runs (no fast CPU kernel yet: the row names ref:: for the CPU). cuda::
// (kernels/cuda/resize.cu): the same index arithmetic with the multiply-add fused as GCC contracts
// it for x86-64-v3, the blend in double; the backward gathers (each input element sums the
// outputs that read it, ascending output order), deterministic without atomics.
#pragma once
#include <cstdint>

#include "kernels/kernel_fn.h"

namespace gb::kernels {

using ResizeForwardFn = void(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const float* x, float* y);
using ResizeBackwardFn = void(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                              const float* dy, float* dx);

struct ResizeKernels {
  KernelFn<ResizeForwardFn> forward;
  KernelFn<ResizeBackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};

namespace ref {
ResizeForwardFn bilinear_resize_forward;
ResizeBackwardFn bilinear_resize_backward;
extern const ResizeKernels bilinear_resize_kernels;
}  // namespace ref

namespace cuda {
ResizeForwardFn bilinear_resize_forward;
ResizeBackwardFn bilinear_resize_backward;
extern const ResizeKernels bilinear_resize_kernels;
}  // namespace cuda

}  // namespace gb::kernels
