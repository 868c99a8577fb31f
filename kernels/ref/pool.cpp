// Reference pooling over NCHW float32, plain loops. Shape letters: N batch, C channels, H/W input
// size, R/S window, P/Q output size, L = H*W for global pooling.
// Max pooling: the first maximum in row-major window order wins (strict >), a NaN wins (as
// PyTorch), padded positions are never candidates; argmax holds ih*W + iw.
// Average pooling: the divisor is the window clipped to the padded input (count_include_pad, which
// without ceil_mode is always R*S) or the number of input pixels in it (!count_include_pad).
// Output sizes (ceil_mode) come from Pool2dShape::P()/Q(); windows are clipped by bounds checks.
#include "kernels/pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace gb::kernels::ref {

void maxpool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax) {
  const int64_t P = s.P(), Q = s.Q();
  for (int64_t nc = 0; nc < s.N * s.C; ++nc) {
    const float* plane = x + nc * s.H * s.W;
    for (int64_t p = 0; p < P; ++p) {
      for (int64_t q = 0; q < Q; ++q) {
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_idx = -1;
        for (int64_t r = 0; r < s.R; ++r) {
          const int64_t ih = p * s.stride_h - s.pad_h + r;
          if (ih < 0 || ih >= s.H) continue;
          for (int64_t t = 0; t < s.S; ++t) {
            const int64_t iw = q * s.stride_w - s.pad_w + t;
            if (iw < 0 || iw >= s.W) continue;
            const float v = plane[ih * s.W + iw];
            if (best_idx < 0 || v > best || std::isnan(v)) {
              best = v;
              best_idx = ih * s.W + iw;
            }
          }
        }
        y[(nc * P + p) * Q + q] = best;
        argmax[(nc * P + p) * Q + q] = static_cast<int32_t>(best_idx);
      }
    }
  }
}

void maxpool2d_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx) {
  const int64_t PQ = s.P() * s.Q(), HW = s.H * s.W;
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(s.N * s.C * HW));
  // argmax < 0 marks a window with no input pixel (all padding): nothing flows back.
  for (int64_t nc = 0; nc < s.N * s.C; ++nc)
    for (int64_t i = 0; i < PQ; ++i)
      if (argmax[nc * PQ + i] >= 0) dx[nc * HW + argmax[nc * PQ + i]] += dy[nc * PQ + i];
}

namespace {
// PyTorch's divisor: the window clipped to [-pad, size + pad) (count_include_pad), or to the
// input [0, size) (!count_include_pad).
int64_t avg_divisor(const Pool2dShape& s, int64_t p, int64_t q) {
  int64_t h0 = p * s.stride_h - s.pad_h, w0 = q * s.stride_w - s.pad_w;
  int64_t h1 = std::min(h0 + s.R, s.H + s.pad_h), w1 = std::min(w0 + s.S, s.W + s.pad_w);
  if (!s.count_include_pad) {
    h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
    h1 = std::min(h1, s.H), w1 = std::min(w1, s.W);
  }
  return (h1 - h0) * (w1 - w0);
}
}  // namespace

void avgpool2d_forward(const Pool2dShape& s, const float* x, float* y) {
  const int64_t P = s.P(), Q = s.Q();
  for (int64_t nc = 0; nc < s.N * s.C; ++nc) {
    const float* plane = x + nc * s.H * s.W;
    for (int64_t p = 0; p < P; ++p) {
      for (int64_t q = 0; q < Q; ++q) {
        double acc = 0.0;
        for (int64_t r = 0; r < s.R; ++r) {
          const int64_t ih = p * s.stride_h - s.pad_h + r;
          if (ih < 0 || ih >= s.H) continue;
          for (int64_t t = 0; t < s.S; ++t) {
            const int64_t iw = q * s.stride_w - s.pad_w + t;
            if (iw < 0 || iw >= s.W) continue;
            acc += plane[ih * s.W + iw];
          }
        }
        y[(nc * P + p) * Q + q] = static_cast<float>(acc / avg_divisor(s, p, q));
      }
    }
  }
}

void avgpool2d_backward(const Pool2dShape& s, const float* dy, float* dx) {
  const int64_t P = s.P(), Q = s.Q(), HW = s.H * s.W;
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(s.N * s.C * HW));
  for (int64_t nc = 0; nc < s.N * s.C; ++nc) {
    for (int64_t p = 0; p < P; ++p) {
      for (int64_t q = 0; q < Q; ++q) {
        const float g = static_cast<float>(dy[(nc * P + p) * Q + q] /
                                           static_cast<double>(avg_divisor(s, p, q)));
        for (int64_t r = 0; r < s.R; ++r) {
          const int64_t ih = p * s.stride_h - s.pad_h + r;
          if (ih < 0 || ih >= s.H) continue;
          for (int64_t t = 0; t < s.S; ++t) {
            const int64_t iw = q * s.stride_w - s.pad_w + t;
            if (iw < 0 || iw >= s.W) continue;
            dx[nc * HW + ih * s.W + iw] += g;
          }
        }
      }
    }
  }
}

void global_avgpool_forward(int64_t N, int64_t C, int64_t L, const float* x, float* y) {
  for (int64_t nc = 0; nc < N * C; ++nc) {
    double acc = 0.0;
    for (int64_t l = 0; l < L; ++l) acc += x[nc * L + l];
    y[nc] = static_cast<float>(acc / static_cast<double>(L));
  }
}

void global_avgpool_backward(int64_t N, int64_t C, int64_t L, const float* dy, float* dx) {
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const float g = static_cast<float>(dy[nc] / static_cast<double>(L));
    for (int64_t l = 0; l < L; ++l) dx[nc * L + l] = g;
  }
}

const MaxPoolKernels maxpool2d_kernels{GB_KERNEL(ref::maxpool2d_forward),
                                       GB_KERNEL(ref::maxpool2d_backward)};
const AvgPoolKernels avgpool2d_kernels{GB_KERNEL(ref::avgpool2d_forward),
                                       GB_KERNEL(ref::avgpool2d_backward)};
const GlobalAvgPoolKernels global_avgpool_kernels{GB_KERNEL(ref::global_avgpool_forward),
                                                  GB_KERNEL(ref::global_avgpool_backward)};

}  // namespace gb::kernels::ref
