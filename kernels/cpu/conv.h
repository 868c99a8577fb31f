// 2-D convolution (cross-correlation, as in PyTorch), forward and backward, dense NCHW float32.
// x [N,C,H,W], w [K,C/G,R,S], bias [K] or nullptr, y [N,K,P,Q].
// Backward: dx [N,C,H,W] (overwritten), dw [K,C/G,R,S] (overwritten), db [K] (overwritten,
// may be nullptr). ref:: are plain loops; cpu:: are the fast kernels (im2col + packed GEMM,
// parallel over the batch, deterministic for a fixed thread count).
#pragma once
#include "kernels/cpu/conv_direct.h"
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
// Which algorithm cpu:: convolutions use. Auto: Winograd F(4x4, 3x3) (conv_winograd.h) for all
// passes of 3x3, stride-1, pad-1 layers with at least 8 input and output channels (the weight
// gradient up to 512 x 512 channels) and at least 32 4x4 output tiles in the batch (so not for
// one small image; conv2d_winograd_worthwhile); the padded-flat kernels of conv_direct.h for the
// other passes and shapes where they apply (one group; stride 1 with a kernel larger than 1x1, or
// any stride > 1, whose backward-input stays on im2col + GEMM); im2col + GEMM elsewhere. PaddedFlat
// turns Winograd off; Im2colGemm turns both off; Winograd forces Winograd wherever it applies. For
// kernel research and benchmarks; process-wide, not thread-safe against concurrent convolutions.
enum class ConvAlgorithm { Auto, Im2colGemm, PaddedFlat, Winograd };
void set_conv_algorithm(ConvAlgorithm algorithm);
ConvAlgorithm conv_algorithm();
// Parses "auto", "im2col", "padded-flat" or "winograd"; returns false for anything else.
bool parse_conv_algorithm(const char* name, ConvAlgorithm* algorithm);
// The kernels cpu:: convolutions run for shape s, as "forward[; backward-input X][; backward-weight
// Y]" where the backward passes differ from the forward: e.g. "winograd F(4x4,3x3);
// backward-weight padded-flat", "padded-flat (phases); backward-input im2col+gemm", "gemm-1x1".
const char* conv2d_kernel_name(const Conv2dShape& s);

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y);
void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx);
void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                            float* db);
// Inference forward with a fused epilogue (per-channel scale and shift, residual, ReLU; see
// ConvEpilogue): applied in the padded-flat kernel's store, or as one pass after im2col + GEMM.
void conv2d_forward_fused(const Conv2dShape& s, const float* x, const float* w,
                          const ConvEpilogue& epilogue, float* y);
}  // namespace cpu
}  // namespace gb::kernels
