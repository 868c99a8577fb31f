// Fast single-precision GEMM, C = alpha * op(A) * op(B) + beta * C, row-major.
// Shape letters: op(A) is M x K, op(B) is K x N, C is M x N (the GEMM's own M/N/K, not the NCHW
// letters); the micro-kernel's register tile is MR x NR. Structure (Goto / BLIS style):
//   for each NC-wide column panel of C:
//     for each KC-deep slice of K:   pack op(B)[KC x NC] into NR-wide row-interleaved slivers
//       for each MC-tall row block:  pack op(A)[MC x KC] into MR-tall column-interleaved slivers
//         for each MR x NR tile:     register micro-kernel
// The micro-kernel and its block sizes come from gemm_avx512.cpp (12 x 32 tile, zmm) where the
// CPU has AVX-512, else gemm_avx2.cpp (6 x 16 tile, ymm); set_gemm_isa forces one (tests,
// benchmarks). Transposition is handled entirely by the packing routines (gemm_kernels.h);
// edge rows/columns are zero in the packed panels and never written back.
// Threads (sgemm_parallel): C is cut into one contiguous, tile-aligned range of rows or of
// columns per thread, and each thread runs the serial loops above on its part with its own packed
// buffers; the cut is whichever gives the smaller estimate for the busiest thread (its MACs with
// the tile imbalance, plus packing: a row cut makes every thread pack all of op(B), a column cut
// all of op(A)). Sharing one packed B panel across the team behind barriers measured no faster on
// the 2-core Zen 4 dev VM at 256..2048 and up to 25% slower in some runs, so it is not used.
// Numerics: every element of C is one FMA chain over k inside each KC slice, then added to C
// slice by slice, so an element's value does not depend on where M or N is split or which
// thread computes it: sgemm_parallel is bit-identical to sgemm for any thread count.
// beta == 0 writes C without reading it (BLAS convention); K == 0 or alpha == 0 only scales C.
#include "kernels/gemm.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstddef>

#include "kernels/cpu/aligned_buffer.h"
#include "kernels/cpu/gemm_kernels.h"

namespace gb::kernels::cpu {
namespace {

using gemm_detail::GemmKernel;

thread_local AlignedBuffer tl_packed_a;
thread_local AlignedBuffer tl_packed_b;

std::atomic<GemmIsa> g_isa{GemmIsa::Auto};

bool cpu_has_avx512() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  }();
  return has;
}

const GemmKernel& active_kernel() {
  return gemm_isa() == GemmIsa::Avx512 ? gemm_detail::kAvx512Kernel : gemm_detail::kAvx2Kernel;
}

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

struct Problem {
  bool trans_a, trans_b;
  int64_t M, N, K;
  float alpha;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float beta;
  float* C;
  int64_t ldc;
};

int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// The serial blocked loops over all of p's C (sgemm_parallel gives each thread a sub-problem).
void run_blocks(const GemmKernel& g, const Problem& p) {
  const int64_t kc_max = std::min(g.kc, p.K);
  float* packed_a = tl_packed_a.get(std::min(g.mc, round_up(p.M, g.mr)) * kc_max);
  float* packed_b = tl_packed_b.get(std::min(g.nc, round_up(p.N, g.nr)) * kc_max);
  for (int64_t jc = 0; jc < p.N; jc += g.nc) {
    const int64_t nc = std::min(g.nc, p.N - jc);
    for (int64_t pc = 0; pc < p.K; pc += g.kc) {
      const int64_t kc = std::min(g.kc, p.K - pc);
      const float beta_here = pc == 0 ? p.beta : 1.0f;  // later slices accumulate onto C
      const float* b = p.trans_b ? p.B + jc * p.ldb + pc : p.B + pc * p.ldb + jc;
      g.pack_b(p.trans_b, b, p.ldb, kc, nc, packed_b);
      for (int64_t ic = 0; ic < p.M; ic += g.mc) {
        const int64_t mc = std::min(g.mc, p.M - ic);
        const float* a = p.trans_a ? p.A + pc * p.lda + ic : p.A + ic * p.lda + pc;
        g.pack_a(p.trans_a, a, p.lda, mc, kc, packed_a);
        g.block(mc, nc, kc, packed_a, packed_b, p.alpha, beta_here, p.C + ic * p.ldc + jc, p.ldc);
      }
    }
  }
}

// Rough cycles of the busiest of nt threads when C's extent `cut` (the other extent is `whole`)
// is dealt out in contiguous ranges of whole tiles: its MACs (16 per cycle), imbalance included,
// plus one per element it packs (its part of the cut operand and all of the other one).
double busiest_cost(int64_t cut, int64_t tile, int64_t whole, int64_t K, int64_t nt) {
  const int64_t tiles = (cut + tile - 1) / tile;
  const double share = static_cast<double>(std::min(cut, (tiles + nt - 1) / nt * tile));
  const double k = static_cast<double>(K), w = static_cast<double>(whole);
  return share * w * k / 16.0 + (share + w) * k;
}

}  // namespace

bool gemm_isa_supported(GemmIsa isa) { return isa != GemmIsa::Avx512 || cpu_has_avx512(); }

bool set_gemm_isa(GemmIsa isa) {
  if (!gemm_isa_supported(isa)) return false;
  g_isa.store(isa, std::memory_order_relaxed);
  return true;
}

GemmIsa gemm_isa() {
  const GemmIsa isa = g_isa.load(std::memory_order_relaxed);
  if (isa != GemmIsa::Auto) return isa;
  return cpu_has_avx512() ? GemmIsa::Avx512 : GemmIsa::Avx2;
}

const char* gemm_isa_name(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::Avx2:
      return "avx2";
    case GemmIsa::Avx512:
      return "avx512";
    default:
      return "auto";
  }
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  run_blocks(active_kernel(), {trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc});
}

void sgemm_parallel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                    int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  const GemmKernel& g = active_kernel();
  const int64_t row_tiles = (M + g.mr - 1) / g.mr, col_tiles = (N + g.nr - 1) / g.nr;
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) *
                       static_cast<double>(std::max<int64_t>(K, 1));
  const int max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  // Each thread gets at least a 64^3 product (a fork costs a few microseconds) and one tile.
  const int64_t by_work = static_cast<int64_t>(flops / (2.0 * 64 * 64 * 64)) + 1;
  const int64_t by_tiles = std::max(row_tiles, col_tiles);
  const int threads = static_cast<int>(std::min<int64_t>({max_threads, by_tiles, by_work}));
  if (threads <= 1 || K <= 0 || alpha == 0.0f) {
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const bool split_rows =
      busiest_cost(M, g.mr, N, K, threads) <= busiest_cost(N, g.nr, M, K, threads);
  const int64_t tiles = split_rows ? row_tiles : col_tiles, tile = split_rows ? g.mr : g.nr;
  const int64_t extent = split_rows ? M : N;
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t lo = std::min(extent, tiles * t / nt * tile);
    const int64_t hi = std::min(extent, tiles * (t + 1) / nt * tile);
    if (hi > lo && split_rows) {
      const float* a = trans_a ? A + lo : A + lo * lda;
      run_blocks(g,
                 {trans_a, trans_b, hi - lo, N, K, alpha, a, lda, B, ldb, beta, C + lo * ldc, ldc});
    } else if (hi > lo) {
      const float* b = trans_b ? B + lo * ldb : B + lo;
      run_blocks(g, {trans_a, trans_b, M, hi - lo, K, alpha, A, lda, b, ldb, beta, C + lo, ldc});
    }
  }
}

}  // namespace gb::kernels::cpu
