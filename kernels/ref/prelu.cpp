// Reference PReLU (contract: kernels/prelu.h), plain loops. Shape letters: N batch, C channels,
// L elements per (n, c). The slope gradient sums x * dy in double, n then l ascending.
#include "kernels/prelu.h"

namespace gb::kernels::ref {

void prelu_forward(int64_t N, int64_t C, int64_t L, const float* x, const float* slope, float* y) {
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const int64_t base = (n * C + c) * L;
      for (int64_t l = 0; l < L; ++l) {
        const float v = x[base + l];
        y[base + l] = v > 0.0f ? v : slope[c] * v;
      }
    }
  }
}

void prelu_backward(int64_t N, int64_t C, int64_t L, const float* x, const float* slope,
                    const float* dy, float* dx, float* dslope) {
  for (int64_t c = 0; c < C; ++c) {
    double acc = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t base = (n * C + c) * L;
      for (int64_t l = 0; l < L; ++l) {
        const float v = x[base + l], g = dy[base + l];
        if (!(v > 0.0f)) acc += static_cast<double>(v) * g;
        if (dx) dx[base + l] = v > 0.0f ? g : slope[c] * g;
      }
    }
    if (dslope) dslope[c] = static_cast<float>(acc);
  }
}

const PreluKernels prelu_kernels{GB_KERNEL(ref::prelu_forward), GB_KERNEL(ref::prelu_backward)};

}  // namespace gb::kernels::ref
