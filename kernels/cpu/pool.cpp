// Fast pooling over NCHW float32 (contracts in pool.h). Shape letters: N batch, C channels, H/W
// input size, R/S window, P/Q output size, L = H*W for global pooling.
// Planes (n, c) are split across threads (threads_for), each plane written by one thread.
// Forward: per output row p the window rows are clipped once; the columns q whose windows lie
// inside the input horizontally run 8 at a time in AVX2 registers (one load per tap: contiguous
// for stride 1, two loads and a deinterleave for stride 2, a gather otherwise), the border
// columns run ref's clipped loop. Every output sees ref's taps in ref's row-major order, with
// ref's test for max pooling (first tap taken, then strict >, a NaN wins) and ref's double sum and
// divisor for average pooling, so both are bit-identical to ref::. With ceil_mode the last window
// of a row or column may overhang the input: it is never an interior column (one of its taps is
// outside), so it runs the clipped loop; the divisor (count_include_pad or not) is the product
// of a per-row height and a per-column width, each clipped as ref's avg_divisor clips it.
// Average backward zeroes each plane and scatters g = dy / divisor tap by tap across output rows:
// p ascending, then t descending, which for a fixed input column is q ascending, so each dx
// element receives ref's additions in ref's order (bit-identical too).
#include "kernels/pool.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace gb::kernels::cpu {
namespace {

// Output columns [lo, hi) whose tap t lies inside the input: 0 <= q*stride - pad + t < W.
struct ColRange {
  int64_t lo, hi;
};

std::vector<ColRange> tap_columns(const Pool2dShape& s, int64_t Q) {
  std::vector<ColRange> cols(static_cast<size_t>(s.S));
  for (int64_t t = 0; t < s.S; ++t) {
    const int64_t first = s.pad_w - t;           // q*stride >= first
    const int64_t last = s.W - 1 + s.pad_w - t;  // q*stride <= last
    const int64_t lo = first <= 0 ? 0 : (first + s.stride_w - 1) / s.stride_w;
    const int64_t hi = last < 0 ? 0 : last / s.stride_w + 1;
    cols[static_cast<size_t>(t)] = {std::min(lo, Q), std::clamp(hi, std::min(lo, Q), Q)};
  }
  return cols;
}

// Window rows [r0, r1) of output row p that lie inside the input; h0 is the window's first row.
struct RowRange {
  int64_t h0, r0, r1;
};

RowRange window_rows(const Pool2dShape& s, int64_t p) {
  const int64_t h0 = p * s.stride_h - s.pad_h;
  return {h0, std::max<int64_t>(0, -h0), std::min(s.R, s.H - h0)};
}

// Eight consecutive outputs' inputs at one tap: p[0], p[stride], ..., p[7 * stride] (stride 2:
// two loads ending at p[14] and a deinterleave; other strides: a gather with `lanes`).
template <int64_t kStride>
inline __m256 load8(const float* p, __m256i lanes) {
  if constexpr (kStride == 1) {
    return _mm256_loadu_ps(p);
  } else if constexpr (kStride == 2) {
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 7);
    // [a0 a2 b1 b3 | a4 a6 b5 b7], then the 64-bit pairs reordered to p[0], p[2], ..., p[14].
    const __m256 s = _mm256_shuffle_ps(a, b, 0xD8);
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), 0xD8));
  } else {
    return _mm256_i32gather_ps(p, lanes, 4);
  }
}

// Max pooling of one output (p, q) as ref: window clipped to the input, first maximum in
// row-major order, a NaN wins, argmax -1 (and -inf) when the window holds no input.
void max_window(const Pool2dShape& s, const float* plane, const RowRange& rows, int64_t q, float* y,
                int32_t* argmax) {
  const int64_t w0 = q * s.stride_w - s.pad_w;
  const int64_t t0 = std::max<int64_t>(0, -w0), t1 = std::min(s.S, s.W - w0);
  float best = -std::numeric_limits<float>::infinity();
  int64_t best_idx = -1;
  for (int64_t r = rows.r0; r < rows.r1; ++r) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t idx = (rows.h0 + r) * s.W + w0 + t;
      const float v = plane[idx];
      if (best_idx < 0 || v > best || v != v) {
        best = v;
        best_idx = idx;
      }
    }
  }
  *y = best;
  *argmax = static_cast<int32_t>(best_idx);
}

// Outputs q .. q+7, all with every tap inside the input and rows.r0 < rows.r1: the same
// comparisons per lane as max_window, the first tap (r0, 0) taken unconditionally.
template <int64_t kStride>
void max_window8(const Pool2dShape& s, const float* plane, const RowRange& rows, int64_t q,
                 __m256i lanes, float* y, int32_t* argmax) {
  const int64_t w0 = q * s.stride_w - s.pad_w;
  __m256 best = _mm256_setzero_ps();
  __m256i idx = _mm256_setzero_si256();
  for (int64_t r = rows.r0; r < rows.r1; ++r) {
    for (int64_t t = 0; t < s.S; ++t) {
      const int64_t base = (rows.h0 + r) * s.W + w0 + t;
      const __m256 v = load8<kStride>(plane + base, lanes);
      const __m256i iv = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(base)), lanes);
      if (r == rows.r0 && t == 0) {
        best = v;
        idx = iv;
        continue;
      }
      const __m256 take =
          _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      best = _mm256_blendv_ps(best, v, take);
      idx = _mm256_castps_si256(
          _mm256_blendv_ps(_mm256_castsi256_ps(idx), _mm256_castsi256_ps(iv), take));
    }
  }
  _mm256_storeu_ps(y, best);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(argmax), idx);
}

// The sum of one output's window as ref: double, row-major order, padding skipped.
double sum_window(const Pool2dShape& s, const float* plane, const RowRange& rows, int64_t q) {
  const int64_t w0 = q * s.stride_w - s.pad_w;
  const int64_t t0 = std::max<int64_t>(0, -w0), t1 = std::min(s.S, s.W - w0);
  double acc = 0.0;
  for (int64_t r = rows.r0; r < rows.r1; ++r) {
    for (int64_t t = t0; t < t1; ++t) acc += plane[(rows.h0 + r) * s.W + w0 + t];
  }
  return acc;
}

// Outputs q .. q+7 (every tap inside the input): the same double sums per lane as sum_window,
// divided by the divisor dh * S (the window lies inside the input horizontally).
template <int64_t kStride>
void avg_window8(const Pool2dShape& s, const float* plane, const RowRange& rows, int64_t q,
                 __m256i lanes, double divisor, float* y) {
  const int64_t w0 = q * s.stride_w - s.pad_w;
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  for (int64_t r = rows.r0; r < rows.r1; ++r) {
    for (int64_t t = 0; t < s.S; ++t) {
      const __m256 v = load8<kStride>(plane + (rows.h0 + r) * s.W + w0 + t, lanes);
      lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
      hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
  }
  const __m256d d = _mm256_set1_pd(divisor);
  _mm256_storeu_ps(y, _mm256_set_m128(_mm256_cvtpd_ps(_mm256_div_pd(hi, d)),
                                      _mm256_cvtpd_ps(_mm256_div_pd(lo, d))));
}

// The output columns [lo, hi) whose windows lie inside the input horizontally.
ColRange interior_columns(const std::vector<ColRange>& cols) {
  ColRange in{0, std::numeric_limits<int64_t>::max()};
  for (const ColRange& c : cols) in = {std::max(in.lo, c.lo), std::min(in.hi, c.hi)};
  in.hi = std::max(in.lo, in.hi);
  return in;
}

inline __m256i lane_offsets(int64_t stride) {
  const int32_t st = static_cast<int32_t>(stride);
  return _mm256_setr_epi32(0, st, 2 * st, 3 * st, 4 * st, 5 * st, 6 * st, 7 * st);
}

template <int64_t kStride>
void maxpool_plane(const Pool2dShape& s, int64_t P, int64_t Q, ColRange in, const float* plane,
                   float* y, int32_t* argmax) {
  const __m256i lanes = lane_offsets(s.stride_w);
  for (int64_t p = 0; p < P; ++p) {
    const RowRange rows = window_rows(s, p);
    float* yr = y + p * Q;
    int32_t* ar = argmax + p * Q;
    int64_t q = 0;
    if (rows.r0 < rows.r1) {
      for (; q < in.lo; ++q) max_window(s, plane, rows, q, yr + q, ar + q);
      for (; q + 8 <= in.hi; q += 8) {
        max_window8<kStride>(s, plane, rows, q, lanes, yr + q, ar + q);
      }
      if (q < in.hi && in.hi - in.lo >= 8) {  // the last 8 again, overlapping (same values)
        max_window8<kStride>(s, plane, rows, in.hi - 8, lanes, yr + in.hi - 8, ar + in.hi - 8);
        q = in.hi;
      }
    }
    for (; q < Q; ++q) max_window(s, plane, rows, q, yr + q, ar + q);
  }
}

// The divisor's height for window rows `rows`: clipped to [-pad, H + pad) (count_include_pad) or
// to the input (ref's avg_divisor).
int64_t divisor_height(const Pool2dShape& s, const RowRange& rows) {
  if (!s.count_include_pad) return rows.r1 - rows.r0;
  return std::min(rows.h0 + s.R, s.H + s.pad_h) - rows.h0;
}

// divisor_w[q]: the window's width clipped as ref's avg_divisor clips it, per column. Interior
// columns (the window inside the input horizontally) have width S under either rule.
template <int64_t kStride>
void avgpool_plane(const Pool2dShape& s, int64_t P, int64_t Q, ColRange in,
                   const std::vector<int64_t>& divisor_w, const float* plane, float* y) {
  const __m256i lanes = lane_offsets(s.stride_w);
  for (int64_t p = 0; p < P; ++p) {
    const RowRange rows = window_rows(s, p);
    const int64_t dh = divisor_height(s, rows);
    float* yr = y + p * Q;
    int64_t q = 0;
    for (; q < in.lo; ++q) {
      yr[q] = static_cast<float>(sum_window(s, plane, rows, q) /
                                 static_cast<double>(dh * divisor_w[q]));
    }
    const double divisor = static_cast<double>(dh * s.S);
    for (; q + 8 <= in.hi; q += 8) avg_window8<kStride>(s, plane, rows, q, lanes, divisor, yr + q);
    if (q < in.hi && in.hi - in.lo >= 8) {  // the last 8 again, overlapping (same values)
      avg_window8<kStride>(s, plane, rows, in.hi - 8, lanes, divisor, yr + in.hi - 8);
      q = in.hi;
    }
    for (; q < Q; ++q) {
      yr[q] = static_cast<float>(sum_window(s, plane, rows, q) /
                                 static_cast<double>(dh * divisor_w[q]));
    }
  }
}

// The reverse of a tap's strided read: dxr[q*stride + offset] += g[q] (distinct targets).
template <int64_t kStride>
void scatter_tap(int64_t lo, int64_t hi, int64_t stride_rt, const float* g, int64_t offset,
                 float* dxr) {
  const int64_t stride = kStride > 0 ? kStride : stride_rt;
#pragma omp simd
  for (int64_t q = lo; q < hi; ++q) dxr[q * stride + offset] += g[q];
}

template <int64_t kStride>
void avgpool_backward_plane(const Pool2dShape& s, int64_t P, int64_t Q,
                            const std::vector<ColRange>& cols,
                            const std::vector<int64_t>& divisor_w, const float* dy, float* g,
                            float* dx) {
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(s.H * s.W));
  for (int64_t p = 0; p < P; ++p) {
    const RowRange rows = window_rows(s, p);
    const int64_t dh = divisor_height(s, rows);
    const float* dyr = dy + p * Q;
    for (int64_t q = 0; q < Q; ++q) {
      g[q] = static_cast<float>(dyr[q] / static_cast<double>(dh * divisor_w[q]));
    }
    for (int64_t r = rows.r0; r < rows.r1; ++r) {
      float* dxr = dx + (rows.h0 + r) * s.W;
      for (int64_t t = s.S - 1; t >= 0; --t) {
        const ColRange c = cols[static_cast<size_t>(t)];
        scatter_tap<kStride>(c.lo, c.hi, s.stride_w, g, t - s.pad_w, dxr);
      }
    }
  }
}

std::vector<int64_t> divisor_widths(const Pool2dShape& s, int64_t Q) {
  std::vector<int64_t> dw(static_cast<size_t>(Q));
  for (int64_t q = 0; q < Q; ++q) {
    const int64_t w0 = q * s.stride_w - s.pad_w;
    dw[static_cast<size_t>(q)] = s.count_include_pad
                                     ? std::min(w0 + s.S, s.W + s.pad_w) - w0
                                     : std::min(w0 + s.S, s.W) - std::max<int64_t>(w0, 0);
  }
  return dw;
}

}  // namespace

void maxpool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax) {
  const int64_t P = s.P(), Q = s.Q(), HW = s.H * s.W, NC = s.N * s.C;
  const ColRange in = interior_columns(tap_columns(s, Q));
  auto plane_fn = s.stride_w == 1   ? maxpool_plane<1>
                  : s.stride_w == 2 ? maxpool_plane<2>
                                    : maxpool_plane<0>;
#pragma omp parallel for schedule(static) num_threads(threads_for(NC* HW))
  for (int64_t nc = 0; nc < NC; ++nc) {
    plane_fn(s, P, Q, in, x + nc * HW, y + nc * P * Q, argmax + nc * P * Q);
  }
}

void maxpool2d_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx) {
  const int64_t PQ = s.P() * s.Q(), HW = s.H * s.W, NC = s.N * s.C;
#pragma omp parallel for schedule(static) num_threads(threads_for(NC* HW))
  for (int64_t nc = 0; nc < NC; ++nc) {
    float* dxp = dx + nc * HW;
    const float* dyp = dy + nc * PQ;
    const int32_t* ap = argmax + nc * PQ;
    std::memset(dxp, 0, sizeof(float) * static_cast<size_t>(HW));
    // Outputs in order, as ref. A window entirely in padding (argmax -1, impossible with
    // pad <= window / 2) contributes nothing.
    for (int64_t i = 0; i < PQ; ++i) {
      if (ap[i] >= 0) dxp[ap[i]] += dyp[i];
    }
  }
}

void avgpool2d_forward(const Pool2dShape& s, const float* x, float* y) {
  const int64_t P = s.P(), Q = s.Q(), HW = s.H * s.W, NC = s.N * s.C;
  const ColRange in = interior_columns(tap_columns(s, Q));
  const std::vector<int64_t> divisor_w = divisor_widths(s, Q);
  auto plane_fn = s.stride_w == 1   ? avgpool_plane<1>
                  : s.stride_w == 2 ? avgpool_plane<2>
                                    : avgpool_plane<0>;
#pragma omp parallel for schedule(static) num_threads(threads_for(NC* HW))
  for (int64_t nc = 0; nc < NC; ++nc) {
    plane_fn(s, P, Q, in, divisor_w, x + nc * HW, y + nc * P * Q);
  }
}

void avgpool2d_backward(const Pool2dShape& s, const float* dy, float* dx) {
  const int64_t P = s.P(), Q = s.Q(), HW = s.H * s.W, NC = s.N * s.C;
  const std::vector<ColRange> cols = tap_columns(s, Q);
  const std::vector<int64_t> divisor_w = divisor_widths(s, Q);
  auto plane_fn = s.stride_w == 1   ? avgpool_backward_plane<1>
                  : s.stride_w == 2 ? avgpool_backward_plane<2>
                                    : avgpool_backward_plane<0>;
#pragma omp parallel num_threads(threads_for(NC* HW))
  {
    std::vector<float> g(static_cast<size_t>(Q));
#pragma omp for schedule(static)
    for (int64_t nc = 0; nc < NC; ++nc) {
      plane_fn(s, P, Q, cols, divisor_w, dy + nc * P * Q, g.data(), dx + nc * HW);
    }
  }
}

void global_avgpool_forward(int64_t N, int64_t C, int64_t L, const float* x, float* y) {
  const int64_t NC = N * C;
#pragma omp parallel for schedule(static) num_threads(threads_for(NC* L))
  for (int64_t nc = 0; nc < NC; ++nc) {
    const float* xp = x + nc * L;
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int64_t l = 0; l < L; ++l) acc += xp[l];
    y[nc] = static_cast<float>(acc / static_cast<double>(L));
  }
}

void global_avgpool_backward(int64_t N, int64_t C, int64_t L, const float* dy, float* dx) {
  const int64_t NC = N * C;
#pragma omp parallel for schedule(static) num_threads(threads_for(NC* L))
  for (int64_t nc = 0; nc < NC; ++nc) {
    const float g = static_cast<float>(dy[nc] / static_cast<double>(L));
    float* dxp = dx + nc * L;
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) dxp[l] = g;
  }
}

const MaxPoolKernels maxpool2d_kernels{GB_KERNEL(cpu::maxpool2d_forward),
                                       GB_KERNEL(cpu::maxpool2d_backward)};
const AvgPoolKernels avgpool2d_kernels{GB_KERNEL(cpu::avgpool2d_forward),
                                       GB_KERNEL(cpu::avgpool2d_backward)};
const GlobalAvgPoolKernels global_avgpool_kernels{GB_KERNEL(cpu::global_avgpool_forward),
                                                  GB_KERNEL(cpu::global_avgpool_backward)};

}  // namespace gb::kernels::cpu
