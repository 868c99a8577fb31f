// Fast exact (erf) GELU (contract in kernels/activation.h), AVX2 + FMA, 8 lanes at a time.
// No shape letters (elementwise over n values).
// With z = |x| / sqrt(2) and e = 0.5 * erfc(z): Phi(x) = e for x < 0 and 1 - e otherwise, so the
// small tail probability is never the difference of two numbers near 1. erfc(z) = t * exp(-z^2 +
// c(t)), t = 1 / (1 + z/2), c a degree-9 polynomial (Numerical Recipes' erfcc, Chebyshev-fitted:
// relative error below 1.2e-7 for every z >= 0); -z^2 + c enters exp_ps exactly (z^2 = x*x / 2,
// the rounding errors of x*x (FMA) and of the sum (TwoSum) as its correction), so Phi and the
// forward output stay within a few ulp (relative) of the exact values into the far tail, where
// ref's double 1 + erf cancels. The backward's Phi + x * phi cancels near its zero (x = -0.75):
// there its error is a few ulp of |Phi| + |x * phi|. Tests: the conformance harness's gelu cases
// and test_kernels_import's sweep against erfc in double.
//   forward   y = x * Phi(x)
//   backward  dx = dy * (Phi(x) + x * phi(x)), phi(x) = exp(-x^2 / 2) / sqrt(2 pi) = exp(-z^2) /
//             sqrt(2 pi)
// NaN in, NaN out. Every element takes the same path whatever the thread count (the last n % 8
// values go through a zero-padded vector), so results are bit-identical for any thread count.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/activation.h"
#include "kernels/cpu/exp_avx2.h"
#include "kernels/cpu/parallel.h"

namespace gb::kernels::cpu {
namespace {

struct PhiParts {
  __m256 cdf;  // Phi(x)
  __m256 ez2;  // exp(-z^2), z = |x| / sqrt(2)
};

inline PhiParts phi_parts(__m256 x, bool want_ez2) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 z = _mm256_mul_ps(_mm256_andnot_ps(sign, x), _mm256_set1_ps(0.70710678118654752f));
  const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                                 _mm256_fmadd_ps(z, _mm256_set1_ps(0.5f), _mm256_set1_ps(1.0f)));
  __m256 p = _mm256_set1_ps(0.17087277f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
  // z^2 = x^2 / 2 from x itself (z's own rounding would cost 2 * z^2 ulp of exp's argument):
  // x*x = sq + sq_err exactly (FMA), and halving is exact.
  const __m256 sq = _mm256_mul_ps(x, x);
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 z2 = _mm256_mul_ps(sq, half);
  const __m256 z2_err = _mm256_mul_ps(_mm256_fmsub_ps(x, x, sq), half);
  // (z infinite: the error term is NaN; drop it so that exp(-inf) is 0.)
  const __m256 finite = _mm256_cmp_ps(z2, _mm256_set1_ps(3.0e38f), _CMP_LT_OQ);
  const __m256 neg_z2 = _mm256_xor_ps(z2, sign);
  const __m256 neg_err = _mm256_and_ps(_mm256_xor_ps(z2_err, sign), finite);
  // 0.5 * erfc(z) = 0.5 * t * exp(-z^2 + p), the sum's rounding error (TwoSum) passed to exp too
  const __m256 arg = _mm256_add_ps(neg_z2, p);
  const __m256 bv = _mm256_sub_ps(arg, neg_z2), av = _mm256_sub_ps(arg, bv);
  const __m256 sum_err = _mm256_add_ps(_mm256_sub_ps(neg_z2, av), _mm256_sub_ps(p, bv));
  const __m256 lo = _mm256_and_ps(_mm256_add_ps(neg_err, sum_err), finite);
  const __m256 e = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), t), exp_ps(arg, lo));
  const __m256 negative = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  PhiParts r;
  r.cdf = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), e), e, negative);
  // NaN x: the compare is false and 1 - e is NaN (e is NaN), so NaN passes through.
  r.ez2 = want_ez2 ? exp_ps(neg_z2, neg_err) : _mm256_setzero_ps();
  return r;
}

inline __m256 gelu8(__m256 x) { return _mm256_mul_ps(x, phi_parts(x, false).cdf); }

inline __m256 gelu_grad8(__m256 x, __m256 dy) {
  const PhiParts p = phi_parts(x, true);
  const __m256 pdf = _mm256_mul_ps(p.ez2, _mm256_set1_ps(0.39894228040143268f));  // 1/sqrt(2pi)
  return _mm256_mul_ps(dy, _mm256_fmadd_ps(x, pdf, p.cdf));
}

// Runs f on every 8-value block of [0, n) across threads (blocks of 8 values), the last partial
// block through a zero-padded copy.
template <class F>
void blocks8(int64_t n, const F& f) {
  const int64_t full = n / 8;
#pragma omp parallel for schedule(static) num_threads(threads_for(n))
  for (int64_t b = 0; b < full; ++b) f(b * 8, 8);
  if (n % 8) f(full * 8, n % 8);
}

inline __m256 load(const float* p, int64_t count) {
  if (count == 8) return _mm256_loadu_ps(p);
  alignas(32) float tmp[8] = {};
  std::memcpy(tmp, p, static_cast<size_t>(count) * sizeof(float));
  return _mm256_load_ps(tmp);
}

inline void store(float* p, __m256 v, int64_t count) {
  if (count == 8) return _mm256_storeu_ps(p, v);
  alignas(32) float tmp[8];
  _mm256_store_ps(tmp, v);
  std::memcpy(p, tmp, static_cast<size_t>(count) * sizeof(float));
}

}  // namespace

void gelu_forward(int64_t n, const float* x, float* y) {
  blocks8(n, [=](int64_t i, int64_t c) { store(y + i, gelu8(load(x + i, c)), c); });
}

void gelu_backward(int64_t n, const float* x, const float* dy, float* dx) {
  blocks8(n, [=](int64_t i, int64_t c) {
    store(dx + i, gelu_grad8(load(x + i, c), load(dy + i, c)), c);
  });
}

const GeluKernels gelu_kernels{GB_KERNEL(cpu::gelu_forward), GB_KERNEL(cpu::gelu_backward)};

}  // namespace gb::kernels::cpu
