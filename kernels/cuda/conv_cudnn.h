// cuDNN as the optional second convolution backend (kept for comparison with the hand-written
// kernels). Same contracts as cuda::conv2d_* in kernels/conv2d.h. Built only when cuDNN is found
// (GB_WITH_CUDNN); cuDNN chooses its algorithm by its heuristics, in deterministic mode.
#pragma once
#include "kernels/shapes.h"

namespace gb::kernels::cuda::cudnn {

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y);
void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx);
void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                            float* db);

}  // namespace gb::kernels::cuda::cudnn
