// CUDA optimizer updates (contract: kernels/optim.h): one thread per element, grid-stride. Every
// rounding step is spelled out (__fmaf_rn where kernels/ref/optim.cpp's compiled loop fuses,
// __fmul_rn / __fadd_rn / __fdiv_rn / __fsqrt_rn elsewhere) so nvcc's own contraction cannot change
// the results.
#include <cmath>

#include "kernels/cuda/device_api.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/optim.h"
#include "kernels/reduce.h"

namespace gb::kernels::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void sgd_plain_kernel(int64_t n, float* __restrict__ p, const float* __restrict__ g,
                                 float lr, float wd) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n;
       k += stride) {
    const float pk = p[k];
    const float d = __fmaf_rn(wd, pk, g[k]);
    p[k] = __fmaf_rn(-lr, d, pk);
  }
}

__global__ void sgd_momentum_kernel(int64_t n, float* __restrict__ p, const float* __restrict__ g,
                                    float* __restrict__ buf, float lr, float wd, float mom,
                                    float damp, bool nesterov, bool first) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n;
       k += stride) {
    const float pk = p[k];
    const float d = __fmaf_rn(wd, pk, g[k]);
    const float b = first ? d : __fmaf_rn(mom, buf[k], __fmul_rn(damp, d));
    buf[k] = b;
    const float update = nesterov ? __fmaf_rn(mom, b, d) : b;
    p[k] = __fmaf_rn(-lr, update, pk);
  }
}

__global__ void adamw_kernel(int64_t n, float* __restrict__ p, const float* __restrict__ g,
                             float* __restrict__ m, float* __restrict__ v, float decay, float b1,
                             float one_minus_b1, float b2, float one_minus_b2, float eps,
                             float step_size, float bc2_sqrt) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n;
       k += stride) {
    const float gk = g[k];
    const float pk = __fmul_rn(p[k], decay);
    const float mk = __fmaf_rn(b1, m[k], __fmul_rn(one_minus_b1, gk));
    const float vk = __fmaf_rn(b2, v[k], __fmul_rn(__fmul_rn(one_minus_b2, gk), gk));
    m[k] = mk;
    v[k] = vk;
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vk), bc2_sqrt), eps);
    p[k] = __fsub_rn(pk, __fdiv_rn(__fmul_rn(step_size, mk), denom));
  }
}

}  // namespace

void sgd_update(int64_t n, float* p, const float* g, float* momentum_buf, float lr,
                float weight_decay, float momentum, float dampening, bool nesterov,
                bool first_step) {
  if (n <= 0) return;
  if (momentum == 0.0f) {
    sgd_plain_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(n, p, g, lr, weight_decay);
  } else {
    const float damp = 1.0f - dampening;
    sgd_momentum_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(
        n, p, g, momentum_buf, lr, weight_decay, momentum, damp, nesterov, first_step);
  }
  check_launch("sgd_update");
}

void adamw_update(int64_t n, float* p, const float* g, float* m, float* v, float lr, float beta1,
                  float beta2, float eps, float weight_decay, float step_size, float bc2_sqrt) {
  if (n <= 0) return;
  const float decay = std::fma(-lr, weight_decay, 1.0f);  // fused in AdamW::step as compiled
  adamw_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(
      n, p, g, m, v, decay, beta1, 1.0f - beta1, beta2, 1.0f - beta2, eps, step_size, bc2_sqrt);
  check_launch("adamw_update");
}

double sum_of_squares(int64_t n, const float* x) {
  // A device double of our own (the reduction itself uses the shared scratch), kept for reuse.
  static double* slot = static_cast<double*>(malloc_device(sizeof(double)));
  sum_squares(n, x, slot, false);
  double out = 0.0;
  copy_to_host(&out, slot, sizeof(double));
  return out;
}

void sum_of_squares_accumulate(int64_t n, const float* x, double* acc) {
  sum_squares(n, x, acc, true);
}

const SgdKernels sgd_kernels{GB_KERNEL(cuda::sgd_update)};
const AdamWKernels adamw_kernels{GB_KERNEL(cuda::adamw_update)};

}  // namespace gb::kernels::cuda
