// Shared by the .cu files of kernels/cuda (never included by host-only code): glassbox's
// stream, error checks after every CUDA call and launch, grid-size and grid-stride helpers, and a
// warp sum.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace gb::kernels::cuda {

// The one stream every glassbox kernel and copy runs on (created on first use).
cudaStream_t stream();

// Throws std::runtime_error("cuda: <what>: <CUDA's message>") when err is not cudaSuccess.
void check(cudaError_t err, const char* what);
// Checks the last launch; call right after every <<<...>>>.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// Blocks of `threads` covering n items, capped so the grid stays within limits (kernels use
// grid-stride loops).
inline unsigned blocks_for(int64_t n, int threads = 256) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535LL * 16) b = 65535LL * 16;
  return static_cast<unsigned>(b);
}

// A grid-stride loop's first index and its stride: for (i = grid_index(); i < n; i +=
// grid_stride()).
__device__ __forceinline__ int64_t grid_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// The sum of v over the 32 lanes of a warp, in a fixed butterfly order (every lane gets it).
__device__ __forceinline__ double warp_sum(double v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

namespace detail {
// Device scratch shared by the multi-stage kernels (batchnorm, softmax, reduce, optim): at least
// `bytes`, 256-byte aligned, valid until the next call. Safe because every kernel runs on
// glassbox's one stream in launch order; growing it waits for the stream first. For a single
// host thread driving the device (as the runtime does). Defined in reduce.cu.
void* scratch(size_t bytes);
}  // namespace detail

}  // namespace gb::kernels::cuda
