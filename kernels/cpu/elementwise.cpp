// Fast elementwise kernels: ReLU forward and its standard backward (contract: kernels/activation.h)
// and same-shape add/sub/mul (kernels/elementwise.h), as contiguous per-thread ranges of
// vectorised loops; and the CPU kernel sets of both families.
#include "kernels/elementwise.h"

#include <omp.h>

#include <algorithm>

#include "kernels/activation.h"
#include "kernels/cpu/parallel.h"

namespace gb::kernels::cpu {
namespace {

// Calls body(begin, end) over [0, n) split into one contiguous range per thread.
template <class Body>
void split(int64_t n, Body&& body) {
  const int threads = threads_for(n);
  if (threads == 1) {
    body(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    body(n * t / nt, n * (t + 1) / nt);
  }
}

// The loops below take their pointers as plain arguments (not through a lambda's captures), so
// the compiler sees no aliasing with the closure and emits branch-free AVX2 code.
void relu_range(int64_t b, int64_t e, const float* x, float* y) {
#pragma omp simd
  for (int64_t i = b; i < e; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_backward_range(int64_t b, int64_t e, const float* y, const float* dy, float* dx) {
#pragma omp simd
  for (int64_t i = b; i < e; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

template <BinaryOp op>
void binary_range(int64_t lo, int64_t hi, const float* a, const float* b, float* c) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) {
    if constexpr (op == BinaryOp::Add) c[i] = a[i] + b[i];
    if constexpr (op == BinaryOp::Sub) c[i] = a[i] - b[i];
    if constexpr (op == BinaryOp::Mul) c[i] = a[i] * b[i];
  }
}

}  // namespace

void relu_forward(int64_t n, const float* x, float* y) {
  split(n, [=](int64_t b, int64_t e) { relu_range(b, e, x, y); });
}

void relu_backward(int64_t n, const float* y, const float* dy, float* dx) {
  split(n, [=](int64_t b, int64_t e) { relu_backward_range(b, e, y, dy, dx); });
}

void add(int64_t n, const float* a, const float* b, float* c) {
  split(n, [=](int64_t lo, int64_t hi) { binary_range<BinaryOp::Add>(lo, hi, a, b, c); });
}

void sub(int64_t n, const float* a, const float* b, float* c) {
  split(n, [=](int64_t lo, int64_t hi) { binary_range<BinaryOp::Sub>(lo, hi, a, b, c); });
}

void mul(int64_t n, const float* a, const float* b, float* c) {
  split(n, [=](int64_t lo, int64_t hi) { binary_range<BinaryOp::Mul>(lo, hi, a, b, c); });
}

void elementwise_binary(BinaryOp op, int64_t n, const float* a, const float* b, float* c) {
  switch (op) {
    case BinaryOp::Add:
      add(n, a, b, c);
      break;
    case BinaryOp::Sub:
      sub(n, a, b, c);
      break;
    case BinaryOp::Mul:
      mul(n, a, b, c);
      break;
  }
}

const ReluKernels relu_kernels{GB_KERNEL(cpu::relu_forward), GB_KERNEL(cpu::relu_backward),
                               GB_KERNEL(ref::relu_backward_guided),
                               GB_KERNEL(ref::relu_backward_deconv)};
const BinaryKernels binary_kernels{GB_KERNEL(cpu::elementwise_binary),
                                   GB_KERNEL(ref::broadcast_binary)};

}  // namespace gb::kernels::cpu
