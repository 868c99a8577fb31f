// Constant 2-D padding of NCHW float32 (ONNX Pad mode=constant on H and W, torch.nn.functional.pad
// with four non-negative pads): y [N,C,P,Q] holds x at rows [top, top + H) and columns
// [left, left + W), `value` elsewhere; the backward is the matching slice of dy. One contract for
// the reference (ref::, kernels/ref/pad.cpp) and CUDA (cuda::, kernels/cuda/pad.cu) kernels; the
// CPU set names ref's (copies of contiguous rows). Shape letters (Pad2dShape, kernels/shapes.h):
// N batch, C channels, H/W input, P/Q output.
//   forward   x [N,C,H,W] -> y [N,C,P,Q] (overwritten)
//   backward  dy [N,C,P,Q] -> dx [N,C,H,W] = dy[:, :, top:top+H, left:left+W] (overwritten)
// Pure copies: every backend gives the same bits. Outputs must not overlap inputs.
#pragma once
#include <cstdint>

#include "kernels/kernel_fn.h"
#include "kernels/shapes.h"

namespace gb::kernels {

using Pad2dForwardFn = void(const Pad2dShape& s, const float* x, float value, float* y);
using Pad2dBackwardFn = void(const Pad2dShape& s, const float* dy, float* dx);

struct Pad2dKernels {
  KernelFn<Pad2dForwardFn> forward;
  KernelFn<Pad2dBackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};

namespace ref {
Pad2dForwardFn pad2d_forward;
Pad2dBackwardFn pad2d_backward;
extern const Pad2dKernels pad2d_kernels;
}  // namespace ref

namespace cuda {
Pad2dForwardFn pad2d_forward;
Pad2dBackwardFn pad2d_backward;
extern const Pad2dKernels pad2d_kernels;
}  // namespace cuda

}  // namespace gb::kernels
