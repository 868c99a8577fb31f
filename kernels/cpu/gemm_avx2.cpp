// The AVX2 + FMA micro-kernel of the SGEMM (the fallback for CPUs without AVX-512; see gemm.cpp
// for the blocking and gemm_kernels.h for the packed layouts). Shape letters: the register tile
// is kMR x kNR = 6 x 16 elements of C (12 ymm accumulators, 6 broadcast A values times two
// 8-wide B vectors per k); cache blocks MC x KC of op(A) and KC x NC of op(B).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/gemm_kernels.h"

namespace gb::kernels::cpu::gemm_detail {
namespace {

constexpr int64_t kMR = 6;     // micro-tile rows (broadcast A values)
constexpr int64_t kNR = 16;    // micro-tile columns (two ymm registers of B)
constexpr int64_t kMC = 72;    // A block rows: MC x KC floats (144 KiB) stays in L2
constexpr int64_t kKC = 512;   // depth of one packed slice: a B sliver (32 KiB) stays near L1
constexpr int64_t kNC = 2048;  // B block columns: KC x NC floats (4 MiB) stays in L3
// (Chosen by measurement on the dev machine's AMD EPYC: 72/512/2048 beat 144/256/3072 and
// 48/768/2048 by ~5% geometric mean over square and conv-shaped products.)

// Writes one finished 8-wide accumulator: c = alpha * acc + beta * c (beta == 0: not read).
inline void store_row8(float* c, __m256 acc, __m256 valpha, __m256 vbeta, float beta) {
  __m256 v = _mm256_mul_ps(acc, valpha);
  if (beta == 1.0f) {
    v = _mm256_add_ps(v, _mm256_loadu_ps(c));
  } else if (beta != 0.0f) {
    v = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(c), v);
  }
  _mm256_storeu_ps(c, v);
}

// The register micro-kernel: acc[kMR x kNR] = sum_k a[k][0..5] (x) b[k][0..15], then
// C[0:mr, 0:nr] = alpha * acc + beta * C. a and b are packed slivers (64-byte aligned b).
void micro_kernel(int64_t kc, const float* a, const float* b, float alpha, float beta, float* C,
                  int64_t ldc, int64_t mr, int64_t nr) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
    __m256 av = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
    a += kMR;
    b += kNR;
  }
  const __m256 valpha = _mm256_set1_ps(alpha), vbeta = _mm256_set1_ps(beta);
  if (mr == kMR && nr == kNR) {
    store_row8(C + 0 * ldc, c00, valpha, vbeta, beta);
    store_row8(C + 0 * ldc + 8, c01, valpha, vbeta, beta);
    store_row8(C + 1 * ldc, c10, valpha, vbeta, beta);
    store_row8(C + 1 * ldc + 8, c11, valpha, vbeta, beta);
    store_row8(C + 2 * ldc, c20, valpha, vbeta, beta);
    store_row8(C + 2 * ldc + 8, c21, valpha, vbeta, beta);
    store_row8(C + 3 * ldc, c30, valpha, vbeta, beta);
    store_row8(C + 3 * ldc + 8, c31, valpha, vbeta, beta);
    store_row8(C + 4 * ldc, c40, valpha, vbeta, beta);
    store_row8(C + 4 * ldc + 8, c41, valpha, vbeta, beta);
    store_row8(C + 5 * ldc, c50, valpha, vbeta, beta);
    store_row8(C + 5 * ldc + 8, c51, valpha, vbeta, beta);
    return;
  }
  // Edge tile: stage alpha * acc, then write the valid part with the same rounding steps as the
  // vector path (multiply, then one fused multiply-add or add).
  alignas(32) float tile[kMR * kNR];
  const __m256 rows[kMR * 2] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
  for (int64_t i = 0; i < kMR * 2; ++i)
    _mm256_store_ps(tile + i * 8, _mm256_mul_ps(rows[i], valpha));
  for (int64_t i = 0; i < mr; ++i) {
    float* c = C + i * ldc;
    const float* t = tile + i * kNR;
    for (int64_t j = 0; j < nr; ++j) {
      if (beta == 0.0f) {
        c[j] = t[j];
      } else if (beta == 1.0f) {
        c[j] = t[j] + c[j];
      } else {
        c[j] = std::fma(beta, c[j], t[j]);
      }
    }
  }
}

void block(int64_t mc, int64_t nc, int64_t kc, const float* packed_a, const float* packed_b,
           float alpha, float beta, float* C, int64_t ldc) {
  for (int64_t jr = 0; jr < nc; jr += kNR) {
    const int64_t nr = std::min(kNR, nc - jr);
    for (int64_t ir = 0; ir < mc; ir += kMR) {
      const int64_t mr = std::min(kMR, mc - ir);
      micro_kernel(kc, packed_a + ir * kc, packed_b + jr * kc, alpha, beta, C + ir * ldc + jr, ldc,
                   mr, nr);
    }
  }
}

}  // namespace

const GemmKernel kAvx2Kernel = {
    "avx2", kMR, kNR, kMC, kKC, kNC, pack_a_slivers<kMR>, pack_b_slivers<kNR>, block};

}  // namespace gb::kernels::cpu::gemm_detail
