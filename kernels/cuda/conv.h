// Hand-written CUDA convolution (implicit GEMM: no im2col buffer is materialised) and the
// selection of the convolution backend (hand-written by default, cuDNN for comparison).
// Same contracts as kernels::ref::conv2d_* (kernels/cpu/conv.h): dense NCHW float32, weight
// [K, C/G, R, S], bias may be nullptr, all pointers device pointers; outputs are overwritten.
// Deterministic: no atomics; reductions run in a fixed order, so a given shape gives bitwise
// identical results run after run.
// Shape letters: N batch, C/K input/output channels, H/W input, P/Q output, R/S kernel, G groups.
#pragma once
#include "kernels/shapes.h"

namespace gb::kernels::cuda {

enum class ConvBackend { HandWritten, Cudnn };
// Process-wide choice for conv2d_*; Cudnn throws at the next call when glassbox was built
// without cuDNN (cudnn_available() false).
void set_conv_backend(ConvBackend backend);
ConvBackend conv_backend();
bool cudnn_available();

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y);
void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx);
// db may be nullptr (no bias).
void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                            float* db);

// The hand-written kernels alone, whatever the backend setting (benchmarks compare the two).
namespace handwritten {
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y);
void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx);
void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                            float* db);
}  // namespace handwritten

}  // namespace gb::kernels::cuda
