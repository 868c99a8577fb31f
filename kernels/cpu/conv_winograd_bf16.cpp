// The bfloat16 Winograd GEMMs (see conv_winograd_bf16.h for the layouts and numerics).
// Shape letters as there. Only these functions are compiled for AVX512-BF16 (function target
// attributes); conv_winograd.cpp calls them only where bf16_supported() holds.
#include "kernels/cpu/conv_winograd_bf16.h"

#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/conv_winograd_transforms.h"

#define GB_BF16 __attribute__((target("avx512bf16,avx512vl,avx512bw,avx512f,avx2,fma")))

namespace gb::kernels::cpu::winograd_bf16 {
namespace {

constexpr int64_t kXi = 36;
constexpr int64_t kRows = 6;  // register tile: 6 tile rows x 16 output channels
constexpr int64_t kCols = 16;

using AliasedPair = int32_t __attribute__((may_alias));

// dst[2k + j] = bf16(row_j[k]) for k < Kp (a multiple of 8), j in {0, 1}: two filter rows'
// values interleaved per output channel.
GB_BF16 void interleave_rows(const float* row0, const float* row1, int64_t Kp, uint16_t* dst) {
  for (int64_t k = 0; k < Kp; k += 8) {
    const __m128bh h0 = _mm256_cvtneps_pbh(_mm256_loadu_ps(row0 + k));
    const __m128bh h1 = _mm256_cvtneps_pbh(_mm256_loadu_ps(row1 + k));
    const __m128i i0 = reinterpret_cast<const __m128i&>(h0);
    const __m128i i1 = reinterpret_cast<const __m128i&>(h1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * k), _mm_unpacklo_epi16(i0, i1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * k + 8), _mm_unpackhi_epi16(i0, i1));
  }
}

inline __m256bh pair_broadcast(const uint16_t* a) {
  const __m256i x = _mm256_set1_epi32(*reinterpret_cast<const AliasedPair*>(a));
  return reinterpret_cast<const __m256bh&>(x);
}

inline __m256bh load_pairs(const uint16_t* b) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  return reinterpret_cast<const __m256bh&>(x);
}

// d[6 rows][16 cols] = sum over channel pairs e of a[r * a_row + 2e, +1] . b[e * ldb + 2 col, +1].
// a_row and ldb in bf16 elements. Twelve named accumulators, as in conv_winograd.cpp's gemm_6x16.
GB_BF16 void gemm_6x16(const uint16_t* a, int64_t a_row, const uint16_t* b, int64_t ldb, float* d,
                       int64_t ldd, int64_t pairs) {
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
  __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  const uint16_t *r0 = a, *r1 = a + a_row, *r2 = a + 2 * a_row, *r3 = a + 3 * a_row,
                 *r4 = a + 4 * a_row, *r5 = a + 5 * a_row;
  for (int64_t e = 0; e < pairs; ++e) {
    const int64_t at = 2 * e;
    const __m256bh b0 = load_pairs(b + e * ldb), b1 = load_pairs(b + e * ldb + 16);
    __m256bh x = pair_broadcast(r0 + at);
    a00 = _mm256_dpbf16_ps(a00, x, b0);
    a01 = _mm256_dpbf16_ps(a01, x, b1);
    x = pair_broadcast(r1 + at);
    a10 = _mm256_dpbf16_ps(a10, x, b0);
    a11 = _mm256_dpbf16_ps(a11, x, b1);
    x = pair_broadcast(r2 + at);
    a20 = _mm256_dpbf16_ps(a20, x, b0);
    a21 = _mm256_dpbf16_ps(a21, x, b1);
    x = pair_broadcast(r3 + at);
    a30 = _mm256_dpbf16_ps(a30, x, b0);
    a31 = _mm256_dpbf16_ps(a31, x, b1);
    x = pair_broadcast(r4 + at);
    a40 = _mm256_dpbf16_ps(a40, x, b0);
    a41 = _mm256_dpbf16_ps(a41, x, b1);
    x = pair_broadcast(r5 + at);
    a50 = _mm256_dpbf16_ps(a50, x, b0);
    a51 = _mm256_dpbf16_ps(a51, x, b1);
  }
  winograd::store_6x8(d, ldd, a00, a10, a20, a30, a40, a50);
  winograd::store_6x8(d + 8, ldd, a01, a11, a21, a31, a41, a51);
}

// d[6 rows][8 cols] as gemm_6x16, for the last column block when Kp is an odd multiple of 8.
GB_BF16 void gemm_6x8(const uint16_t* a, int64_t a_row, const uint16_t* b, int64_t ldb, float* d,
                      int64_t ldd, int64_t pairs) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  for (int64_t e = 0; e < pairs; ++e) {
    const int64_t at = 2 * e;
    const __m256bh b0 = load_pairs(b + e * ldb);
    a0 = _mm256_dpbf16_ps(a0, pair_broadcast(a + at), b0);
    a1 = _mm256_dpbf16_ps(a1, pair_broadcast(a + a_row + at), b0);
    a2 = _mm256_dpbf16_ps(a2, pair_broadcast(a + 2 * a_row + at), b0);
    a3 = _mm256_dpbf16_ps(a3, pair_broadcast(a + 3 * a_row + at), b0);
    a4 = _mm256_dpbf16_ps(a4, pair_broadcast(a + 4 * a_row + at), b0);
    a5 = _mm256_dpbf16_ps(a5, pair_broadcast(a + 5 * a_row + at), b0);
  }
  winograd::store_6x8(d, ldd, a0, a1, a2, a3, a4, a5);
}

}  // namespace

void pack_filters(const float* u, int64_t Cp, int64_t Kp, uint16_t* ub) {
  for (int64_t xi = 0; xi < kXi; ++xi) {
    const float* ux = u + xi * Cp * Kp;
    uint16_t* bx = ub + xi * Cp * Kp;
    for (int64_t c = 0; c < Cp; c += 2)
      interleave_rows(ux + c * Kp, ux + (c + 1) * Kp, Kp, bx + c * Kp);
  }
}

GB_BF16 void input_transform(const TileGrid& grid, int64_t rows, uint16_t* vb, int64_t vb_stride) {
  const int64_t Cp = grid.blocks * 8, tile_rows = grid.ty1 - grid.ty0;
  for (int64_t image = 0; image < grid.images; ++image) {
    for (int64_t ty = grid.ty0; ty < grid.ty1; ++ty) {
      for (int64_t tx = 0; tx < grid.TW; ++tx) {
        const int64_t t = (image * tile_rows + ty - grid.ty0) * grid.TW + tx;
        for (int64_t cb = 0; cb < grid.blocks; ++cb) {
          const float* base =
              grid.xb + (image * grid.blocks + cb) * grid.plane + 4 * ty * grid.row + 4 * tx * 8;
          uint16_t* dst = vb + t * Cp + cb * 8;
          winograd::input_tile(base, grid.row, [&](int xi, __m256 value) GB_BF16 {
            const __m128bh h = _mm256_cvtneps_pbh(value);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + xi * vb_stride),
                             reinterpret_cast<const __m128i&>(h));
          });
        }
      }
    }
  }
  for (int64_t xi = 0; xi < kXi; ++xi)
    std::fill(vb + xi * vb_stride + grid.tiles() * Cp, vb + xi * vb_stride + rows * Cp,
              uint16_t{0});
}

void multiply(const uint16_t* vb, int64_t vb_stride, const uint16_t* ub, int64_t Cp, int64_t Kp,
              int64_t rows, float* m, int64_t m_stride) {
  for (int64_t xi = 0; xi < kXi; ++xi) {
    const uint16_t* vx = vb + xi * vb_stride;
    const uint16_t* ux = ub + xi * Cp * Kp;
    float* mx = m + xi * m_stride;
    int64_t kb = 0;
    for (; kb + kCols <= Kp; kb += kCols)
      for (int64_t t = 0; t < rows; t += kRows)
        gemm_6x16(vx + t * Cp, Cp, ux + 2 * kb, 2 * Kp, mx + t * Kp + kb, Kp, Cp / 2);
    if (kb < Kp)  // an 8-column rest
      for (int64_t t = 0; t < rows; t += kRows)
        gemm_6x8(vx + t * Cp, Cp, ux + 2 * kb, 2 * Kp, mx + t * Kp + kb, Kp, Cp / 2);
  }
}

}  // namespace gb::kernels::cpu::winograd_bf16
