// The cast family: converts n elements between float32, f16 and bf16 (kernels/float_formats.h
// states the rounding, subnormal and NaN rules, which every backend follows bit for bit). One
// contract for the reference (ref::, kernels/ref/cast.cpp: one element at a time through
// float_formats.h), fast CPU (cpu::, kernels/cpu/cast.cpp: AVX2 vectors, F16C for f16, integer
// rounding for bf16; per-thread ranges above a size threshold) and CUDA (cuda::,
// kernels/cuda/cast.cu: one thread per element, float_formats.h on the device) kernels.
//   convert   dst[i] = to(from(src[i])), i < n; src and dst contiguous arrays of their formats.
//             from == to copies the bits. Narrowing between f16 and bf16 goes through float32
//             (exact, then rounded once). dst must not overlap src.
// Every element is computed alone: bit-identical on every backend and for any thread count.
#pragma once
#include <cstdint>

#include "kernels/float_formats.h"
#include "kernels/kernel_fn.h"

namespace gb::kernels {

using CastFn = void(int64_t n, const void* src, FloatFormat from, void* dst, FloatFormat to);

struct CastKernels {
  KernelFn<CastFn> convert;
  std::vector<KernelName> names() const { return {{"convert", convert.name}}; }
};

// "f32", "f16", "bf16".
const char* float_format_name(FloatFormat f);

namespace ref {
CastFn cast;
extern const CastKernels cast_kernels;
}  // namespace ref

namespace cpu {
CastFn cast;
extern const CastKernels cast_kernels;
}  // namespace cpu

namespace cuda {
CastFn cast;
extern const CastKernels cast_kernels;
}  // namespace cuda

}  // namespace gb::kernels
