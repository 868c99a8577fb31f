// The 2-D transposed convolution (PyTorch's conv_transpose2d, ONNX ConvTranspose): the adjoint of
// conv2d in its input, so every shape is described by the Conv2dShape s of the convolution it
// transposes (kernels/shapes.h). Dense NCHW float32. Shape letters are that convolution's: the
// transposed convolution reads x [N,K,P,Q] (K its input channels) and writes y [N,C,H,W] (C its
// output channels); w [K,C/G,R,S] (ONNX's and PyTorch's ConvTranspose weight layout); G groups.
// The caller picks H, W (the output size, with ONNX's output_padding) so that s.P(), s.Q() are
// x's size.
//   forward          x [N,K,P,Q], w, bias [C] or nullptr -> y [N,C,H,W] (overwritten):
//                    y[n,c,h,w] = bias[c] + sum over k of c's group, r, s with
//                    h = p*sh - ph + r, w = q*sw - pw + s of x[n,k,p,q] * w[k,c%(C/G),r,s]
//   backward_input   dy [N,C,H,W], w -> dx [N,K,P,Q] (overwritten): conv2d's forward of dy
//   backward_weight  x, dy -> dw [K,C/G,R,S] (overwritten), db [C] (overwritten; nullptr: none)
// ref:: are plain loops with double accumulators (kernels/ref/conv_transpose2d.cpp). cpu::
// (kernels/cpu/conv_transpose2d.cpp) runs the fast conv2d kernels: forward is conv2d's
// backward-input (col2im of one GEMM per image and group, or the padded-flat kernel) plus the
// bias, backward-input conv2d's forward, backward-weight conv2d's backward-weight with x and dy in
// each other's places, so the weight gradient depends on the thread count as conv2d's does; db is
// summed per channel in double, independent of it. cuda:: (kernels/cuda/conv_transpose2d.cu) the
// same over cuda::conv2d_* (and their backend switch), with a bias kernel and a deterministic
// bias-gradient reduction (a block per channel, a fixed tree; no atomics).
// Accuracy against ref:: as conv2d's (kernels/conv2d.h).
#pragma once
#include "kernels/kernel_fn.h"
#include "kernels/shapes.h"

namespace gb::kernels {

using ConvTranspose2dForwardFn = void(const Conv2dShape& s, const float* x, const float* w,
                                      const float* bias, float* y);
using ConvTranspose2dBackwardInputFn = void(const Conv2dShape& s, const float* dy, const float* w,
                                            float* dx);
using ConvTranspose2dBackwardWeightFn = void(const Conv2dShape& s, const float* x, const float* dy,
                                             float* dw, float* db);

struct ConvTranspose2dKernels {
  KernelFn<ConvTranspose2dForwardFn> forward;
  KernelFn<ConvTranspose2dBackwardInputFn> backward_input;
  KernelFn<ConvTranspose2dBackwardWeightFn> backward_weight;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name},
            {"backward_input", backward_input.name},
            {"backward_weight", backward_weight.name}};
  }
};

namespace ref {
ConvTranspose2dForwardFn conv_transpose2d_forward;
ConvTranspose2dBackwardInputFn conv_transpose2d_backward_input;
ConvTranspose2dBackwardWeightFn conv_transpose2d_backward_weight;
extern const ConvTranspose2dKernels conv_transpose2d_kernels;
}  // namespace ref

namespace cpu {
ConvTranspose2dForwardFn conv_transpose2d_forward;
ConvTranspose2dBackwardInputFn conv_transpose2d_backward_input;
ConvTranspose2dBackwardWeightFn conv_transpose2d_backward_weight;
extern const ConvTranspose2dKernels conv_transpose2d_kernels;
}  // namespace cpu

namespace cuda {
ConvTranspose2dForwardFn conv_transpose2d_forward;
ConvTranspose2dBackwardInputFn conv_transpose2d_backward_input;
ConvTranspose2dBackwardWeightFn conv_transpose2d_backward_weight;
extern const ConvTranspose2dKernels conv_transpose2d_kernels;
}  // namespace cuda

}  // namespace gb::kernels
