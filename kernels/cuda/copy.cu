// CUDA strided copies (see copy.h). The host drops size-1 dims and merges a dim into the previous
// one when both source and destination step through them as one; a copy that is then one
// contiguous run on both sides is a cudaMemcpyAsync. Otherwise one thread per element decomposes
// its linear index (32-bit arithmetic when the count allows) and moves the element as an
// unsigned integer of its size, so float bits (NaN payloads included) are kept.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/copy.h"
#include "kernels/cuda/device_api.h"
#include "kernels/cuda/launch.cuh"

namespace gb::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxDims = 8;

struct CopyDims {
  int n = 0;
  int64_t size[kMaxDims] = {};
  int64_t ss[kMaxDims] = {};  // source strides
  int64_t ds[kMaxDims] = {};  // destination strides
};

template <class T, class Index>
__global__ void copy_kernel(Index total, CopyDims d, const T* __restrict__ src,
                            T* __restrict__ dst) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    Index rem = i;
    int64_t os = 0, od = 0;
    for (int j = d.n - 1; j >= 0; --j) {
      const Index size = static_cast<Index>(d.size[j]);
      const Index q = rem / size;
      const int64_t idx = static_cast<int64_t>(rem - q * size);
      os += idx * d.ss[j];
      od += idx * d.ds[j];
      rem = q;
    }
    dst[od] = src[os];
  }
}

template <class T>
void launch_copy(int64_t total, const CopyDims& d, const void* src, void* dst) {
  const auto* s = static_cast<const T*>(src);
  auto* t = static_cast<T*>(dst);
  if (total <= static_cast<int64_t>(UINT32_MAX)) {
    copy_kernel<T, uint32_t><<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(
        static_cast<uint32_t>(total), d, s, t);
  } else {
    copy_kernel<T, int64_t><<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(total, d, s, t);
  }
  check_launch("strided_copy");
}

}  // namespace

void strided_copy(int ndim, const int64_t* shape, const void* src, const int64_t* src_strides,
                  void* dst, const int64_t* dst_strides, size_t elem_bytes) {
  if (ndim < 0 || ndim > kMaxDims) {
    throw std::invalid_argument("strided_copy: ndim " + std::to_string(ndim) + " outside 0..8");
  }
  if (elem_bytes != 1 && elem_bytes != 2 && elem_bytes != 4 && elem_bytes != 8) {
    throw std::invalid_argument("strided_copy: element size " + std::to_string(elem_bytes) +
                                " is not 1, 2, 4 or 8");
  }
  int64_t contiguous[kMaxDims] = {};
  int64_t total = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    if (shape[d] < 0) throw std::invalid_argument("strided_copy: negative size");
    contiguous[d] = total;
    total *= shape[d];
  }
  if (total == 0) return;
  const int64_t* dstr = dst_strides ? dst_strides : contiguous;
  CopyDims c;
  for (int d = 0; d < ndim; ++d) {
    const int64_t size = shape[d];
    if (size == 1) continue;
    const int k = c.n - 1;
    if (k >= 0 && c.ss[k] == src_strides[d] * size && c.ds[k] == dstr[d] * size) {
      c.size[k] *= size;
      c.ss[k] = src_strides[d];
      c.ds[k] = dstr[d];
      continue;
    }
    c.size[c.n] = size;
    c.ss[c.n] = src_strides[d];
    c.ds[c.n] = dstr[d];
    ++c.n;
  }
  if (c.n == 0 || (c.n == 1 && c.ss[0] == 1 && c.ds[0] == 1)) {  // one contiguous run
    copy_device(dst, src, elem_bytes * static_cast<size_t>(total));
    return;
  }
  switch (elem_bytes) {
    case 1:
      launch_copy<uint8_t>(total, c, src, dst);
      break;
    case 2:
      launch_copy<uint16_t>(total, c, src, dst);
      break;
    case 4:
      launch_copy<uint32_t>(total, c, src, dst);
      break;
    default:
      launch_copy<uint64_t>(total, c, src, dst);
      break;
  }
}

void strided_copy(int ndim, const int64_t* shape, const float* src, const int64_t* src_strides,
                  float* dst) {
  strided_copy(ndim, shape, static_cast<const void*>(src), src_strides, static_cast<void*>(dst),
               nullptr, sizeof(float));
}

void strided_copy(int ndim, const int64_t* shape, const float* src, const int64_t* src_strides,
                  float* dst, const int64_t* dst_strides) {
  strided_copy(ndim, shape, static_cast<const void*>(src), src_strides, static_cast<void*>(dst),
               dst_strides, sizeof(float));
}

const StridedCopyKernels strided_copy_kernels{GB_KERNEL(cuda::strided_copy)};

}  // namespace gb::kernels::cuda
