// CUDA 2-D transposed convolution (see conv_transpose2d.h) over cuda::conv2d_* of the convolution
// s transposes (the hand-written implicit GEMM, or cuDNN under set_conv_backend): forward is its
// backward-input plus the bias, backward-input its forward, backward-weight its backward-weight
// with x and dy swapped. Shape letters: y/dy [N,C,H,W]. The bias: one thread per element
// (grid-stride). Its gradient: one block of 256 threads per channel, each thread summing a fixed
// strided subset of the channel's N*H*W elements in double, then a fixed shared-memory tree (no
// atomics: the same inputs give the same bits).
#include "kernels/conv2d.h"
#include "kernels/conv_transpose2d.h"
#include "kernels/cuda/launch.cuh"

namespace gb::kernels::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void add_bias_kernel(int64_t total, int64_t C, int64_t HW,
                                const float* __restrict__ bias, float* __restrict__ y) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] += bias[(i / HW) % C];
  }
}

// Block b: db[c] for c = b, b + gridDim.x, ...; blockDim.x == kThreads.
__global__ void bias_grad_kernel(int64_t N, int64_t C, int64_t HW, const float* __restrict__ dy,
                                 float* __restrict__ db) {
  __shared__ double sh[kThreads];
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double acc = 0.0;
    for (int64_t j = threadIdx.x; j < N * HW; j += kThreads) {
      acc += static_cast<double>(dy[((j / HW) * C + c) * HW + j % HW]);
    }
    __syncthreads();  // the previous channel's readers are done with sh
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int half = kThreads / 2; half > 0; half >>= 1) {
      if (static_cast<int>(threadIdx.x) < half) sh[threadIdx.x] += sh[threadIdx.x + half];
      __syncthreads();
    }
    if (threadIdx.x == 0) db[c] = static_cast<float>(sh[0]);
  }
}

}  // namespace

void conv_transpose2d_forward(const Conv2dShape& s, const float* x, const float* w,
                              const float* bias, float* y) {
  conv2d_backward_input(s, x, w, y);
  const int64_t total = s.N * s.C * s.H * s.W;
  if (!bias || total == 0) return;
  add_bias_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(total, s.C, s.H * s.W,
                                                                          bias, y);
  check_launch("conv_transpose2d_forward: bias");
}

void conv_transpose2d_backward_input(const Conv2dShape& s, const float* dy, const float* w,
                                     float* dx) {
  conv2d_forward(s, dy, w, nullptr, dx);
}

void conv_transpose2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy,
                                      float* dw, float* db) {
  conv2d_backward_weight(s, dy, x, dw, nullptr);
  if (!db || s.C == 0) return;
  const unsigned blocks = static_cast<unsigned>(s.C < 65535 ? s.C : 65535);
  bias_grad_kernel<<<blocks, kThreads, 0, stream()>>>(s.N, s.C, s.H * s.W, dy, db);
  check_launch("conv_transpose2d_backward_weight: bias");
}

const ConvTranspose2dKernels conv_transpose2d_kernels{
    GB_KERNEL(cuda::conv_transpose2d_forward), GB_KERNEL(cuda::conv_transpose2d_backward_input),
    GB_KERNEL(cuda::conv_transpose2d_backward_weight)};

}  // namespace gb::kernels::cuda
