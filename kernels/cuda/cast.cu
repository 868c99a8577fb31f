// CUDA cast kernel (contract: kernels/cast.h): one thread per element (grid-stride), converting
// through kernels/float_formats.h on the device, so the bits equal the reference's. from == to
// is a device-to-device copy on glassbox's stream.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cast.h"
#include "kernels/cuda/launch.cuh"

namespace gb::kernels::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float load(const void* src, FloatFormat f, int64_t i) {
  if (f == FloatFormat::F32) return static_cast<const float*>(src)[i];
  const uint16_t h = static_cast<const uint16_t*>(src)[i];
  return f == FloatFormat::F16 ? float_from_f16(h) : float_from_bf16(h);
}

__device__ __forceinline__ void store(void* dst, FloatFormat f, int64_t i, float v) {
  if (f == FloatFormat::F32) {
    static_cast<float*>(dst)[i] = v;
  } else {
    static_cast<uint16_t*>(dst)[i] = f == FloatFormat::F16 ? f16_from_float(v) : bf16_from_float(v);
  }
}

__global__ void cast_kernel(int64_t n, const void* src, FloatFormat from, void* dst,
                            FloatFormat to) {
  for (int64_t i = grid_index(); i < n; i += grid_stride()) store(dst, to, i, load(src, from, i));
}

}  // namespace

void cast(int64_t n, const void* src, FloatFormat from, void* dst, FloatFormat to) {
  if (n <= 0) return;
  if (from == to) {
    const size_t bytes = static_cast<size_t>(n) * float_format_bytes(from);
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()), "cast copy");
    return;
  }
  cast_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(n, src, from, dst, to);
  check_launch("cast");
}

const CastKernels cast_kernels{GB_KERNEL(cuda::cast)};

}  // namespace gb::kernels::cuda
