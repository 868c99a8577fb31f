// The strided-copy family: materialise a view (transpose, slice, expand) or write into one
// (concat into a slice). One contract for the reference (ref::, kernels/ref/copy.cpp: one element
// at a time), fast CPU (cpu::, kernels/cpu/copy.cpp: memcpy of the innermost contiguous runs) and
// CUDA (cuda::, kernels/cuda/copy.cu: one thread per destination element, on glassbox's stream)
// kernels. A copy walks the index space of `shape` (row-major, 0 <= ndim <= 8, 0 = one element);
// strides are in elements, any sign, 0 allowed on the source (broadcast); dst_strides nullptr
// means contiguous. Elements of 1, 2, 4 or 8 bytes are copied as raw bits (NaN payloads kept).
// dst must not overlap src, and dst strides must not map two indices to one element. Throws
// std::invalid_argument for ndim outside 0..8 or another element size.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/kernel_fn.h"

namespace gb::kernels {

using StridedCopyFn = void(int ndim, const int64_t* shape, const void* src,
                           const int64_t* src_strides, void* dst, const int64_t* dst_strides,
                           size_t elem_bytes);

struct StridedCopyKernels {
  KernelFn<StridedCopyFn> strided_copy;
  std::vector<KernelName> names() const { return {{"strided_copy", strided_copy.name}}; }
};

namespace ref {
StridedCopyFn strided_copy;
extern const StridedCopyKernels strided_copy_kernels;
}  // namespace ref

namespace cpu {
StridedCopyFn strided_copy;
extern const StridedCopyKernels strided_copy_kernels;
}  // namespace cpu

namespace cuda {
StridedCopyFn strided_copy;
// Float shorthands: dst (contiguous, shape) = src viewed through src_strides; and dst viewed
// through dst_strides = src viewed through src_strides.
void strided_copy(int ndim, const int64_t* shape, const float* src, const int64_t* src_strides,
                  float* dst);
void strided_copy(int ndim, const int64_t* shape, const float* src, const int64_t* src_strides,
                  float* dst, const int64_t* dst_strides);
extern const StridedCopyKernels strided_copy_kernels;
}  // namespace cuda

}  // namespace gb::kernels
