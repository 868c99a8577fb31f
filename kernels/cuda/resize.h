// CUDA bilinear resize of NCHW planes, align_corners=false (PyTorch's F.interpolate default),
// with the contracts of kernels/cpu/resize.h: x [N,C,H,W] -> y [N,C,OH,OW] (shape letters: N
// batch, C channels, H/W input, OH/OW output). Device pointers, glassbox's stream. The source
// index src = max(scale * (o + 0.5) - 0.5, 0) is float with the multiply-add fused, as the ref
// compiles for x86-64-v3 (GCC contracts it), and the blend is done in double, so the forward
// matches the ref to the last bit or so. The backward gathers: each input element sums the
// outputs that read it (in double, ascending output order), so it is deterministic without
// atomics; dx is overwritten.
#pragma once
#include <cstdint>

namespace gb::kernels::cuda {

void bilinear_resize_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const float* x, float* y);
void bilinear_resize_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                              const float* dy, float* dx);

}  // namespace gb::kernels::cuda
