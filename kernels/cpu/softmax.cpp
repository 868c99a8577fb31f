// Fast row-wise softmax, log-softmax and cross-entropy (contracts in softmax.h). Shape letters:
// N rows, D classes (contiguous); targets [N]. Rows are split across threads (threads_for), each
// row computed by one thread.
// Forward, per row: the maximum (exact in float), e = exp(x - max) in float with an AVX2 exp
// (8 lanes, row tails through masked loads and stores), the sum of e in double (two 4-lane
// accumulators, a fixed order), then lse = max + log(sum) in double; softmax = e * (1 / sum),
// log-softmax = x - lse, both rounded once from double. The backward passes use double dot
// products and, except log-softmax's (float, with the same exp), ref's double formulas.
#include "kernels/softmax.h"

#include <immintrin.h>

#include <cassert>
#include <cmath>
#include <vector>

#include "kernels/cpu/exp_avx2.h"
#include "kernels/cpu/parallel.h"

namespace gb::kernels::cpu {
namespace {

// The first n lanes (0 < n < 8).
inline __m256i tail_mask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// x - m as a float and its rounding error: diff + err == x - m exactly (Knuth's TwoSum). The
// rounding of x - m alone would cost exp up to |x - m| * 2^-24 relative error (64 ulp for
// logits of +-80); with err passed to exp_ps the result stays within about 2 ulp.
inline __m256 sub_exact(__m256 x, __m256 m, __m256& err) {
  const __m256 diff = _mm256_sub_ps(x, m);
  const __m256 bv = _mm256_sub_ps(diff, x);   // -m as it entered diff
  const __m256 av = _mm256_sub_ps(diff, bv);  // x as it entered diff
  err =
      _mm256_add_ps(_mm256_sub_ps(x, av), _mm256_sub_ps(_mm256_sub_ps(_mm256_setzero_ps(), m), bv));
  return diff;
}

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline double hsum(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
  return _mm_cvtsd_f64(s);
}

// Adds the 8 floats of v to the double accumulators (low and high halves).
inline void add_wide(__m256 v, __m256d& lo, __m256d& hi) {
  lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

float row_max(int64_t D, const float* x) {
  const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
  __m256 m = neg_inf;
  int64_t d = 0;
  for (; d + 8 <= D; d += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + d));
  if (d < D) {
    const __m256i mask = tail_mask(D - d);
    m = _mm256_max_ps(
        m, _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(x + d, mask), _mm256_castsi256_ps(mask)));
  }
  return hmax(m);
}

// Returns sum_d exp(x[d] - mx) in double; writes the terms to e when e is not nullptr.
double exp_row(int64_t D, const float* x, float mx, float* e) {
  const __m256 m = _mm256_set1_ps(mx);
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  int64_t d = 0;
  __m256 err;
  for (; d + 8 <= D; d += 8) {
    const __m256 diff = sub_exact(_mm256_loadu_ps(x + d), m, err);
    const __m256 v = exp_ps(diff, err);
    if (e) _mm256_storeu_ps(e + d, v);
    add_wide(v, lo, hi);
  }
  if (d < D) {
    const __m256i mask = tail_mask(D - d);
    const __m256 diff = sub_exact(_mm256_maskload_ps(x + d, mask), m, err);
    const __m256 v = _mm256_and_ps(exp_ps(diff, err), _mm256_castsi256_ps(mask));
    if (e) _mm256_maskstore_ps(e + d, mask, v);
    add_wide(v, lo, hi);
  }
  return hsum(_mm256_add_pd(lo, hi));
}

// y[d] = e[d] * (1 / sum), rounded once from double (in place when y == e).
void scale_row(int64_t D, const float* e, double sum, float* y) {
  const double inv = 1.0 / sum;
#pragma omp simd
  for (int64_t d = 0; d < D; ++d) y[d] = static_cast<float>(static_cast<double>(e[d]) * inv);
}

// The log-sum-exp of a row, in double: max + log(sum exp(x - max)).
double row_lse(int64_t D, const float* x, float* e) {
  const float mx = row_max(D, x);
  return static_cast<double>(mx) + std::log(exp_row(D, x, mx, e));
}

void softmax_row(int64_t D, const float* x, float* y) {
  const float mx = row_max(D, x);
  scale_row(D, y, exp_row(D, x, mx, y), y);
}

void log_softmax_row(int64_t D, const float* x, float* y) {
  const double lse = row_lse(D, x, nullptr);
#pragma omp simd
  for (int64_t d = 0; d < D; ++d) y[d] = static_cast<float>(static_cast<double>(x[d]) - lse);
}

void softmax_backward_row(int64_t D, const float* y, const float* dy, float* dx) {
  double dot = 0.0;
#pragma omp simd reduction(+ : dot)
  for (int64_t d = 0; d < D; ++d) dot += static_cast<double>(dy[d]) * y[d];
#pragma omp simd
  for (int64_t d = 0; d < D; ++d) {
    dx[d] = static_cast<float>(static_cast<double>(y[d]) * (static_cast<double>(dy[d]) - dot));
  }
}

// dx = dy - exp(y) * sum(dy), in float (the sum in double).
void log_softmax_backward_row(int64_t D, const float* y, const float* dy, float* dx) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int64_t d = 0; d < D; ++d) sum += dy[d];
  const __m256 s = _mm256_set1_ps(static_cast<float>(sum));
  int64_t d = 0;
  for (; d + 8 <= D; d += 8) {
    const __m256 e = exp_ps(_mm256_loadu_ps(y + d));
    _mm256_storeu_ps(dx + d, _mm256_fnmadd_ps(e, s, _mm256_loadu_ps(dy + d)));
  }
  if (d < D) {
    const __m256i mask = tail_mask(D - d);
    const __m256 e = exp_ps(_mm256_maskload_ps(y + d, mask));
    _mm256_maskstore_ps(dx + d, mask, _mm256_fnmadd_ps(e, s, _mm256_maskload_ps(dy + d, mask)));
  }
}

// One row of cross-entropy: writes the probabilities, returns
// (1 - eps) * (lse - x[target]) + eps * (lse - mean(x)), which is ref's
// (1 - eps) * -logp[target] + eps * mean(-logp).
double cross_entropy_row(int64_t D, const float* x, int64_t target, double eps, float* probs) {
  const float mx = row_max(D, x);
  const double sum = exp_row(D, x, mx, probs);
  const double lse = static_cast<double>(mx) + std::log(sum);
  scale_row(D, probs, sum, probs);
  double loss = (1.0 - eps) * (lse - static_cast<double>(x[target]));
  if (eps != 0.0) {
    double sum_x = 0.0;
#pragma omp simd reduction(+ : sum_x)
    for (int64_t d = 0; d < D; ++d) sum_x += x[d];
    loss += eps * (lse - sum_x / static_cast<double>(D));
  }
  return loss;
}

}  // namespace

void softmax_forward(int64_t N, int64_t D, const float* x, float* y) {
#pragma omp parallel for schedule(static) num_threads(threads_for(N* D))
  for (int64_t n = 0; n < N; ++n) softmax_row(D, x + n * D, y + n * D);
}

void softmax_backward(int64_t N, int64_t D, const float* y, const float* dy, float* dx) {
#pragma omp parallel for schedule(static) num_threads(threads_for(N* D))
  for (int64_t n = 0; n < N; ++n) softmax_backward_row(D, y + n * D, dy + n * D, dx + n * D);
}

void log_softmax_forward(int64_t N, int64_t D, const float* x, float* y) {
#pragma omp parallel for schedule(static) num_threads(threads_for(N* D))
  for (int64_t n = 0; n < N; ++n) log_softmax_row(D, x + n * D, y + n * D);
}

void log_softmax_backward(int64_t N, int64_t D, const float* y, const float* dy, float* dx) {
#pragma omp parallel for schedule(static) num_threads(threads_for(N* D))
  for (int64_t n = 0; n < N; ++n) log_softmax_backward_row(D, y + n * D, dy + n * D, dx + n * D);
}

void cross_entropy_forward(int64_t N, int64_t D, const float* logits, const int64_t* targets,
                           float label_smoothing, float* probs, float* loss) {
  const double eps = label_smoothing;
  std::vector<double> losses(static_cast<size_t>(N));
#pragma omp parallel for schedule(static) num_threads(threads_for(N* D))
  for (int64_t n = 0; n < N; ++n) {
    assert(targets[n] >= 0 && targets[n] < D);
    losses[static_cast<size_t>(n)] =
        cross_entropy_row(D, logits + n * D, targets[n], eps, probs + n * D);
  }
  double total = 0.0;  // row order, whatever the thread count
  for (const double l : losses) total += l;
  *loss = static_cast<float>(total / static_cast<double>(N));
}

void cross_entropy_backward(int64_t N, int64_t D, const float* probs, const int64_t* targets,
                            float label_smoothing, const float* dloss, float* dlogits) {
  const double eps = label_smoothing;
  const double scale = static_cast<double>(*dloss) / static_cast<double>(N);
  const double off = eps / static_cast<double>(D);  // every class's target share
  const double on = (1.0 - eps) + off;              // the target class's (ref's expression)
#pragma omp parallel for schedule(static) num_threads(threads_for(N* D))
  for (int64_t n = 0; n < N; ++n) {
    const float* p = probs + n * D;
    float* g = dlogits + n * D;
#pragma omp simd
    for (int64_t d = 0; d < D; ++d) {
      g[d] = static_cast<float>((static_cast<double>(p[d]) - off) * scale);
    }
    const int64_t t = targets[n];
    g[t] = static_cast<float>((static_cast<double>(p[t]) - on) * scale);
  }
}

const SoftmaxKernels softmax_kernels{GB_KERNEL(cpu::softmax_forward),
                                     GB_KERNEL(cpu::softmax_backward)};
const SoftmaxKernels log_softmax_kernels{GB_KERNEL(cpu::log_softmax_forward),
                                         GB_KERNEL(cpu::log_softmax_backward)};
const CrossEntropyKernels cross_entropy_kernels{GB_KERNEL(cpu::cross_entropy_forward),
                                                GB_KERNEL(cpu::cross_entropy_backward)};

}  // namespace gb::kernels::cpu
