// CUDA batched matrix product (see matmul.h). Shape letters: B batches, op(A) M x K, op(B) K x N,
// C M x N. Each batch's product is one call of the tiled SGEMM (cuda::sgemm, gemm_tile.cuh) on
// the stream, in batch order: deterministic, and a shared operand's gradient (batch stride 0)
// accumulates over the batches in order with beta = 1. With B = 0 a shared gradient is zeroed.
//   dA = dC op(B)^T (stored transposed when trans_a), dB = op(A)^T dC (likewise for trans_b).
#include "kernels/cuda/launch.cuh"
#include "kernels/gemm.h"
#include "kernels/matmul.h"

namespace gb::kernels::cuda {

void matmul_forward(const MatMulShape& s, const float* a, const float* b, float* c) {
  const int64_t lda = s.trans_a ? s.M : s.K, ldb = s.trans_b ? s.K : s.N;
  for (int64_t i = 0; i < s.B; ++i) {
    sgemm(s.trans_a, s.trans_b, s.M, s.N, s.K, 1.0f, a + i * s.stride_a, lda, b + i * s.stride_b,
          ldb, 0.0f, c + i * s.M * s.N, s.N);
  }
}

void matmul_backward(const MatMulShape& s, const float* a, const float* b, const float* dc,
                     float* da, float* db) {
  const int64_t lda = s.trans_a ? s.M : s.K, ldb = s.trans_b ? s.K : s.N;
  const int64_t MN = s.M * s.N;
  if (s.B == 0) {
    if (da && s.stride_a == 0)
      check(cudaMemsetAsync(da, 0, sizeof(float) * s.M * s.K, stream()), "matmul_backward");
    if (db && s.stride_b == 0)
      check(cudaMemsetAsync(db, 0, sizeof(float) * s.K * s.N, stream()), "matmul_backward");
    return;
  }
  for (int64_t i = 0; i < s.B; ++i) {
    if (da) {
      const float beta = s.stride_a == 0 && i > 0 ? 1.0f : 0.0f;
      const float* bm = b + i * s.stride_b;
      float* out = da + i * s.stride_a;
      if (!s.trans_a) {
        sgemm(false, !s.trans_b, s.M, s.K, s.N, 1.0f, dc + i * MN, s.N, bm, ldb, beta, out, s.K);
      } else {
        sgemm(s.trans_b, true, s.K, s.M, s.N, 1.0f, bm, ldb, dc + i * MN, s.N, beta, out, s.M);
      }
    }
    if (db) {
      const float beta = s.stride_b == 0 && i > 0 ? 1.0f : 0.0f;
      const float* am = a + i * s.stride_a;
      float* out = db + i * s.stride_b;
      if (!s.trans_b) {
        sgemm(!s.trans_a, false, s.K, s.N, s.M, 1.0f, am, lda, dc + i * MN, s.N, beta, out, s.N);
      } else {
        sgemm(true, s.trans_a, s.N, s.K, s.M, 1.0f, dc + i * MN, s.N, am, lda, beta, out, s.K);
      }
    }
  }
}

const MatMulKernels matmul_kernels{GB_KERNEL(cuda::matmul_forward),
                                   GB_KERNEL(cuda::matmul_backward)};

}  // namespace gb::kernels::cuda
