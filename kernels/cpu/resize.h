// Bilinear resize of NCHW planes, align_corners=false (PyTorch's F.interpolate default):
// x [N,C,H,W] -> y [N,C,OH,OW]. Backward scatters dy into dx (overwritten) with the same weights.
#pragma once
#include <cstdint>

namespace gb::kernels {
namespace ref {
void bilinear_resize_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const float* x, float* y);
void bilinear_resize_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                              const float* dy, float* dx);
}  // namespace ref
}  // namespace gb::kernels
