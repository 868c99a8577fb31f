// The GEMM family (not an op of the table: the convolution and linear kernels are built on it).
// Single-precision GEMM on row-major matrices: C = alpha * op(A) * op(B) + beta * C.
// op(A) is M x K, op(B) is K x N, C is M x N; lda/ldb/ldc are row strides in elements.
// ref::sgemm is the plain triple loop every fast GEMM is tested against.
// cpu::sgemm is the packed SIMD kernel (single-threaded: callers parallelise around it); its
// micro-kernel is AVX-512 (12 x 32 tile) where the CPU has it, else AVX2/FMA (6 x 16 tile).
// cpu::sgemm_parallel cuts C into one contiguous, tile-aligned range of rows or of columns per
// OpenMP thread, each computed by the serial algorithm (deterministic: each element of C is
// computed by exactly one thread with the same reduction order as in cpu::sgemm, so the result is
// bit-identical to cpu::sgemm for any thread count).
// The two micro-kernels block K differently, so AVX2 and AVX-512 results may differ by rounding.
// beta == 0: C is written without being read (BLAS convention; NaN in C does not propagate).
// K == 0 or alpha == 0: C = beta * C. Called inside an OpenMP parallel region, sgemm_parallel
// runs single-threaded.
// cuda::sgemm (kernels/cuda/linear.cu) is the shared-memory tiled GEMM of gemm_tile.cuh on device
// pointers, deterministic (no atomics).
#pragma once
#include <cstdint>

namespace gb::kernels {
namespace ref {
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
}  // namespace ref
namespace cpu {
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void sgemm_parallel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                    int64_t ldc);

// Which micro-kernel sgemm uses; for tests and benchmarks (the default, Auto, picks the widest
// one the CPU and OS support). Process-wide: do not switch while another thread is in sgemm.
enum class GemmIsa { Auto, Avx2, Avx512 };
bool gemm_isa_supported(GemmIsa isa);  // Auto and Avx2 always; Avx512 if the CPU has it
// Selects isa; returns false (and changes nothing) if it is not supported here.
bool set_gemm_isa(GemmIsa isa);
GemmIsa gemm_isa();                      // the micro-kernel in use now (never Auto)
const char* gemm_isa_name(GemmIsa isa);  // "auto", "avx2", "avx512"
}  // namespace cpu
namespace cuda {
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
}  // namespace cuda
}  // namespace gb::kernels
