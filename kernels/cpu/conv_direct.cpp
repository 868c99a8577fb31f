// Stride-1 convolution on the flattened zero-padded input (see conv_direct.h for the scheme).
// Shape letters: N, C, H, W input; K output channels; R, S kernel; P, Q output; Hp, Wp padded
// input; L = P*Wp positions on the padded-width output grid; CRS = C*R*S.
#include "kernels/cpu/conv_direct.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/aligned_buffer.h"

namespace gb::kernels::cpu {
namespace {

constexpr int64_t kMR = 4;  // output channels per register tile
// Positions per register tile: 24 (three ymm registers) or 16 (two), whichever wastes fewer
// positions past the end of the grid.

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Geometry of one "input [C, H, W] -> output [K, P, Q]" convolution with padding (ph, pw) and
// stride (sh, sw), computed on the padded-width grid of the output.
struct Flat {
  int64_t C, H, W, K, R, S, ph, pw, sh, sw;
  int64_t Hp, Wp, plane, P, Q, L, NR, Lr, CRS, Kr;
  int64_t buffer;            // floats in one padded image, including the read-past tail
  std::vector<int32_t> off;  // [CRS]: offset of tap (c, r, s) in the padded image
};

// Stride 1: rows are W + pw wide, the pw zero columns after row h being both its right padding
// and the left padding of row h + 1 (plane c starts with pw zeros for the first row's left
// padding); tap (c, r, s) is at c*plane + r*Wp + s.
// Stride (sh, sw) > 1: the padded image is split into sh*sw phase planes of Hp x Wp (phase (a, b)
// holds padded pixels (u*sh + a, v*sw + b)), so that the strided taps become unit-stride ones: tap
// (c, r, s) is at phase (r % sh, s % sw) of channel c, shifted by (r / sh, s / sw).
Flat make_flat(int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S, int64_t ph,
               int64_t pw, int64_t sh = 1, int64_t sw = 1) {
  Flat f{};
  f.C = C, f.H = H, f.W = W, f.K = K, f.R = R, f.S = S, f.ph = ph, f.pw = pw, f.sh = sh, f.sw = sw;
  const bool unit = sh == 1 && sw == 1;
  if (unit) {
    f.Hp = H + 2 * ph;
    f.Wp = W + pw;
    f.plane = f.Hp * f.Wp + pw;
  } else {
    f.Hp = (H + 2 * ph + sh - 1) / sh;
    f.Wp = (W + 2 * pw + sw - 1) / sw;
    f.plane = f.Hp * f.Wp;
  }
  f.P = (H + 2 * ph - R) / sh + 1;
  f.Q = (W + 2 * pw - S) / sw + 1;  // <= Wp (stride 1: since pw <= S - 1)
  f.L = f.P * f.Wp;
  f.NR = round_up(f.L, 16) < round_up(f.L, 24) ? 16 : 24;
  f.Lr = round_up(f.L, f.NR);
  f.CRS = C * R * S;
  f.Kr = round_up(K, kMR);
  f.off.resize(static_cast<size_t>(f.CRS));
  int64_t furthest = 0;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t o =
            unit ? c * f.plane + r * f.Wp + s
                 : ((c * sh + r % sh) * sw + s % sw) * f.plane + (r / sh) * f.Wp + s / sw;
        f.off[static_cast<size_t>((c * R + r) * S + s)] = static_cast<int32_t>(o);
        furthest = std::max(furthest, o);
      }
  // Positions past L (and columns q >= Q) read into the next plane or the zero tail and are
  // thrown away; the furthest read is the furthest tap at position Lr - 1.
  const int64_t planes = unit ? C : C * sh * sw;
  f.buffer = round_up(std::max(planes * f.plane, furthest + f.Lr) + 16, 16);
  return f;
}

// Writes image x [C, H, W] into xp at the positions make_flat describes. Everything else in xp
// must be zero (zeroed once per call and never written, since every image writes the same
// positions).
void pad_image(const Flat& f, const float* x, float* xp) {
  if (f.sh == 1 && f.sw == 1) {
    for (int64_t c = 0; c < f.C; ++c) {
      const float* src = x + c * f.H * f.W;
      float* dst = xp + c * f.plane + f.pw + f.ph * f.Wp;
      for (int64_t h = 0; h < f.H; ++h)
        std::memcpy(dst + h * f.Wp, src + h * f.W, sizeof(float) * static_cast<size_t>(f.W));
    }
    return;
  }
  for (int64_t c = 0; c < f.C; ++c) {
    const float* src = x + c * f.H * f.W;
    for (int64_t a = 0; a < f.sh; ++a) {
      for (int64_t b = 0; b < f.sw; ++b) {
        float* phase = xp + ((c * f.sh + a) * f.sw + b) * f.plane;
        // Columns v with 0 <= v*sw + b - pw < W.
        const int64_t v0 = std::max<int64_t>(0, (f.pw - b + f.sw - 1) / f.sw);
        const int64_t v1 = std::min<int64_t>(f.Wp, (f.W + f.pw - b + f.sw - 1) / f.sw);
        for (int64_t u = 0; u < f.Hp; ++u) {
          const int64_t h = u * f.sh + a - f.ph;
          if (h < 0 || h >= f.H) continue;
          const float* row = src + h * f.W + b - f.pw;
          float* out = phase + u * f.Wp;
          for (int64_t v = v0; v < v1; ++v) out[v] = row[v * f.sw];
        }
      }
    }
  }
}

// Packs w [K, CRS] into panels of kMR channels: wp[(kb*CRS + j)*kMR + kk] = w[kb*kMR + kk, j],
// zero for channels past K.
void pack_weights(const Flat& f, const float* w, float* wp) {
  for (int64_t kb = 0; kb < f.Kr / kMR; ++kb)
    for (int64_t j = 0; j < f.CRS; ++j)
      for (int64_t kk = 0; kk < kMR; ++kk) {
        const int64_t k = kb * kMR + kk;
        wp[(kb * f.CRS + j) * kMR + kk] = k < f.K ? w[k * f.CRS + j] : 0.0f;
      }
}

// c[kk, 0:8*NB] = sum_j a[j*4 + kk] * b[off[j] + 0:8*NB] for kk < 4; c has row stride ldc.
template <int NB>
inline void tile_4xNB(const float* a, const float* b, const int32_t* off, int64_t crs, float* c,
                      int64_t ldc) {
  __m256 acc[kMR][NB];
#pragma GCC unroll 4
  for (int kk = 0; kk < kMR; ++kk)
#pragma GCC unroll 3
    for (int v = 0; v < NB; ++v) acc[kk][v] = _mm256_setzero_ps();
  for (int64_t j = 0; j < crs; ++j) {
    const float* bj = b + off[j];
    __m256 bv[NB];
#pragma GCC unroll 3
    for (int v = 0; v < NB; ++v) bv[v] = _mm256_loadu_ps(bj + 8 * v);
    const float* aj = a + j * kMR;
#pragma GCC unroll 4
    for (int kk = 0; kk < kMR; ++kk) {
      const __m256 av = _mm256_broadcast_ss(aj + kk);
#pragma GCC unroll 3
      for (int v = 0; v < NB; ++v) acc[kk][v] = _mm256_fmadd_ps(av, bv[v], acc[kk][v]);
    }
  }
#pragma GCC unroll 4
  for (int kk = 0; kk < kMR; ++kk)
#pragma GCC unroll 3
    for (int v = 0; v < NB; ++v) _mm256_storeu_ps(c + kk * ldc + 8 * v, acc[kk][v]);
}

// d[q] = act(s[q] * scale + shift + r[q]) for q < n (r may be nullptr; act is
// min(max(v, 0), cap) when relu, a NaN passing, or the identity).
inline void store_row(int64_t n, const float* s, float scale, float shift, const float* r,
                      bool relu, float cap, float* d) {
  if (r && relu) {
    for (int64_t q = 0; q < n; ++q)
      d[q] = std::min(std::max(s[q] * scale + shift + r[q], 0.0f), cap);
  } else if (r) {
    for (int64_t q = 0; q < n; ++q) d[q] = s[q] * scale + shift + r[q];
  } else if (relu) {
    for (int64_t q = 0; q < n; ++q) d[q] = std::min(std::max(s[q] * scale + shift, 0.0f), cap);
  } else {
    for (int64_t q = 0; q < n; ++q) d[q] = s[q] * scale + shift;
  }
}

// Output channels [kb*4, kb*4 + 4) of one image: register tiles over the padded-width grid into
// `tile` [4, Lr], then the valid columns through the epilogue into y [K, P, Q].
void channel_block(const Flat& f, const float* xp, const float* wp, int64_t kb,
                   const ConvEpilogue& ep, const float* residual, float* tile, float* y) {
  const float* a = wp + kb * f.CRS * kMR;
  if (f.NR == 24) {
    for (int64_t i = 0; i < f.Lr; i += 24)
      tile_4xNB<3>(a, xp + i, f.off.data(), f.CRS, tile + i, f.Lr);
  } else {
    for (int64_t i = 0; i < f.Lr; i += 16)
      tile_4xNB<2>(a, xp + i, f.off.data(), f.CRS, tile + i, f.Lr);
  }
  const int64_t k_end = std::min(f.K, (kb + 1) * kMR);
  for (int64_t k = kb * kMR; k < k_end; ++k) {
    const float* src = tile + (k - kb * kMR) * f.Lr;
    float* dst = y + k * f.P * f.Q;
    const float* res = residual ? residual + k * f.P * f.Q : nullptr;
    const float scale = ep.scale ? ep.scale[k] : 1.0f;
    const float shift = ep.shift ? ep.shift[k] : 0.0f;
    for (int64_t p = 0; p < f.P; ++p) {
      const float* s_row = src + p * f.Wp;
      float* d_row = dst + p * f.Q;
      const float* r_row = res ? res + p * f.Q : nullptr;
      store_row(f.Q, s_row, scale, shift, r_row, ep.relu, ep.relu_cap, d_row);
    }
  }
}

thread_local AlignedBuffer tl_padded;
thread_local AlignedBuffer tl_tile;
thread_local AlignedBuffer tl_grad;

// A zeroed padded-image buffer of this thread, for one call.
float* zeroed_padded(const Flat& f) {
  float* xp = tl_padded.get(f.buffer);
  std::fill(xp, xp + f.buffer, 0.0f);
  return xp;
}

int team_size(int64_t work) {
  if (omp_in_parallel()) return 1;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), work)));
}

// out[n] = conv(in[n]) for n < N on geometry f, with packed weights wp.
void flat_conv(const Flat& f, int64_t N, const float* in, const float* wp, const ConvEpilogue& ep,
               float* out) {
  const int64_t in_size = f.C * f.H * f.W, out_size = f.K * f.P * f.Q;
  const int64_t blocks = f.Kr / kMR;
  const int threads = team_size(N * blocks);
  if (N >= 2 * threads || threads == 1) {
#pragma omp parallel num_threads(threads)
    {
      float* xp = zeroed_padded(f);
      float* tile = tl_tile.get(kMR * f.Lr);
#pragma omp for schedule(static)
      for (int64_t n = 0; n < N; ++n) {
        pad_image(f, in + n * in_size, xp);
        for (int64_t kb = 0; kb < blocks; ++kb)
          channel_block(f, xp, wp, kb, ep, ep.residual ? ep.residual + n * out_size : nullptr, tile,
                        out + n * out_size);
      }
    }
    return;
  }
  // Few images: share one padded image and split its channel blocks across threads.
  std::vector<float> shared(static_cast<size_t>(f.buffer), 0.0f);
  for (int64_t n = 0; n < N; ++n) {
    pad_image(f, in + n * in_size, shared.data());
#pragma omp parallel num_threads(threads)
    {
      float* tile = tl_tile.get(kMR * f.Lr);
#pragma omp for schedule(static)
      for (int64_t kb = 0; kb < blocks; ++kb)
        channel_block(f, shared.data(), wp, kb, ep,
                      ep.residual ? ep.residual + n * out_size : nullptr, tile, out + n * out_size);
    }
  }
}

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// acc[kk*ld_acc + t] += sum over images m < M and i < len (a multiple of 8) of
// d[m*d_img + kk*ldd + i] * x[t][m*x_img + i], for kk < 4 and NS taps t. Summing a group of
// images in registers amortises the horizontal sums when the planes are small.
template <int NS>
void dot_4xNS(const float* d, int64_t d_img, int64_t ldd, const float* const* x, int64_t x_img,
              int64_t M, int64_t len, float* acc, int64_t ld_acc) {
  __m256 c[4][NS];
#pragma GCC unroll 4
  for (int kk = 0; kk < 4; ++kk)
#pragma GCC unroll 3
    for (int t = 0; t < NS; ++t) c[kk][t] = _mm256_setzero_ps();
  for (int64_t m = 0; m < M; ++m) {
    const float* dm = d + m * d_img;
    const float* xm[NS];
#pragma GCC unroll 3
    for (int t = 0; t < NS; ++t) xm[t] = x[t] + m * x_img;
    for (int64_t i = 0; i < len; i += 8) {
      __m256 xv[NS];
#pragma GCC unroll 3
      for (int t = 0; t < NS; ++t) xv[t] = _mm256_loadu_ps(xm[t] + i);
#pragma GCC unroll 4
      for (int kk = 0; kk < 4; ++kk) {
        const __m256 dv = _mm256_loadu_ps(dm + kk * ldd + i);
#pragma GCC unroll 3
        for (int t = 0; t < NS; ++t) c[kk][t] = _mm256_fmadd_ps(dv, xv[t], c[kk][t]);
      }
    }
  }
#pragma GCC unroll 4
  for (int kk = 0; kk < 4; ++kk)
#pragma GCC unroll 3
    for (int t = 0; t < NS; ++t) acc[kk * ld_acc + t] += hsum(c[kk][t]);
}

// A group of M images staged for backward-weight: padded inputs xp [M, buffer] and output
// gradients on the padded-width grid g [M, Kr, Lw] (zeros in thrown-away columns).
struct WeightGroup {
  const float* xp;
  const float* g;
  int64_t M, Lw;
};

// dw[k, j] += sum over the group's images and positions i of g[m, k, i] * xp[m, off[j] + i] for
// the channels k of block kb and every tap j < CRS, three taps at a time; dw_padded is [Kr, CRS].
void weight_block(const Flat& f, const WeightGroup& grp, int64_t kb, float* dw_padded) {
  const int64_t g_img = f.Kr * grp.Lw;
  const float* gk = grp.g + kb * kMR * grp.Lw;
  float* acc = dw_padded + kb * kMR * f.CRS;
  const float* x[3];
  int64_t j = 0;
  for (; j + 3 <= f.CRS; j += 3) {
    for (int t = 0; t < 3; ++t) x[t] = grp.xp + f.off[static_cast<size_t>(j + t)];
    dot_4xNS<3>(gk, g_img, grp.Lw, x, f.buffer, grp.M, grp.Lw, acc + j, f.CRS);
  }
  for (int t = 0; t < f.CRS - j; ++t) x[t] = grp.xp + f.off[static_cast<size_t>(j + t)];
  if (f.CRS - j == 2) dot_4xNS<2>(gk, g_img, grp.Lw, x, f.buffer, grp.M, grp.Lw, acc + j, f.CRS);
  if (f.CRS - j == 1) dot_4xNS<1>(gk, g_img, grp.Lw, x, f.buffer, grp.M, grp.Lw, acc + j, f.CRS);
}

// Writes dy [K, P, Q] of one image into g [Kr, Lw] at positions p*Wp + q; other entries of g must
// be zero (zeroed once per call, never written).
void spread_gradient(const Flat& f, const float* dy, int64_t Lw, float* g) {
  for (int64_t k = 0; k < f.K; ++k)
    for (int64_t p = 0; p < f.P; ++p)
      std::memcpy(g + k * Lw + p * f.Wp, dy + (k * f.P + p) * f.Q,
                  sizeof(float) * static_cast<size_t>(f.Q));
}

}  // namespace

bool conv2d_direct_applicable(const Conv2dShape& s) {
  if (s.groups != 1 || s.dilated() || s.pad_h < 0 || s.pad_w < 0 || s.P() < 1 || s.Q() < 1) {
    return false;
  }
  if (s.R * s.S == 1) return false;  // 1x1: a plain GEMM (stride 1) or subsample + GEMM wins
  if (s.stride_h > 1 || s.stride_w > 1) return s.stride_h >= 1 && s.stride_w >= 1;
  return s.pad_h <= s.R - 1 && s.pad_w <= s.S - 1;
}

bool conv2d_direct_backward_input_applicable(const Conv2dShape& s) {
  return conv2d_direct_applicable(s) && s.stride_h == 1 && s.stride_w == 1;
}

void conv2d_direct_forward(const Conv2dShape& s, const float* x, const float* w,
                           const ConvEpilogue& epilogue, float* y) {
  const Flat f = make_flat(s.C, s.H, s.W, s.K, s.R, s.S, s.pad_h, s.pad_w, s.stride_h, s.stride_w);
  std::vector<float> wp(static_cast<size_t>(f.Kr * f.CRS));
  pack_weights(f, w, wp.data());
  flat_conv(f, s.N, x, wp.data(), epilogue, y);
}

void conv2d_direct_backward_input(const Conv2dShape& s, const float* dy, const float* w,
                                  float* dx) {
  // dx = conv(dy padded by (R-1-ph, S-1-pw), wt) with wt[c, k, r, s] = w[k, c, R-1-r, S-1-s].
  const Flat f = make_flat(s.K, s.P(), s.Q(), s.C, s.R, s.S, s.R - 1 - s.pad_h, s.S - 1 - s.pad_w);
  std::vector<float> wt(static_cast<size_t>(s.C * s.K * s.R * s.S));
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t t = 0; t < s.S; ++t)
          wt[static_cast<size_t>(((c * s.K + k) * s.R + r) * s.S + t)] =
              w[((k * s.C + c) * s.R + (s.R - 1 - r)) * s.S + (s.S - 1 - t)];
  std::vector<float> wp(static_cast<size_t>(f.Kr * f.CRS));
  pack_weights(f, wt.data(), wp.data());
  flat_conv(f, s.N, dy, wp.data(), ConvEpilogue{}, dx);
}

void conv2d_direct_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                                   float* db) {
  const Flat f = make_flat(s.C, s.H, s.W, s.K, s.R, s.S, s.pad_h, s.pad_w, s.stride_h, s.stride_w);
  const int64_t Lw = round_up(f.L, 8);  // <= Lr, so reads stay inside the padded buffer
  const int64_t in_size = f.C * f.H * f.W, out_size = f.K * f.P * f.Q;
  const int64_t dw_size = f.Kr * f.CRS, blocks = f.Kr / kMR;
  const int threads = team_size(s.N * blocks);
  const bool by_image = s.N >= 2 * threads || threads == 1;
  const int team = by_image ? threads : 1;
  // Per-thread partials (in thread order) of dw on [Kr, CRS] and of db in double.
  std::vector<float> partial(static_cast<size_t>(team * dw_size), 0.0f);
  std::vector<double> partial_db(static_cast<size_t>(team * f.K), 0.0);
  auto bias_sums = [&](const float* dyn, double* acc) {
    for (int64_t k = 0; k < f.K; ++k) {
      float sum = 0.0f;
      const float* row = dyn + k * f.P * f.Q;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < f.P * f.Q; ++i) sum += row[i];
      acc[k] += sum;
    }
  };
  // Images per group: enough positions per horizontal sum (about 256), at most 8.
  const int64_t group = std::clamp<int64_t>((256 + Lw - 1) / Lw, 1, 8);
  const int64_t g_img = f.Kr * Lw;
  if (by_image) {
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      float* xp = tl_padded.get(group * f.buffer);
      float* g = tl_grad.get(group * g_img);
      std::fill(xp, xp + group * f.buffer, 0.0f);
      std::fill(g, g + group * g_img, 0.0f);
      float* mine = partial.data() + t * dw_size;
      const int64_t n0 = s.N * t / nt, n1 = s.N * (t + 1) / nt;
      for (int64_t n = n0; n < n1; n += group) {
        const int64_t M = std::min(group, n1 - n);
        for (int64_t m = 0; m < M; ++m) {
          pad_image(f, x + (n + m) * in_size, xp + m * f.buffer);
          spread_gradient(f, dy + (n + m) * out_size, Lw, g + m * g_img);
          if (db) bias_sums(dy + (n + m) * out_size, partial_db.data() + t * f.K);
        }
        for (int64_t kb = 0; kb < blocks; ++kb) weight_block(f, {xp, g, M, Lw}, kb, mine);
      }
    }
  } else {
    std::vector<float> xp(static_cast<size_t>(f.buffer), 0.0f);
    std::vector<float> g(static_cast<size_t>(g_img), 0.0f);
    for (int64_t n = 0; n < s.N; ++n) {
      pad_image(f, x + n * in_size, xp.data());
      spread_gradient(f, dy + n * out_size, Lw, g.data());
#pragma omp parallel for num_threads(threads) schedule(static)
      for (int64_t kb = 0; kb < blocks; ++kb)
        weight_block(f, {xp.data(), g.data(), 1, Lw}, kb, partial.data());
      if (db) bias_sums(dy + n * out_size, partial_db.data());
    }
  }
  // Fixed-order reduction: dw = ((p_0 + p_1) + p_2) + ...; rows past K are dropped.
  for (int64_t i = 0; i < f.K * f.CRS; ++i) {
    float sum = partial[static_cast<size_t>(i)];
    for (int u = 1; u < team; ++u) sum += partial[static_cast<size_t>(u * dw_size + i)];
    dw[i] = sum;
  }
  if (db) {
    for (int64_t k = 0; k < f.K; ++k) {
      double sum = 0.0;
      for (int u = 0; u < team; ++u) sum += partial_db[static_cast<size_t>(u * f.K + k)];
      db[k] = static_cast<float>(sum);
    }
  }
}

}  // namespace gb::kernels::cpu
