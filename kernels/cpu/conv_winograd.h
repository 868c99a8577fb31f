// Winograd F(4x4, 3x3) convolution for 3x3, stride-1, pad-1 layers (the body of every CIFAR
// ResNet): forward (with the fused epilogue of conv_direct.h), backward-input and backward-weight.
// Shape letters: N batch, C input channels, H/W input size (= output size), K output channels;
// TH x TW tiles of 4x4 outputs per image, each read from a 6x6 input patch; xi in [0, 36) a
// position of the 6x6 Winograd domain.
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A        (Lavin & Gray 2016, points 0, +-1, +-2, inf)
// computes a 4x4 output tile from a 6x6 input patch d and a 3x3 filter g with 36 instead of 144
// multiplications; the channel sums become 36 independent GEMMs M[xi] = V[xi] * U[xi] of shape
// [tiles, C] x [C, K]. Images are processed in groups that keep V and M in L2 (with fewer images
// than threads, each image's tile rows are split between the threads): each group's input
// is repacked channel-blocked (8 channels per AVX2 vector, the last block zero-padded), so that
// the transforms are plain vector arithmetic for any map size, and the output transform writes
// NCHW directly.
// Numerics: the transforms have constants up to 8 and 1/24, so the result differs from the direct
// sum by a few float ulps of the tile's magnitude (measured up to about 1e-6 of the sum of
// absolute terms; tests use 3e-5).
// Determinism: in forward and backward-input every output element is computed by one thread, in
// an order independent of the thread count, so results are bit-identical for any thread count;
// backward-weight sums per-thread partials in thread order (bit-identical for a fixed count),
// except in layers wider than 128 x 128 channels, where the threads split the 36 Winograd points
// and every sum runs in tile order (bit-identical for any count).
#pragma once
#include "kernels/cpu/conv_direct.h"
#include "kernels/shapes.h"

namespace gb::kernels::cpu {

// True for the shapes handled here: one group, a 3x3 kernel, stride 1, dilation 1, padding 1 on
// both axes, and C and K of at least 8 (any count: channels are padded to blocks of 8 inside, so
// pruned networks with odd channel counts keep Winograd).
bool conv2d_winograd_applicable(const Conv2dShape& s);

// Whether Winograd pays for shape s: its filter transform (36 values per filter instead of 9)
// must be amortised over at least 32 tiles of 4x4 outputs in the batch. Measured with 2 threads:
// one 8x8 image with 64 channels (4 tiles) takes 0.15 ms against 0.07 on padded-flat, one
// 16x16 image with 128 channels (16 tiles) 0.70 against 0.47, eight 8x8 images (32 tiles) 0.22
// against 0.28. cpu::conv2d_* with ConvAlgorithm::Auto use Winograd only where this holds.
bool conv2d_winograd_worthwhile(const Conv2dShape& s);

// requires: conv2d_winograd_applicable(s). x [N, C, H, W], w [K, C, 3, 3], y [N, K, H, W].
void conv2d_winograd_forward(const Conv2dShape& s, const float* x, const float* w,
                             const ConvEpilogue& epilogue, float* y);
// requires: conv2d_winograd_applicable(s). dy [N, K, H, W], dx [N, C, H, W] overwritten.
void conv2d_winograd_backward_input(const Conv2dShape& s, const float* dy, const float* w,
                                    float* dx);
// conv2d_winograd_applicable and C * K no larger than 512 * 512 (each thread keeps a
// [36, C, K] float partial gradient, 38 MB at that size).
bool conv2d_winograd_backward_weight_applicable(const Conv2dShape& s);
// requires: conv2d_winograd_backward_weight_applicable(s). dw [K, C, 3, 3] overwritten; db [K]
// overwritten when not nullptr. dL/dU = sum over tiles of V (.) (A dY A^T), one partial per
// thread over a contiguous range of image groups, summed in thread order: bit-identical run to
// run for a fixed thread count (like the other backward-weight kernels).
void conv2d_winograd_backward_weight(const Conv2dShape& s, const float* x, const float* dy,
                                     float* dw, float* db);

}  // namespace gb::kernels::cpu
