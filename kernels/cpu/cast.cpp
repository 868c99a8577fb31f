// Fast CPU cast kernel (contract: kernels/cast.h): eight elements per AVX2 step, widened to
// float32 in registers and narrowed again. f16 uses F16C (vcvtph2ps, and vcvtps2ph rounding to
// nearest even, which keeps subnormals and quiets NaNs as float_formats.h states); bf16 rounds
// with integer arithmetic (add 0x7fff plus the kept lowest bit, shift), NaNs quieted apart, so
// subnormals are kept (AVX512-BF16's vcvtneps2bf16 would flush them). Tails use float_formats.h.
// Large arrays are split into one contiguous range per thread.
#include "kernels/cast.h"

#include <immintrin.h>
#include <omp.h>

#include <cstring>

#include "kernels/cpu/parallel.h"

namespace gb::kernels::cpu {
namespace {

__m256 load8(const void* src, FloatFormat f, int64_t i) {
  if (f == FloatFormat::F32) return _mm256_loadu_ps(static_cast<const float*>(src) + i);
  const __m128i h =
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(src) + i));
  if (f == FloatFormat::F16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

__m128i bf16_from_float8(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);
  const __m256i magnitude = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
  const __m256i nan = _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7f800000));
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x0040));
  const __m256i r = _mm256_blendv_epi8(rounded, quiet, nan);  // every lane <= 0xffff
  return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}

void store8(void* dst, FloatFormat f, int64_t i, __m256 v) {
  if (f == FloatFormat::F32) {
    _mm256_storeu_ps(static_cast<float*>(dst) + i, v);
    return;
  }
  auto* out = reinterpret_cast<__m128i*>(static_cast<uint16_t*>(dst) + i);
  if (f == FloatFormat::F16) {
    _mm_storeu_si128(out, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  } else {
    _mm_storeu_si128(out, bf16_from_float8(v));
  }
}

void cast_range(int64_t begin, int64_t end, const void* src, FloatFormat from, void* dst,
                FloatFormat to) {
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) store8(dst, to, i, load8(src, from, i));
  if (i < end) {
    ref::cast(end - i, static_cast<const char*>(src) + i * float_format_bytes(from), from,
              static_cast<char*>(dst) + i * float_format_bytes(to), to);
  }
}

}  // namespace

void cast(int64_t n, const void* src, FloatFormat from, void* dst, FloatFormat to) {
  if (n <= 0) return;
  if (from == to) {
    std::memcpy(dst, src, static_cast<size_t>(n) * float_format_bytes(from));
    return;
  }
  const int threads = threads_for(n);
  if (threads == 1) {
    cast_range(0, n, src, from, dst, to);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    cast_range(n * t / nt, n * (t + 1) / nt, src, from, dst, to);
  }
}

const CastKernels cast_kernels{GB_KERNEL(cpu::cast)};

}  // namespace gb::kernels::cpu
