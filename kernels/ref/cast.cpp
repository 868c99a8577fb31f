// Reference cast kernel (contract: kernels/cast.h): one element at a time through the
// conversions of kernels/float_formats.h.
#include "kernels/cast.h"

#include <cstring>

namespace gb::kernels {

const char* float_format_name(FloatFormat f) {
  switch (f) {
    case FloatFormat::F32:
      return "f32";
    case FloatFormat::F16:
      return "f16";
    case FloatFormat::BF16:
      return "bf16";
  }
  return "?";
}

namespace ref {
namespace {

float load(const void* src, FloatFormat f, int64_t i) {
  switch (f) {
    case FloatFormat::F32:
      return static_cast<const float*>(src)[i];
    case FloatFormat::F16:
      return float_from_f16(static_cast<const uint16_t*>(src)[i]);
    case FloatFormat::BF16:
      return float_from_bf16(static_cast<const uint16_t*>(src)[i]);
  }
  return 0.0f;
}

void store(void* dst, FloatFormat f, int64_t i, float v) {
  switch (f) {
    case FloatFormat::F32:
      static_cast<float*>(dst)[i] = v;
      return;
    case FloatFormat::F16:
      static_cast<uint16_t*>(dst)[i] = f16_from_float(v);
      return;
    case FloatFormat::BF16:
      static_cast<uint16_t*>(dst)[i] = bf16_from_float(v);
      return;
  }
}

}  // namespace

void cast(int64_t n, const void* src, FloatFormat from, void* dst, FloatFormat to) {
  if (n <= 0) return;
  if (from == to) {
    std::memcpy(dst, src, static_cast<size_t>(n) * float_format_bytes(from));
    return;
  }
  for (int64_t i = 0; i < n; ++i) store(dst, to, i, load(src, from, i));
}

const CastKernels cast_kernels{GB_KERNEL(ref::cast)};

}  // namespace ref
}  // namespace gb::kernels
