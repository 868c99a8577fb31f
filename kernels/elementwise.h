// The elementwise-arithmetic family over float arrays: binary add/sub/mul/div on equal shapes or
// with NumPy broadcasting, scaling by a constant, and (CUDA only, device plumbing for the runtime)
// fill and in-place accumulation. One contract for the reference (ref::,
// kernels/ref/elementwise.cpp), fast CPU (cpu::, kernels/cpu/elementwise.cpp: vectorised loops
// split into contiguous per-thread ranges above a size threshold) and CUDA (cuda::,
// kernels/cuda/elementwise.cu) kernels. Every element is computed by one thread with no reduction,
// so all backends give bit-identical results for any thread count. Outputs may alias inputs exactly
// (c == a or c == b, y == x), not partially.
//   elementwise_binary  c[i] = a[i] op b[i], i < n
//   broadcast_binary    c[i] = a[off_a(i)] op b[off_b(i)] for every index i of out_shape
//   (row-major,
//                       c contiguous): with i's coordinates (i_0, ..., i_{ndim-1}),
//                       off_a = sum_d i_d * a_strides[d] (elements; 0 on a broadcast dim), likewise
//                       b. 0 <= ndim <= 8 (0: one element); the CUDA kernel throws
//                       std::invalid_argument otherwise. c must not overlap a or b.
//   scale               y[i] = x[i] * factor
// Div is IEEE float division (correctly rounded on every backend): x / 0 is +-inf or NaN.
#pragma once
#include <cstdint>

#include "kernels/kernel_fn.h"

namespace gb::kernels {

enum class BinaryOp { Add, Sub, Mul, Div };

using BinaryFn = void(BinaryOp op, int64_t n, const float* a, const float* b, float* c);
using BroadcastBinaryFn = void(BinaryOp op, int ndim, const int64_t* out_shape, const float* a,
                               const int64_t* a_strides, const float* b, const int64_t* b_strides,
                               float* c);
using ScaleFn = void(int64_t n, const float* x, float factor, float* y);

// add, sub, mul, div (and dropout's mask multiply) share this set; the op passes its BinaryOp.
struct BinaryKernels {
  KernelFn<BinaryFn> same_shape;
  KernelFn<BroadcastBinaryFn> broadcast;
  std::vector<KernelName> names() const {
    return {{"same_shape", same_shape.name}, {"broadcast", broadcast.name}};
  }
};

struct ScaleKernels {
  KernelFn<ScaleFn> scale;
  std::vector<KernelName> names() const { return {{"scale", scale.name}}; }
};

namespace ref {
BinaryFn elementwise_binary;
BroadcastBinaryFn broadcast_binary;
ScaleFn scale;
extern const BinaryKernels binary_kernels;
extern const ScaleKernels scale_kernels;
}  // namespace ref

// The broadcasting form is ref's loop (the set names it).
namespace cpu {
BinaryFn elementwise_binary;
void add(int64_t n, const float* a, const float* b, float* c);
void sub(int64_t n, const float* a, const float* b, float* c);
void mul(int64_t n, const float* a, const float* b, float* c);
void div(int64_t n, const float* a, const float* b, float* c);
extern const BinaryKernels binary_kernels;
}  // namespace cpu

namespace cuda {
BinaryFn elementwise_binary;
BroadcastBinaryFn broadcast_binary;
ScaleFn scale;
void add(int64_t n, const float* a, const float* b, float* c);
void sub(int64_t n, const float* a, const float* b, float* c);
void mul(int64_t n, const float* a, const float* b, float* c);
void div(int64_t n, const float* a, const float* b, float* c);
// dst += src (gradient accumulation on the device).
void add_inplace(int64_t n, float* dst, const float* src);
// p[i] = value.
void fill(int64_t n, float* p, float value);
extern const BinaryKernels binary_kernels;
extern const ScaleKernels scale_kernels;
}  // namespace cuda

}  // namespace gb::kernels
