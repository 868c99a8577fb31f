// Reference elementwise activations over n floats: ReLU (with the Guided Backprop and Deconvnet
// backward rules), exact (erf) GELU, clamp, leaky ReLU, sigmoid, tanh, hard sigmoid and hard
// swish (contracts in kernels/activation.h). No shape letters: every array has n elements.
// relu_forward passes NaN through (as torch.relu); the ReLU, sigmoid and tanh backward rules read
// the forward output y, the others the forward input x. Sigmoid and tanh (and their backward
// passes) compute in double; the piecewise-linear ones are exact float expressions (one fma for
// hard sigmoid), which the fast CPU and CUDA kernels repeat bit for bit.
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

void clamp_forward(int64_t n, const float* x, float lo, float hi, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] < lo ? lo : x[i];  // NaN: both tests false, NaN kept
    y[i] = v > hi ? hi : v;
  }
}

void clamp_backward(int64_t n, const float* x, float lo, float hi, const float* dy, float* dx) {
  for (int64_t i = 0; i < n; ++i) dx[i] = (x[i] >= lo && x[i] <= hi) ? dy[i] : 0.0f;
}

void leaky_relu_forward(int64_t n, const float* x, float alpha, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : x[i] * alpha;
}

void leaky_relu_backward(int64_t n, const float* x, float alpha, const float* dy, float* dx) {
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * alpha;
}

void sigmoid_forward(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(1.0 / (1.0 + std::exp(-double{x[i]})));
}

void sigmoid_backward(int64_t n, const float* y, const float* dy, float* dx) {
  for (int64_t i = 0; i < n; ++i) {
    dx[i] = static_cast<float>(double{dy[i]} * (1.0 - double{y[i]}) * double{y[i]});
  }
}

void tanh_forward(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(std::tanh(double{x[i]}));
}

void tanh_backward(int64_t n, const float* y, const float* dy, float* dx) {
  // y * y is exact in double, so a fused or separate 1 - y * y rounds the same.
  for (int64_t i = 0; i < n; ++i) {
    dx[i] = static_cast<float>(double{dy[i]} * (1.0 - double{y[i]} * double{y[i]}));
  }
}

void hardsigmoid_forward(int64_t n, const float* x, float alpha, float beta, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const float t = std::fma(alpha, x[i], beta);
    y[i] = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);  // NaN kept
  }
}

void hardsigmoid_backward(int64_t n, const float* x, float alpha, float beta, const float* dy,
                          float* dx) {
  for (int64_t i = 0; i < n; ++i) {
    const float t = std::fma(alpha, x[i], beta);
    dx[i] = (t > 0.0f && t < 1.0f) ? dy[i] * alpha : 0.0f;
  }
}

void hardswish_forward(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const float s = x[i] + 3.0f;
    const float h = s < 0.0f ? 0.0f : (s > 6.0f ? 6.0f : s);  // NaN kept
    y[i] = x[i] * h / 6.0f;
  }
}

void hardswish_backward(int64_t n, const float* x, const float* dy, float* dx) {
  for (int64_t i = 0; i < n; ++i) {
    dx[i] = x[i] < -3.0f ? 0.0f : (x[i] <= 3.0f ? dy[i] * (x[i] / 3.0f + 0.5f) : dy[i]);
  }
}

const ReluKernels relu_kernels{GB_KERNEL(ref::relu_forward), GB_KERNEL(ref::relu_backward),
                               GB_KERNEL(ref::relu_backward_guided),
                               GB_KERNEL(ref::relu_backward_deconv)};
const GeluKernels gelu_kernels{GB_KERNEL(ref::gelu_forward), GB_KERNEL(ref::gelu_backward)};
const ClampKernels clamp_kernels{GB_KERNEL(ref::clamp_forward), GB_KERNEL(ref::clamp_backward)};
const LeakyReluKernels leaky_relu_kernels{GB_KERNEL(ref::leaky_relu_forward),
                                          GB_KERNEL(ref::leaky_relu_backward)};
const PointwiseKernels sigmoid_kernels{GB_KERNEL(ref::sigmoid_forward),
                                       GB_KERNEL(ref::sigmoid_backward)};
const PointwiseKernels tanh_kernels{GB_KERNEL(ref::tanh_forward), GB_KERNEL(ref::tanh_backward)};
const HardSigmoidKernels hardsigmoid_kernels{GB_KERNEL(ref::hardsigmoid_forward),
                                             GB_KERNEL(ref::hardsigmoid_backward)};
const PointwiseKernels hardswish_kernels{GB_KERNEL(ref::hardswish_forward),
                                         GB_KERNEL(ref::hardswish_backward)};

}  // namespace gb::kernels::ref
