// How many OpenMP threads an elementwise or per-channel kernel should use for `work` floats:
// one below a size threshold (starting a parallel region costs more than it saves, and much more
// on a loaded machine) or when already inside a parallel region; all threads otherwise.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace gb::kernels::cpu {

inline constexpr int64_t kParallelThreshold = 1 << 15;  // floats

inline int threads_for(int64_t work) {
  if (work < kParallelThreshold || omp_in_parallel()) return 1;
  return std::max(1, omp_get_max_threads());
}

}  // namespace gb::kernels::cpu
