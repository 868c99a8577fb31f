// The one shared-memory tiled fp32 GEMM of kernels/cuda (used by conv.cu and linear.cu), generic
// over how its operands are gathered and its result stored, so the convolutions run as implicit
// GEMMs (no im2col buffer) and sgemm as a plain strided one.
//
//   out[m, col] = sum over kk in [k_begin, k_end) of A(m, kk) * B(kk, col)
//
// Block tile kBM x kBN (64 x 64) of out, reduction step kBK (16), 256 threads, each owning a
// 4 x 4 register tile at rows ty + 16 i, cols tx + 16 j (ty, tx in [0, 16)). Each step the block
// stages an A tile [kBK][kBM] and a B tile [kBK][kBN] in shared memory (4 elements per thread
// each; a padded row stride kills the store bank conflicts), then accumulates in registers.
// The reduction runs in ascending kk for every output, so results are deterministic.
//
// A Problem supplies (g: blockIdx.z / splits, the group; split: blockIdx.z % splits):
//   int64_t M, cols;                 // rows and columns of out (per group)
//   int splits; int64_t chunk, red;  // split-K: split s reduces [s*chunk, min(red, (s+1)*chunk))
//   static constexpr bool kAKFast;   // A tile loaded with consecutive threads along kk (else m)
//   static constexpr bool kBColFast; // B tile loaded with consecutive threads along col (else kk)
//   ACtx a_ctx(int g, int64_t m);    // per-row state, computed once per thread (m < M)
//   float load_a(const ACtx&, int64_t kk);
//   BCtx b_ctx(int g, int64_t col);  // per-column state, computed once per thread (col < cols)
//   float load_b(const BCtx&, int64_t kk);
//   void store(int g, int split, int64_t m, int64_t col, float acc);
// Rows, columns and kk outside their ranges are never passed to load_*/store (zeros are staged).
//
// The large-tile variants (big_gemm_kernel<Problem, MI, NJ>: block tile 64 MI x 64 NJ with MI, NJ
// in {1, 2}, reduction step kBigBK = 8, 256 threads, (4 MI) x (4 NJ) outputs per thread as MI x NJ
// sub-tiles of 4 x 4 strided by 64, the classic SGEMM layout) double-buffer shared memory: each
// step loads the next kBigBK slice into registers, computes the current one from float4 shared
// reads, stores the registers into the other buffer and syncs once. Their loaders walk the
// reduction with cursors instead of dividing per element, so a Problem used with them also has:
//   struct ACur; ACur a_cur(int64_t kk);       // decode kk once (per thread, per loader slot)
//   void a_next(ACur&);                        // kk += kBigBK
//   float load_a(const ACtx&, const ACur&);    // same value as load_a(ctx, kk)
//   (and BCur, b_cur, b_next, load_b likewise).
// Every output is still the fmaf chain over ascending kk starting from 0, so for a given shape the
// result is bitwise the same run after run (and the same for every variant without split-K).
#pragma once
#include <cstdint>

#include "kernels/cuda/launch.cuh"

namespace gb::kernels::cuda::gemm {

constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 256;
constexpr int kPad = 1;  // shared row stride kBM + 1: stores along kk hit distinct banks

constexpr int kBigBK = 8;   // reduction step of the large-tile variants
constexpr int kBigPad = 4;  // row stride 64 MI + 4: float4-aligned; the 8 kk rows of a warp's
                            // stores start 4 banks apart

// A mixed-radix counter (hi, mid, lo) in radices (-, nmid, nlo) that advances by a fixed step
// (dhi, dmid, dlo) with dmid < nmid, dlo < nlo: the per-element decode of a reduction index
// kk = (hi * nmid + mid) * nlo + lo without divisions.
struct Radix3 {
  int hi = 0, mid = 0, lo = 0;
};
struct Radix3Step {
  int nmid = 1, nlo = 1, dhi = 0, dmid = 0, dlo = 0;
  // The step `step` in radices (nmid, nlo); host side.
  static Radix3Step of(int64_t step, int nmid, int nlo) {
    Radix3Step st;
    if (nmid <= 0 || nlo <= 0) return st;  // empty reduction: the cursors are never read
    st.nmid = nmid;
    st.nlo = nlo;
    const int64_t inner = static_cast<int64_t>(nmid) * nlo;
    st.dhi = static_cast<int>(step / inner);
    const int64_t rem = step - st.dhi * inner;
    st.dmid = static_cast<int>(rem / nlo);
    st.dlo = static_cast<int>(rem - st.dmid * static_cast<int64_t>(nlo));
    return st;
  }
  __device__ __forceinline__ Radix3 decode(int kk) const {
    Radix3 x;
    const int inner = nmid * nlo;
    x.hi = kk / inner;
    const int rem = kk - x.hi * inner;
    x.mid = rem / nlo;
    x.lo = rem - x.mid * nlo;
    return x;
  }
  __device__ __forceinline__ void advance(Radix3& x) const {
    x.lo += dlo;
    int carry = x.lo >= nlo ? 1 : 0;
    if (carry) x.lo -= nlo;
    x.mid += dmid + carry;
    carry = x.mid >= nmid ? 1 : 0;
    if (carry) x.mid -= nmid;
    x.hi += dhi + carry;
  }
};

template <class Problem>
__global__ void __launch_bounds__(kThreads) tiled_gemm_kernel(const Problem prob) {
  __shared__ float As[kBK][kBM + kPad];
  __shared__ float Bs[kBK][kBN + kPad];

  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;
  const int g = static_cast<int>(blockIdx.z) / prob.splits;
  const int split = static_cast<int>(blockIdx.z) % prob.splits;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kBM;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kBN;
  const int64_t k_begin = split * prob.chunk;
  const int64_t k_end = k_begin + prob.chunk < prob.red ? k_begin + prob.chunk : prob.red;

  // Loader geometry. A: kAKFast -> rows tid/16 + 16 j, kk offset tid%16; else row tid%64,
  // kk offsets tid/64 + 4 j. B: kBColFast -> col tid%64, kk offsets tid/64 + 4 j; else cols
  // tid/16 + 16 j, kk offset tid%16.
  constexpr int kARows = Problem::kAKFast ? 4 : 1;
  constexpr int kBCols = Problem::kBColFast ? 1 : 4;
  typename Problem::ACtx actx[kARows];
  bool arow_ok[kARows];
  int a_m[kARows];
#pragma unroll
  for (int j = 0; j < kARows; ++j) {
    a_m[j] = Problem::kAKFast ? tid / 16 + 16 * j : tid % 64;
    arow_ok[j] = m0 + a_m[j] < prob.M;
    if (arow_ok[j]) actx[j] = prob.a_ctx(g, m0 + a_m[j]);
  }
  typename Problem::BCtx bctx[kBCols];
  bool bcol_ok[kBCols];
  int b_c[kBCols];
#pragma unroll
  for (int j = 0; j < kBCols; ++j) {
    b_c[j] = Problem::kBColFast ? tid % 64 : tid / 16 + 16 * j;
    bcol_ok[j] = col0 + b_c[j] < prob.cols;
    if (bcol_ok[j]) bctx[j] = prob.b_ctx(g, col0 + b_c[j]);
  }

  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

  for (int64_t k0 = k_begin; k0 < k_end; k0 += kBK) {
    // Stage A.
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int row = Problem::kAKFast ? a_m[j] : a_m[0];
      const int kk = Problem::kAKFast ? tid % 16 : tid / 64 + 4 * j;
      const bool ok = (Problem::kAKFast ? arow_ok[j] : arow_ok[0]) && k0 + kk < k_end;
      As[kk][row] = ok ? prob.load_a(Problem::kAKFast ? actx[j] : actx[0], k0 + kk) : 0.0f;
    }
    // Stage B.
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int c = Problem::kBColFast ? b_c[0] : b_c[j];
      const int kk = Problem::kBColFast ? tid / 64 + 4 * j : tid % 16;
      const bool ok = (Problem::kBColFast ? bcol_ok[0] : bcol_ok[j]) && k0 + kk < k_end;
      Bs[kk][c] = ok ? prob.load_b(Problem::kBColFast ? bctx[0] : bctx[j], k0 + kk) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + ty + 16 * i;
    if (m >= prob.M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t col = col0 + tx + 16 * j;
      if (col < prob.cols) prob.store(g, split, m, col, acc[i][j]);
    }
  }
}

template <class Problem, int MI, int NJ>
__global__ void __launch_bounds__(kThreads, MI* NJ == 4 ? 1 : 2)
    big_gemm_kernel(const Problem prob) {
  constexpr int BM = 64 * MI, BN = 64 * NJ, BK = kBigBK;
  __shared__ __align__(16) float As[2][BK][BM + kBigPad];
  __shared__ __align__(16) float Bs[2][BK][BN + kBigPad];

  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;
  const int g = static_cast<int>(blockIdx.z) / prob.splits;
  const int split = static_cast<int>(blockIdx.z) % prob.splits;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * BN;
  const int64_t k_begin = split * prob.chunk;
  const int64_t k_end = k_begin + prob.chunk < prob.red ? k_begin + prob.chunk : prob.red;

  // Loader geometry (each operand tile holds BM*BK resp. BN*BK = 512 MI resp. 512 NJ elements,
  // 2 MI resp. 2 NJ per thread). A: kAKFast -> kk offset tid%8, rows tid/8 + 32 j (one cursor,
  // 2 MI row contexts); else row tid%BM, kk offsets tid/BM + (256/BM) j (one context, 2 MI
  // cursors). B likewise with kBColFast -> col tid%BN, kk offsets tid/BN + (256/BN) j.
  constexpr bool kAK = Problem::kAKFast, kBC = Problem::kBColFast;
  constexpr int kAN = 2 * MI, kBN = 2 * NJ;
  constexpr int kACtx = kAK ? kAN : 1, kACur = kAK ? 1 : kAN;
  constexpr int kBCtx = kBC ? 1 : kBN, kBCur = kBC ? kBN : 1;

  typename Problem::ACtx actx[kACtx];
  bool a_ok[kACtx];
  int a_row[kACtx];
#pragma unroll
  for (int j = 0; j < kACtx; ++j) {
    a_row[j] = kAK ? tid / 8 + 32 * j : tid % BM;
    a_ok[j] = m0 + a_row[j] < prob.M;
    if (a_ok[j]) actx[j] = prob.a_ctx(g, m0 + a_row[j]);
  }
  typename Problem::ACur acur[kACur];
  int a_kk[kACur];
#pragma unroll
  for (int j = 0; j < kACur; ++j) {
    a_kk[j] = kAK ? tid % 8 : tid / BM + (256 / BM) * j;
    acur[j] = prob.a_cur(k_begin + a_kk[j]);
  }
  typename Problem::BCtx bctx[kBCtx];
  bool b_ok[kBCtx];
  int b_col[kBCtx];
#pragma unroll
  for (int j = 0; j < kBCtx; ++j) {
    b_col[j] = kBC ? tid % BN : tid / 8 + 32 * j;
    b_ok[j] = col0 + b_col[j] < prob.cols;
    if (b_ok[j]) bctx[j] = prob.b_ctx(g, col0 + b_col[j]);
  }
  typename Problem::BCur bcur[kBCur];
  int b_kk[kBCur];
#pragma unroll
  for (int j = 0; j < kBCur; ++j) {
    b_kk[j] = kBC ? tid / BN + (256 / BN) * j : tid % 8;
    bcur[j] = prob.b_cur(k_begin + b_kk[j]);
  }

  float ra[kAN], rb[kBN];
  // Gathers the slice [k0, k0 + BK) into ra / rb, then moves every cursor on by BK.
  auto load_slice = [&](int64_t k0) {
#pragma unroll
    for (int j = 0; j < kAN; ++j) {
      const int cx = kAK ? j : 0, cu = kAK ? 0 : j;
      const bool ok = a_ok[cx] && k0 + a_kk[cu] < k_end;
      ra[j] = ok ? prob.load_a(actx[cx], acur[cu]) : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < kBN; ++j) {
      const int cx = kBC ? 0 : j, cu = kBC ? j : 0;
      const bool ok = b_ok[cx] && k0 + b_kk[cu] < k_end;
      rb[j] = ok ? prob.load_b(bctx[cx], bcur[cu]) : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < kACur; ++j) prob.a_next(acur[j]);
#pragma unroll
    for (int j = 0; j < kBCur; ++j) prob.b_next(bcur[j]);
  };
  auto store_slice = [&](int buf) {
#pragma unroll
    for (int j = 0; j < kAN; ++j) As[buf][a_kk[kAK ? 0 : j]][a_row[kAK ? j : 0]] = ra[j];
#pragma unroll
    for (int j = 0; j < kBN; ++j) Bs[buf][b_kk[kBC ? j : 0]][b_col[kBC ? 0 : j]] = rb[j];
  };

  float acc[4 * MI][4 * NJ];
#pragma unroll
  for (int i = 0; i < 4 * MI; ++i)
#pragma unroll
    for (int j = 0; j < 4 * NJ; ++j) acc[i][j] = 0.0f;

  load_slice(k_begin);
  store_slice(0);
  __syncthreads();
  int buf = 0;
  for (int64_t k0 = k_begin; k0 < k_end; k0 += BK) {
    const bool has_next = k0 + BK < k_end;
    if (has_next) load_slice(k0 + BK);  // global loads in flight during the FMAs below
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[4 * MI], b[4 * NJ];
#pragma unroll
      for (int i = 0; i < MI; ++i) {
        const float4 v = *reinterpret_cast<const float4*>(&As[buf][kk][ty * 4 + 64 * i]);
        a[4 * i] = v.x;
        a[4 * i + 1] = v.y;
        a[4 * i + 2] = v.z;
        a[4 * i + 3] = v.w;
      }
#pragma unroll
      for (int j = 0; j < NJ; ++j) {
        const float4 v = *reinterpret_cast<const float4*>(&Bs[buf][kk][tx * 4 + 64 * j]);
        b[4 * j] = v.x;
        b[4 * j + 1] = v.y;
        b[4 * j + 2] = v.z;
        b[4 * j + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < 4 * MI; ++i)
#pragma unroll
        for (int j = 0; j < 4 * NJ; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    // The other buffer was last read in the previous step, before the barrier that ended it.
    if (has_next) store_slice(buf ^ 1);
    __syncthreads();
    buf ^= 1;
  }

#pragma unroll
  for (int j = 0; j < 4 * NJ; ++j) {
    const int64_t col = col0 + tx * 4 + 64 * (j / 4) + j % 4;
    if (col >= prob.cols) continue;
#pragma unroll
    for (int i = 0; i < 4 * MI; ++i) {
      const int64_t m = m0 + ty * 4 + 64 * (i / 4) + i % 4;
      if (m < prob.M) prob.store(g, split, m, col, acc[i][j]);
    }
  }
}

// The narrow variant for problems with few rows (M <= 32: ResNet stems, depthwise-ish layers):
// block tile BM x kNarrowBN (BM in {16, 32}, 256 columns), reduction step kBigBK, 256 threads as
// (BM/4) row threads x (1024/BM) column threads, each owning 4 rows x (BM/4) columns (4 x 4 for
// BM 16, 4 x 8 for BM 32: float4 column groups strided by 4 * column threads). Double-buffered
// like big_gemm_kernel, with the same cursor interface. Loader geometry: A (BM * 8 elements, one
// per thread for the first BM * 8 threads): kAKFast -> kk tid%8, row tid/8; else row tid%BM,
// kk tid/BM. B (2048 elements, 8 per thread): kBColFast -> col tid, kk j (one context, 8
// cursors); else col tid/8 + 32 j, kk tid%8 (8 contexts, one cursor).
constexpr int kNarrowBN = 256;

template <class Problem, int BM>
__global__ void __launch_bounds__(kThreads, 2) narrow_gemm_kernel(const Problem prob) {
  static_assert(BM == 16 || BM == 32, "narrow tile rows");
  constexpr int BN = kNarrowBN, BK = kBigBK;
  constexpr int TY = BM / 4, TX = kThreads / TY, NJ = BN / (4 * TX);
  __shared__ __align__(16) float As[2][BK][BM + kBigPad];
  __shared__ __align__(16) float Bs[2][BK][BN + kBigPad];

  const int tid = threadIdx.x;
  const int tx = tid % TX, ty = tid / TX;
  const int g = static_cast<int>(blockIdx.z) / prob.splits;
  const int split = static_cast<int>(blockIdx.z) % prob.splits;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * BN;
  const int64_t k_begin = split * prob.chunk;
  const int64_t k_end = k_begin + prob.chunk < prob.red ? k_begin + prob.chunk : prob.red;

  constexpr bool kAK = Problem::kAKFast, kBC = Problem::kBColFast;
  constexpr int kBN8 = BN * BK / kThreads;  // 8 B elements per thread
  constexpr int kBCtx = kBC ? 1 : kBN8, kBCur = kBC ? kBN8 : 1;

  const bool a_active = tid < BM * BK;
  const int a_row = kAK ? tid / BK : tid % BM;
  const int a_kk = kAK ? tid % BK : tid / BM;
  const bool a_ok = a_active && m0 + a_row < prob.M;
  typename Problem::ACtx actx;
  if (a_ok) actx = prob.a_ctx(g, m0 + a_row);
  typename Problem::ACur acur = prob.a_cur(k_begin + (a_active ? a_kk : 0));

  typename Problem::BCtx bctx[kBCtx];
  bool b_ok[kBCtx];
  int b_col[kBCtx];
#pragma unroll
  for (int j = 0; j < kBCtx; ++j) {
    b_col[j] = kBC ? tid : tid / BK + (kThreads / BK) * j;
    b_ok[j] = col0 + b_col[j] < prob.cols;
    if (b_ok[j]) bctx[j] = prob.b_ctx(g, col0 + b_col[j]);
  }
  typename Problem::BCur bcur[kBCur];
  int b_kk[kBCur];
#pragma unroll
  for (int j = 0; j < kBCur; ++j) {
    b_kk[j] = kBC ? j : tid % BK;
    bcur[j] = prob.b_cur(k_begin + b_kk[j]);
  }

  float ra, rb[kBN8];
  auto load_slice = [&](int64_t k0) {
    ra = a_ok && k0 + a_kk < k_end ? prob.load_a(actx, acur) : 0.0f;
#pragma unroll
    for (int j = 0; j < kBN8; ++j) {
      const int cx = kBC ? 0 : j, cu = kBC ? j : 0;
      const bool ok = b_ok[cx] && k0 + b_kk[cu] < k_end;
      rb[j] = ok ? prob.load_b(bctx[cx], bcur[cu]) : 0.0f;
    }
    prob.a_next(acur);
#pragma unroll
    for (int j = 0; j < kBCur; ++j) prob.b_next(bcur[j]);
  };
  auto store_slice = [&](int buf) {
    if (a_active) As[buf][a_kk][a_row] = ra;
#pragma unroll
    for (int j = 0; j < kBN8; ++j)
      Bs[buf][kBC ? b_kk[j] : b_kk[0]][kBC ? b_col[0] : b_col[j]] = rb[j];
  };

  float acc[4][4 * NJ];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4 * NJ; ++j) acc[i][j] = 0.0f;

  load_slice(k_begin);
  store_slice(0);
  __syncthreads();
  int buf = 0;
  for (int64_t k0 = k_begin; k0 < k_end; k0 += BK) {
    const bool has_next = k0 + BK < k_end;
    if (has_next) load_slice(k0 + BK);
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[4], b[4 * NJ];
      const float4 va = *reinterpret_cast<const float4*>(&As[buf][kk][ty * 4]);
      a[0] = va.x;
      a[1] = va.y;
      a[2] = va.z;
      a[3] = va.w;
#pragma unroll
      for (int j = 0; j < NJ; ++j) {
        const float4 v = *reinterpret_cast<const float4*>(&Bs[buf][kk][tx * 4 + 4 * TX * j]);
        b[4 * j] = v.x;
        b[4 * j + 1] = v.y;
        b[4 * j + 2] = v.z;
        b[4 * j + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4 * NJ; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (has_next) store_slice(buf ^ 1);
    __syncthreads();
    buf ^= 1;
  }

#pragma unroll
  for (int j = 0; j < 4 * NJ; ++j) {
    const int64_t col = col0 + tx * 4 + 4 * TX * (j / 4) + j % 4;
    if (col >= prob.cols) continue;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t m = m0 + ty * 4 + i;
      if (m < prob.M) prob.store(g, split, m, col, acc[i][j]);
    }
  }
}

// Which tiled kernel runs a problem: the 64x64 BK-16 one, or a large-tile variant.
enum class Tile {
  Rows64Cols64,
  Rows64Cols128,
  Rows128Cols64,
  Rows128Cols128,
  Rows32Cols256,
  Rows16Cols256
};
inline int tile_rows(Tile t) {
  switch (t) {
    case Tile::Rows128Cols64:
    case Tile::Rows128Cols128:
      return 128;
    case Tile::Rows32Cols256:
      return 32;
    case Tile::Rows16Cols256:
      return 16;
    default:
      return 64;
  }
}
inline int tile_cols(Tile t) {
  switch (t) {
    case Tile::Rows64Cols128:
    case Tile::Rows128Cols128:
      return 128;
    case Tile::Rows32Cols256:
    case Tile::Rows16Cols256:
      return kNarrowBN;
    default:
      return 64;
  }
}
inline int64_t tile_count(Tile t, int64_t M, int64_t cols, int64_t groups) {
  return groups * ((M + tile_rows(t) - 1) / tile_rows(t)) *
         ((cols + tile_cols(t) - 1) / tile_cols(t));
}
inline int tile_bk(Tile t) { return t == Tile::Rows64Cols64 ? kBK : kBigBK; }
// Blocks of the tile's kernel resident per SM (from its launch bounds and register use): the
// wave size, in SMs, of a launch.
inline int tile_blocks_per_sm(Tile t) {
  return t == Tile::Rows128Cols128 ? 1 : t == Tile::Rows64Cols64 ? 4 : 2;
}

constexpr int64_t kAssumedSms = 132;  // H100

// The tile for an M x cols problem in `groups` groups; depends on the shape only. A 128-row
// (128-col) tile needs M (cols) >= 128. Without split-K (fill_by_splits false) the first fitting
// tile of 128x128, 128x64, 64x128 that still gives >= 3/4 of a block per SM is taken; with
// split-K the splits fill the machine, so the first fitting one is. Otherwise the 64x64 BK-16
// kernel runs (small problems). M <= 32 with cols >= 256 takes the narrow 16x256 / 32x256 tile
// first (a 64-row tile would waste half or more of its work), under the same fill rule.
inline Tile choose_tile(int64_t M, int64_t cols, int64_t groups, bool fill_by_splits) {
  if (M > 0 && M <= 32 && cols >= kNarrowBN) {
    const Tile t = M <= 16 ? Tile::Rows16Cols256 : Tile::Rows32Cols256;
    if (fill_by_splits || tile_count(t, M, cols, groups) * 4 >= kAssumedSms * 3) return t;
  }
  const bool tall = M >= 128, wide = cols >= 128;
  const Tile order[3] = {Tile::Rows128Cols128, Tile::Rows128Cols64, Tile::Rows64Cols128};
  for (Tile t : order) {
    if (tile_rows(t) == 128 && !tall) continue;
    if (tile_cols(t) == 128 && !wide) continue;
    if (fill_by_splits || tile_count(t, M, cols, groups) * 4 >= kAssumedSms * 3) return t;
  }
  return Tile::Rows64Cols64;
}

// Launches the tiled GEMM (the `tile` variant) over groups * prob.splits z-slices on glassbox's
// stream.
template <class Problem>
void launch_tiled_gemm(const Problem& prob, int64_t groups, const char* name,
                       Tile tile = Tile::Rows64Cols64) {
  if (prob.M <= 0 || prob.cols <= 0 || groups <= 0) return;
  const int64_t bm = tile_rows(tile), bn = tile_cols(tile);
  const int64_t gx = (prob.cols + bn - 1) / bn, gy = (prob.M + bm - 1) / bm;
  const int64_t gz = groups * prob.splits;
  if (gx > 0x7fffffffLL || gy > 65535 || gz > 65535)
    throw std::runtime_error(std::string("cuda: ") + name + ": problem too large for the grid");
  dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(gz));
  switch (tile) {
    case Tile::Rows64Cols64:
      tiled_gemm_kernel<Problem><<<grid, kThreads, 0, stream()>>>(prob);
      break;
    case Tile::Rows64Cols128:
      big_gemm_kernel<Problem, 1, 2><<<grid, kThreads, 0, stream()>>>(prob);
      break;
    case Tile::Rows128Cols64:
      big_gemm_kernel<Problem, 2, 1><<<grid, kThreads, 0, stream()>>>(prob);
      break;
    case Tile::Rows128Cols128:
      big_gemm_kernel<Problem, 2, 2><<<grid, kThreads, 0, stream()>>>(prob);
      break;
    case Tile::Rows32Cols256:
      narrow_gemm_kernel<Problem, 32><<<grid, kThreads, 0, stream()>>>(prob);
      break;
    case Tile::Rows16Cols256:
      narrow_gemm_kernel<Problem, 16><<<grid, kThreads, 0, stream()>>>(prob);
      break;
  }
  check_launch(name);
}

}  // namespace gb::kernels::cuda::gemm
