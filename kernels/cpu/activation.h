// Elementwise activations over n floats. relu_backward takes the forward *output* y
// (dx = dy where y > 0). gelu is the exact erf form; gelu_backward takes the forward input x.
// guided/deconv variants are the modified ReLU backward rules used by Guided Backprop and
// Deconvnet: guided passes dy where y > 0 and dy > 0; deconv passes dy where dy > 0.
#pragma once
#include <cstdint>

namespace gb::kernels {
namespace ref {
void relu_forward(int64_t n, const float* x, float* y);
void relu_backward(int64_t n, const float* y, const float* dy, float* dx);
void relu_backward_guided(int64_t n, const float* y, const float* dy, float* dx);
void relu_backward_deconv(int64_t n, const float* y, const float* dy, float* dx);
void gelu_forward(int64_t n, const float* x, float* y);
void gelu_backward(int64_t n, const float* x, const float* dy, float* dx);
}  // namespace ref
}  // namespace gb::kernels
