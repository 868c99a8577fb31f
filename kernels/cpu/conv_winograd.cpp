// Winograd F(4x4, 3x3) convolution (see conv_winograd.h for the scheme).
// Shape letters: N batch, Ci/Co the channels read and written by one call (C/K forward, K/C
// backward-input), H/W the map size, Kp = Co rounded up to 8 (16 in backward-weight), TH/TW
// tiles per image, T tiles in a group of images (Tr rounded up to the GEMM's 6-row tile),
// Hb/Wb = 4*TH + 2 / 4*TW + 2 the zero-bordered map of the channel-blocked input copy.
// Cp = Ci rounded up to 8 (the channel block; padded channels are zero in xb, v and u).
// Buffers of one group: xb [g images][Cp/8][Hb][Wb][8], v [36][Tr][Cp] and m [36][Tr][Kp] (each
// xi's slice padded by 64 bytes: slices a multiple of 4 KiB apart would put the 36 loads of one
// tile transform into one L1 set); the transformed weights u [36][Cp][Kp] are shared by all
// groups.
#include "kernels/cpu/conv_winograd.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/aligned_buffer.h"
#include "kernels/cpu/conv_winograd_bf16.h"
#include "kernels/cpu/conv_winograd_transforms.h"
#include "kernels/precision.h"

namespace gb::kernels::cpu {
namespace {

constexpr int64_t kAlpha = 6;             // Winograd domain side
constexpr int64_t kXi = kAlpha * kAlpha;  // 36 GEMMs
constexpr int64_t kRows = 6;              // GEMM register tile: 6 tiles x 16 output channels
constexpr int64_t kCols = 16;
// Channels are padded to multiples of 8 inside; below this many the padding wastes more than
// Winograd saves (a 3-channel stem would do 8 channels' work) and padded-flat runs instead.
constexpr int64_t kMinChannels = 8;
// Backward-weight needs a [36][C][Kp] du (38 MB for a 512 x 512 layer, still 2.7x faster than
// padded-flat there); wider layers use padded-flat to bound that workspace.
constexpr int64_t kMaxFilterGradFloats = 512 * 512;

// Backward-weight layers whose du [36][Cp][Kp] holds more floats than this (wider than 128 x 128
// channels) split the 36 points among the threads: each thread transforms every tile (a few per
// cent of such a layer's work, which is mostly GEMM) and accumulates only its points into one
// shared du. Per-thread partials would cost a du per thread (38 MB each for 512 x 512) and a
// reduction; the split sums each element in tile order, bit-identical for any thread count.
constexpr int64_t kSplitPointsFloats = kXi * 128 * 128;

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// The calling thread's transformed-filter buffer: u in forward and backward-input, du (and its
// partials) in backward-weight. One buffer for both, as a training step never needs them at
// once, halves what a 512 x 512 layer keeps (38 MB each).
AlignedBuffer& filter_buffer() {
  thread_local AlignedBuffer buffer;
  return buffer;
}

// ---- Transforms, on 8-channel vectors --------------------------------------------------------

// out = A^T in: 6 Winograd-domain values to 4 outputs.
inline void output_1d(const __m256 in[6], __m256 out[4]) {
  const __m256 s12 = _mm256_add_ps(in[1], in[2]), d12 = _mm256_sub_ps(in[1], in[2]);
  const __m256 s34 = _mm256_add_ps(in[3], in[4]), d34 = _mm256_sub_ps(in[3], in[4]);
  out[0] = _mm256_add_ps(_mm256_add_ps(in[0], s12), s34);
  out[1] = _mm256_fmadd_ps(_mm256_set1_ps(2.0f), d34, d12);
  out[2] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), s34, s12);
  out[3] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0f), d34, d12), in[5]);
}

// out = G in: a filter column or row of 3 to 6 Winograd-domain values.
inline void filter_1d(const __m256 in[3], __m256 out[6]) {
  const __m256 sixth = _mm256_set1_ps(1.0f / 6), twelfth = _mm256_set1_ps(1.0f / 12);
  const __m256 quarter = _mm256_set1_ps(1.0f / 4), twentyfourth = _mm256_set1_ps(1.0f / 24);
  const __m256 s02 = _mm256_add_ps(in[0], in[2]);
  out[0] = _mm256_mul_ps(quarter, in[0]);
  out[1] = _mm256_mul_ps(_mm256_set1_ps(-1.0f / 6), _mm256_add_ps(s02, in[1]));
  out[2] = _mm256_mul_ps(_mm256_set1_ps(-1.0f / 6), _mm256_sub_ps(s02, in[1]));
  const __m256 even = _mm256_fmadd_ps(twentyfourth, in[0], _mm256_mul_ps(sixth, in[2]));
  out[3] = _mm256_fmadd_ps(twelfth, in[1], even);
  out[4] = _mm256_fnmadd_ps(twelfth, in[1], even);
  out[5] = in[2];
}

// u [36][Cp][Kp] from w [K, C, 3, 3]. Forward: output channel o = k, input i = c, filter
// w[k, c]. Backward-input (transposed): o = c, i = k, filter w[k, c] rotated by 180 degrees.
// Vectorised over 8 output channels; columns o >= Co and rows i >= Ci are zero.
void transform_weights(const float* w, int64_t K, int64_t C, bool transposed, int64_t Cp,
                       int64_t Kp, float* u) {
  const int64_t Ci = transposed ? K : C, Co = transposed ? C : K;
  // Zero what the loop below does not write: columns past Co rounded up to 8, rows past Ci.
  const int64_t Co8 = round_up(Co, 8);
  for (int64_t xi = 0; xi < kXi; ++xi) {
    for (int64_t i = 0; i < Ci; ++i)
      std::fill(u + (xi * Cp + i) * Kp + Co8, u + (xi * Cp + i + 1) * Kp, 0.0f);
    std::fill(u + (xi * Cp + Ci) * Kp, u + (xi + 1) * Cp * Kp, 0.0f);
  }
  for (int64_t i = 0; i < Ci; ++i) {
    for (int64_t ob = 0; ob < Co; ob += 8) {
      alignas(32) float taps[9][8] = {};
      for (int lane = 0; lane < 8 && ob + lane < Co; ++lane) {
        const int64_t o = ob + lane;
        const float* f = transposed ? w + (i * C + o) * 9 : w + (o * C + i) * 9;
        for (int rs = 0; rs < 9; ++rs) taps[rs][lane] = transposed ? f[8 - rs] : f[rs];
      }
      __m256 gg[6][3];  // G g
      for (int s = 0; s < 3; ++s) {
        const __m256 col[3] = {_mm256_load_ps(taps[s]), _mm256_load_ps(taps[3 + s]),
                               _mm256_load_ps(taps[6 + s])};
        __m256 out[6];
        filter_1d(col, out);
        for (int r = 0; r < 6; ++r) gg[r][s] = out[r];
      }
      for (int r = 0; r < 6; ++r) {
        __m256 out[6];
        filter_1d(gg[r], out);
        for (int j = 0; j < 6; ++j) _mm256_store_ps(u + ((r * 6 + j) * Cp + i) * Kp + ob, out[j]);
      }
    }
  }
}

// ---- Channel-blocked copy of a group's input -------------------------------------------------

inline void transpose_8x8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h) {  // rows 0-3, then 4-7
    const __m256* a = t + 4 * h;
    s[4 * h + 0] = _mm256_shuffle_ps(a[0], a[2], _MM_SHUFFLE(1, 0, 1, 0));
    s[4 * h + 1] = _mm256_shuffle_ps(a[0], a[2], _MM_SHUFFLE(3, 2, 3, 2));
    s[4 * h + 2] = _mm256_shuffle_ps(a[1], a[3], _MM_SHUFFLE(1, 0, 1, 0));
    s[4 * h + 3] = _mm256_shuffle_ps(a[1], a[3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(s[i], s[4 + i], 0x20);
    r[4 + i] = _mm256_permute2f128_ps(s[i], s[4 + i], 0x31);
  }
}

struct Plan {
  int64_t N, Ci, Co, H, W, Cp, Kp, TH, TW, tiles_per_image, Hb, Wb, group, T, Tr;
  int64_t v_stride, m_stride;  // floats between the xi slices of v and of m
  int64_t row_split;           // work items per image (tile-row ranges) when images are few
  int64_t items;               // work items: groups of images, or row ranges of one image
};

// One work item: images [n0, n0 + g), tile rows [ty0, ty1) of each; tile t of the item is
// (image - n0, ty - ty0, tx) in row-major order.
struct Work {
  int64_t n0, g, ty0, ty1;
  int64_t rows() const { return ty1 - ty0; }
};

Work work_item(const Plan& p, int64_t id) {
  const int64_t image_group = id / p.row_split, part = id % p.row_split;
  Work w{};
  w.n0 = image_group * p.group;
  w.g = std::min(p.group, p.N - w.n0);
  w.ty0 = p.TH * part / p.row_split;
  w.ty1 = p.TH * (part + 1) / p.row_split;
  return w;
}

// column_block: what Kp is rounded to, 8 for forward and backward-input (whose GEMMs finish an
// odd 8-column block with a 6x8 tile: pruned layers with 8, 24 or 40 channels waste nothing),
// 16 for backward-weight (its accumulation has 16-column tiles only).
Plan make_plan(int64_t N, int64_t Ci, int64_t Co, int64_t H, int64_t W, int threads,
               int64_t column_block) {
  Plan p{};
  p.N = N, p.Ci = Ci, p.Co = Co, p.H = H, p.W = W;
  p.Cp = round_up(Ci, 8);
  p.Kp = round_up(Co, column_block);
  p.TH = (H + 3) / 4;
  p.TW = (W + 3) / 4;
  p.tiles_per_image = p.TH * p.TW;
  p.Hb = 4 * p.TH + 2;
  p.Wb = 4 * p.TW + 2;
  // v and m hold 36 * T * (Cp + Kp) floats: T near 6144 / (Cp + Kp) keeps them under 0.9 MB
  // (L2 is 1 MB per core here) for narrow layers; wide layers still get at least 24 tiles per
  // GEMM so that u is streamed rarely.
  const int64_t target = std::clamp<int64_t>(6144 / (p.Cp + p.Kp), 24, 144);
  p.group = std::max<int64_t>(1, (target + p.tiles_per_image / 2) / p.tiles_per_image);
  p.group = std::min(p.group, std::max<int64_t>(1, (N + threads - 1) / threads));
  // Fewer images than threads (one image explained at a time): split each image's tile rows.
  p.row_split = N < threads ? std::min<int64_t>(p.TH, (threads + N - 1) / N) : 1;
  if (p.row_split > 1) p.group = 1;
  p.items = (N + p.group - 1) / p.group * p.row_split;
  p.T = p.group * p.tiles_per_image;
  p.Tr = round_up(p.T, kRows);
  p.v_stride = p.Tr * p.Cp + 16;
  p.m_stride = p.Tr * p.Kp + 16;
  return p;
}

// xb [g][ceil(channels/8)][Hb][Wb][8] <- images [n0, n0 + g) of x [N, channels, H, W], with
// zeros in the border, past the map and in the channels past `channels` of the last block.
void pack_group(const Plan& p, const float* x, int64_t channels, int64_t n0, int64_t g, float* xb) {
  const int64_t blocks = (channels + 7) / 8, row = p.Wb * 8, HW = p.H * p.W;
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t gi = 0; gi < g; ++gi) {
    for (int64_t cb = 0; cb < blocks; ++cb) {
      const float* src = x + ((n0 + gi) * channels + cb * 8) * HW;
      const int64_t valid = std::min<int64_t>(8, channels - cb * 8);
      float* plane = xb + (gi * blocks + cb) * p.Hb * row;
      std::fill(plane, plane + row, 0.0f);
      std::fill(plane + (p.H + 1) * row, plane + p.Hb * row, 0.0f);
      for (int64_t y = 0; y < p.H; ++y) {
        float* dst = plane + (y + 1) * row;
        _mm256_store_ps(dst, zero);
        int64_t xx = 0;
        for (; xx + 8 <= p.W; xx += 8) {
          __m256 r[8];
          for (int c = 0; c < 8; ++c)
            r[c] = c < valid ? _mm256_loadu_ps(src + c * HW + y * p.W + xx) : zero;
          transpose_8x8(r);
          for (int i = 0; i < 8; ++i) _mm256_store_ps(dst + (xx + 1 + i) * 8, r[i]);
        }
        for (; xx < p.W; ++xx)
          for (int c = 0; c < 8; ++c)
            dst[(xx + 1) * 8 + c] = c < valid ? src[c * HW + y * p.W + xx] : 0.0f;
        for (int64_t col = p.W + 1; col < p.Wb; ++col) _mm256_store_ps(dst + col * 8, zero);
      }
    }
  }
}

// v[xi][t][Cp] for the work item's tiles (xb holds its g images).
void input_transform(const Plan& p, const Work& w, const float* xb, float* v) {
  const int64_t g = w.g;
  const int64_t blocks = p.Cp / 8, row = p.Wb * 8, xi_stride = p.v_stride;
  for (int64_t gi = 0; gi < g; ++gi) {
    for (int64_t ty = w.ty0; ty < w.ty1; ++ty) {
      for (int64_t tx = 0; tx < p.TW; ++tx) {
        const int64_t t = (gi * w.rows() + ty - w.ty0) * p.TW + tx;
        for (int64_t cb = 0; cb < blocks; ++cb) {
          const float* base = xb + (gi * blocks + cb) * p.Hb * row + (4 * ty) * row + 4 * tx * 8;
          float* dst = v + t * p.Cp + cb * 8;
          winograd::input_tile(base, row, [&](int xi, __m256 value) {
            _mm256_store_ps(dst + xi * xi_stride, value);
          });
        }
      }
    }
  }
  // Rows past the last tile feed the GEMM's last register tile; keep them finite.
  for (int64_t xi = 0; xi < kXi; ++xi)
    std::fill(v + xi * p.v_stride + g * w.rows() * p.TW * p.Cp, v + xi * p.v_stride + p.Tr * p.Cp,
              0.0f);
}

// d[6 rows][16 cols] (+)= sum over depth e of a[r * a_row + e * a_step] * b[e * ldb + col]:
// the forward GEMM (a = v, rows are tiles, depth the input channels, d overwritten) and the
// weight gradient's (a = v transposed, rows are input channels, depth the tiles, d accumulated).
// The twelve accumulators are named variables: with an array, GCC keeps them on the stack.
inline void gemm_6x16(const float* a, int64_t a_row, int64_t a_step, const float* b, int64_t ldb,
                      float* d, int64_t ldd, int64_t depth, bool accumulate) {
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
  __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  if (accumulate) {
    a00 = _mm256_load_ps(d), a01 = _mm256_load_ps(d + 8);
    a10 = _mm256_load_ps(d + ldd), a11 = _mm256_load_ps(d + ldd + 8);
    a20 = _mm256_load_ps(d + 2 * ldd), a21 = _mm256_load_ps(d + 2 * ldd + 8);
    a30 = _mm256_load_ps(d + 3 * ldd), a31 = _mm256_load_ps(d + 3 * ldd + 8);
    a40 = _mm256_load_ps(d + 4 * ldd), a41 = _mm256_load_ps(d + 4 * ldd + 8);
    a50 = _mm256_load_ps(d + 5 * ldd), a51 = _mm256_load_ps(d + 5 * ldd + 8);
  }
  const float *r0 = a, *r1 = a + a_row, *r2 = a + 2 * a_row, *r3 = a + 3 * a_row,
              *r4 = a + 4 * a_row, *r5 = a + 5 * a_row;
  for (int64_t e = 0; e < depth; ++e) {
    const int64_t at = e * a_step;
    const __m256 b0 = _mm256_load_ps(b + e * ldb), b1 = _mm256_load_ps(b + e * ldb + 8);
    __m256 x = _mm256_broadcast_ss(r0 + at);
    a00 = _mm256_fmadd_ps(x, b0, a00);
    a01 = _mm256_fmadd_ps(x, b1, a01);
    x = _mm256_broadcast_ss(r1 + at);
    a10 = _mm256_fmadd_ps(x, b0, a10);
    a11 = _mm256_fmadd_ps(x, b1, a11);
    x = _mm256_broadcast_ss(r2 + at);
    a20 = _mm256_fmadd_ps(x, b0, a20);
    a21 = _mm256_fmadd_ps(x, b1, a21);
    x = _mm256_broadcast_ss(r3 + at);
    a30 = _mm256_fmadd_ps(x, b0, a30);
    a31 = _mm256_fmadd_ps(x, b1, a31);
    x = _mm256_broadcast_ss(r4 + at);
    a40 = _mm256_fmadd_ps(x, b0, a40);
    a41 = _mm256_fmadd_ps(x, b1, a41);
    x = _mm256_broadcast_ss(r5 + at);
    a50 = _mm256_fmadd_ps(x, b0, a50);
    a51 = _mm256_fmadd_ps(x, b1, a51);
  }
  winograd::store_6x8(d, ldd, a00, a10, a20, a30, a40, a50);
  winograd::store_6x8(d + 8, ldd, a01, a11, a21, a31, a41, a51);
}

// d[6 rows][8 cols] = sum over depth e of a[r * a_row + e] * b[e * ldb + col]: the forward
// GEMM's last column block when Kp is an odd multiple of 8.
inline void gemm_6x8(const float* a, int64_t a_row, const float* b, int64_t ldb, float* d,
                     int64_t ldd, int64_t depth) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  for (int64_t e = 0; e < depth; ++e) {
    const __m256 b0 = _mm256_load_ps(b + e * ldb);
    a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + e), b0, a0);
    a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + a_row + e), b0, a1);
    a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 2 * a_row + e), b0, a2);
    a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 3 * a_row + e), b0, a3);
    a4 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 4 * a_row + e), b0, a4);
    a5 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 5 * a_row + e), b0, a5);
  }
  winograd::store_6x8(d, ldd, a0, a1, a2, a3, a4, a5);
}

void multiply(const Plan& p, int64_t tiles, const float* v, const float* u, float* m) {
  const int64_t rows = round_up(tiles, kRows);
  for (int64_t xi = 0; xi < kXi; ++xi) {
    const float* vx = v + xi * p.v_stride;
    const float* ux = u + xi * p.Cp * p.Kp;
    float* mx = m + xi * p.m_stride;
    int64_t kb = 0;
    for (; kb + kCols <= p.Kp; kb += kCols)
      for (int64_t t = 0; t < rows; t += kRows)
        gemm_6x16(vx + t * p.Cp, p.Cp, 1, ux + kb, p.Kp, mx + t * p.Kp + kb, p.Kp, p.Cp, false);
    if (kb < p.Kp)  // an 8-column rest
      for (int64_t t = 0; t < rows; t += kRows)
        gemm_6x8(vx + t * p.Cp, p.Cp, ux + kb, p.Kp, mx + t * p.Kp + kb, p.Kp, p.Cp);
  }
}

// Adds the residual row (if any), applies the activation and stores the first `count` (<= 8)
// of one channel row's 8 pixels r at dst. relu: min(max(v, 0), cap); a NaN passes, as in ref
// (max/min return their second operand for a NaN).
inline void store_pixels(__m256 r, float* dst, const float* residual, int64_t count, bool relu,
                         float cap) {
  if (count == 8) {
    if (residual) r = _mm256_add_ps(r, _mm256_loadu_ps(residual));
    if (relu) r = _mm256_min_ps(_mm256_set1_ps(cap), _mm256_max_ps(_mm256_setzero_ps(), r));
    _mm256_storeu_ps(dst, r);
    return;
  }
  alignas(32) float tmp[8];
  _mm256_store_ps(tmp, r);
  for (int64_t j = 0; j < count; ++j) {
    const float val = tmp[j] + (residual ? residual[j] : 0.0f);
    dst[j] = relu ? std::min(std::max(val, 0.0f), cap) : val;
  }
}

// values[kb .. kb + channels) as a vector (the other lanes `fill`); `fill` everywhere when values
// is nullptr.
inline __m256 per_channel(const float* values, int64_t kb, int64_t channels, float fill) {
  if (!values) return _mm256_set1_ps(fill);
  if (channels == 8) return _mm256_loadu_ps(values + kb);
  alignas(32) float lanes[8];
  for (int64_t k = 0; k < 8; ++k) lanes[k] = k < channels ? values[kb + k] : fill;
  return _mm256_load_ps(lanes);
}

// The first pass of A^T . M . A for one tile's 8 channels: tmp[i][j] = (A^T . M)[i][j], src
// pointing at the tile's xi = 0 entry in m, xi slices xi_stride apart.
[[gnu::always_inline]] inline void tile_columns(const float* src, int64_t xi_stride,
                                                __m256 tmp[4][6]) {
  for (int j = 0; j < 6; ++j) {
    __m256 col[6], rows[4];
    for (int i = 0; i < 6; ++i) col[i] = _mm256_load_ps(src + (i * 6 + j) * xi_stride);
    output_1d(col, rows);
    for (int i = 0; i < 4; ++i) tmp[i][j] = rows[i];
  }
}

// Prefetches rows [row0, row0 + rows) of channels [0, channels) of one image's [C][H][W] map.
// The residual (a block's input, last touched a whole layer earlier) is not in the caches, and
// the 4 x 8 row streams of a tile pair are more than the hardware prefetcher follows.
inline void prefetch_rows(const float* map, int64_t channels, int64_t H, int64_t W, int64_t row0,
                          int64_t rows) {
  const int64_t bytes = rows * W * static_cast<int64_t>(sizeof(float));
  for (int64_t k = 0; k < channels; ++k) {
    const char* first = reinterpret_cast<const char*>(map + (k * H + row0) * W);
    for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(first + b, _MM_HINT_T0);
  }
}

// y[n0 + image] from m, through A^T . A and the epilogue. Two horizontally adjacent tiles are
// transformed together, so each channel's output row is stored 8 pixels (32 bytes) at a time.
void output_transform(const Plan& p, const Work& w, const float* m, const ConvEpilogue& ep,
                      float* y) {
  const int64_t HW = p.H * p.W;
  for (int64_t gi = 0; gi < w.g; ++gi) {
    const int64_t n = w.n0 + gi;
    const float* residual_map = ep.residual ? ep.residual + n * p.Co * HW : nullptr;
    if (residual_map)
      prefetch_rows(residual_map, p.Co, p.H, p.W, 4 * w.ty0, std::min<int64_t>(4, p.H - 4 * w.ty0));
    for (int64_t ty = w.ty0; ty < w.ty1; ++ty) {
      const int64_t rows = std::min<int64_t>(4, p.H - 4 * ty);
      if (residual_map && ty + 1 < w.ty1)  // the next tile row, while this one is transformed
        prefetch_rows(residual_map, p.Co, p.H, p.W, 4 * ty + 4,
                      std::min<int64_t>(4, p.H - 4 * ty - 4));
      for (int64_t tx = 0; tx < p.TW; tx += 2) {
        const int64_t t = (gi * w.rows() + ty - w.ty0) * p.TW + tx;
        const int64_t count = std::min<int64_t>(8, p.W - 4 * tx);
        for (int64_t kb = 0; kb < p.Co; kb += 8) {
          const int64_t channels = std::min<int64_t>(8, p.Co - kb);
          const __m256 scale = per_channel(ep.scale, kb, channels, 1.0f);
          const __m256 shift = per_channel(ep.shift, kb, channels, 0.0f);
          const bool pair = tx + 1 < p.TW;
          __m256 left[4][6], right[4][6];
          tile_columns(m + t * p.Kp + kb, p.m_stride, left);
          if (pair) tile_columns(m + (t + 1) * p.Kp + kb, p.m_stride, right);
          for (int64_t i = 0; i < rows; ++i) {
            __m256 r[8];  // pixels 4 tx .. 4 tx + 7 of output row i, then channel rows
            output_1d(left[i], r);
            if (pair) {
              output_1d(right[i], r + 4);
            } else {
              for (int j = 4; j < 8; ++j) r[j] = _mm256_setzero_ps();
            }
            for (int j = 0; j < 8; ++j) r[j] = _mm256_fmadd_ps(r[j], scale, shift);
            transpose_8x8(r);  // r[k]: channel kb + k's 8 pixels
            const int64_t at = (n * p.Co + kb) * HW + (4 * ty + i) * p.W + 4 * tx;
            for (int64_t k = 0; k < channels; ++k) {
              const float* residual = ep.residual ? ep.residual + at + k * HW : nullptr;
              store_pixels(r[k], y + at + k * HW, residual, count, ep.relu, ep.relu_cap);
            }
          }
        }
      }
    }
  }
}

// y = conv3x3(x) with the filters of w [K, C, 3, 3] (transposed and rotated for
// backward-input); x [N, Ci, H, W], y [N, Co, H, W].
void run(int64_t N, int64_t Ci, int64_t Co, int64_t H, int64_t W, const float* x, const float* w,
         bool transposed, const ConvEpilogue& ep, float* y) {
  const int max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const Plan p = make_plan(N, Ci, Co, H, W, max_threads, 8);
  float* u = filter_buffer().get(kXi * p.Cp * p.Kp);
  transform_weights(w, transposed ? Ci : Co, transposed ? Co : Ci, transposed, p.Cp, p.Kp, u);
  // Forward under ForwardPrecision::Bf16: the GEMMs multiply bf16 copies of u and v.
  uint16_t* ub = nullptr;
  if (!transposed && forward_precision() == ForwardPrecision::Bf16) {
    thread_local AlignedBuffer ub_buffer;
    ub = reinterpret_cast<uint16_t*>(
        ub_buffer.get((winograd_bf16::filter_elements(p.Cp, p.Kp) + 1) / 2));
    winograd_bf16::pack_filters(u, p.Cp, p.Kp, ub);
  }

  const int threads = static_cast<int>(std::min<int64_t>(max_threads, p.items));
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t id = 0; id < p.items; ++id) {
    thread_local AlignedBuffer xb_buffer, v_buffer, m_buffer;
    const Work w = work_item(p, id);
    float* xb = xb_buffer.get(p.group * p.Cp * p.Hb * p.Wb);
    float* m = m_buffer.get(kXi * p.m_stride);
    pack_group(p, x, p.Ci, w.n0, w.g, xb);
    const int64_t tiles = w.g * w.rows() * p.TW;
    if (ub) {  // v in bf16, half of v_stride's floats per xi
      const winograd_bf16::TileGrid grid{xb,       w.g,   p.Cp / 8, p.Hb * p.Wb * 8,
                                         p.Wb * 8, w.ty0, w.ty1,    p.TW};
      auto* vb = reinterpret_cast<uint16_t*>(v_buffer.get(kXi * p.v_stride / 2));
      winograd_bf16::input_transform(grid, round_up(tiles, kRows), vb, p.v_stride);
      winograd_bf16::multiply(vb, p.v_stride, ub, p.Cp, p.Kp, round_up(tiles, kRows), m,
                              p.m_stride);
    } else {
      float* v = v_buffer.get(kXi * p.v_stride);
      input_transform(p, w, xb, v);
      multiply(p, tiles, v, u, m);
    }
    output_transform(p, w, m, ep, y);
  }
}

// ---- Backward-weight --------------------------------------------------------------------------
// With U = G g G^T and V_t = B^T d_t B, the forward is Y_t = A^T (U (.) V_t) A, so
//   dL/dU[xi][c][k] = sum over tiles t of V_t[xi][c] * Z_t[xi][k],  Z_t = A dY_t A^T,
//   dL/dg[k, c]     = G^T dL/dU[., c, k] G.
// The tile sums are GEMMs [Ci, T] x [T, Kp] per xi, accumulated per thread over its groups.

// out = A in: 4 output-gradient values to 6 Winograd-domain values.
inline void output_grad_1d(const __m256 in[4], __m256 out[6]) {
  const __m256 s02 = _mm256_add_ps(in[0], in[2]), s13 = _mm256_add_ps(in[1], in[3]);
  out[0] = in[0];
  out[1] = _mm256_add_ps(s02, s13);
  out[2] = _mm256_sub_ps(s02, s13);
  const __m256 e = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), in[2], in[0]);  // y0 + 4 y2
  const __m256 o =
      _mm256_fmadd_ps(_mm256_set1_ps(8.0f), in[3], _mm256_add_ps(in[1], in[1]));  // 2 y1 + 8 y3
  out[3] = _mm256_add_ps(e, o);
  out[4] = _mm256_sub_ps(e, o);
  out[5] = in[3];
}

// out = G^T in: 6 Winograd-domain gradient values to 3 filter taps.
inline void filter_grad_1d(const __m256 in[6], __m256 out[3]) {
  const __m256 sixth = _mm256_set1_ps(1.0f / 6), twelfth = _mm256_set1_ps(1.0f / 12);
  const __m256 s12 = _mm256_add_ps(in[1], in[2]), d12 = _mm256_sub_ps(in[2], in[1]);
  const __m256 s34 = _mm256_add_ps(in[3], in[4]), d34 = _mm256_sub_ps(in[3], in[4]);
  out[0] =
      _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 24), s34,
                      _mm256_fnmadd_ps(sixth, s12, _mm256_mul_ps(_mm256_set1_ps(0.25f), in[0])));
  out[1] = _mm256_fmadd_ps(twelfth, d34, _mm256_mul_ps(sixth, d12));
  out[2] = _mm256_add_ps(_mm256_mul_ps(sixth, _mm256_sub_ps(s34, s12)), in[5]);
}

// z[xi][t][Kp] (columns >= Co zero) from the channel-blocked output gradient yb, which pack_group
// laid out with a one-pixel border: tile (ty, tx) covers rows 4ty+1..4ty+4, columns 4tx+1..4tx+4.
void output_grad_transform(const Plan& p, const Work& w, const float* yb, float* z) {
  const int64_t g = w.g;
  const int64_t blocks = (p.Co + 7) / 8, row = p.Wb * 8, xi_stride = p.m_stride;
  for (int64_t gi = 0; gi < g; ++gi) {
    for (int64_t ty = w.ty0; ty < w.ty1; ++ty) {
      for (int64_t tx = 0; tx < p.TW; ++tx) {
        const int64_t t = (gi * w.rows() + ty - w.ty0) * p.TW + tx;
        float* dst = z + t * p.Kp;
        for (int64_t cb = 0; cb < blocks; ++cb) {
          const float* base =
              yb + (gi * blocks + cb) * p.Hb * row + (4 * ty + 1) * row + (4 * tx + 1) * 8;
          __m256 tmp[6][4];
          for (int j = 0; j < 4; ++j) {
            __m256 col[4], out[6];
            for (int i = 0; i < 4; ++i) col[i] = _mm256_load_ps(base + i * row + j * 8);
            output_grad_1d(col, out);
            for (int i = 0; i < 6; ++i) tmp[i][j] = out[i];
          }
          for (int i = 0; i < 6; ++i) {
            __m256 out[6];
            output_grad_1d(tmp[i], out);
            for (int j = 0; j < 6; ++j)
              _mm256_store_ps(dst + (i * 6 + j) * xi_stride + cb * 8, out[j]);
          }
        }
        for (int64_t xi = 0; p.Kp > 8 * blocks && xi < kXi; ++xi)
          std::fill(dst + xi * xi_stride + 8 * blocks, dst + xi * xi_stride + p.Kp, 0.0f);
      }
    }
  }
}

// The 2-row remainder of the weight gradient's gemm_6x16 (Cp is a multiple of 8, so Cp % 6 is
// 0, 2 or 4): d[2 rows][16 cols] += sum over t of a[t * lda + row] * b[t * ldb + col].
inline void gemm_tn_2x16(const float* a, int64_t lda, const float* b, int64_t ldb, float* d,
                         int64_t ldd, int64_t depth) {
  __m256 a00 = _mm256_load_ps(d), a01 = _mm256_load_ps(d + 8);
  __m256 a10 = _mm256_load_ps(d + ldd), a11 = _mm256_load_ps(d + ldd + 8);
  for (int64_t t = 0; t < depth; ++t) {
    const __m256 b0 = _mm256_load_ps(b + t * ldb), b1 = _mm256_load_ps(b + t * ldb + 8);
    const __m256 x0 = _mm256_broadcast_ss(a + t * lda), x1 = _mm256_broadcast_ss(a + t * lda + 1);
    a00 = _mm256_fmadd_ps(x0, b0, a00);
    a01 = _mm256_fmadd_ps(x0, b1, a01);
    a10 = _mm256_fmadd_ps(x1, b0, a10);
    a11 = _mm256_fmadd_ps(x1, b1, a11);
  }
  _mm256_store_ps(d, a00);
  _mm256_store_ps(d + 8, a01);
  _mm256_store_ps(d + ldd, a10);
  _mm256_store_ps(d + ldd + 8, a11);
}

// du[xi][Cp][Kp] += v[xi]^T z[xi] over `tiles` tiles, for xi in [xi0, xi1).
void accumulate_filter_grad(const Plan& p, int64_t tiles, const float* v, const float* z,
                            int64_t xi0, int64_t xi1, float* du) {
  for (int64_t xi = xi0; xi < xi1; ++xi) {
    const float* vx = v + xi * p.v_stride;
    const float* zx = z + xi * p.m_stride;
    float* dx = du + xi * p.Cp * p.Kp;
    for (int64_t kb = 0; kb < p.Kp; kb += kCols) {
      int64_t c = 0;
      for (; c + kRows <= p.Cp; c += kRows)
        gemm_6x16(vx + c, 1, p.Cp, zx + kb, p.Kp, dx + c * p.Kp + kb, p.Kp, tiles, true);
      for (; c < p.Cp; c += 2)
        gemm_tn_2x16(vx + c, p.Cp, zx + kb, p.Kp, dx + c * p.Kp + kb, p.Kp, tiles);
    }
  }
}

// dw [K, C, 3, 3] = G^T du[., c, k] G, vectorised over 8 output channels k.
void filter_grad_to_weights(const Plan& p, const float* du, float* dw) {
  const int64_t C = p.Ci, K = p.Co, Cp = p.Cp;
#pragma omp parallel for schedule(static) num_threads(omp_in_parallel() ? 1 : omp_get_max_threads())
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t kb = 0; kb < K; kb += 8) {
      __m256 tmp[3][6];
      for (int j = 0; j < 6; ++j) {
        __m256 col[6], out[3];
        for (int i = 0; i < 6; ++i)
          col[i] = _mm256_load_ps(du + ((i * 6 + j) * Cp + c) * p.Kp + kb);
        filter_grad_1d(col, out);
        for (int r = 0; r < 3; ++r) tmp[r][j] = out[r];
      }
      alignas(32) float taps[9][8];
      for (int r = 0; r < 3; ++r) {
        __m256 out[3];
        filter_grad_1d(tmp[r], out);
        for (int s = 0; s < 3; ++s) _mm256_store_ps(taps[r * 3 + s], out[s]);
      }
      for (int64_t lane = 0; lane < 8 && kb + lane < K; ++lane)
        for (int rs = 0; rs < 9; ++rs) dw[((kb + lane) * C + c) * 9 + rs] = taps[rs][lane];
    }
  }
}

}  // namespace

bool conv2d_winograd_applicable(const Conv2dShape& s) {
  return s.groups == 1 && s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 &&
         !s.dilated() && s.pad_h == 1 && s.pad_w == 1 && s.C >= kMinChannels &&
         s.K >= kMinChannels && s.H > 0 && s.W > 0;
}

void conv2d_winograd_forward(const Conv2dShape& s, const float* x, const float* w,
                             const ConvEpilogue& epilogue, float* y) {
  run(s.N, s.C, s.K, s.H, s.W, x, w, false, epilogue, y);
}

void conv2d_winograd_backward_input(const Conv2dShape& s, const float* dy, const float* w,
                                    float* dx) {
  run(s.N, s.K, s.C, s.H, s.W, dy, w, true, ConvEpilogue{}, dx);
}

bool conv2d_winograd_worthwhile(const Conv2dShape& s) {
  return s.N * ((s.H + 3) / 4) * ((s.W + 3) / 4) >= 32;
}

bool conv2d_winograd_backward_weight_applicable(const Conv2dShape& s) {
  return conv2d_winograd_applicable(s) && s.C * round_up(s.K, kCols) <= kMaxFilterGradFloats;
}

void conv2d_winograd_backward_weight(const Conv2dShape& s, const float* x, const float* dy,
                                     float* dw, float* db) {
  const int max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const Plan p = make_plan(s.N, s.C, s.K, s.H, s.W, max_threads, kCols);
  const int64_t du_size = kXi * p.Cp * p.Kp;
  // Wide layers split the 36 points among the threads: one du, no partials (see kSplitPoints).
  const bool split_points = du_size > kSplitPointsFloats && max_threads > 1;
  const int threads = static_cast<int>(split_points ? std::min<int64_t>(max_threads, kXi)
                                                    : std::min<int64_t>(max_threads, p.items));
  const int64_t partials = split_points ? 1 : std::max(1, threads);
  float* du_all = filter_buffer().get(partials * du_size);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    thread_local AlignedBuffer xb_buffer, yb_buffer, v_buffer, z_buffer;
    float* xb = xb_buffer.get(p.group * p.Cp * p.Hb * p.Wb);
    float* yb = yb_buffer.get(p.group * round_up(p.Co, 8) * p.Hb * p.Wb);
    float* v = v_buffer.get(kXi * p.v_stride);
    float* z = z_buffer.get(kXi * p.m_stride);
    // Split points: thread t owns points [36t/nt, 36(t+1)/nt) of the one du and runs every work
    // item; else it owns the work items [items*t/nt, items*(t+1)/nt) and a partial du of its own.
    const int64_t xi0 = split_points ? kXi * t / nt : 0,
                  xi1 = split_points ? kXi * (t + 1) / nt : kXi;
    const int64_t id0 = split_points ? 0 : p.items * t / nt;
    const int64_t id1 = split_points ? p.items : p.items * (t + 1) / nt;
    float* du = du_all + (split_points ? 0 : t * du_size);
    std::fill(du + xi0 * p.Cp * p.Kp, du + xi1 * p.Cp * p.Kp, 0.0f);
    for (int64_t id = id0; id < id1; ++id) {
      const Work w = work_item(p, id);
      pack_group(p, x, p.Ci, w.n0, w.g, xb);
      input_transform(p, w, xb, v);
      pack_group(p, dy, p.Co, w.n0, w.g, yb);
      output_grad_transform(p, w, yb, z);
      accumulate_filter_grad(p, w.g * w.rows() * p.TW, v, z, xi0, xi1, du);
    }
    if (!split_points) {  // fixed-order reduction of the partials: du_0 + du_1 + ...
#pragma omp barrier
#pragma omp for schedule(static)
      for (int64_t i = 0; i < du_size; ++i) {
        float sum = du_all[i];
        for (int u = 1; u < nt; ++u) sum += du_all[u * du_size + i];
        du_all[i] = sum;
      }
    }
  }
  filter_grad_to_weights(p, du_all, dw);
  if (db) {
    const int64_t HW = s.H * s.W;
#pragma omp parallel for schedule(static) num_threads(max_threads)
    for (int64_t k = 0; k < s.K; ++k) {
      double sum = 0.0;
      for (int64_t n = 0; n < s.N; ++n) {
        const float* plane = dy + (n * s.K + k) * HW;
        float part = 0.0f;  // one plane in float (vectorised), planes accumulated in double
#pragma omp simd reduction(+ : part)
        for (int64_t i = 0; i < HW; ++i) part += plane[i];
        sum += part;
      }
      db[k] = static_cast<float>(sum);
    }
  }
}

}  // namespace gb::kernels::cpu
