// Shape descriptors shared by the reference and fast kernels.
// Shape letters: N batch, C input channels, H/W input height/width, K output channels,
// R/S kernel height/width, P/Q output height/width, G groups. All tensors are dense NCHW float32.
// Pad2dShape: constant padding of [N,C,H,W] to [N,C,P,Q].
// Pool2dShape's output size and options follow PyTorch (ceil_mode, count_include_pad).
#pragma once
#include <cstdint>

namespace gb::kernels {

// Convolution: tap (r, t) of output (p, q) reads input (p*stride_h - pad_h + r*dilation_h,
// q*stride_w - pad_w + t*dilation_w); the dilated kernel spans (R - 1)*dilation_h + 1 rows.
struct Conv2dShape {
  int64_t N = 1, C = 1, H = 1, W = 1;  // input
  int64_t K = 1, R = 1, S = 1;         // weight is [K, C/G, R, S]
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t groups = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t R_span() const { return (R - 1) * dilation_h + 1; }
  int64_t S_span() const { return (S - 1) * dilation_w + 1; }
  bool dilated() const { return dilation_h != 1 || dilation_w != 1; }
  int64_t P() const { return (H + 2 * pad_h - R_span()) / stride_h + 1; }
  int64_t Q() const { return (W + 2 * pad_w - S_span()) / stride_w + 1; }
  int64_t C_per_group() const { return C / groups; }
  int64_t K_per_group() const { return K / groups; }
};

// Pooling windows. Output size as PyTorch: out = floor((in + 2*pad - k) / stride) + 1, or with
// ceil_mode the division rounded up, minus one when the last window would start at or past
// in + pad (so every window starts inside the input or its left/top padding).
// requires: in + 2*pad >= k, stride >= 1 (and, as the runtime checks, pad <= k / 2, so every
// window holds at least one input pixel). Windows that overhang the padded input (ceil_mode) are
// clipped. count_include_pad (average pooling only): the divisor is the window clipped to
// [-pad, in + pad) (true, PyTorch's default) or the number of input pixels in it (false).
struct Pool2dShape {
  int64_t N = 1, C = 1, H = 1, W = 1;
  int64_t R = 2, S = 2;  // window
  int64_t stride_h = 2, stride_w = 2;
  int64_t pad_h = 0, pad_w = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;
  int64_t P() const { return pool_out_size(H, R, stride_h, pad_h, ceil_mode); }
  int64_t Q() const { return pool_out_size(W, S, stride_w, pad_w, ceil_mode); }

  static int64_t pool_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, bool ceil) {
    const int64_t span = in + 2 * pad - k;  // >= 0 (required)
    int64_t out = (ceil ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil && (out - 1) * stride >= in + pad) --out;
    return out;
  }
};

// Constant padding: [N,C,H,W] -> [N,C,P,Q], P = top + H + bottom, Q = left + W + right; every pad
// >= 0.
struct Pad2dShape {
  int64_t N = 1, C = 1, H = 1, W = 1;
  int64_t top = 0, left = 0, bottom = 0, right = 0;
  int64_t P() const { return top + H + bottom; }
  int64_t Q() const { return left + W + right; }
};

}  // namespace gb::kernels
