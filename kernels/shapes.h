// Shape descriptors shared by the reference and fast kernels.
// Shape letters: N batch, C input channels, H/W input height/width, K output channels,
// R/S kernel height/width, P/Q output height/width, G groups. All tensors are dense NCHW float32.
#pragma once
#include <cstdint>

namespace gb::kernels {

struct Conv2dShape {
  int64_t N = 1, C = 1, H = 1, W = 1;  // input
  int64_t K = 1, R = 1, S = 1;         // weight is [K, C/G, R, S]
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t groups = 1;
  int64_t P() const { return (H + 2 * pad_h - R) / stride_h + 1; }
  int64_t Q() const { return (W + 2 * pad_w - S) / stride_w + 1; }
  int64_t C_per_group() const { return C / groups; }
  int64_t K_per_group() const { return K / groups; }
};

struct Pool2dShape {
  int64_t N = 1, C = 1, H = 1, W = 1;
  int64_t R = 2, S = 2;  // window
  int64_t stride_h = 2, stride_w = 2;
  int64_t pad_h = 0, pad_w = 0;
  int64_t P() const { return (H + 2 * pad_h - R) / stride_h + 1; }
  int64_t Q() const { return (W + 2 * pad_w - S) / stride_w + 1; }
};

}  // namespace gb::kernels
