// The reduction family: the sum of a tensor over some of its dims (the sum/mean ops and the
// backward of broadcasting) and the sum of squares behind gradient-norm clipping; plus the CUDA
// whole-array sums the tests and device code use. One contract for the reference (ref::,
// kernels/ref/reduce.cpp: plain loops, double accumulators; the CPU runs it too) and CUDA (cuda::,
// kernels/cuda/reduce.cu: fixed two-stage orders, double accumulators, no atomics, so a given shape
// gives bitwise identical results run after run) kernels.
//   sum_to_shape  x contiguous with in_shape, y contiguous with out_shape (same ndim, 0 <= ndim
//                 <= 8), every out_shape[d] either in_shape[d] or 1: y[o] = (sum of the x elements
//                 whose kept coordinates equal o's) / divisor. ref divides the double sum; cuda
//                 scales the float sum by float(1 / divisor) when divisor != 1. A dim with
//                 in_shape[d] == 0 gives zeros. y overwritten.
//   sum_squares   *acc = sum of x[i]^2 in double, or *acc += that sum when accumulate is set (the
//                 global gradient norm over many tensors); acc lives on the kernel's device, so a
//                 GPU run reads it back once at the end.
#pragma once
#include <cstdint>

#include "kernels/kernel_fn.h"

namespace gb::kernels {

using SumToShapeFn = void(int ndim, const int64_t* in_shape, const float* x,
                          const int64_t* out_shape, double divisor, float* y);
using SumSquaresFn = void(int64_t n, const float* x, double* acc, bool accumulate);

struct ReduceKernels {
  KernelFn<SumToShapeFn> sum_to_shape;
  std::vector<KernelName> names() const { return {{"sum_to_shape", sum_to_shape.name}}; }
};

struct SumSquaresKernels {
  KernelFn<SumSquaresFn> sum_squares;
  std::vector<KernelName> names() const { return {{"sum_squares", sum_squares.name}}; }
};

namespace ref {
SumToShapeFn sum_to_shape;
SumSquaresFn sum_squares;
extern const ReduceKernels reduce_kernels;
extern const SumSquaresKernels sum_squares_kernels;
}  // namespace ref

namespace cuda {
SumToShapeFn sum_to_shape;
SumSquaresFn sum_squares;
// *out (a device scalar) = sum of x[0..n); n == 0 gives 0.
void sum_all(int64_t n, const float* x, float* out);
// *out = sum / n; n == 0 gives NaN (as torch.mean of an empty tensor).
void mean_all(int64_t n, const float* x, float* out);
// sum_to_shape with divisor 1 (throws std::invalid_argument on a shape mismatch or ndim > 8).
void reduce_sum_broadcast(int ndim, const int64_t* in_shape, const float* x,
                          const int64_t* out_shape, float* y);
// out[c] = sum over n < N, l < L of x[(n*C + c)*L + l]; x [N,C,L], out [C] overwritten.
void channel_sum(int64_t N, int64_t C, int64_t L, const float* x, float* out);
extern const ReduceKernels reduce_kernels;
extern const SumSquaresKernels sum_squares_kernels;
}  // namespace cuda

}  // namespace gb::kernels
