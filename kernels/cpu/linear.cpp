// Fast fully connected layer (nn.Linear) on the threaded packed SGEMM.
// Shape letters: N rows (batch), I input features, O output features.
// x [N,I], w [O,I], b [O], y/dy [N,O]:
//   y  [N,O] = x * w^T + b    dx [N,I] = dy * w    dw [O,I] = dy^T * x    db [O] = sum_n dy
// Every output element is owned by one thread (sgemm_parallel), so results do not depend on the
// thread count; db sums rows in order, in double.
#include "kernels/linear.h"

#include <algorithm>
#include <cstddef>
#include <vector>

#include "kernels/gemm.h"

namespace gb::kernels::cpu {

void linear_forward(int64_t N, int64_t I, int64_t O, const float* x, const float* w, const float* b,
                    float* y) {
  if (b) {
    for (int64_t n = 0; n < N; ++n) std::copy(b, b + O, y + n * O);
  }
  sgemm_parallel(false, true, N, O, I, 1.0f, x, I, w, I, b ? 1.0f : 0.0f, y, O);
}

void linear_backward(int64_t N, int64_t I, int64_t O, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db) {
  if (dx) sgemm_parallel(false, false, N, I, O, 1.0f, dy, O, w, I, 0.0f, dx, I);
  if (dw) sgemm_parallel(true, false, O, I, N, 1.0f, dy, O, x, I, 0.0f, dw, I);
  if (db) {
    std::vector<double> acc(static_cast<size_t>(O), 0.0);
    for (int64_t n = 0; n < N; ++n) {
      const float* row = dy + n * O;
      for (int64_t o = 0; o < O; ++o) acc[static_cast<size_t>(o)] += row[o];
    }
    for (int64_t o = 0; o < O; ++o) db[o] = static_cast<float>(acc[static_cast<size_t>(o)]);
  }
}

const LinearKernels linear_kernels{GB_KERNEL(cpu::linear_forward), GB_KERNEL(cpu::linear_backward)};

}  // namespace gb::kernels::cpu
