// Reference optimizer updates (contract: kernels/optim.h): the per-element SGD and AdamW loops the
// CPU runs, over one parameter tensor of n floats. The CUDA kernels reproduce the multiply-adds
// GCC fuses in these loops at -march=x86-64-v3, so change an expression here only together with
// kernels/cuda/optim.cu. No shape letters: every array has n elements.
#include "kernels/optim.h"

#include <cmath>

namespace gb::kernels::ref {

void sgd_update(int64_t n, float* p, const float* g, float* buf, float lr, float wd, float mom,
                float dampening, bool nesterov, bool first) {
  if (mom == 0.0f) {
    for (int64_t k = 0; k < n; ++k) p[k] -= lr * (g[k] + wd * p[k]);
    return;
  }
  const float damp = 1.0f - dampening;
  for (int64_t k = 0; k < n; ++k) {
    const float d = g[k] + wd * p[k];
    buf[k] = first ? d : mom * buf[k] + damp * d;
    const float update = nesterov ? d + mom * buf[k] : buf[k];
    p[k] -= lr * update;
  }
}

void adamw_update(int64_t n, float* p, const float* g, float* m, float* v, float lr, float b1,
                  float b2, float eps, float weight_decay, float step_size, float bc2_sqrt) {
  const float decay = 1.0f - lr * weight_decay;
  for (int64_t k = 0; k < n; ++k) {
    p[k] *= decay;
    m[k] = b1 * m[k] + (1.0f - b1) * g[k];
    v[k] = b2 * v[k] + (1.0f - b2) * g[k] * g[k];
    const float denom = std::sqrt(v[k]) / bc2_sqrt + eps;
    p[k] -= step_size * m[k] / denom;
  }
}

const SgdKernels sgd_kernels{GB_KERNEL(ref::sgd_update)};
const AdamWKernels adamw_kernels{GB_KERNEL(ref::adamw_update)};

}  // namespace gb::kernels::ref
