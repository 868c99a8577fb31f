// Fast single-precision GEMM, C = alpha * op(A) * op(B) + beta * C, row-major, AVX2 + FMA.
// Shape letters: op(A) is M x K, op(B) is K x N, C is M x N (the GEMM's own M/N/K, not the NCHW
// letters). Structure (Goto / BLIS style):
//   for each NC-wide column block of C:
//     for each KC-deep slice of K:   pack op(B)[KC x NC] into NR-wide row-interleaved slivers
//       for each MC-tall row block:  pack op(A)[MC x KC] into MR-tall column-interleaved slivers
//         for each MR x NR tile:     6 x 16 register micro-kernel (12 ymm accumulators)
// Transposition is handled entirely by the packing routines; edge tiles are zero-padded in the
// packed panels and written back through a small staging tile.
// Numerics: every element of C is one FMA chain over k inside each KC slice, then added to C
// slice by slice, so an element's value does not depend on where M or N is split. sgemm_parallel
// splits C at multiples of the tile size, hence it is bit-identical to sgemm for any thread count.
// beta == 0 writes C without reading it (BLAS convention); K == 0 or alpha == 0 only scales C.
#include "kernels/cpu/gemm.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace gb::kernels::cpu {
namespace {

constexpr int64_t kMR = 6;     // micro-tile rows (broadcast A values)
constexpr int64_t kNR = 16;    // micro-tile columns (two ymm registers of B)
constexpr int64_t kMC = 72;    // A block rows: MC x KC floats (144 KiB) stays in L2
constexpr int64_t kKC = 512;   // depth of one packed slice: a B sliver (32 KiB) stays near L1
constexpr int64_t kNC = 2048;  // B block columns: KC x NC floats (4 MiB) stays in L3
// (Chosen by measurement on the dev machine's AMD EPYC: 72/512/2048 beat 144/256/3072 and
// 48/768/2048 by ~5% geometric mean over square and conv-shaped products.)

// A 64-byte aligned scratch buffer that only grows; one per thread per purpose.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(data_); }
  float* get(int64_t count) {
    if (count > capacity_) {
      std::free(data_);
      const size_t bytes = (static_cast<size_t>(count) * sizeof(float) + 63) / 64 * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data_) throw std::bad_alloc();
      capacity_ = count;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  int64_t capacity_ = 0;
};

thread_local AlignedBuffer tl_packed_a;
thread_local AlignedBuffer tl_packed_b;

// C[M x N] = beta * C (beta == 0: zero without reading).
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  if (beta == 1.0f) return;
  for (int64_t i = 0; i < M; ++i) {
    float* row = C + i * ldc;
    if (beta == 0.0f) {
      std::fill(row, row + N, 0.0f);
    } else {
      for (int64_t j = 0; j < N; ++j) row[j] *= beta;
    }
  }
}

// Packs op(A)[i0 : i0+mc, p0 : p0+kc] into slivers of kMR rows: sliver s holds, for each k,
// the kMR values op(A)(i0 + s*kMR + r, p0 + k) contiguously. Rows past mc are zero.
void pack_a(bool trans_a, const float* A, int64_t lda, int64_t i0, int64_t p0, int64_t mc,
            int64_t kc, float* dst) {
  for (int64_t ir = 0; ir < mc; ir += kMR) {
    const int64_t mr = std::min(kMR, mc - ir);
    float* out = dst + ir * kc;
    if (trans_a) {  // op(A)(i, k) = A[k * lda + i]: contiguous along the sliver's rows
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = A + (p0 + k) * lda + i0 + ir;
        int64_t r = 0;
        for (; r < mr; ++r) out[k * kMR + r] = src[r];
        for (; r < kMR; ++r) out[k * kMR + r] = 0.0f;
      }
    } else {  // op(A)(i, k) = A[i * lda + k]: walk kMR rows side by side
      for (int64_t r = 0; r < kMR; ++r) {
        if (r < mr) {
          const float* src = A + (i0 + ir + r) * lda + p0;
          for (int64_t k = 0; k < kc; ++k) out[k * kMR + r] = src[k];
        } else {
          for (int64_t k = 0; k < kc; ++k) out[k * kMR + r] = 0.0f;
        }
      }
    }
  }
}

// Packs op(B)[p0 : p0+kc, j0 : j0+nc] into slivers of kNR columns: sliver s holds, for each k,
// the kNR values op(B)(p0 + k, j0 + s*kNR + c) contiguously. Columns past nc are zero.
void pack_b(bool trans_b, const float* B, int64_t ldb, int64_t p0, int64_t j0, int64_t kc,
            int64_t nc, float* dst) {
  for (int64_t jr = 0; jr < nc; jr += kNR) {
    const int64_t nr = std::min(kNR, nc - jr);
    float* out = dst + jr * kc;
    if (!trans_b) {  // op(B)(k, j) = B[k * ldb + j]: each sliver row is a contiguous run
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = B + (p0 + k) * ldb + j0 + jr;
        float* o = out + k * kNR;
        if (nr == kNR) {
          _mm256_store_ps(o, _mm256_loadu_ps(src));
          _mm256_store_ps(o + 8, _mm256_loadu_ps(src + 8));
        } else {
          int64_t c = 0;
          for (; c < nr; ++c) o[c] = src[c];
          for (; c < kNR; ++c) o[c] = 0.0f;
        }
      }
    } else {  // op(B)(k, j) = B[j * ldb + k]: each output column is a contiguous run of B
      for (int64_t c = 0; c < kNR; ++c) {
        if (c < nr) {
          const float* src = B + (j0 + jr + c) * ldb + p0;
          for (int64_t k = 0; k < kc; ++k) out[k * kNR + c] = src[k];
        } else {
          for (int64_t k = 0; k < kc; ++k) out[k * kNR + c] = 0.0f;
        }
      }
    }
  }
}

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

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const int64_t kc_max = std::min(kKC, K);
  const int64_t mc_max = std::min(kMC, (M + kMR - 1) / kMR * kMR);
  const int64_t nc_max = std::min(kNC, (N + kNR - 1) / kNR * kNR);
  float* packed_a = tl_packed_a.get(mc_max * kc_max);
  float* packed_b = tl_packed_b.get(nc_max * kc_max);

  for (int64_t jc = 0; jc < N; jc += kNC) {
    const int64_t nc = std::min(kNC, N - jc);
    for (int64_t pc = 0; pc < K; pc += kKC) {
      const int64_t kc = std::min(kKC, K - pc);
      const float beta_here = pc == 0 ? beta : 1.0f;  // later slices accumulate onto C
      pack_b(trans_b, B, ldb, pc, jc, kc, nc, packed_b);
      for (int64_t ic = 0; ic < M; ic += kMC) {
        const int64_t mc = std::min(kMC, M - ic);
        pack_a(trans_a, A, lda, ic, pc, mc, kc, packed_a);
        for (int64_t jr = 0; jr < nc; jr += kNR) {
          const int64_t nr = std::min(kNR, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int64_t mr = std::min(kMR, mc - ir);
            micro_kernel(kc, packed_a + ir * kc, packed_b + jr * kc, alpha, beta_here,
                         C + (ic + ir) * ldc + jc + jr, ldc, mr, nr);
          }
        }
      }
    }
  }
}

void sgemm_parallel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                    int64_t ldc) {
  const int64_t row_tiles = (M + kMR - 1) / kMR, col_tiles = (N + kNR - 1) / kNR;
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) *
                       static_cast<double>(std::max<int64_t>(K, 1));
  const int max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  // Each thread gets at least a 64^3 product (a fork costs a few microseconds) and one tile.
  const int64_t by_work = static_cast<int64_t>(flops / (2.0 * 64 * 64 * 64)) + 1;
  const int64_t by_tiles = std::max(row_tiles, col_tiles);
  const int threads = static_cast<int>(std::min<int64_t>({max_threads, by_tiles, by_work}));
  if (threads <= 1) {
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Split the dimension with more tiles into contiguous, tile-aligned ranges, one per thread.
  const bool split_cols = col_tiles >= row_tiles;
  const int64_t tiles = split_cols ? col_tiles : row_tiles;
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t first = tiles * t / nt, last = tiles * (t + 1) / nt;
    if (split_cols) {
      const int64_t j0 = first * kNR, j1 = std::min(N, last * kNR);
      if (j1 > j0) {
        const float* b = trans_b ? B + j0 * ldb : B + j0;
        sgemm(trans_a, trans_b, M, j1 - j0, K, alpha, A, lda, b, ldb, beta, C + j0, ldc);
      }
    } else {
      const int64_t i0 = first * kMR, i1 = std::min(M, last * kMR);
      if (i1 > i0) {
        const float* a = trans_a ? A + i0 : A + i0 * lda;
        sgemm(trans_a, trans_b, i1 - i0, N, K, alpha, a, lda, B, ldb, beta, C + i0 * ldc, ldc);
      }
    }
  }
}

}  // namespace gb::kernels::cpu
