// Depthwise convolution kernels (contract and method: conv_depthwise.h). Shape letters: N batch,
// C channels (= K = G), H/W input size, R/S kernel size, P/Q output size, sh/sw strides, ph/pw
// paddings; Qv = Q rounded up to 8 (a row is computed in whole vectors, the tail stored masked).
// A "tap list" is what one output row needs: count pointers src[t] and weights wt[t], and the row
// is out[j] = sum over t (ascending) of wt[t] * src[t][j]. Forward builds it from the padded
// input rows, backward-input from the padded dy rows; backward-weight uses the same pointers as
// forward with the output gradient in place of the weights.
#include "kernels/cpu/conv_depthwise.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace gb::kernels::cpu {
namespace {

int64_t round_up8(int64_t n) { return (n + 7) / 8 * 8; }

// Floor of a / b for b > 0.
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Lanes [0, m) set, 0 < m <= 8: the mask of a row's last (partial) vector.
inline __m256i tail_mask(int64_t m) {
  alignas(32) static const int32_t kTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                 0,  0,  0,  0,  0,  0,  0,  0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTable + 8 - m));
}

// The eight lanes summed in double, in lane order.
inline double hsum(__m256 v) {
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, v);
  double s = 0.0;
  for (float f : lanes) s += f;
  return s;
}

// Vectors a lane accumulates in float before the sum moves to double (weight and bias gradient).
constexpr int64_t kFlushVectors = 128;

// ---- one output row from a tap list ----

// The epilogue of one output row (kernels/conv2d.h ConvEpilogue for channel c).
struct RowEpilogue {
  __m256 scale, shift;
  const float* residual = nullptr;  // this row's residual, or nullptr
  bool relu = false;
};

template <bool kEpi>
inline __m256 apply(__m256 v, const RowEpilogue& ep, __m256 residual) {
  if constexpr (kEpi) {
    v = _mm256_fmadd_ps(v, ep.scale, ep.shift);
    if (ep.residual) v = _mm256_add_ps(v, residual);
    if (ep.relu) v = _mm256_max_ps(_mm256_setzero_ps(), v);  // a NaN passes, as in ref
  }
  return v;
}

template <bool kEpi>
inline void store_full(__m256 v, const RowEpilogue& ep, int64_t j, float* out) {
  const __m256 res = kEpi && ep.residual ? _mm256_loadu_ps(ep.residual + j) : _mm256_setzero_ps();
  _mm256_storeu_ps(out + j, apply<kEpi>(v, ep, res));
}

template <bool kEpi>
inline void store_tail(__m256 v, const RowEpilogue& ep, int64_t j, int64_t m, float* out) {
  const __m256i mask = tail_mask(m);
  const __m256 res =
      kEpi && ep.residual ? _mm256_maskload_ps(ep.residual + j, mask) : _mm256_setzero_ps();
  _mm256_maskstore_ps(out + j, mask, apply<kEpi>(v, ep, res));
}

// acc[v] += sum over taps of w[t] * src[t][j + 8v .. j + 8v + 7]. kTaps > 0: the count is fixed
// and the weights come broadcast in wv (registers); kTaps == 0: count taps, weights from wt.
template <int kTaps, int kVecs>
inline void accumulate(const float* const* src, const __m256* wv, const float* wt, int count,
                       int64_t j, __m256* acc) {
  if constexpr (kTaps > 0) {
#pragma GCC unroll 32
    for (int t = 0; t < kTaps; ++t) {
      const float* p = src[t] + j;
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v)
        acc[v] = _mm256_fmadd_ps(wv[t], _mm256_loadu_ps(p + 8 * v), acc[v]);
    }
  } else {
    for (int t = 0; t < count; ++t) {
      const __m256 w = _mm256_broadcast_ss(wt + t);
      const float* p = src[t] + j;
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v)
        acc[v] = _mm256_fmadd_ps(w, _mm256_loadu_ps(p + 8 * v), acc[v]);
    }
  }
}

// out[j] = ep(sum over taps t of wt[t] * src[t][j]) for j in [0, n); 32 outputs per step, then 8,
// then a masked tail. Reads src[t][j] for j < round_up8(n).
template <int kTaps, bool kEpi>
void taps_row(const float* const* src, const float* wt, int count, int64_t n, const RowEpilogue& ep,
              float* out) {
  __m256 wv[kTaps > 0 ? kTaps : 1];
  if constexpr (kTaps > 0) {
    for (int t = 0; t < kTaps; ++t) wv[t] = _mm256_set1_ps(wt[t]);
  }
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    accumulate<kTaps, 4>(src, wv, wt, count, j, acc);
    for (int v = 0; v < 4; ++v) store_full<kEpi>(acc[v], ep, j + 8 * v, out);
  }
  for (; j + 8 <= n; j += 8) {
    __m256 acc[1] = {_mm256_setzero_ps()};
    accumulate<kTaps, 1>(src, wv, wt, count, j, acc);
    store_full<kEpi>(acc[0], ep, j, out);
  }
  if (j < n) {
    __m256 acc[1] = {_mm256_setzero_ps()};
    accumulate<kTaps, 1>(src, wv, wt, count, j, acc);
    store_tail<kEpi>(acc[0], ep, j, n - j, out);
  }
}

using TapsRowFn = void (*)(const float* const*, const float*, int, int64_t, const RowEpilogue&,
                           float*);

// The row kernel for `count` taps: unrolled with the weights in registers for the counts of
// 3x3 and 5x5 kernels and their stride-2 backward-input phases, a loop over taps otherwise.
template <bool kEpi>
TapsRowFn taps_row_for(int count) {
  switch (count) {
    case 1:
      return taps_row<1, kEpi>;
    case 2:
      return taps_row<2, kEpi>;
    case 3:
      return taps_row<3, kEpi>;
    case 4:
      return taps_row<4, kEpi>;
    case 6:
      return taps_row<6, kEpi>;
    case 9:
      return taps_row<9, kEpi>;
    case 25:
      return taps_row<25, kEpi>;
    default:
      return taps_row<0, kEpi>;
  }
}

// ---- the padded, column-phase-split input plane (forward and backward-weight) ----

// Row h (0 <= h < H), phase f (0 <= f < sw) holds at buf[h*row + f*Lp + lead + m] the input
// column m*sw + f of row h (m >= 0, inside the row); every other position is zero, and a zero row
// follows the H rows (it stands for the rows outside the input). Tap (r, s) of output (p, q)
// reads row p*sh - ph + r at off[s] + q, where s - pw = e*sw + f with 0 <= f < sw and
// off[s] = f*Lp + lead + e. Lp is long enough for every q < Qv and for the whole input row.
struct InputLayout {
  int64_t H = 0, W = 0, sw = 1, lead = 0, Lp = 0, row = 0;
  std::vector<int64_t> off;  // [S]
  int64_t floats() const { return (H + 1) * row; }
};

InputLayout input_layout(const Conv2dShape& s) {
  InputLayout L;
  L.H = s.H;
  L.W = s.W;
  L.sw = s.stride_w;
  const int64_t Qv = round_up8(s.Q());
  const int64_t e_min = floor_div(-s.pad_w, L.sw), e_max = floor_div(s.S - 1 - s.pad_w, L.sw);
  L.lead = -e_min;
  L.Lp = L.lead + std::max(Qv + std::max<int64_t>(e_max, 0), (s.W + L.sw - 1) / L.sw);
  L.row = L.sw * L.Lp;
  L.off.resize(static_cast<size_t>(s.S));
  for (int64_t t = 0; t < s.S; ++t) {
    const int64_t e = floor_div(t - s.pad_w, L.sw), f = t - s.pad_w - e * L.sw;
    L.off[static_cast<size_t>(t)] = f * L.Lp + L.lead + e;
  }
  return L;
}

// Copies one input plane [H, W] into its place in buf (the zeros around it stay as they are).
void fill_input(const InputLayout& L, const float* plane, float* buf) {
  for (int64_t h = 0; h < L.H; ++h) {
    const float* in = plane + h * L.W;
    float* out = buf + h * L.row + L.lead;
    if (L.sw == 1) {
      std::memcpy(out, in, sizeof(float) * static_cast<size_t>(L.W));
      continue;
    }
    for (int64_t f = 0; f < L.sw && f < L.W; ++f) {
      float* seg = out + f * L.Lp;
      for (int64_t m = 0, v = f; v < L.W; ++m, v += L.sw) seg[m] = in[v];
    }
  }
}

// src[r*S + t] = the row of tap (r, t) for output row p (the zero row outside the input).
void input_taps(const Conv2dShape& s, const InputLayout& L, const float* buf, int64_t p,
                const float** src) {
  const float* zero = buf + L.H * L.row;
  for (int64_t r = 0; r < s.R; ++r) {
    const int64_t ih = p * s.stride_h - s.pad_h + r;
    const float* base = ih >= 0 && ih < s.H ? buf + ih * L.row : zero;
    for (int64_t t = 0; t < s.S; ++t) src[r * s.S + t] = base + L.off[static_cast<size_t>(t)];
  }
}

// One ymm accumulator as a vector element (a bare __m256 template argument loses its alignment
// attribute).
struct alignas(32) Lanes {
  __m256 v;
};

// Per-thread scratch, reused across calls (each parallel region re-zeroes what it uses).
struct Scratch {
  std::vector<float> buf, tmp;
  std::vector<const float*> src;
  std::vector<float> wt;
  std::vector<Lanes> acc;  // backward-weight's accumulators when R*S is not unrolled
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// ---- backward-input helpers ----

// dx_row[m*sw + b] = tmp[b*Wbv + m] for every column of one dx row.
void interleave(const float* tmp, int64_t Wbv, int64_t sw, int64_t W, float* out) {
  int64_t v = 0;
  if (sw == 2) {
    const int64_t W1 = W / 2;  // columns of phase 1; phase 0 has at least as many
    for (int64_t m = 0; m + 8 <= W1; m += 8, v += 16) {
      const __m256 e = _mm256_loadu_ps(tmp + m), o = _mm256_loadu_ps(tmp + Wbv + m);
      const __m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o);
      _mm256_storeu_ps(out + v, _mm256_permute2f128_ps(lo, hi, 0x20));
      _mm256_storeu_ps(out + v + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
  }
  for (; v < W; ++v) out[v] = tmp[(v % sw) * Wbv + v / sw];
}

// One dx plane from its padded dy plane: buf holds dy row p at buf[p*Ld + lead + q] (zeros
// around, a zero row after the P rows). Row ih, column phase b (columns v = m*sw + b) receives
// the taps (r, s) with ih + ph - r = p*sh and b + pw - s = e*sw, reading dy row p at column
// m + e: a tap list over unit-stride runs.
void backward_input_plane(const Conv2dShape& s, const float* buf, int64_t Ld, int64_t lead,
                          int64_t Wbv, const float* wc, Scratch& sc, float* dx_plane) {
  const int64_t P = s.P(), sh = s.stride_h, sw = s.stride_w;
  const float* zero = buf + P * Ld;
  std::vector<const float*>& src = sc.src;
  std::vector<float>& wt = sc.wt;
  const RowEpilogue none{};
  for (int64_t ih = 0; ih < s.H; ++ih) {
    float* out_row = dx_plane + ih * s.W;
    for (int64_t b = 0; b < sw && b < s.W; ++b) {
      int count = 0;
      for (int64_t r = 0; r < s.R; ++r) {
        const int64_t d = ih + s.pad_h - r;
        if (d % sh != 0) continue;
        const int64_t p = d / sh;
        const float* row = d >= 0 && p < P ? buf + p * Ld : zero;
        for (int64_t t = 0; t < s.S; ++t) {
          const int64_t e = b + s.pad_w - t;
          if (e % sw != 0) continue;
          src[static_cast<size_t>(count)] = row + lead + e / sw;
          wt[static_cast<size_t>(count)] = wc[r * s.S + t];
          ++count;
        }
      }
      const int64_t Wb = (s.W - b + sw - 1) / sw;
      float* out = sw == 1 ? out_row : sc.tmp.data() + b * Wbv;
      if (count == 0) {
        std::fill(out, out + Wb, 0.0f);
      } else {
        taps_row_for<false>(count)(src.data(), wt.data(), count, Wb, none, out);
      }
    }
    if (sw > 1) interleave(sc.tmp.data(), Wbv, sw, s.W, out_row);
  }
}

// ---- backward-weight helpers ----

// part[t] += sum over the plane of dy[p, q] * (tap t's input at (p, q)), for the R*S taps. One
// ymm accumulator per tap (registers for fixed kTaps), moved to double every kFlushVectors
// vectors per lane and at the end of the plane.
template <int kTaps>
void weight_plane(const Conv2dShape& s, const InputLayout& L, const float* buf, const float* g,
                  Scratch& sc, double* part) {
  const int count = static_cast<int>(s.R * s.S);
  const int T = kTaps > 0 ? kTaps : count;
  const int64_t P = s.P(), Q = s.Q();
  __m256 local[kTaps > 0 ? kTaps : 1];
  __m256* acc = kTaps > 0 ? local : &sc.acc.data()->v;
  const float** src = sc.src.data();
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  const int64_t row_vectors = (Q + 7) / 8;
  int64_t pending = 0;
  for (int64_t p = 0; p < P; ++p) {
    input_taps(s, L, buf, p, src);
    const float* gr = g + p * Q;
    int64_t j = 0;
    for (; j + 8 <= Q; j += 8) {
      const __m256 gv = _mm256_loadu_ps(gr + j);
#pragma GCC unroll 32
      for (int t = 0; t < T; ++t) acc[t] = _mm256_fmadd_ps(gv, _mm256_loadu_ps(src[t] + j), acc[t]);
    }
    if (j < Q) {
      const __m256 gv = _mm256_maskload_ps(gr + j, tail_mask(Q - j));
#pragma GCC unroll 32
      for (int t = 0; t < T; ++t) acc[t] = _mm256_fmadd_ps(gv, _mm256_loadu_ps(src[t] + j), acc[t]);
    }
    pending += row_vectors;
    if (pending >= kFlushVectors || p == P - 1) {
      for (int t = 0; t < T; ++t) {
        part[t] += hsum(acc[t]);
        acc[t] = _mm256_setzero_ps();
      }
      pending = 0;
    }
  }
}

using WeightPlaneFn = void (*)(const Conv2dShape&, const InputLayout&, const float*, const float*,
                               Scratch&, double*);

WeightPlaneFn weight_plane_for(int64_t taps) {
  switch (taps) {
    case 9:
      return weight_plane<9>;
    case 25:
      return weight_plane<25>;
    default:
      return weight_plane<0>;
  }
}

// The sum of n floats in double: 8 float lanes, moved to double every kFlushVectors vectors.
double plane_sum(const float* g, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  double total = 0.0;
  int64_t j = 0, pending = 0;
  for (; j + 8 <= n; j += 8) {
    acc = _mm256_add_ps(acc, _mm256_loadu_ps(g + j));
    if (++pending == kFlushVectors) {
      total += hsum(acc);
      acc = _mm256_setzero_ps();
      pending = 0;
    }
  }
  total += hsum(acc);
  for (; j < n; ++j) total += g[j];
  return total;
}

// Images per backward-weight item: enough (channel, image block) items to keep threads busy
// with few channels (about 64 items), from the shape alone so the sums' order never depends on
// the thread count.
int64_t image_blocks(const Conv2dShape& s) {
  return std::clamp<int64_t>((64 + s.C - 1) / s.C, 1, std::max<int64_t>(s.N, 1));
}

}  // namespace

bool conv2d_depthwise_applicable(const Conv2dShape& s) {
  return s.groups == s.C && s.K == s.C && s.C >= 1;
}

void conv2d_depthwise_forward(const Conv2dShape& s, const float* x, const float* w,
                              const ConvEpilogue& ep, float* y) {
  const int64_t P = s.P(), Q = s.Q(), PQ = P * Q, RS = s.R * s.S, NC = s.N * s.C;
  if (NC <= 0 || P <= 0 || Q <= 0) return;
  const InputLayout L = input_layout(s);
  const bool epilogue = ep.scale || ep.shift || ep.residual || ep.relu;
  const int count = static_cast<int>(RS);
  const TapsRowFn row_fn = epilogue ? taps_row_for<true>(count) : taps_row_for<false>(count);
#pragma omp parallel num_threads(threads_for(NC* PQ* RS))
  {
    Scratch& sc = scratch();
    sc.buf.assign(static_cast<size_t>(L.floats()), 0.0f);
    sc.src.resize(static_cast<size_t>(RS));
#pragma omp for schedule(static)
    for (int64_t nc = 0; nc < NC; ++nc) {
      const int64_t c = nc % s.C;
      fill_input(L, x + nc * s.H * s.W, sc.buf.data());
      RowEpilogue re;
      re.scale = _mm256_set1_ps(ep.scale ? ep.scale[c] : 1.0f);
      re.shift = _mm256_set1_ps(ep.shift ? ep.shift[c] : 0.0f);
      re.relu = ep.relu;
      for (int64_t p = 0; p < P; ++p) {
        input_taps(s, L, sc.buf.data(), p, sc.src.data());
        re.residual = ep.residual ? ep.residual + nc * PQ + p * Q : nullptr;
        row_fn(sc.src.data(), w + c * RS, count, Q, re, y + nc * PQ + p * Q);
      }
    }
  }
}

void conv2d_depthwise_backward_input(const Conv2dShape& s, const float* dy, const float* w,
                                     float* dx) {
  const int64_t P = s.P(), Q = s.Q(), HW = s.H * s.W, RS = s.R * s.S, NC = s.N * s.C;
  const int64_t sw = s.stride_w;
  if (NC <= 0 || HW <= 0) return;
  if (P <= 0 || Q <= 0) {
    std::fill(dx, dx + NC * HW, 0.0f);
    return;
  }
  // dy rows padded so that every tap of every column phase reads inside: the column offsets
  // e / sw lie in [-lead, (sw - 1 + pw) / sw].
  const int64_t Wbv = round_up8((s.W + sw - 1) / sw);
  const int64_t lead = (s.S - 1) / sw;
  const int64_t Ld = lead + std::max(Wbv + (sw - 1 + s.pad_w) / sw, Q);
#pragma omp parallel num_threads(threads_for(NC* HW* RS))
  {
    Scratch& sc = scratch();
    sc.buf.assign(static_cast<size_t>((P + 1) * Ld), 0.0f);
    sc.tmp.resize(static_cast<size_t>(sw * Wbv));
    sc.src.resize(static_cast<size_t>(RS));
    sc.wt.resize(static_cast<size_t>(RS));
#pragma omp for schedule(static)
    for (int64_t nc = 0; nc < NC; ++nc) {
      const float* g = dy + nc * P * Q;
      for (int64_t p = 0; p < P; ++p) {
        std::memcpy(sc.buf.data() + p * Ld + lead, g + p * Q,
                    sizeof(float) * static_cast<size_t>(Q));
      }
      backward_input_plane(s, sc.buf.data(), Ld, lead, Wbv, w + (nc % s.C) * RS, sc, dx + nc * HW);
    }
  }
}

void conv2d_depthwise_backward_weight(const Conv2dShape& s, const float* x, const float* dy,
                                      float* dw, float* db) {
  const int64_t P = s.P(), Q = s.Q(), PQ = P * Q, RS = s.R * s.S, C = s.C;
  const int64_t blocks = image_blocks(s), items = C * blocks;
  // part[item * (RS + 1) + t]: the item's sum for tap t; entry RS: its bias sum.
  std::vector<double> part(static_cast<size_t>(std::max<int64_t>(items, 0) * (RS + 1)), 0.0);
  if (s.N > 0 && PQ > 0 && items > 0) {
    const InputLayout L = input_layout(s);
    const WeightPlaneFn plane_fn = weight_plane_for(RS);
#pragma omp parallel num_threads(threads_for(s.N* C* PQ* RS))
    {
      Scratch& sc = scratch();
      sc.buf.assign(static_cast<size_t>(L.floats()), 0.0f);
      sc.src.resize(static_cast<size_t>(RS));
      sc.acc.resize(static_cast<size_t>(RS));
#pragma omp for schedule(static)
      for (int64_t item = 0; item < items; ++item) {
        const int64_t c = item / blocks, blk = item % blocks;
        double* pd = part.data() + item * (RS + 1);
        for (int64_t n = s.N * blk / blocks; n < s.N * (blk + 1) / blocks; ++n) {
          const int64_t nc = n * C + c;
          fill_input(L, x + nc * s.H * s.W, sc.buf.data());
          plane_fn(s, L, sc.buf.data(), dy + nc * PQ, sc, pd);
          if (db) pd[RS] += plane_sum(dy + nc * PQ, PQ);
        }
      }
    }
  }
  // The blocks' partials in block order.
  auto total = [&](int64_t c, int64_t t) {
    double sum = 0.0;
    for (int64_t blk = 0; blk < blocks; ++blk) sum += part[(c * blocks + blk) * (RS + 1) + t];
    return static_cast<float>(sum);
  };
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t t = 0; t < RS; ++t) dw[c * RS + t] = total(c, t);
    if (db) db[c] = total(c, RS);
  }
}

}  // namespace gb::kernels::cpu
