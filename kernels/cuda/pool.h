// CUDA pooling over NCHW float32 with the contracts of kernels/cpu/pool.h (device pointers,
// glassbox's stream, asynchronous). Shape letters: N batch, C channels, H/W input, R/S window,
// P/Q output, L = H*W for global pooling.
// Max pooling writes argmax [N,C,P,Q] = ih*W + iw of the window's first maximum (strict >, a NaN
// wins, padding never wins), as ref::maxpool2d_forward. Average pooling counts padded positions
// in the divisor (count_include_pad=True). Backward kernels overwrite dx; each input element
// gathers from the output windows that contain it in ascending output order (no atomics), so
// maxpool2d_backward and avgpool2d_backward are bitwise equal to the ref:: loops.
#pragma once
#include <cstdint>

#include "kernels/shapes.h"

namespace gb::kernels::cuda {

void maxpool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax);
void maxpool2d_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx);
void avgpool2d_forward(const Pool2dShape& s, const float* x, float* y);
void avgpool2d_backward(const Pool2dShape& s, const float* dy, float* dx);
// x [N,C,L] -> y [N,C] (mean over L, double accumulation); backward dx = dy / L.
void global_avgpool_forward(int64_t N, int64_t C, int64_t L, const float* x, float* y);
void global_avgpool_backward(int64_t N, int64_t C, int64_t L, const float* dy, float* dx);

}  // namespace gb::kernels::cuda
