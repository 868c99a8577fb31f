// CUDA GEMM (shared-memory tiled, fp32) and the linear layer built on it. Device pointers; the
// contracts of kernels::ref::linear_* (kernels/cpu/linear.h): x [N,I], w [O,I], b [O] or nullptr,
// y [N,O]; backward writes dx (may be nullptr: not wanted), dw, db (nullptr: no bias).
// Deterministic (no atomics).
#pragma once
#include <cstdint>

namespace gb::kernels::cuda {

// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major; op(A) is [M,K] (A stored [K,M] when
// trans_a), op(B) is [K,N] (B stored [N,K] when trans_b). lda/ldb/ldc are row strides.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

void linear_forward(int64_t N, int64_t I, int64_t O, const float* x, const float* w, const float* b,
                    float* y);
void linear_backward(int64_t N, int64_t I, int64_t O, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db);

}  // namespace gb::kernels::cuda
