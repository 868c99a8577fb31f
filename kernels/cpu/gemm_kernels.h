// Internal interface between the SGEMM driver (gemm.cpp) and its ISA-specific micro-kernels
// (gemm_avx2.cpp: 6 x 16 tile; gemm_avx512.cpp: 12 x 32 tile). Shape letters as in gemm.cpp:
// op(A) is M x K, op(B) is K x N, C is M x N; a kernel's register tile is MR x NR and its cache
// blocks are MC x KC (packed A) and KC x NC (packed B).
// Packed layouts (both k-major inside a sliver, so the micro-kernel streams them linearly):
//   A block: slivers of MR rows; sliver s holds op(A)(s*MR + r, k) at [s*MR*kc + k*MR + r].
//   B panel: slivers of NR columns; sliver s holds op(B)(k, s*NR + c) at [s*NR*kc + k*NR + c].
// Rows / columns past the block's edge are zero in the packed copies.
// The packing helpers below are plain AVX2 (the project baseline), shared by every kernel.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace gb::kernels::cpu::gemm_detail {

struct GemmKernel {
  const char* name;
  int64_t mr, nr;      // register tile
  int64_t mc, kc, nc;  // cache blocks (mc is a multiple of mr, nc of nr)
  // Packs op(A)[0:mc, 0:kc]; A points at the block's (0, 0) element of op(A) in A's storage.
  void (*pack_a)(bool trans_a, const float* A, int64_t lda, int64_t mc, int64_t kc, float* dst);
  // Packs op(B)[0:kc, 0:nc]; B points at the panel's (0, 0) element of op(B) in B's storage.
  void (*pack_b)(bool trans_b, const float* B, int64_t ldb, int64_t kc, int64_t nc, float* dst);
  // C[0:mc, 0:nc] = alpha * (packed A block) * (packed B panel) + beta * C; beta == 0: C is
  // not read. Each C element is one FMA chain over k = 0..kc-1, in order.
  void (*block)(int64_t mc, int64_t nc, int64_t kc, const float* packed_a, const float* packed_b,
                float alpha, float beta, float* C, int64_t ldc);
};

extern const GemmKernel kAvx2Kernel;
extern const GemmKernel kAvx512Kernel;  // only to be used where the CPU supports AVX-512

// dst[k * W + c] = src[k * ld + c] for c < cols, 0 for cols <= c < W (k < kc).
template <int W>
inline void pack_copy(const float* src, int64_t ld, int64_t cols, int64_t kc, float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    const float* s = src + k * ld;
    float* d = dst + k * W;
    if (cols == W) {
      int c = 0;
      for (; c + 8 <= W; c += 8) _mm256_storeu_ps(d + c, _mm256_loadu_ps(s + c));
      for (; c + 4 <= W; c += 4) _mm_storeu_ps(d + c, _mm_loadu_ps(s + c));
      for (; c < W; ++c) d[c] = s[c];
    } else {
      int64_t c = 0;
      for (; c < cols; ++c) d[c] = s[c];
      for (; c < W; ++c) d[c] = 0.0f;
    }
  }
}

// dst[k * W + r] = src[r * ld + k] for r < rows, 0 for rows <= r < W (k < kc): a transpose,
// done four rows by eight k at a time with in-register 4 x 4 transposes.
template <int W>
inline void pack_transpose(const float* src, int64_t ld, int64_t rows, int64_t kc, float* dst) {
  int64_t r = 0;
  for (; r + 4 <= W && r + 4 <= rows; r += 4) {
    const float* s0 = src + r * ld;
    const float* s1 = s0 + ld;
    const float* s2 = s1 + ld;
    const float* s3 = s2 + ld;
    float* d = dst + r;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      const __m256 x0 = _mm256_loadu_ps(s0 + k), x1 = _mm256_loadu_ps(s1 + k);
      const __m256 x2 = _mm256_loadu_ps(s2 + k), x3 = _mm256_loadu_ps(s3 + k);
      const __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1);
      const __m256 t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
      const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      float* o = d + k * W;
      _mm_storeu_ps(o + 0 * W, _mm256_castps256_ps128(u0));
      _mm_storeu_ps(o + 1 * W, _mm256_castps256_ps128(u1));
      _mm_storeu_ps(o + 2 * W, _mm256_castps256_ps128(u2));
      _mm_storeu_ps(o + 3 * W, _mm256_castps256_ps128(u3));
      _mm_storeu_ps(o + 4 * W, _mm256_extractf128_ps(u0, 1));
      _mm_storeu_ps(o + 5 * W, _mm256_extractf128_ps(u1, 1));
      _mm_storeu_ps(o + 6 * W, _mm256_extractf128_ps(u2, 1));
      _mm_storeu_ps(o + 7 * W, _mm256_extractf128_ps(u3, 1));
    }
    for (; k < kc; ++k) {
      float* o = d + k * W;
      o[0] = s0[k];
      o[1] = s1[k];
      o[2] = s2[k];
      o[3] = s3[k];
    }
  }
  for (; r < W; ++r) {  // rows left over from the groups of four, and zero padding
    if (r < rows) {
      const float* s = src + r * ld;
      for (int64_t k = 0; k < kc; ++k) dst[k * W + r] = s[k];
    } else {
      for (int64_t k = 0; k < kc; ++k) dst[k * W + r] = 0.0f;
    }
  }
}

// The two packing routines of a kernel with an MR x NR tile (see GemmKernel).
template <int MR>
void pack_a_slivers(bool trans_a, const float* A, int64_t lda, int64_t mc, int64_t kc, float* dst) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int64_t rows = mc - ir < MR ? mc - ir : MR;
    if (trans_a) {  // op(A)(i, k) = A[k * lda + i]
      pack_copy<MR>(A + ir, lda, rows, kc, dst + ir * kc);
    } else {  // op(A)(i, k) = A[i * lda + k]
      pack_transpose<MR>(A + ir * lda, lda, rows, kc, dst + ir * kc);
    }
  }
}

template <int NR>
void pack_b_slivers(bool trans_b, const float* B, int64_t ldb, int64_t kc, int64_t nc, float* dst) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int64_t cols = nc - jr < NR ? nc - jr : NR;
    if (trans_b) {  // op(B)(k, j) = B[j * ldb + k]
      pack_transpose<NR>(B + jr * ldb, ldb, cols, kc, dst + jr * kc);
    } else {  // op(B)(k, j) = B[k * ldb + j]
      pack_copy<NR>(B + jr, ldb, cols, kc, dst + jr * kc);
    }
  }
}

}  // namespace gb::kernels::cpu::gemm_detail
