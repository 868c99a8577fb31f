// exp_ps: an AVX2 + FMA single-precision exp of 8 lanes, shared by the fast softmax family
// (cpu/softmax.cpp) and the fast sigmoid (cpu/elementwise.cpp). No shape letters.
#pragma once
#include <immintrin.h>

namespace gb::kernels::cpu {

// exp(x + lo) for x <= 0 (larger x is clamped to 88) and a tiny correction lo (|lo| <= ulp(x)),
// AVX2 + FMA: Cephes' expf (x = n ln2 + r with ln2 in two parts, lo added to r, a degree-5
// polynomial in r, times 2^n), within about 2 ulp; exactly 0 below -87 (where expf itself is below
// 1.7e-38); NaN in, NaN out.
inline __m256 exp_ps(__m256 x, __m256 lo = _mm256_setzero_ps()) {
  // min/max return their second operand when either is NaN, so a NaN x passes through.
  __m256 xc = _mm256_min_ps(_mm256_set1_ps(88.0f), x);
  xc = _mm256_max_ps(_mm256_set1_ps(-87.0f), xc);
  const __m256 fx = _mm256_floor_ps(
      _mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), xc);
  r = _mm256_add_ps(_mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r), lo);
  const __m256 z = _mm256_mul_ps(r, r);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_add_ps(_mm256_fmadd_ps(y, z, r), _mm256_set1_ps(1.0f));
  const __m256i n =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(n));
  // Keep lanes with x >= -87 or x NaN (unordered compares true).
  return _mm256_and_ps(y, _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_NLT_UQ));
}

}  // namespace gb::kernels::cpu
