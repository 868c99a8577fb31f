// Reference fully connected layer (PyTorch nn.Linear): y = x w^T + b, plain loops with double
// accumulators. Shape letters: N rows (batch), I input features, O output features.
// x [N,I], w [O,I], b [O], y/dy [N,O].
#include "kernels/linear.h"

namespace gb::kernels::ref {

void linear_forward(int64_t N, int64_t I, int64_t O, const float* x, const float* w, const float* b,
                    float* y) {
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t o = 0; o < O; ++o) {
      double acc = b ? b[o] : 0.0;
      for (int64_t i = 0; i < I; ++i) acc += static_cast<double>(x[n * I + i]) * w[o * I + i];
      y[n * O + o] = static_cast<float>(acc);
    }
  }
}

void linear_backward(int64_t N, int64_t I, int64_t O, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db) {
  if (dx) {  // dx[n,i] = sum_o dy[n,o] w[o,i]
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t i = 0; i < I; ++i) {
        double acc = 0.0;
        for (int64_t o = 0; o < O; ++o) acc += static_cast<double>(dy[n * O + o]) * w[o * I + i];
        dx[n * I + i] = static_cast<float>(acc);
      }
    }
  }
  if (dw) {  // dw[o,i] = sum_n dy[n,o] x[n,i]
    for (int64_t o = 0; o < O; ++o) {
      for (int64_t i = 0; i < I; ++i) {
        double acc = 0.0;
        for (int64_t n = 0; n < N; ++n) acc += static_cast<double>(dy[n * O + o]) * x[n * I + i];
        dw[o * I + i] = static_cast<float>(acc);
      }
    }
  }
  if (db) {  // db[o] = sum_n dy[n,o]
    for (int64_t o = 0; o < O; ++o) {
      double acc = 0.0;
      for (int64_t n = 0; n < N; ++n) acc += dy[n * O + o];
      db[o] = static_cast<float>(acc);
    }
  }
}

const LinearKernels linear_kernels{GB_KERNEL(ref::linear_forward), GB_KERNEL(ref::linear_backward)};

}  // namespace gb::kernels::ref
