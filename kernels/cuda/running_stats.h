// Running-statistics update of batch norm on the GPU: running = (1 - momentum) * running +
// momentum * batch, elementwise over C channels (device pointers; same formula as the CPU loop
// in runtime/ops/norm.cpp).
#pragma once
#include <cstdint>

namespace gb::kernels::cuda {

void update_running_stat(int64_t C, float* running, const float* batch, float momentum);

}  // namespace gb::kernels::cuda
