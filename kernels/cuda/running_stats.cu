// Batch norm's running-statistics update (see running_stats.h).
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/running_stats.h"

namespace gb::kernels::cuda {
namespace {
__global__ void update_running_stat_kernel(int64_t C, float* running, const float* batch,
                                           float momentum) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < C;
       c += int64_t{gridDim.x} * blockDim.x) {
    running[c] = (1.0f - momentum) * running[c] + momentum * batch[c];
  }
}
}  // namespace

void update_running_stat(int64_t C, float* running, const float* batch, float momentum) {
  if (C <= 0) return;
  update_running_stat_kernel<<<blocks_for(C), 256, 0, stream()>>>(C, running, batch, momentum);
  check_launch("update_running_stat");
}

}  // namespace gb::kernels::cuda
