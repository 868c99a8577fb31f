// The activation family, elementwise over n floats: ReLU with its three backward rules, exact
// (erf) GELU, and the pointwise activations of model import: clamp (ReLU6), leaky ReLU, sigmoid,
// tanh, hard sigmoid and hard swish. One contract for the reference (ref::,
// kernels/ref/activation.cpp), fast CPU (cpu::, kernels/cpu/elementwise.cpp: vectorised loops,
// threaded in contiguous ranges above a size threshold, so no result depends on the thread count)
// and CUDA (cuda::, kernels/cuda/elementwise.cu, one thread per element) kernels.
//   relu_forward           y = x > 0 ? x : 0, NaN passed through (as torch.relu)
//   relu_backward          dx = y > 0 ? dy : 0, from the forward *output* y
//   relu_backward_guided   dx = (y > 0 && dy > 0) ? dy : 0 (Guided Backprop's rule)
//   relu_backward_deconv   dx = dy > 0 ? dy : 0 (Deconvnet's rule; y unused, may be nullptr)
//   gelu_forward           y = x * Phi(x), Phi(x) = 0.5 * (1 + erf(x / sqrt(2))) (ref: in double)
//   gelu_backward          dx = dy * (Phi(x) + x * phi(x)), from the forward *input* x (ref: in
//                          double)
//   clamp_forward          y = min(max(x, lo), hi) (lo > hi gives hi, as torch.clamp), NaN passed
//                          through
//   clamp_backward         dx = (lo <= x && x <= hi) ? dy : 0, from the input (torch's clamp
//                          backward: the bounds pass the gradient; NaN x gets 0)
//   leaky_relu_forward     y = x > 0 ? x : x * alpha (NaN passed through)
//   leaky_relu_backward    dx = x > 0 ? dy : dy * alpha, from the input (torch's rule at 0)
//   sigmoid_forward        y = 1 / (1 + exp(-x)); ref in double; +-inf give 1 and 0, NaN stays
//   sigmoid_backward       dx = dy * (1 - y) * y in double, from the forward *output* y
//   tanh_forward           y = tanh(x), in double
//   tanh_backward          dx = dy * (1 - y * y) in double, from the forward *output* y
//   hardsigmoid_forward    y = max(0, min(1, t)), t = fma(alpha, x, beta) in float (one
//                          rounding: ONNX HardSigmoid; PyTorch's Hardsigmoid is alpha = 1/6,
//                          beta = 0.5); NaN passed through
//   hardsigmoid_backward   dx = (0 < t && t < 1) ? dy * alpha : 0, from the input
//   hardswish_forward      y = x * min(max(x + 3, 0), 6) / 6 in float, PyTorch's formula for
//                          ONNX HardSwish x * hardsigmoid(x; 1/6, 0.5); NaN passed through
//   hardswish_backward     dx = x < -3 ? 0 : x <= 3 ? dy * (x / 3 + 0.5) : dy, from the input
//                          (PyTorch's hardswish_backward, in float)
// Outputs may alias inputs exactly (y == x, dx == dy), not partially.
// Fast CPU kernels: bit-identical to ref:: for ReLU, clamp, leaky ReLU, hard sigmoid, hard swish
// and the sigmoid and tanh backward passes (the same float or double expressions, evaluated
// lane by lane). cpu::sigmoid_forward computes in float with an AVX2 exp (exp_avx2.h) of -|x|:
// within 4 ulp of ref's (2 measured), except that it gives exactly 0 instead of a value below
// 2e-38 for x < -87. The sigmoid backward reads that output, so where y is close to 1 its 1 - y
// (and the gradient) differs from ref's by about ulp(1) * |dy| (as any float y, PyTorch's too).
// cpu::gelu_forward / gelu_backward (cpu/gelu.cpp) compute in float: erfc from a Chebyshev fit of
// relative error 1.2e-7 and the AVX2 exp, within a few ulp of ref's (infinities and NaN as ref).
// The CPU has no fast kernel for tanh's forward and the ReLU guided/deconv rules: its sets name
// the ref:: functions.
// CUDA: clamp, leaky ReLU, hard sigmoid and hard swish bit-identical to ref:: (the same float
// operations); sigmoid and tanh forward in double (exp, tanh), so they may differ from ref:: in the
// last bit only where CUDA's double exp/tanh do; backward passes as ref, in double.
#pragma once
#include <cstdint>

#include "kernels/kernel_fn.h"

namespace gb::kernels {

using UnaryFn = void(int64_t n, const float* x, float* y);
// The backward of an elementwise op from a saved tensor (the forward output for ReLU, the input
// for GELU) and the output gradient.
using UnaryBackwardFn = void(int64_t n, const float* saved, const float* dy, float* dx);

struct ReluKernels {
  KernelFn<UnaryFn> forward;
  KernelFn<UnaryBackwardFn> backward;
  KernelFn<UnaryBackwardFn> backward_guided;
  KernelFn<UnaryBackwardFn> backward_deconv;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name},
            {"backward", backward.name},
            {"backward_guided", backward_guided.name},
            {"backward_deconv", backward_deconv.name}};
  }
};

struct GeluKernels {
  KernelFn<UnaryFn> forward;
  KernelFn<UnaryBackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};

// An elementwise activation without parameters: forward y = f(x), backward from the saved tensor
// its contract names (sigmoid and tanh: the output y; hardswish: the input x). One set type for
// sigmoid, tanh and hardswish, each with its own row.
struct PointwiseKernels {
  KernelFn<UnaryFn> forward;
  KernelFn<UnaryBackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};

// Activations with two float parameters (clamp: lo, hi; hardsigmoid: alpha, beta), backward from
// the forward input x.
using Unary2Fn = void(int64_t n, const float* x, float a, float b, float* y);
using Unary2BackwardFn = void(int64_t n, const float* x, float a, float b, const float* dy,
                              float* dx);
// Leaky ReLU's slope alpha, backward from the forward input x.
using Unary1Fn = void(int64_t n, const float* x, float alpha, float* y);
using Unary1BackwardFn = void(int64_t n, const float* x, float alpha, const float* dy, float* dx);

struct ClampKernels {
  KernelFn<Unary2Fn> forward;  // a = lo, b = hi
  KernelFn<Unary2BackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};

struct HardSigmoidKernels {
  KernelFn<Unary2Fn> forward;  // a = alpha, b = beta
  KernelFn<Unary2BackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};

struct LeakyReluKernels {
  KernelFn<Unary1Fn> forward;
  KernelFn<Unary1BackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};

namespace ref {
UnaryFn relu_forward;
UnaryBackwardFn relu_backward;
UnaryBackwardFn relu_backward_guided;
UnaryBackwardFn relu_backward_deconv;
UnaryFn gelu_forward;
UnaryBackwardFn gelu_backward;
UnaryFn sigmoid_forward;
UnaryBackwardFn sigmoid_backward;
UnaryFn tanh_forward;
UnaryBackwardFn tanh_backward;
UnaryFn hardswish_forward;
UnaryBackwardFn hardswish_backward;
Unary2Fn clamp_forward;
Unary2BackwardFn clamp_backward;
Unary2Fn hardsigmoid_forward;
Unary2BackwardFn hardsigmoid_backward;
Unary1Fn leaky_relu_forward;
Unary1BackwardFn leaky_relu_backward;
extern const ReluKernels relu_kernels;
extern const GeluKernels gelu_kernels;
extern const ClampKernels clamp_kernels;
extern const LeakyReluKernels leaky_relu_kernels;
extern const PointwiseKernels sigmoid_kernels;
extern const PointwiseKernels tanh_kernels;
extern const HardSigmoidKernels hardsigmoid_kernels;
extern const PointwiseKernels hardswish_kernels;
}  // namespace ref

// No fast tanh forward: the tanh set names ref::tanh_forward.
namespace cpu {
UnaryFn relu_forward;
UnaryBackwardFn relu_backward;
UnaryFn sigmoid_forward;
UnaryBackwardFn sigmoid_backward;
UnaryBackwardFn tanh_backward;
UnaryFn hardswish_forward;
UnaryBackwardFn hardswish_backward;
Unary2Fn clamp_forward;
Unary2BackwardFn clamp_backward;
Unary2Fn hardsigmoid_forward;
Unary2BackwardFn hardsigmoid_backward;
Unary1Fn leaky_relu_forward;
Unary1BackwardFn leaky_relu_backward;
UnaryFn gelu_forward;  // cpu/gelu.cpp
UnaryBackwardFn gelu_backward;
extern const GeluKernels gelu_kernels;
extern const ReluKernels relu_kernels;
extern const ClampKernels clamp_kernels;
extern const LeakyReluKernels leaky_relu_kernels;
extern const PointwiseKernels sigmoid_kernels;
extern const PointwiseKernels tanh_kernels;
extern const HardSigmoidKernels hardsigmoid_kernels;
extern const PointwiseKernels hardswish_kernels;
}  // namespace cpu

namespace cuda {
UnaryFn relu_forward;
UnaryBackwardFn relu_backward;
UnaryBackwardFn relu_backward_guided;
UnaryBackwardFn relu_backward_deconv;
UnaryFn gelu_forward;
UnaryBackwardFn gelu_backward;
UnaryFn sigmoid_forward;
UnaryBackwardFn sigmoid_backward;
UnaryFn tanh_forward;
UnaryBackwardFn tanh_backward;
UnaryFn hardswish_forward;
UnaryBackwardFn hardswish_backward;
Unary2Fn clamp_forward;
Unary2BackwardFn clamp_backward;
Unary2Fn hardsigmoid_forward;
Unary2BackwardFn hardsigmoid_backward;
Unary1Fn leaky_relu_forward;
Unary1BackwardFn leaky_relu_backward;
extern const ReluKernels relu_kernels;
extern const GeluKernels gelu_kernels;
extern const ClampKernels clamp_kernels;
extern const LeakyReluKernels leaky_relu_kernels;
extern const PointwiseKernels sigmoid_kernels;
extern const PointwiseKernels tanh_kernels;
extern const HardSigmoidKernels hardsigmoid_kernels;
extern const PointwiseKernels hardswish_kernels;
}  // namespace cuda

}  // namespace gb::kernels
