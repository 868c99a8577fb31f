// Reference elementwise activations over n floats: ReLU (with the Guided Backprop and Deconvnet
// backward rules) and exact (erf) GELU. No shape letters: every array has n elements.
// relu_forward passes NaN through (as torch.relu); the ReLU backward rules read the forward
// output y, gelu_backward reads the forward input x.
#include "kernels/activation.h"

#include <cmath>

namespace gb::kernels::ref {

void relu_forward(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::isnan(x[i]) ? x[i] : (x[i] > 0.0f ? x[i] : 0.0f);
}

void relu_backward(int64_t n, const float* y, const float* dy, float* dx) {
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void relu_backward_guided(int64_t n, const float* y, const float* dy, float* dx) {
  for (int64_t i = 0; i < n; ++i) dx[i] = (y[i] > 0.0f && dy[i] > 0.0f) ? dy[i] : 0.0f;
}

void relu_backward_deconv(int64_t n, const float* y, const float* dy, float* dx) {
  (void)y;  // the Deconvnet rule ignores the forward activation
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] > 0.0f ? dy[i] : 0.0f;
}

// gelu(x) = x * Phi(x), Phi the standard normal CDF = 0.5 * (1 + erf(x / sqrt(2))).
void gelu_forward(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    y[i] = static_cast<float>(0.5 * v * (1.0 + std::erf(v * M_SQRT1_2)));
  }
}

// d/dx gelu(x) = Phi(x) + x * phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
void gelu_backward(int64_t n, const float* x, const float* dy, float* dx) {
  const double inv_sqrt_2pi = 0.5 * M_2_SQRTPI * M_SQRT1_2;
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    const double cdf = 0.5 * (1.0 + std::erf(v * M_SQRT1_2));
    const double pdf = std::exp(-0.5 * v * v) * inv_sqrt_2pi;
    dx[i] = static_cast<float>(dy[i] * (cdf + v * pdf));
  }
}

const ReluKernels relu_kernels{GB_KERNEL(ref::relu_forward), GB_KERNEL(ref::relu_backward),
                               GB_KERNEL(ref::relu_backward_guided),
                               GB_KERNEL(ref::relu_backward_deconv)};
const GeluKernels gelu_kernels{GB_KERNEL(ref::gelu_forward), GB_KERNEL(ref::gelu_backward)};

}  // namespace gb::kernels::ref
