// Reference SGEMM: the plain triple loop every fast GEMM is tested against.
// Shape letters: op(A) is M x K, op(B) is K x N, C is M x N; all row-major with row strides
// lda/ldb/ldc. Accumulates in double. beta == 0 means C is written without being read (BLAS
// convention: NaN/garbage already in C does not leak into the result).
#include "kernels/gemm.h"

namespace gb::kernels::ref {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const double b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      float& c = C[i * ldc + j];
      const double prior = beta == 0.0f ? 0.0 : static_cast<double>(beta) * c;
      c = static_cast<float>(static_cast<double>(alpha) * acc + prior);
    }
  }
}

}  // namespace gb::kernels::ref
