// The Winograd F(4x4, 3x3) input transform V = B^T d B on 8-channel AVX2 vectors and the GEMMs'
// tile stores, shared by the fp32 path (conv_winograd.cpp) and the bf16 one
// (conv_winograd_bf16.cpp, which inlines it into functions compiled for AVX512-BF16). Shape letters
// as in conv_winograd.h: d a 6x6 input patch of 8 channels, xi = 6 i + j a point of the Winograd
// domain.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace gb::kernels::cpu::winograd {

// out = B^T in (one column or row of a 6x6 patch).
[[gnu::always_inline]] inline void input_1d(const __m256 in[6], __m256 out[6]) {
  const __m256 four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f);
  const __m256 two = _mm256_set1_ps(2.0f);
  out[0] = _mm256_fmadd_ps(four, in[0], _mm256_fnmadd_ps(five, in[2], in[4]));
  const __m256 a = _mm256_fnmadd_ps(four, in[2], in[4]);  // in4 - 4 in2
  const __m256 b = _mm256_fnmadd_ps(four, in[1], in[3]);  // in3 - 4 in1
  out[1] = _mm256_add_ps(a, b);
  out[2] = _mm256_sub_ps(a, b);
  const __m256 c = _mm256_sub_ps(in[4], in[2]);
  const __m256 e = _mm256_mul_ps(two, _mm256_sub_ps(in[3], in[1]));
  out[3] = _mm256_add_ps(c, e);
  out[4] = _mm256_sub_ps(c, e);
  out[5] = _mm256_fmadd_ps(four, in[1], _mm256_fnmadd_ps(five, in[3], in[5]));
}

// store(xi, v) for each xi = 6 i + j with v = (B^T d B)[i][j], for the patch d whose row r,
// column c is the 8-channel vector at base + r * row + 8 c (32-byte aligned). The second pass
// hands each row's results to `store` straight from registers (an inlined lambda: no array of
// 36 vectors goes through the stack).
template <class Store>
[[gnu::always_inline]] inline void input_tile(const float* base, int64_t row, Store&& store) {
  __m256 tmp[6][6];
  for (int j = 0; j < 6; ++j) {
    __m256 col[6], rows[6];
    for (int i = 0; i < 6; ++i) col[i] = _mm256_load_ps(base + i * row + j * 8);
    input_1d(col, rows);
    for (int i = 0; i < 6; ++i) tmp[i][j] = rows[i];
  }
  for (int i = 0; i < 6; ++i) {
    __m256 out[6];
    input_1d(tmp[i], out);
    for (int j = 0; j < 6; ++j) store(6 * i + j, out[j]);
  }
}

// Stores a 6-row register tile of the GEMMs (fp32 and bf16 alike: float32 sums), row r at
// d + r * ldd: 8 columns (a_r) or 16 (a_r0, a_r1). d is 32-byte aligned, as is ldd * 4 bytes.
[[gnu::always_inline]] inline void store_6x8(float* d, int64_t ldd, __m256 a0, __m256 a1, __m256 a2,
                                             __m256 a3, __m256 a4, __m256 a5) {
  _mm256_store_ps(d, a0);
  _mm256_store_ps(d + ldd, a1);
  _mm256_store_ps(d + 2 * ldd, a2);
  _mm256_store_ps(d + 3 * ldd, a3);
  _mm256_store_ps(d + 4 * ldd, a4);
  _mm256_store_ps(d + 5 * ldd, a5);
}

}  // namespace gb::kernels::cpu::winograd
