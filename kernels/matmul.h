// The batched matrix product (torch.matmul / ONNX MatMul on [..., M, K] x [..., K, N]): for every
// batch b, C[b] = op(A[b]) * op(B[b]) on row-major matrices, op(A) M x K, op(B) K x N, C M x N.
// A transposed operand is read in place (trans_a: A[b] is stored K x M; trans_b: B[b] is N x K),
// so an attention score q k^T needs no copy of k. A batch stride of 0 shares one matrix across
// all batches (a weight [K, N] against [B, M, K] activations); its gradient is then the sum over
// the batches. One contract for the reference (ref::, kernels/ref/matmul.cpp: plain loops, double
// accumulators), fast CPU (cpu::, kernels/cpu/matmul.cpp: the packed SGEMM of gemm.h, batches
// across threads when there are at least as many as threads, else each product threaded;
// bit-identical for any thread count) and CUDA (cuda::, kernels/cuda/matmul.cu: the tiled SGEMM
// per batch, deterministic) kernels.
// Shape letters: B batches, M rows of C, N columns of C, K the summed dimension.
//   forward   a, b -> c [B,M,N] (overwritten).
//   backward  a, b, dc [B,M,N] -> da (laid out as a: stride_a apart, or one matrix when
//             stride_a is 0, transposed when trans_a), db (likewise); either may be nullptr to
//             skip it; both are overwritten.
// requires: B, M, N, K >= 0; stride_a is 0 or M*K, stride_b is 0 or K*N.
#pragma once
#include <cstdint>

#include "kernels/kernel_fn.h"

namespace gb::kernels {

struct MatMulShape {
  int64_t B = 1, M = 0, N = 0, K = 0;
  bool trans_a = false, trans_b = false;
  int64_t stride_a = 0, stride_b = 0;  // elements between consecutive batches' matrices
};

using MatMulForwardFn = void(const MatMulShape& s, const float* a, const float* b, float* c);
using MatMulBackwardFn = void(const MatMulShape& s, const float* a, const float* b, const float* dc,
                              float* da, float* db);

struct MatMulKernels {
  KernelFn<MatMulForwardFn> forward;
  KernelFn<MatMulBackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};

namespace ref {
MatMulForwardFn matmul_forward;
MatMulBackwardFn matmul_backward;
extern const MatMulKernels matmul_kernels;
}  // namespace ref

namespace cpu {
MatMulForwardFn matmul_forward;
MatMulBackwardFn matmul_backward;
extern const MatMulKernels matmul_kernels;
}  // namespace cpu

namespace cuda {
MatMulForwardFn matmul_forward;
MatMulBackwardFn matmul_backward;
extern const MatMulKernels matmul_kernels;
}  // namespace cuda

}  // namespace gb::kernels
