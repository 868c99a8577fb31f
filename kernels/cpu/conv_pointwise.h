// Strided 1x1 convolution without padding (ResNet's projection shortcuts: 1x1, stride 2), forward
// with the fused epilogue of kernels/conv2d.h. Shape letters: N batch, C input channels, H/W
// input size, K output channels, P/Q output size (P = (H - 1) / stride_h + 1), i = p * Q + q.
// Per image: xs [C][PQ rounded up to 16] <- x[n, c, p * stride_h, q * stride_w] (zeros past PQ),
// then y[n, k, i] = epilogue(sum over c of w[k, c] * xs[c, i]) with a 4 x 16 AVX2 register tile
// (4 output channels x 16 positions), the epilogue applied as each tile is stored. im2col + GEMM
// did the same work with a scalar gather, a packed GEMM whose packing outweighs a 16- or
// 32-deep product, and a second pass for the epilogue.
// Determinism: one thread per image, each sum in channel order; bit-identical for any thread
// count.
#pragma once
#include "kernels/conv2d.h"

namespace gb::kernels::cpu {

// True for one group, a 1x1 kernel, no padding, no dilation and a stride above 1 on some axis
// (stride 1 is a plain GEMM on x: gemm-1x1).
bool conv2d_pointwise_applicable(const Conv2dShape& s);

// requires: conv2d_pointwise_applicable(s). Layouts as in kernels/conv2d.h; y overwritten.
void conv2d_pointwise_forward(const Conv2dShape& s, const float* x, const float* w,
                              const ConvEpilogue& ep, float* y);

}  // namespace gb::kernels::cpu
