// The per-thread forward precision setting of kernels/precision.h.
#include "kernels/precision.h"

#include <stdexcept>

namespace gb::kernels {
namespace {
thread_local ForwardPrecision tl_precision = ForwardPrecision::Fp32;
}  // namespace

bool bf16_supported() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512f");
  }();
  return has;
}

void set_forward_precision(ForwardPrecision p) {
  if (p == ForwardPrecision::Bf16 && !bf16_supported()) {
    throw std::runtime_error(
        "bf16 forwards need a CPU with AVX512-BF16 (avx512_bf16 in /proc/cpuinfo); this one has "
        "none: use fp32");
  }
  tl_precision = p;
}

ForwardPrecision forward_precision() { return tl_precision; }

const char* forward_precision_name(ForwardPrecision p) {
  return p == ForwardPrecision::Bf16 ? "bf16" : "fp32";
}

}  // namespace gb::kernels
