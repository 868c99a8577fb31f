// 2-D convolution (cross-correlation, as in PyTorch), forward and backward, dense NCHW float32.
// x [N,C,H,W], w [K,C/G,R,S], bias [K] or nullptr, y [N,K,P,Q].
// Backward: dx [N,C,H,W] (overwritten), dw [K,C/G,R,S] (overwritten), db [K] (overwritten,
// may be nullptr). ref:: are plain loops; cpu:: are the fast kernels (im2col + packed GEMM,
// parallel over the batch, deterministic for a fixed thread count).
#pragma once
#include "kernels/shapes.h"

namespace gb::kernels {
namespace ref {
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y);
void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx);
void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                            float* db);
}  // namespace ref
namespace cpu {
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y);
void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx);
void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                            float* db);
}  // namespace cpu
}  // namespace gb::kernels
