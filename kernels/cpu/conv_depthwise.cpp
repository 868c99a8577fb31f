// Depthwise convolution kernels (contract and method: conv_depthwise.h). Shape letters: N batch,
// C channels (= K = G), H/W input size, R/S kernel size, P/Q output size, sh/sw strides, ph/pw
// paddings; Qv = Q rounded up to 8 (a row is computed in whole vectors, the tail stored masked).
// Every pass is a "correlation" over a zero-padded plane buffer: output row i, column j reads
// base[i*rstep + off[t] + j] for each tap t, so the taps are a table of offsets that does not
// change from row to row (the padding rows and columns hold zeros). Forward and backward-weight
// use the padded, column-phase-split input plane; backward-input uses the padded dy plane, one
// correlation per (row phase, column phase) of dx, whose columns are then interleaved.
#include "kernels/cpu/conv_depthwise.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
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

// ---- the correlation of a padded plane with a tap table ----

// The epilogue of one plane (kernels/conv2d.h ConvEpilogue for channel c).
struct PlaneEpilogue {
  __m256 scale = _mm256_set1_ps(1.0f), shift = _mm256_setzero_ps();
  const float* residual = nullptr;  // the plane's residual (rows as the output's), or nullptr
  bool relu = false;
  __m256 relu_cap = _mm256_set1_ps(std::numeric_limits<float>::infinity());  // read when relu
};

template <bool kEpi>
inline __m256 apply(__m256 v, const PlaneEpilogue& ep, __m256 residual) {
  if constexpr (kEpi) {
    v = _mm256_fmadd_ps(v, ep.scale, ep.shift);
    if (ep.residual) v = _mm256_add_ps(v, residual);
    if (ep.relu) {  // min(max(v, 0), cap); a NaN passes both, as in ref
      v = _mm256_min_ps(ep.relu_cap, _mm256_max_ps(_mm256_setzero_ps(), v));
    }
  }
  return v;
}

// Stores out[j .. j + 8) (res: the residual row, or nullptr).
template <bool kEpi>
inline void store_full(__m256 v, const PlaneEpilogue& ep, const float* res, float* out) {
  const __m256 r = kEpi && res ? _mm256_loadu_ps(res) : _mm256_setzero_ps();
  _mm256_storeu_ps(out, apply<kEpi>(v, ep, r));
}

// Stores out[0 .. m), 0 < m < 8.
template <bool kEpi>
inline void store_tail(__m256 v, const PlaneEpilogue& ep, const float* res, int64_t m, float* out) {
  const __m256i mask = tail_mask(m);
  const __m256 r = kEpi && res ? _mm256_maskload_ps(res, mask) : _mm256_setzero_ps();
  _mm256_maskstore_ps(out, mask, apply<kEpi>(v, ep, r));
}

// acc[v] += sum over taps t (ascending) of w[t] * row[off[t] + 8v .. + 7]. kTaps > 0: the count
// is fixed and the weights come broadcast in wv (registers); kTaps == 0: count taps, weights wt.
template <int kTaps, int kVecs>
inline void accumulate(const float* row, const int64_t* off, const __m256* wv, const float* wt,
                       int count, __m256* acc) {
  if constexpr (kTaps > 0) {
#pragma GCC unroll 32
    for (int t = 0; t < kTaps; ++t) {
      const float* p = row + off[t];
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v)
        acc[v] = _mm256_fmadd_ps(wv[t], _mm256_loadu_ps(p + 8 * v), acc[v]);
    }
  } else {
    for (int t = 0; t < count; ++t) {
      const __m256 w = _mm256_broadcast_ss(wt + t);
      const float* p = row + off[t];
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v)
        acc[v] = _mm256_fmadd_ps(w, _mm256_loadu_ps(p + 8 * v), acc[v]);
    }
  }
}

// What one correlation reads and writes: rows i < rows of n outputs,
//   out[i*ostride + j] = ep(sum over t of wt[t] * base[i*rstep + off[t] + j]),
// with ep's residual row i at ep.residual + i*ostride. Reads base[i*rstep + off[t] + j] for
// every j < round_up8(n).
struct Correlation {
  const float* base;
  int64_t rstep;
  const int64_t* off;
  const float* wt;
  int count;
  int64_t rows, n;
  float* out;
  int64_t ostride;
};

// 32 outputs per step (4 accumulators), then 8, then a masked tail; taps in ascending order.
template <int kTaps, bool kEpi>
void correlate(const Correlation& c, const PlaneEpilogue& ep) {
  __m256 wv[kTaps > 0 ? kTaps : 1];
  if constexpr (kTaps > 0) {
    for (int t = 0; t < kTaps; ++t) wv[t] = _mm256_set1_ps(c.wt[t]);
  }
  for (int64_t i = 0; i < c.rows; ++i) {
    const float* row = c.base + i * c.rstep;
    float* out = c.out + i * c.ostride;
    const float* res = kEpi && ep.residual ? ep.residual + i * c.ostride : nullptr;
    auto at = [res](int64_t j) { return res ? res + j : nullptr; };
    int64_t j = 0;
    for (; j + 32 <= c.n; j += 32) {
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps()};
      accumulate<kTaps, 4>(row + j, c.off, wv, c.wt, c.count, acc);
      for (int v = 0; v < 4; ++v) store_full<kEpi>(acc[v], ep, at(j + 8 * v), out + j + 8 * v);
    }
    for (; j + 8 <= c.n; j += 8) {
      __m256 acc[1] = {_mm256_setzero_ps()};
      accumulate<kTaps, 1>(row + j, c.off, wv, c.wt, c.count, acc);
      store_full<kEpi>(acc[0], ep, at(j), out + j);
    }
    if (j < c.n) {
      __m256 acc[1] = {_mm256_setzero_ps()};
      accumulate<kTaps, 1>(row + j, c.off, wv, c.wt, c.count, acc);
      store_tail<kEpi>(acc[0], ep, at(j), c.n - j, out + j);
    }
  }
}

using CorrelateFn = void (*)(const Correlation&, const PlaneEpilogue&);

// The kernel for `count` taps: unrolled with the weights in registers for the counts of 3x3 and
// 5x5 kernels and their stride-2 backward-input phases, a loop over the taps otherwise.
template <bool kEpi>
CorrelateFn correlate_for(int count) {
  switch (count) {
    case 1:
      return correlate<1, kEpi>;
    case 2:
      return correlate<2, kEpi>;
    case 3:
      return correlate<3, kEpi>;
    case 4:
      return correlate<4, kEpi>;
    case 6:
      return correlate<6, kEpi>;
    case 9:
      return correlate<9, kEpi>;
    case 25:
      return correlate<25, kEpi>;
    default:
      return correlate<0, kEpi>;
  }
}

// ---- the padded, column-phase-split input plane (forward and backward-weight) ----

// Buffer row ih + ph (0 <= ih < H), phase f (0 <= f < sw) holds at
// buf[(ih + ph)*row + f*Lp + lead + m] the input column m*sw + f of row ih (m >= 0, inside the
// row); every other position is zero (ph zero rows on top, enough below). Output row p reads
// buffer rows p*sh + r, so tap (r, s) of output (p, q) is buf[p*sh*row + off[r*S + s] + q] with
// off[r*S + s] = r*row + f*Lp + lead + e, where s - pw = e*sw + f, 0 <= f < sw. Lp holds every
// q < Qv and the whole input row.
struct InputLayout {
  int64_t H = 0, W = 0, ph = 0, sw = 1, lead = 0, Lp = 0, row = 0, rows = 0;
  std::vector<int64_t> off;  // [R*S]
  int64_t floats() const { return rows * row; }
};

InputLayout input_layout(const Conv2dShape& s) {
  InputLayout L;
  L.H = s.H;
  L.W = s.W;
  L.ph = s.pad_h;
  L.sw = s.stride_w;
  const int64_t Qv = round_up8(s.Q());
  const int64_t e_min = floor_div(-s.pad_w, L.sw), e_max = floor_div(s.S - 1 - s.pad_w, L.sw);
  L.lead = -e_min;
  L.Lp = L.lead + std::max(Qv + std::max<int64_t>(e_max, 0), (s.W + L.sw - 1) / L.sw);
  L.row = L.sw * L.Lp;
  L.rows = std::max(s.pad_h + s.H, (s.P() - 1) * s.stride_h + s.R);
  L.off.resize(static_cast<size_t>(s.R * s.S));
  for (int64_t r = 0; r < s.R; ++r) {
    for (int64_t t = 0; t < s.S; ++t) {
      const int64_t e = floor_div(t - s.pad_w, L.sw), f = t - s.pad_w - e * L.sw;
      L.off[static_cast<size_t>(r * s.S + t)] = r * L.row + f * L.Lp + L.lead + e;
    }
  }
  return L;
}

// Copies one input plane [H, W] into its place in buf (the zeros around it stay as they are).
void fill_input(const InputLayout& L, const float* plane, float* buf) {
  for (int64_t h = 0; h < L.H; ++h) {
    const float* in = plane + h * L.W;
    float* out = buf + (h + L.ph) * L.row + L.lead;
    if (L.sw == 1) {
      std::memcpy(out, in, sizeof(float) * static_cast<size_t>(L.W));
      continue;
    }
    int64_t v0 = 0;  // columns [0, v0) split by the vector loop
    if (L.sw == 2) {
      // 16 columns -> 8 even, 8 odd: in-lane shuffles, then the 64-bit pairs reordered.
      for (; v0 + 16 <= L.W; v0 += 16) {
        const __m256 a = _mm256_loadu_ps(in + v0), b = _mm256_loadu_ps(in + v0 + 8);
        const __m256d even = _mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88));
        const __m256d odd = _mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD));
        _mm256_storeu_ps(out + v0 / 2, _mm256_castpd_ps(_mm256_permute4x64_pd(even, 0xD8)));
        _mm256_storeu_ps(out + L.Lp + v0 / 2, _mm256_castpd_ps(_mm256_permute4x64_pd(odd, 0xD8)));
      }
    }
    for (int64_t f = 0; f < L.sw && f < L.W; ++f) {
      float* seg = out + f * L.Lp;
      for (int64_t m = v0 / L.sw, v = v0 + f; v < L.W; ++m, v += L.sw) seg[m] = in[v];
    }
  }
}

// One ymm accumulator as a vector element (a bare __m256 template argument loses its alignment
// attribute).
struct alignas(32) Lanes {
  __m256 v;
};

// Per-thread scratch, reused across calls (each parallel region re-zeroes what it uses).
struct Scratch {
  std::vector<float> buf, tmp, wt;
  std::vector<Lanes> acc;  // backward-weight's accumulators when R*S is not unrolled
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// ---- backward-input ----

// dx is computed per phase (a, b) = (ih % sh, v % sw): rows ih = a + i*sh, columns
// v = b + m*sw receive the taps (r, t) with a + ph - r = dr*sh and b + pw - t = dc*sw, from dy
// row i + dr, column m + dc. On the padded dy plane (dy row p at buf[(p + top)*Ld + lead + q],
// zeros around) that is a correlation with rstep = Ld and off = (dr + top)*Ld + lead + dc.
struct InputGradPhase {
  int64_t a, b, rows, n;           // the phase, its rows (i < rows) and columns (m < n)
  std::vector<int64_t> off, widx;  // per tap: offset, weight index r*S + t
};

struct InputGradPlan {
  int64_t top = 0, lead = 0, Ld = 0, rows = 0;  // the padded dy plane: rows of Ld floats
  int64_t Hp = 0, Wbv = 0;  // a phase's rows and (rounded) columns in tmp, at most
  std::vector<InputGradPhase> phases;
};

InputGradPlan input_grad_plan(const Conv2dShape& s) {
  const int64_t P = s.P(), Q = s.Q(), sh = s.stride_h, sw = s.stride_w;
  InputGradPlan g;
  // dr >= -(R - 1) / sh and dc >= -(S - 1) / sw; i + dr <= (H - 1 + ph) / sh, and
  // m + dc < Wbv + (sw - 1 + pw) / sw.
  g.top = (s.R - 1) / sh;
  g.lead = (s.S - 1) / sw;
  g.Hp = (s.H + sh - 1) / sh;
  g.Wbv = round_up8((s.W + sw - 1) / sw);
  g.Ld = g.lead + std::max(g.Wbv + (sw - 1 + s.pad_w) / sw, Q);
  g.rows = g.top + std::max(P, (s.H - 1 + s.pad_h) / sh + 1);
  for (int64_t a = 0; a < std::min(sh, s.H); ++a) {
    for (int64_t b = 0; b < std::min(sw, s.W); ++b) {
      InputGradPhase ph{a, b, (s.H - a + sh - 1) / sh, (s.W - b + sw - 1) / sw, {}, {}};
      for (int64_t r = 0; r < s.R; ++r) {
        if ((a + s.pad_h - r) % sh != 0) continue;
        const int64_t dr = (a + s.pad_h - r) / sh;
        for (int64_t t = 0; t < s.S; ++t) {
          if ((b + s.pad_w - t) % sw != 0) continue;
          ph.off.push_back((dr + g.top) * g.Ld + g.lead + (b + s.pad_w - t) / sw);
          ph.widx.push_back(r * s.S + t);
        }
      }
      g.phases.push_back(std::move(ph));
    }
  }
  return g;
}

// Column phases b of dx row `out` from their rows in tmp (phase b's row at tmp + b*stride):
// out[m*sw + b] = tmp[b*stride + m]; stride 2: 16 columns per step with unpack/permute.
void interleave(const float* tmp, int64_t stride, int64_t sw, int64_t W, float* out) {
  int64_t m0 = 0;  // phase columns [0, m0) done by the vector loop
  if (sw == 2) {
    const int64_t W1 = W / 2;  // columns of phase 1; phase 0 has at least as many
    for (; m0 + 8 <= W1; m0 += 8) {
      const __m256 e = _mm256_loadu_ps(tmp + m0), o = _mm256_loadu_ps(tmp + stride + m0);
      const __m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o);
      _mm256_storeu_ps(out + 2 * m0, _mm256_permute2f128_ps(lo, hi, 0x20));
      _mm256_storeu_ps(out + 2 * m0 + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
  }
  for (int64_t b = 0; b < sw; ++b) {
    for (int64_t m = m0, v = m0 * sw + b; v < W; ++m, v += sw) out[v] = tmp[b * stride + m];
  }
}

// One dx plane from its padded dy plane (buf): each phase's correlation straight into dx when
// sw == 1 (rows a, a + sh, ...), else into tmp ([sh][sw][Hp][Wbv]) and interleaved row by row.
void backward_input_plane(const Conv2dShape& s, const InputGradPlan& g, const float* buf,
                          const float* wc, Scratch& sc, float* dx) {
  const int64_t sh = s.stride_h, sw = s.stride_w;
  const int64_t phase_floats = g.Hp * g.Wbv;
  const PlaneEpilogue none;
  for (const InputGradPhase& ph : g.phases) {
    float* out = sw == 1 ? dx + ph.a * s.W : sc.tmp.data() + (ph.a * sw + ph.b) * phase_floats;
    const int64_t ostride = sw == 1 ? sh * s.W : g.Wbv;
    const int count = static_cast<int>(ph.off.size());
    if (count == 0) {  // no tap reaches this phase (stride larger than the kernel)
      for (int64_t i = 0; i < ph.rows; ++i)
        std::fill(out + i * ostride, out + i * ostride + ph.n, 0.0f);
      continue;
    }
    for (int t = 0; t < count; ++t)
      sc.wt[static_cast<size_t>(t)] = wc[ph.widx[static_cast<size_t>(t)]];
    const Correlation c{buf, g.Ld, ph.off.data(), sc.wt.data(), count, ph.rows, ph.n, out, ostride};
    correlate_for<false>(count)(c, none);
  }
  if (sw == 1) return;
  for (int64_t ih = 0; ih < s.H; ++ih) {
    const int64_t a = ih % sh, i = ih / sh;
    interleave(sc.tmp.data() + a * sw * phase_floats + i * g.Wbv, phase_floats, sw, s.W,
               dx + ih * s.W);
  }
}

// ---- backward-weight ----

// part[t] += sum over (p, q) of g[p, q] * (tap t's input at (p, q)) for the R*S taps of one
// plane in the InputLayout buffer. One ymm accumulator per tap (registers for fixed kTaps),
// moved to double every kFlushVectors vectors per lane and at the end of the plane.
template <int kTaps>
void weight_plane(const Conv2dShape& s, const InputLayout& L, const float* buf, const float* g,
                  Scratch& sc, double* part) {
  const int T = kTaps > 0 ? kTaps : static_cast<int>(s.R * s.S);
  const int64_t P = s.P(), Q = s.Q(), rstep = s.stride_h * L.row;
  const int64_t* off = L.off.data();
  __m256 local[kTaps > 0 ? kTaps : 1];
  __m256* acc = kTaps > 0 ? local : &sc.acc.data()->v;
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  const int64_t row_vectors = (Q + 7) / 8;
  int64_t pending = 0;
  for (int64_t p = 0; p < P; ++p) {
    const float* row = buf + p * rstep;
    const float* gr = g + p * Q;
    int64_t j = 0;
    for (; j + 8 <= Q; j += 8) {
      const __m256 gv = _mm256_loadu_ps(gr + j);
#pragma GCC unroll 32
      for (int t = 0; t < T; ++t)
        acc[t] = _mm256_fmadd_ps(gv, _mm256_loadu_ps(row + off[t] + j), acc[t]);
    }
    if (j < Q) {
      const __m256 gv = _mm256_maskload_ps(gr + j, tail_mask(Q - j));
#pragma GCC unroll 32
      for (int t = 0; t < T; ++t)
        acc[t] = _mm256_fmadd_ps(gv, _mm256_loadu_ps(row + off[t] + j), acc[t]);
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

// Backward-weight's work items, (image block, channel block) pairs fixed by the shape alone, so
// the sums' order never depends on the thread count: a channel's planes are summed image by image
// within an image block, the blocks' partials in block order. Image blocks split the batch when
// channels are few (about 64 (channel, image block) pairs); channel blocks (at most 16) keep an
// item's reads contiguous (one image's planes, channel after channel).
struct WeightItems {
  int64_t image_blocks, channel_blocks;
  int64_t count() const { return image_blocks * channel_blocks; }
};

WeightItems weight_items(const Conv2dShape& s) {
  return {std::clamp<int64_t>((64 + s.C - 1) / s.C, 1, std::max<int64_t>(s.N, 1)),
          std::min<int64_t>(s.C, 16)};
}

}  // namespace

bool conv2d_depthwise_applicable(const Conv2dShape& s) {
  return s.groups == s.C && s.K == s.C && s.C >= 1 && !s.dilated();
}

void conv2d_depthwise_forward(const Conv2dShape& s, const float* x, const float* w,
                              const ConvEpilogue& ep, float* y) {
  const int64_t P = s.P(), Q = s.Q(), PQ = P * Q, RS = s.R * s.S, NC = s.N * s.C;
  if (NC <= 0 || P <= 0 || Q <= 0) return;
  const InputLayout L = input_layout(s);
  const bool epilogue = ep.scale || ep.shift || ep.residual || ep.relu;
  const int count = static_cast<int>(RS);
  const CorrelateFn fn = epilogue ? correlate_for<true>(count) : correlate_for<false>(count);
  const int threads = threads_for(NC * PQ * RS);
#pragma omp parallel num_threads(threads)
  {
    Scratch& sc = scratch();
    sc.buf.assign(static_cast<size_t>(L.floats()), 0.0f);
#pragma omp for schedule(static) nowait
    for (int64_t nc = 0; nc < NC; ++nc) {
      const int64_t c = nc % s.C;
      fill_input(L, x + nc * s.H * s.W, sc.buf.data());
      PlaneEpilogue pe;
      if (ep.scale) pe.scale = _mm256_set1_ps(ep.scale[c]);
      if (ep.shift) pe.shift = _mm256_set1_ps(ep.shift[c]);
      pe.residual = ep.residual ? ep.residual + nc * PQ : nullptr;
      pe.relu = ep.relu;
      pe.relu_cap = _mm256_set1_ps(ep.relu_cap);
      const Correlation corr{
          sc.buf.data(), s.stride_h * L.row, L.off.data(), w + c * RS, count, P, Q, y + nc * PQ, Q};
      fn(corr, pe);
    }
  }
}

void conv2d_depthwise_backward_input(const Conv2dShape& s, const float* dy, const float* w,
                                     float* dx) {
  const int64_t P = s.P(), Q = s.Q(), HW = s.H * s.W, RS = s.R * s.S, NC = s.N * s.C;
  if (NC <= 0 || HW <= 0) return;
  if (P <= 0 || Q <= 0) {
    std::fill(dx, dx + NC * HW, 0.0f);
    return;
  }
  const InputGradPlan g = input_grad_plan(s);
  const int threads = threads_for(NC * HW * RS);
#pragma omp parallel num_threads(threads)
  {
    Scratch& sc = scratch();
    sc.buf.assign(static_cast<size_t>(g.rows * g.Ld), 0.0f);
    sc.tmp.resize(static_cast<size_t>(s.stride_h * s.stride_w * g.Hp * g.Wbv));
    sc.wt.resize(static_cast<size_t>(RS));
#pragma omp for schedule(static) nowait
    for (int64_t nc = 0; nc < NC; ++nc) {
      const float* plane = dy + nc * P * Q;
      for (int64_t p = 0; p < P; ++p) {
        std::memcpy(sc.buf.data() + (p + g.top) * g.Ld + g.lead, plane + p * Q,
                    sizeof(float) * static_cast<size_t>(Q));
      }
      backward_input_plane(s, g, sc.buf.data(), w + (nc % s.C) * RS, sc, dx + nc * HW);
    }
  }
}

void conv2d_depthwise_backward_weight(const Conv2dShape& s, const float* x, const float* dy,
                                      float* dw, float* db) {
  const int64_t P = s.P(), Q = s.Q(), PQ = P * Q, RS = s.R * s.S, C = s.C;
  const WeightItems items = weight_items(s);
  const int64_t blocks = items.image_blocks, cblocks = items.channel_blocks;
  // part[(c * blocks + blk) * (RS + 1) + t]: channel c's sum over image block blk for tap t;
  // entry RS: its bias sum.
  std::vector<double> part(static_cast<size_t>(std::max<int64_t>(C * blocks, 0) * (RS + 1)), 0.0);
  if (s.N > 0 && PQ > 0 && C > 0) {
    const InputLayout L = input_layout(s);
    const WeightPlaneFn plane_fn = weight_plane_for(RS);
    const int threads = threads_for(s.N * C * PQ * RS);
#pragma omp parallel num_threads(threads)
    {
      Scratch& sc = scratch();
      sc.buf.assign(static_cast<size_t>(L.floats()), 0.0f);
      sc.acc.resize(static_cast<size_t>(RS));
#pragma omp for schedule(static) nowait
      for (int64_t item = 0; item < items.count(); ++item) {
        const int64_t blk = item / cblocks, cb = item % cblocks;
        for (int64_t n = s.N * blk / blocks; n < s.N * (blk + 1) / blocks; ++n) {
          for (int64_t c = C * cb / cblocks; c < C * (cb + 1) / cblocks; ++c) {
            const int64_t nc = n * C + c;
            double* pd = part.data() + (c * blocks + blk) * (RS + 1);
            fill_input(L, x + nc * s.H * s.W, sc.buf.data());
            plane_fn(s, L, sc.buf.data(), dy + nc * PQ, sc, pd);
            if (db) pd[RS] += plane_sum(dy + nc * PQ, PQ);
          }
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
