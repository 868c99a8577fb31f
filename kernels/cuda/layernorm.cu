// CUDA layer normalisation over the last dimension (see layernorm.h). Shape letters: N rows,
// D features. Forward and dx: one warp per row, lanes striding over the row, the row sums in
// double combined by an xor-shuffle butterfly (a fixed order: every run gives the same bits).
// dgamma and dbeta: one thread per column d summing its N rows in ascending order, in double.
// No atomics anywhere, so the kernels are deterministic.
#include <cmath>

#include "kernels/cuda/launch.cuh"
#include "kernels/layernorm.h"

namespace gb::kernels::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void forward_kernel(int64_t N, int64_t D, const float* __restrict__ x,
                               const float* __restrict__ gamma, const float* __restrict__ beta,
                               float eps, float* __restrict__ y, float* __restrict__ mean,
                               float* __restrict__ rstd) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t n = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; n < N;
       n += warps) {
    const float* xr = x + n * D;
    double s = 0.0;
    for (int64_t d = lane; d < D; d += 32) s += xr[d];
    const double mu = warp_sum(s) / static_cast<double>(D);
    double ss = 0.0;
    for (int64_t d = lane; d < D; d += 32) ss += (xr[d] - mu) * (xr[d] - mu);
    const double r = 1.0 / sqrt(warp_sum(ss) / static_cast<double>(D) + eps);
    for (int64_t d = lane; d < D; d += 32) {
      const double v = (xr[d] - mu) * r * (gamma ? gamma[d] : 1.0f) + (beta ? beta[d] : 0.0f);
      y[n * D + d] = static_cast<float>(v);
    }
    if (lane == 0) {
      mean[n] = static_cast<float>(mu);
      rstd[n] = static_cast<float>(r);
    }
  }
}

__global__ void dx_kernel(int64_t N, int64_t D, const float* __restrict__ x,
                          const float* __restrict__ gamma, const float* __restrict__ mean,
                          const float* __restrict__ rstd, const float* __restrict__ dy,
                          float* __restrict__ dx) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t n = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; n < N;
       n += warps) {
    const float* xr = x + n * D;
    const float* gr = dy + n * D;
    const double mu = mean[n], r = rstd[n];
    double sg = 0.0, sgx = 0.0;
    for (int64_t d = lane; d < D; d += 32) {
      const double g = static_cast<double>(gr[d]) * (gamma ? gamma[d] : 1.0f);
      sg += g;
      sgx += g * (xr[d] - mu) * r;
    }
    const double mg = warp_sum(sg) / static_cast<double>(D);
    const double mgx = warp_sum(sgx) / static_cast<double>(D);
    for (int64_t d = lane; d < D; d += 32) {
      const double g = static_cast<double>(gr[d]) * (gamma ? gamma[d] : 1.0f);
      dx[n * D + d] = static_cast<float>(r * (g - mg - (xr[d] - mu) * r * mgx));
    }
  }
}

__global__ void param_grad_kernel(int64_t N, int64_t D, const float* __restrict__ x,
                                  const float* __restrict__ mean, const float* __restrict__ rstd,
                                  const float* __restrict__ dy, float* __restrict__ dgamma,
                                  float* __restrict__ dbeta) {
  for (int64_t d = grid_index(); d < D; d += grid_stride()) {
    double sg = 0.0, sb = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const double g = dy[n * D + d];
      sg += g * (x[n * D + d] - static_cast<double>(mean[n])) * rstd[n];
      sb += g;
    }
    if (dgamma) dgamma[d] = static_cast<float>(sg);
    if (dbeta) dbeta[d] = static_cast<float>(sb);
  }
}

unsigned warp_blocks(int64_t rows) { return blocks_for(rows * 32, kThreads); }

}  // namespace

void layer_norm_forward(int64_t N, int64_t D, const float* x, const float* gamma, const float* beta,
                        float eps, float* y, float* mean, float* rstd) {
  if (N == 0) return;
  forward_kernel<<<warp_blocks(N), kThreads, 0, stream()>>>(N, D, x, gamma, beta, eps, y, mean,
                                                            rstd);
  check_launch("layer_norm_forward");
}

void layer_norm_backward(int64_t N, int64_t D, const float* x, const float* gamma,
                         const float* mean, const float* rstd, const float* dy, float* dx,
                         float* dgamma, float* dbeta) {
  if (dx && N > 0) {
    dx_kernel<<<warp_blocks(N), kThreads, 0, stream()>>>(N, D, x, gamma, mean, rstd, dy, dx);
    check_launch("layer_norm_backward dx");
  }
  if (dgamma || dbeta) {
    param_grad_kernel<<<blocks_for(D, kThreads), kThreads, 0, stream()>>>(N, D, x, mean, rstd, dy,
                                                                          dgamma, dbeta);
    check_launch("layer_norm_backward dgamma/dbeta");
  }
}

const LayerNormKernels layer_norm_kernels{GB_KERNEL(cuda::layer_norm_forward),
                                          GB_KERNEL(cuda::layer_norm_backward)};

}  // namespace gb::kernels::cuda
