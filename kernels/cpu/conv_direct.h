// Stride-1 convolution without a materialised im2col ("padded-flat implicit GEMM").
// Shape letters: N batch, C input channels, H/W input size, K output channels, R/S kernel size,
// P/Q output size; Hp = H + 2*pad_h padded rows of Wp = W + pad_w columns (the zero columns
// after one row are also the left padding of the next); i a position on the padded-width output
// grid, i = p*Wp + q (columns q >= Q of that grid are computed and thrown away).
// Each image is copied once into a zero-padded buffer xp [C, plane] (strided convolutions: into
// phase planes, see conv_direct.cpp); then
//   y[k, i] = sum over (c, r, s) of w[k, c, r, s] * xp[c*plane + r*Wp + s + i]
// is a GEMM whose B operand is read straight from xp (the offset of (c, r, s) is a table), with a
// 4 x 24 or 4 x 16 AVX2/FMA register tile (4 output channels x 24 or 16 positions). Backward-input
// is the same kernel run on the padded output gradient with the transposed, flipped weights;
// backward-weight is a dot product over i between the output gradient (laid out on the padded-width
// grid with zeros in the thrown-away columns) and shifted rows of xp, 4 channels x 3 taps at a
// time. Determinism: forward and backward-input give each output element to one thread
// (bit-identical for any thread count); backward-weight sums per-thread partials in thread order.
#pragma once
#include "kernels/conv2d.h"

namespace gb::kernels::cpu {

// True for the shapes forward and backward-weight handle: one group, no dilation, a kernel larger
// than 1x1, and either stride 1 with padding no larger than the kernel minus one, or any stride > 1
// (strided convolutions run on the sh*sw phase planes of the padded input, where every tap is a
// unit-stride shift).
bool conv2d_direct_applicable(const Conv2dShape& s);
// True for the shapes backward-input handles: conv2d_direct_applicable with stride 1 (so that it
// is again such a convolution).
bool conv2d_direct_backward_input_applicable(const Conv2dShape& s);

// requires: conv2d_direct_applicable(s). Layouts as in kernels/conv2d.h.
void conv2d_direct_forward(const Conv2dShape& s, const float* x, const float* w,
                           const ConvEpilogue& epilogue, float* y);
// requires: conv2d_direct_backward_input_applicable(s). dx [N, C, H, W] overwritten.
void conv2d_direct_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx);
// dw [K, C, R, S] overwritten; db [K] overwritten when not nullptr.
void conv2d_direct_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                                   float* db);

}  // namespace gb::kernels::cpu
