// CUDA PReLU (see prelu.h). Shape letters: N batch, C channels, L elements per (n, c).
// Forward and dx: one thread per element (grid-stride), ref's float expression. dslope: one
// block of 256 threads per channel, each thread summing x * dy in double over a fixed strided
// subset of the channel's N*L elements, then a fixed shared-memory tree (no atomics: the same
// inputs give the same bits). The slope gradient is computed before dx, so dx may alias dy.
#include "kernels/cuda/launch.cuh"
#include "kernels/elementwise.h"
#include "kernels/prelu.h"

namespace gb::kernels::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void prelu_forward_kernel(int64_t total, int64_t C, int64_t L,
                                     const float* __restrict__ x, const float* __restrict__ slope,
                                     float* y) {
  for (int64_t i = grid_index(); i < total; i += grid_stride()) {
    const float v = x[i];
    y[i] = v > 0.0f ? v : slope[(i / L) % C] * v;
  }
}

__global__ void prelu_dx_kernel(int64_t total, int64_t C, int64_t L, const float* __restrict__ x,
                                const float* __restrict__ slope, const float* dy, float* dx) {
  for (int64_t i = grid_index(); i < total; i += grid_stride()) {
    const float g = dy[i];
    dx[i] = x[i] > 0.0f ? g : slope[(i / L) % C] * g;
  }
}

// Block b: dslope[c] = sum over n, l of (x > 0 ? 0 : x * dy) for c = b, b + gridDim.x, ...;
// blockDim.x == kThreads.
__global__ void prelu_dslope_kernel(int64_t N, int64_t C, int64_t L, const float* __restrict__ x,
                                    const float* __restrict__ dy, float* __restrict__ dslope) {
  __shared__ double sh[kThreads];
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double acc = 0.0;
    for (int64_t j = threadIdx.x; j < N * L; j += kThreads) {
      const int64_t i = ((j / L) * C + c) * L + j % L;
      const float v = x[i];
      if (!(v > 0.0f)) acc += static_cast<double>(v) * static_cast<double>(dy[i]);
    }
    __syncthreads();  // the previous channel's readers are done with sh
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
      if (static_cast<int>(threadIdx.x) < s) sh[threadIdx.x] += sh[threadIdx.x + s];
      __syncthreads();
    }
    if (threadIdx.x == 0) dslope[c] = static_cast<float>(sh[0]);
  }
}

}  // namespace

void prelu_forward(int64_t N, int64_t C, int64_t L, const float* x, const float* slope, float* y) {
  const int64_t total = N * C * L;
  if (total <= 0) return;
  prelu_forward_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(total, C, L, x,
                                                                               slope, y);
  check_launch("prelu_forward");
}

void prelu_backward(int64_t N, int64_t C, int64_t L, const float* x, const float* slope,
                    const float* dy, float* dx, float* dslope) {
  const int64_t total = N * C * L;
  if (dslope && C > 0) {
    if (total <= 0) {
      fill(C, dslope, 0.0f);
    } else {
      prelu_dslope_kernel<<<blocks_for(C * kThreads, kThreads), kThreads, 0, stream()>>>(
          N, C, L, x, dy, dslope);
      check_launch("prelu_backward (slope)");
    }
  }
  if (dx && total > 0) {
    prelu_dx_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(total, C, L, x, slope,
                                                                            dy, dx);
    check_launch("prelu_backward (input)");
  }
}

const PreluKernels prelu_kernels{GB_KERNEL(cuda::prelu_forward), GB_KERNEL(cuda::prelu_backward)};

}  // namespace gb::kernels::cuda
