// CUDA strided copies: materialise a view (transpose, slice, expand, flip) or write into one
// (concat into a slice). Device pointers, glassbox's stream, asynchronous. A copy walks the
// index space of `shape` (row-major, ndim <= 8, 0 = one element); strides are in elements, any
// sign, 0 allowed on the source (broadcast). Each destination element is written by one thread.
// dst must not overlap src, and dst strides must not map two indices to one element.
// Throws std::invalid_argument for ndim outside 0..8 or an unsupported element size.
#pragma once
#include <cstddef>
#include <cstdint>

namespace gb::kernels::cuda {

// dst (contiguous, shape) = src viewed through src_strides.
void strided_copy(int ndim, const int64_t* shape, const float* src, const int64_t* src_strides,
                  float* dst);
// dst viewed through dst_strides = src viewed through src_strides.
void strided_copy(int ndim, const int64_t* shape, const float* src, const int64_t* src_strides,
                  float* dst, const int64_t* dst_strides);
// Any element size of 1, 2, 4 or 8 bytes (int64 labels, int32 argmax, bytes); dst_strides
// nullptr = contiguous.
void strided_copy(int ndim, const int64_t* shape, const void* src, const int64_t* src_strides,
                  void* dst, const int64_t* dst_strides, size_t elem_bytes);

}  // namespace gb::kernels::cuda
