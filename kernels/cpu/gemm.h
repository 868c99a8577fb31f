// Single-precision GEMM on row-major matrices: C = alpha * op(A) * op(B) + beta * C.
// op(A) is M x K, op(B) is K x N, C is M x N; lda/ldb/ldc are row strides in elements.
// ref::sgemm is the plain triple loop every fast GEMM is tested against.
// cpu::sgemm is the packed AVX2/FMA kernel (single-threaded: callers parallelise around it);
// cpu::sgemm_parallel splits C's columns or rows across OpenMP threads (deterministic: each
// element of C is computed by exactly one thread with a fixed reduction order; the split is
// tile-aligned, so the result is bit-identical to cpu::sgemm for any thread count).
// beta == 0: C is written without being read (BLAS convention; NaN in C does not propagate).
// K == 0 or alpha == 0: C = beta * C. Called inside an OpenMP parallel region, sgemm_parallel
// runs single-threaded.
#pragma once
#include <cstdint>

namespace gb::kernels {
namespace ref {
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);
}  // namespace ref
namespace cpu {
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);
void sgemm_parallel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                    float* C, int64_t ldc);
}  // namespace cpu
}  // namespace gb::kernels
