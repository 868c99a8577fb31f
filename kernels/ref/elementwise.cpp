// Reference elementwise arithmetic (contract: kernels/elementwise.h): add/sub/mul/div on equal
// shapes and with broadcasting, and scaling. Plain loops; the broadcasting loop walks the output's
// index space like an odometer, stepping each operand's offset by its stride (0 on a broadcast
// dim). No shape letters: every array is flat or described by out_shape and per-operand strides.
#include "kernels/elementwise.h"

#include <cstddef>
#include <vector>

namespace gb::kernels::ref {
namespace {
inline float apply(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add:
      return a + b;
    case BinaryOp::Sub:
      return a - b;
    case BinaryOp::Mul:
      return a * b;
    case BinaryOp::Div:
      return a / b;
  }
  return 0.0f;
}
}  // namespace

void elementwise_binary(BinaryOp op, int64_t n, const float* a, const float* b, float* c) {
  switch (op) {
    case BinaryOp::Add:
      for (int64_t i = 0; i < n; ++i) c[i] = a[i] + b[i];
      break;
    case BinaryOp::Sub:
      for (int64_t i = 0; i < n; ++i) c[i] = a[i] - b[i];
      break;
    case BinaryOp::Mul:
      for (int64_t i = 0; i < n; ++i) c[i] = a[i] * b[i];
      break;
    case BinaryOp::Div:
      for (int64_t i = 0; i < n; ++i) c[i] = a[i] / b[i];
      break;
  }
}

void broadcast_binary(BinaryOp op, int ndim, const int64_t* out_shape, const float* a,
                      const int64_t* a_strides, const float* b, const int64_t* b_strides,
                      float* c) {
  int64_t total = 1;
  for (int d = 0; d < ndim; ++d) total *= out_shape[d];
  std::vector<int64_t> idx(static_cast<size_t>(ndim), 0);
  int64_t oa = 0, ob = 0;
  for (int64_t i = 0; i < total; ++i) {
    c[i] = apply(op, a[oa], b[ob]);
    for (int d = ndim; d-- > 0;) {
      if (++idx[static_cast<size_t>(d)] < out_shape[d]) {
        oa += a_strides[d];
        ob += b_strides[d];
        break;
      }
      oa -= a_strides[d] * (out_shape[d] - 1);
      ob -= b_strides[d] * (out_shape[d] - 1);
      idx[static_cast<size_t>(d)] = 0;
    }
  }
}

void scale(int64_t n, const float* x, float factor, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * factor;
}

const BinaryKernels binary_kernels{GB_KERNEL(ref::elementwise_binary),
                                   GB_KERNEL(ref::broadcast_binary)};
const ScaleKernels scale_kernels{GB_KERNEL(ref::scale)};

}  // namespace gb::kernels::ref
