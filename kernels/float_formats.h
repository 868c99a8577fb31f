// The 16-bit float formats as bits, and their exact conversions to and from float32: IEEE
// binary16 ("f16": 1 sign, 5 exponent, 10 mantissa bits) and bfloat16 ("bf16": float32's upper
// 16 bits). One definition for every backend: the reference kernels, the scalar tails of the fast
// CPU kernels and the CUDA kernels call these functions, and the vector paths are tested against
// them bit for bit (tests/test_float_formats.cpp), so a value converts to the same bits
// everywhere.
// Rules (those of IEEE 754, x86's F16C and PyTorch's CPU casts):
// - narrowing rounds to nearest, ties to even; a float32 above the format's largest value (by at
//   least half a unit in its last place) becomes an infinity of its sign;
// - subnormal results and inputs are kept (no flush to zero), in both formats;
// - a NaN stays a NaN of its sign, quiet, with the top bits of its payload kept (f16: the top 10
//   mantissa bits with the quiet bit set; bf16: the top 7 with the quiet bit set);
// - widening is exact (every f16 and bf16 value is a float32); an f16 NaN comes out quiet with its
//   payload (F16C's vcvtph2ps does the same), a bf16 NaN keeps its bits.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define GB_HOST_DEVICE __host__ __device__
#else
#define GB_HOST_DEVICE
#endif

namespace gb::kernels {

// The element formats of the cast kernels (kernels/cast.h).
enum class FloatFormat : uint8_t { F32, F16, BF16 };

// Bytes per element: 4 for F32, 2 for the 16-bit formats.
GB_HOST_DEVICE constexpr size_t float_format_bytes(FloatFormat f) {
  return f == FloatFormat::F32 ? 4 : 2;
}

GB_HOST_DEVICE inline uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

GB_HOST_DEVICE inline float float_from_bits(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

GB_HOST_DEVICE inline uint16_t bf16_from_float(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  // Adding 0x7fff plus the kept part's lowest bit rounds to nearest even; a carry out of the
  // mantissa increments the exponent, up to infinity.
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

GB_HOST_DEVICE inline float float_from_bf16(uint16_t h) {
  return float_from_bits(static_cast<uint32_t>(h) << 16);
}

GB_HOST_DEVICE inline uint16_t f16_from_float(float f) {
  const uint32_t u = float_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x03ffu));
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: infinity
  if (a >= 0x38800000u) {  // a normal f16 (>= 2^-14): rebias the exponent by 127 - 15
    const uint32_t r = a - 0x38000000u;
    return static_cast<uint16_t>(sign | ((r + 0x0fffu + ((r >> 13) & 1u)) >> 13));
  }
  if (a <= 0x33000000u) return static_cast<uint16_t>(sign);  // <= 2^-25 rounds to zero (a tie)
  // A subnormal f16: the value in units of 2^-24, the float's mantissa m * 2^(e - 150) shifted
  // right by 126 - e (14..24 here), rounded to nearest even.
  const uint32_t e = a >> 23, m = (a & 0x007fffffu) | 0x00800000u, shift = 126u - e;
  uint32_t q = m >> shift;
  const uint32_t rest = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
  if (rest > half || (rest == half && (q & 1u))) ++q;  // may carry into the smallest normal
  return static_cast<uint16_t>(sign | q);
}

GB_HOST_DEVICE inline float float_from_f16(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x03ffu;
  if (e == 0x1fu) {  // infinity, or a NaN made quiet
    return float_from_bits(sign | 0x7f800000u | (m << 13) | (m ? 0x00400000u : 0u));
  }
  if (e == 0) {  // zero or subnormal: m * 2^-24, exact in float32
    const float v = static_cast<float>(m) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return float_from_bits(sign | ((e + 112u) << 23) | (m << 13));
}

}  // namespace gb::kernels
