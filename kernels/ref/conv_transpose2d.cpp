// Reference 2-D transposed convolution (contract: kernels/conv_transpose2d.h) as plain loops with
// double accumulators, written from the definition (not through conv2d's kernels), so it checks
// them. Shape letters are those of the convolution s transposes: x/dx [N,K,P,Q], y/dy [N,C,H,W],
// w [K,Cg,R,S] with Cg = C/G and Kg = K/G; input channel k feeds output channels
// (k / Kg) * Cg ... + Cg - 1.
#include "kernels/conv_transpose2d.h"

#include <cstddef>
#include <vector>

namespace gb::kernels::ref {
namespace {
// Index of x/dx [N,K,P,Q], y/dy [N,C,H,W] and w [K,Cg,R,S].
struct Layout {
  const Conv2dShape& s;
  int64_t P, Q, Cg, Kg;
  explicit Layout(const Conv2dShape& shape)
      : s(shape), P(s.P()), Q(s.Q()), Cg(s.C_per_group()), Kg(s.K_per_group()) {}
  int64_t x(int64_t n, int64_t k, int64_t p, int64_t q) const {
    return ((n * s.K + k) * P + p) * Q + q;
  }
  int64_t y(int64_t n, int64_t c, int64_t h, int64_t w) const {
    return ((n * s.C + c) * s.H + h) * s.W + w;
  }
  int64_t w(int64_t k, int64_t cg, int64_t r, int64_t t) const {
    return ((k * Cg + cg) * s.R + r) * s.S + t;
  }
};
}  // namespace

void conv_transpose2d_forward(const Conv2dShape& s, const float* x, const float* w,
                              const float* bias, float* y) {
  const Layout L(s);
  // Scatter each input element through the window it reaches.
  std::vector<double> acc(static_cast<size_t>(s.N * s.C * s.H * s.W), 0.0);
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t k = 0; k < s.K; ++k) {
      const int64_t c0 = (k / L.Kg) * L.Cg;
      for (int64_t p = 0; p < L.P; ++p) {
        for (int64_t q = 0; q < L.Q; ++q) {
          const double xv = x[L.x(n, k, p, q)];
          for (int64_t cg = 0; cg < L.Cg; ++cg) {
            for (int64_t r = 0; r < s.R; ++r) {
              const int64_t h = p * s.stride_h - s.pad_h + r;
              if (h < 0 || h >= s.H) continue;
              for (int64_t t = 0; t < s.S; ++t) {
                const int64_t wc = q * s.stride_w - s.pad_w + t;
                if (wc < 0 || wc >= s.W) continue;
                acc[static_cast<size_t>(L.y(n, c0 + cg, h, wc))] += xv * w[L.w(k, cg, r, t)];
              }
            }
          }
        }
      }
    }
  }
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t c = 0; c < s.C; ++c) {
      for (int64_t i = 0; i < s.H * s.W; ++i) {
        const size_t at = static_cast<size_t>((n * s.C + c) * s.H * s.W + i);
        y[at] = static_cast<float>(acc[at] + (bias ? bias[c] : 0.0));
      }
    }
  }
}

void conv_transpose2d_backward_input(const Conv2dShape& s, const float* dy, const float* w,
                                     float* dx) {
  const Layout L(s);
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t k = 0; k < s.K; ++k) {
      const int64_t c0 = (k / L.Kg) * L.Cg;
      for (int64_t p = 0; p < L.P; ++p) {
        for (int64_t q = 0; q < L.Q; ++q) {
          double acc = 0.0;
          for (int64_t cg = 0; cg < L.Cg; ++cg) {
            for (int64_t r = 0; r < s.R; ++r) {
              const int64_t h = p * s.stride_h - s.pad_h + r;
              if (h < 0 || h >= s.H) continue;
              for (int64_t t = 0; t < s.S; ++t) {
                const int64_t wc = q * s.stride_w - s.pad_w + t;
                if (wc < 0 || wc >= s.W) continue;
                acc += static_cast<double>(dy[L.y(n, c0 + cg, h, wc)]) * w[L.w(k, cg, r, t)];
              }
            }
          }
          dx[L.x(n, k, p, q)] = static_cast<float>(acc);
        }
      }
    }
  }
}

void conv_transpose2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy,
                                      float* dw, float* db) {
  const Layout L(s);
  for (int64_t k = 0; k < s.K; ++k) {
    const int64_t c0 = (k / L.Kg) * L.Cg;
    for (int64_t cg = 0; cg < L.Cg; ++cg) {
      for (int64_t r = 0; r < s.R; ++r) {
        for (int64_t t = 0; t < s.S; ++t) {
          double acc = 0.0;
          for (int64_t n = 0; n < s.N; ++n) {
            for (int64_t p = 0; p < L.P; ++p) {
              const int64_t h = p * s.stride_h - s.pad_h + r;
              if (h < 0 || h >= s.H) continue;
              for (int64_t q = 0; q < L.Q; ++q) {
                const int64_t wc = q * s.stride_w - s.pad_w + t;
                if (wc < 0 || wc >= s.W) continue;
                acc += static_cast<double>(x[L.x(n, k, p, q)]) * dy[L.y(n, c0 + cg, h, wc)];
              }
            }
          }
          dw[L.w(k, cg, r, t)] = static_cast<float>(acc);
        }
      }
    }
  }
  if (!db) return;
  for (int64_t c = 0; c < s.C; ++c) {
    double acc = 0.0;
    for (int64_t n = 0; n < s.N; ++n) {
      for (int64_t i = 0; i < s.H * s.W; ++i) acc += dy[(n * s.C + c) * s.H * s.W + i];
    }
    db[c] = static_cast<float>(acc);
  }
}

const ConvTranspose2dKernels conv_transpose2d_kernels{
    GB_KERNEL(ref::conv_transpose2d_forward), GB_KERNEL(ref::conv_transpose2d_backward_input),
    GB_KERNEL(ref::conv_transpose2d_backward_weight)};

}  // namespace gb::kernels::ref
