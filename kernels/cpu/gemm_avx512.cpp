// The AVX-512 micro-kernel of the SGEMM (see gemm.cpp for the blocking and gemm_kernels.h for
// the packed layouts). Shape letters: the register tile is kMR x kNR = 12 x 32 elements of C,
// held in 24 zmm accumulators; per k it loads two 16-wide B vectors and multiplies them by 12
// broadcast A values. Cache blocks: MC x KC of op(A), KC x NC of op(B).
// Edge tiles need no staging: a tile with mr < kMR rows runs an instantiation that computes only
// mr rows, and columns past nr are masked off in the loads and stores of C, so edge and interior
// elements see exactly the same arithmetic. On Zen 4 a 512-bit FMA costs two 256-bit ones; the
// gain over AVX2 is the larger register tile (fewer loads and broadcasts per FMA).
// Only the tile functions are compiled for AVX-512 (function target attributes; the project
// baseline stays x86-64-v3); gemm.cpp selects this kernel only where __builtin_cpu_supports says
// the CPU has AVX-512.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "kernels/cpu/gemm_kernels.h"

#define GB_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq")))

namespace gb::kernels::cpu::gemm_detail {
namespace {

constexpr int kMR = 12;        // micro-tile rows (broadcast A values)
constexpr int kNV = 2;         // micro-tile width in zmm registers
constexpr int kNR = 16 * kNV;  // micro-tile columns
constexpr int64_t kMC = 144;   // A block rows: MC x KC floats stay in L2
constexpr int64_t kKC = 384;   // depth of one packed slice
constexpr int64_t kNC = 3072;  // B panel columns: KC x NC floats stay in L3
// (Measured on the dev VM's Zen 4, 1 thread, n = 256..2048: 12x32 and 8x48 tiles 2-4% ahead of
// 14x32 and 6x64, 8x32 and 16x16 5-10% behind; MC 96..240 x KC 256..512 all within noise.)

// acc[R x V*16] = sum_k a[k][0..R) (x) b[k][0..V*16), then C[0:R, 0:nr] = alpha * acc + beta * C
// (beta == 0: C not read). a/b are packed slivers with row strides kMR and kNR; nr > 16*(V-1).
template <int R, int V>
GB_AVX512 void tile(int64_t kc, const float* a, const float* b, float alpha, float beta, float* C,
                    int64_t ldc, int64_t nr) {
  __m512 acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc + 16 * V - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += kMR;
    b += kNR;
  }
  // Same rounding steps as the AVX2 kernel: multiply by alpha, then one add or FMA with C.
  const __m512 valpha = _mm512_set1_ps(alpha), vbeta = _mm512_set1_ps(beta);
  const int64_t tail = nr - 16 * (V - 1);  // valid columns of the last vector, 1..16
  const __mmask16 last = tail >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << tail) - 1u);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* c = C + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      const __mmask16 m = v == V - 1 ? last : __mmask16(0xFFFF);
      __m512 x = _mm512_mul_ps(acc[r][v], valpha);
      if (beta == 1.0f) {
        x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, c + 16 * v));
      } else if (beta != 0.0f) {
        x = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(m, c + 16 * v), x);
      }
      _mm512_mask_storeu_ps(c + 16 * v, m, x);
    }
  }
}

using TileFn = void (*)(int64_t, const float*, const float*, float, float, float*, int64_t,
                        int64_t);

template <int V, int... Rm1>
constexpr std::array<TileFn, kMR> row_table(std::integer_sequence<int, Rm1...>) {
  return {tile<Rm1 + 1, V>...};
}

template <int... Vm1>
constexpr std::array<std::array<TileFn, kMR>, kNV> tile_table(std::integer_sequence<int, Vm1...>) {
  return {row_table<Vm1 + 1>(std::make_integer_sequence<int, kMR>())...};
}

// kTiles[V - 1][R - 1]: the tile for R rows and V vectors.
constexpr std::array<std::array<TileFn, kMR>, kNV> kTiles =
    tile_table(std::make_integer_sequence<int, kNV>());

void block(int64_t mc, int64_t nc, int64_t kc, const float* packed_a, const float* packed_b,
           float alpha, float beta, float* C, int64_t ldc) {
  for (int64_t jr = 0; jr < nc; jr += kNR) {
    const int64_t nr = std::min<int64_t>(kNR, nc - jr);
    const auto& by_rows = kTiles[(nr + 15) / 16 - 1];
    for (int64_t ir = 0; ir < mc; ir += kMR) {
      const int64_t mr = std::min<int64_t>(kMR, mc - ir);
      by_rows[mr - 1](kc, packed_a + ir * kc, packed_b + jr * kc, alpha, beta, C + ir * ldc + jr,
                      ldc, nr);
    }
  }
}

}  // namespace

const GemmKernel kAvx512Kernel = {
    "avx512", kMR, kNR, kMC, kKC, kNC, pack_a_slivers<kMR>, pack_b_slivers<kNR>, block};

}  // namespace gb::kernels::cpu::gemm_detail
