// Reference 2-D convolution (cross-correlation, as PyTorch; strides, padding and dilation per
// axis), forward and backward, as plain loops with double accumulators. Shape letters: N batch,
// C input channels, H/W input size, K output channels, R/S kernel size, P/Q output size, G groups;
// Cg = C/G and Kg = K/G are the channels per group. x [N,C,H,W], w [K,Cg,R,S], y/dy [N,K,P,Q].
// Output channel k reads input channels (k / Kg) * Cg ... + Cg - 1.
#include "kernels/conv2d.h"

#include <cstddef>
#include <vector>

namespace gb::kernels::ref {

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y) {
  const int64_t P = s.P(), Q = s.Q(), Cg = s.C_per_group(), Kg = s.K_per_group();
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t k = 0; k < s.K; ++k) {
      const int64_t c0 = (k / Kg) * Cg;  // first input channel of k's group
      for (int64_t p = 0; p < P; ++p) {
        for (int64_t q = 0; q < Q; ++q) {
          double acc = bias ? bias[k] : 0.0;
          for (int64_t cg = 0; cg < Cg; ++cg) {
            for (int64_t r = 0; r < s.R; ++r) {
              const int64_t ih = p * s.stride_h - s.pad_h + r * s.dilation_h;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t t = 0; t < s.S; ++t) {
                const int64_t iw = q * s.stride_w - s.pad_w + t * s.dilation_w;
                if (iw < 0 || iw >= s.W) continue;
                const double xv = x[((n * s.C + c0 + cg) * s.H + ih) * s.W + iw];
                const double wv = w[((k * Cg + cg) * s.R + r) * s.S + t];
                acc += xv * wv;
              }
            }
          }
          y[((n * s.K + k) * P + p) * Q + q] = static_cast<float>(acc);
        }
      }
    }
  }
}

void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx) {
  const int64_t P = s.P(), Q = s.Q(), Cg = s.C_per_group(), Kg = s.K_per_group();
  // Scatter each dy element back through the window that produced it.
  std::vector<double> acc(static_cast<size_t>(s.N * s.C * s.H * s.W), 0.0);
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t k = 0; k < s.K; ++k) {
      const int64_t c0 = (k / Kg) * Cg;
      for (int64_t p = 0; p < P; ++p) {
        for (int64_t q = 0; q < Q; ++q) {
          const double g = dy[((n * s.K + k) * P + p) * Q + q];
          for (int64_t cg = 0; cg < Cg; ++cg) {
            for (int64_t r = 0; r < s.R; ++r) {
              const int64_t ih = p * s.stride_h - s.pad_h + r * s.dilation_h;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t t = 0; t < s.S; ++t) {
                const int64_t iw = q * s.stride_w - s.pad_w + t * s.dilation_w;
                if (iw < 0 || iw >= s.W) continue;
                acc[((n * s.C + c0 + cg) * s.H + ih) * s.W + iw] +=
                    g * w[((k * Cg + cg) * s.R + r) * s.S + t];
              }
            }
          }
        }
      }
    }
  }
  for (size_t i = 0; i < acc.size(); ++i) dx[i] = static_cast<float>(acc[i]);
}

void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                            float* db) {
  const int64_t P = s.P(), Q = s.Q(), Cg = s.C_per_group(), Kg = s.K_per_group();
  for (int64_t k = 0; k < s.K; ++k) {
    const int64_t c0 = (k / Kg) * Cg;
    for (int64_t cg = 0; cg < Cg; ++cg) {
      for (int64_t r = 0; r < s.R; ++r) {
        for (int64_t t = 0; t < s.S; ++t) {
          double acc = 0.0;
          for (int64_t n = 0; n < s.N; ++n) {
            for (int64_t p = 0; p < P; ++p) {
              const int64_t ih = p * s.stride_h - s.pad_h + r * s.dilation_h;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t q = 0; q < Q; ++q) {
                const int64_t iw = q * s.stride_w - s.pad_w + t * s.dilation_w;
                if (iw < 0 || iw >= s.W) continue;
                acc += static_cast<double>(dy[((n * s.K + k) * P + p) * Q + q]) *
                       x[((n * s.C + c0 + cg) * s.H + ih) * s.W + iw];
              }
            }
          }
          dw[((k * Cg + cg) * s.R + r) * s.S + t] = static_cast<float>(acc);
        }
      }
    }
  }
  if (db) {
    for (int64_t k = 0; k < s.K; ++k) {
      double acc = 0.0;
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t i = 0; i < P * Q; ++i) acc += dy[(n * s.K + k) * P * Q + i];
      db[k] = static_cast<float>(acc);
    }
  }
}

void conv2d_forward_fused(const Conv2dShape& s, const float* x, const float* w,
                          const ConvEpilogue& ep, float* y) {
  conv2d_forward(s, x, w, nullptr, y);
  const int64_t PQ = s.P() * s.Q();
  for (int64_t nk = 0; nk < s.N * s.K; ++nk) {
    const int64_t k = nk % s.K;
    for (int64_t i = 0; i < PQ; ++i) {
      float v = y[nk * PQ + i] * (ep.scale ? ep.scale[k] : 1.0f) + (ep.shift ? ep.shift[k] : 0.0f);
      if (ep.residual) v += ep.residual[nk * PQ + i];
      if (ep.relu) v = v < 0.0f ? 0.0f : v > ep.relu_cap ? ep.relu_cap : v;  // a NaN passes
      y[nk * PQ + i] = v;
    }
  }
}

const Conv2dKernels conv2d_kernels{GB_KERNEL(ref::conv2d_forward),
                                   GB_KERNEL(ref::conv2d_backward_input),
                                   GB_KERNEL(ref::conv2d_backward_weight)};
const Conv2dFusedKernels conv2d_fused_kernels{GB_KERNEL(ref::conv2d_forward_fused)};

}  // namespace gb::kernels::ref
