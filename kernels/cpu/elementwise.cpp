// Fast elementwise kernels: ReLU forward and its standard backward, clamp, leaky ReLU, sigmoid,
// tanh's backward, hard sigmoid and hard swish (contracts: kernels/activation.h) and same-shape
// add/sub/mul/div (kernels/elementwise.h), as contiguous per-thread ranges of vectorised loops; and
// the CPU kernel sets of both families. Every element is computed alone, so no result depends on
// the thread count; all but sigmoid's forward repeat ref's float (or double) expressions exactly.
#include "kernels/elementwise.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "kernels/activation.h"
#include "kernels/cpu/exp_avx2.h"
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
  for (int64_t i = b; i < e; ++i) y[i] = (x[i] > 0.0f || x[i] != x[i]) ? x[i] : 0.0f;  // NaN passes
}

void relu_backward_range(int64_t b, int64_t e, const float* y, const float* dy, float* dx) {
#pragma omp simd
  for (int64_t i = b; i < e; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void clamp_range(int64_t b, int64_t e, const float* x, float lo, float hi, float* y) {
#pragma omp simd
  for (int64_t i = b; i < e; ++i) {
    const float v = x[i] < lo ? lo : x[i];
    y[i] = v > hi ? hi : v;
  }
}

void clamp_backward_range(int64_t b, int64_t e, const float* x, float lo, float hi, const float* dy,
                          float* dx) {
#pragma omp simd
  for (int64_t i = b; i < e; ++i) dx[i] = (x[i] >= lo && x[i] <= hi) ? dy[i] : 0.0f;
}

void leaky_relu_range(int64_t b, int64_t e, const float* x, float alpha, float* y) {
#pragma omp simd
  for (int64_t i = b; i < e; ++i) y[i] = x[i] > 0.0f ? x[i] : x[i] * alpha;
}

void leaky_relu_backward_range(int64_t b, int64_t e, const float* x, float alpha, const float* dy,
                               float* dx) {
#pragma omp simd
  for (int64_t i = b; i < e; ++i) dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * alpha;
}

// sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, e = exp(-|x|) in (0, 1]: no
// overflow, no cancellation. NaN x: e is NaN, and so is either quotient.
inline __m256 sigmoid8(__m256 x) {
  const __m256 neg_abs = _mm256_or_ps(x, _mm256_set1_ps(-0.0f));  // -|x|
  const __m256 e = exp_ps(neg_abs);
  const __m256 den = _mm256_add_ps(_mm256_set1_ps(1.0f), e);
  const __m256 pos = _mm256_div_ps(_mm256_set1_ps(1.0f), den);
  const __m256 neg = _mm256_div_ps(e, den);
  return _mm256_blendv_ps(neg, pos, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ));
}

// Eight lanes at a time; the last n % 8 through masked loads and stores, with the same per-lane
// arithmetic, so an element's value does not depend on where a range starts.
void sigmoid_range(int64_t b, int64_t e, const float* x, float* y) {
  int64_t i = b;
  for (; i + 8 <= e; i += 8) _mm256_storeu_ps(y + i, sigmoid8(_mm256_loadu_ps(x + i)));
  if (i < e) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(e - i)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(y + i, mask, sigmoid8(_mm256_maskload_ps(x + i, mask)));
  }
}

void sigmoid_backward_range(int64_t b, int64_t e, const float* y, const float* dy, float* dx) {
#pragma omp simd
  for (int64_t i = b; i < e; ++i) {
    dx[i] = static_cast<float>(double{dy[i]} * (1.0 - double{y[i]}) * double{y[i]});
  }
}

void tanh_backward_range(int64_t b, int64_t e, const float* y, const float* dy, float* dx) {
#pragma omp simd
  for (int64_t i = b; i < e; ++i) {
    dx[i] = static_cast<float>(double{dy[i]} * (1.0 - double{y[i]} * double{y[i]}));
  }
}

void hardsigmoid_range(int64_t b, int64_t e, const float* x, float alpha, float beta, float* y) {
#pragma omp simd
  for (int64_t i = b; i < e; ++i) {
    const float t = std::fma(alpha, x[i], beta);
    y[i] = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
  }
}

void hardsigmoid_backward_range(int64_t b, int64_t e, const float* x, float alpha, float beta,
                                const float* dy, float* dx) {
#pragma omp simd
  for (int64_t i = b; i < e; ++i) {
    const float t = std::fma(alpha, x[i], beta);
    dx[i] = (t > 0.0f && t < 1.0f) ? dy[i] * alpha : 0.0f;
  }
}

void hardswish_range(int64_t b, int64_t e, const float* x, float* y) {
#pragma omp simd
  for (int64_t i = b; i < e; ++i) {
    const float s = x[i] + 3.0f;
    const float h = s < 0.0f ? 0.0f : (s > 6.0f ? 6.0f : s);
    y[i] = x[i] * h / 6.0f;
  }
}

void hardswish_backward_range(int64_t b, int64_t e, const float* x, const float* dy, float* dx) {
#pragma omp simd
  for (int64_t i = b; i < e; ++i) {
    dx[i] = x[i] < -3.0f ? 0.0f : (x[i] <= 3.0f ? dy[i] * (x[i] / 3.0f + 0.5f) : dy[i]);
  }
}

template <BinaryOp op>
void binary_range(int64_t lo, int64_t hi, const float* a, const float* b, float* c) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) {
    if constexpr (op == BinaryOp::Add) c[i] = a[i] + b[i];
    if constexpr (op == BinaryOp::Sub) c[i] = a[i] - b[i];
    if constexpr (op == BinaryOp::Mul) c[i] = a[i] * b[i];
    if constexpr (op == BinaryOp::Div) c[i] = a[i] / b[i];
  }
}

}  // namespace

void relu_forward(int64_t n, const float* x, float* y) {
  split(n, [=](int64_t b, int64_t e) { relu_range(b, e, x, y); });
}

void relu_backward(int64_t n, const float* y, const float* dy, float* dx) {
  split(n, [=](int64_t b, int64_t e) { relu_backward_range(b, e, y, dy, dx); });
}

void clamp_forward(int64_t n, const float* x, float lo, float hi, float* y) {
  split(n, [=](int64_t b, int64_t e) { clamp_range(b, e, x, lo, hi, y); });
}

void clamp_backward(int64_t n, const float* x, float lo, float hi, const float* dy, float* dx) {
  split(n, [=](int64_t b, int64_t e) { clamp_backward_range(b, e, x, lo, hi, dy, dx); });
}

void leaky_relu_forward(int64_t n, const float* x, float alpha, float* y) {
  split(n, [=](int64_t b, int64_t e) { leaky_relu_range(b, e, x, alpha, y); });
}

void leaky_relu_backward(int64_t n, const float* x, float alpha, const float* dy, float* dx) {
  split(n, [=](int64_t b, int64_t e) { leaky_relu_backward_range(b, e, x, alpha, dy, dx); });
}

void sigmoid_forward(int64_t n, const float* x, float* y) {
  split(n, [=](int64_t b, int64_t e) { sigmoid_range(b, e, x, y); });
}

void sigmoid_backward(int64_t n, const float* y, const float* dy, float* dx) {
  split(n, [=](int64_t b, int64_t e) { sigmoid_backward_range(b, e, y, dy, dx); });
}

void tanh_backward(int64_t n, const float* y, const float* dy, float* dx) {
  split(n, [=](int64_t b, int64_t e) { tanh_backward_range(b, e, y, dy, dx); });
}

void hardsigmoid_forward(int64_t n, const float* x, float alpha, float beta, float* y) {
  split(n, [=](int64_t b, int64_t e) { hardsigmoid_range(b, e, x, alpha, beta, y); });
}

void hardsigmoid_backward(int64_t n, const float* x, float alpha, float beta, const float* dy,
                          float* dx) {
  split(n, [=](int64_t b, int64_t e) { hardsigmoid_backward_range(b, e, x, alpha, beta, dy, dx); });
}

void hardswish_forward(int64_t n, const float* x, float* y) {
  split(n, [=](int64_t b, int64_t e) { hardswish_range(b, e, x, y); });
}

void hardswish_backward(int64_t n, const float* x, const float* dy, float* dx) {
  split(n, [=](int64_t b, int64_t e) { hardswish_backward_range(b, e, x, dy, dx); });
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

void div(int64_t n, const float* a, const float* b, float* c) {
  split(n, [=](int64_t lo, int64_t hi) { binary_range<BinaryOp::Div>(lo, hi, a, b, c); });
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
    case BinaryOp::Div:
      div(n, a, b, c);
      break;
  }
}

const ReluKernels relu_kernels{GB_KERNEL(cpu::relu_forward), GB_KERNEL(cpu::relu_backward),
                               GB_KERNEL(ref::relu_backward_guided),
                               GB_KERNEL(ref::relu_backward_deconv)};
const ClampKernels clamp_kernels{GB_KERNEL(cpu::clamp_forward), GB_KERNEL(cpu::clamp_backward)};
const LeakyReluKernels leaky_relu_kernels{GB_KERNEL(cpu::leaky_relu_forward),
                                          GB_KERNEL(cpu::leaky_relu_backward)};
const PointwiseKernels sigmoid_kernels{GB_KERNEL(cpu::sigmoid_forward),
                                       GB_KERNEL(cpu::sigmoid_backward)};
const PointwiseKernels tanh_kernels{GB_KERNEL(ref::tanh_forward), GB_KERNEL(cpu::tanh_backward)};
const HardSigmoidKernels hardsigmoid_kernels{GB_KERNEL(cpu::hardsigmoid_forward),
                                             GB_KERNEL(cpu::hardsigmoid_backward)};
const PointwiseKernels hardswish_kernels{GB_KERNEL(cpu::hardswish_forward),
                                         GB_KERNEL(cpu::hardswish_backward)};
const BinaryKernels binary_kernels{GB_KERNEL(cpu::elementwise_binary),
                                   GB_KERNEL(ref::broadcast_binary)};

}  // namespace gb::kernels::cpu
