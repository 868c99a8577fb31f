// Fast elementwise kernels over n floats: ReLU forward and its standard backward, and same-shape
// add/sub/mul. Plain loops the compiler vectorises, split across OpenMP threads in contiguous
// ranges above a size threshold (parallel.h); every element is computed by one thread with no
// reduction, so results are bit-identical to the ref:: loops for any thread count.
// relu_backward takes the forward *output* y (dx = dy where y > 0), as ref::relu_backward.
// Outputs may alias inputs (y == x, dx == dy, c == a or c == b).
#pragma once
#include <cstdint>

namespace gb::kernels::cpu {

void relu_forward(int64_t n, const float* x, float* y);
void relu_backward(int64_t n, const float* y, const float* dy, float* dx);
void add(int64_t n, const float* a, const float* b, float* c);
void sub(int64_t n, const float* a, const float* b, float* c);
void mul(int64_t n, const float* a, const float* b, float* c);

}  // namespace gb::kernels::cpu
