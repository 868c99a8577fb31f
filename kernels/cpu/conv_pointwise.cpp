// The strided 1x1 convolution (see conv_pointwise.h for the scheme). Shape letters as there;
// Kp = K rounded up to 4 (the tile's channel rows; padded weight rows are zero), PQp = PQ rounded
// up to 16.
#include "kernels/cpu/conv_pointwise.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>

#include "kernels/cpu/aligned_buffer.h"

namespace gb::kernels::cpu {
namespace {

constexpr int64_t kTileK = 4;   // output channels per register tile
constexpr int64_t kTileI = 16;  // positions per register tile (two AVX2 vectors)

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// xs [C][PQp] <- image x [C, H, W] subsampled by the strides; positions PQ..PQp are zero.
void subsample(const Conv2dShape& s, const float* x, int64_t PQp, float* xs) {
  const int64_t P = s.P(), Q = s.Q();
  for (int64_t c = 0; c < s.C; ++c) {
    float* dst = xs + c * PQp;
    for (int64_t p = 0; p < P; ++p) {
      const float* row = x + (c * s.H + p * s.stride_h) * s.W;
      float* out = dst + p * Q;
      int64_t q = 0;
      if (s.stride_w == 2) {  // 8 outputs from 16 inputs: keep the even lanes
        for (; q + 8 <= Q && 2 * q + 16 <= s.W; q += 8) {
          const __m256 a = _mm256_loadu_ps(row + 2 * q), b = _mm256_loadu_ps(row + 2 * q + 8);
          const __m256 even = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
          _mm256_storeu_ps(out + q, _mm256_castpd_ps(_mm256_permute4x64_pd(
                                        _mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0))));
        }
      }
      for (; q < Q; ++q) out[q] = row[q * s.stride_w];
    }
    std::fill(dst + P * Q, dst + PQp, 0.0f);
  }
}

// Stores `count` (<= 16) positions of one output channel row: acc * scale + shift (+ residual),
// then min(max(v, 0), cap) when relu (a NaN passes, as in ref).
inline void store_tile_row(__m256 lo, __m256 hi, float scale, float shift, const float* residual,
                           bool relu, float cap, int64_t count, float* y) {
  const __m256 vs = _mm256_set1_ps(scale), vb = _mm256_set1_ps(shift);
  lo = _mm256_fmadd_ps(lo, vs, vb);
  hi = _mm256_fmadd_ps(hi, vs, vb);
  if (count == kTileI) {
    if (residual) {
      lo = _mm256_add_ps(lo, _mm256_loadu_ps(residual));
      hi = _mm256_add_ps(hi, _mm256_loadu_ps(residual + 8));
    }
    if (relu) {  // max/min return their second operand for a NaN
      const __m256 zero = _mm256_setzero_ps(), vcap = _mm256_set1_ps(cap);
      lo = _mm256_min_ps(vcap, _mm256_max_ps(zero, lo));
      hi = _mm256_min_ps(vcap, _mm256_max_ps(zero, hi));
    }
    _mm256_storeu_ps(y, lo);
    _mm256_storeu_ps(y + 8, hi);
    return;
  }
  alignas(32) float v[kTileI];
  _mm256_store_ps(v, lo);
  _mm256_store_ps(v + 8, hi);
  for (int64_t j = 0; j < count; ++j) {
    const float r = v[j] + (residual ? residual[j] : 0.0f);
    y[j] = relu ? std::min(std::max(r, 0.0f), cap) : r;
  }
}

// y rows [kb, kb + 4) of one image, positions [i, i + 16), from xs and the padded weights wp
// [Kp][C]; rows past K are not stored.
void tile(const Conv2dShape& s, const float* xs, int64_t PQp, const float* wp, int64_t kb,
          int64_t i, const ConvEpilogue& ep, const float* residual, float* y) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
  const float* w0 = wp + kb * s.C;
  for (int64_t c = 0; c < s.C; ++c) {
    const __m256 x0 = _mm256_load_ps(xs + c * PQp + i), x1 = _mm256_load_ps(xs + c * PQp + i + 8);
    __m256 wv = _mm256_broadcast_ss(w0 + c);
    a0 = _mm256_fmadd_ps(wv, x0, a0);
    a1 = _mm256_fmadd_ps(wv, x1, a1);
    wv = _mm256_broadcast_ss(w0 + s.C + c);
    b0 = _mm256_fmadd_ps(wv, x0, b0);
    b1 = _mm256_fmadd_ps(wv, x1, b1);
    wv = _mm256_broadcast_ss(w0 + 2 * s.C + c);
    c0 = _mm256_fmadd_ps(wv, x0, c0);
    c1 = _mm256_fmadd_ps(wv, x1, c1);
    wv = _mm256_broadcast_ss(w0 + 3 * s.C + c);
    d0 = _mm256_fmadd_ps(wv, x0, d0);
    d1 = _mm256_fmadd_ps(wv, x1, d1);
  }
  const int64_t PQ = s.P() * s.Q(), count = std::min(kTileI, PQ - i);
  const __m256 lo[kTileK] = {a0, b0, c0, d0}, hi[kTileK] = {a1, b1, c1, d1};
  for (int64_t r = 0; r < kTileK && kb + r < s.K; ++r) {
    const int64_t k = kb + r;
    store_tile_row(lo[r], hi[r], ep.scale ? ep.scale[k] : 1.0f, ep.shift ? ep.shift[k] : 0.0f,
                   residual ? residual + k * PQ + i : nullptr, ep.relu, ep.relu_cap, count,
                   y + k * PQ + i);
  }
}

}  // namespace

bool conv2d_pointwise_applicable(const Conv2dShape& s) {
  return s.groups == 1 && s.R == 1 && s.S == 1 && s.pad_h == 0 && s.pad_w == 0 && !s.dilated() &&
         s.stride_h >= 1 && s.stride_w >= 1 && (s.stride_h > 1 || s.stride_w > 1) && s.P() >= 1 &&
         s.Q() >= 1;
}

void conv2d_pointwise_forward(const Conv2dShape& s, const float* x, const float* w,
                              const ConvEpilogue& ep, float* y) {
  const int64_t PQ = s.P() * s.Q(), PQp = round_up(PQ, kTileI), Kp = round_up(s.K, kTileK);
  thread_local AlignedBuffer w_buffer;
  float* wp = w_buffer.get(Kp * s.C);
  std::copy(w, w + s.K * s.C, wp);
  std::fill(wp + s.K * s.C, wp + Kp * s.C, 0.0f);
  const int threads =
      omp_in_parallel() ? 1 : static_cast<int>(std::min<int64_t>(omp_get_max_threads(), s.N));
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t n = 0; n < s.N; ++n) {
    thread_local AlignedBuffer xs_buffer;
    float* xs = xs_buffer.get(s.C * PQp);
    subsample(s, x + n * s.C * s.H * s.W, PQp, xs);
    const float* residual = ep.residual ? ep.residual + n * s.K * PQ : nullptr;
    float* yn = y + n * s.K * PQ;
    for (int64_t kb = 0; kb < Kp; kb += kTileK)
      for (int64_t i = 0; i < PQ; i += kTileI) tile(s, xs, PQp, wp, kb, i, ep, residual, yn);
  }
}

}  // namespace gb::kernels::cpu
