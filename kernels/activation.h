// The activation family, elementwise over n floats: ReLU with its three backward rules and exact
// (erf) GELU. One contract for the reference (ref::, kernels/ref/activation.cpp), fast CPU (cpu::,
// kernels/cpu/elementwise.cpp: ReLU forward and standard backward, threaded in contiguous ranges
// above a size threshold, bit-identical to ref:: for any thread count) and CUDA (cuda::,
// kernels/cuda/elementwise.cu, one thread per element) kernels.
//   relu_forward           y = x > 0 ? x : 0, NaN passed through (as torch.relu)
//   relu_backward          dx = y > 0 ? dy : 0, from the forward *output* y
//   relu_backward_guided   dx = (y > 0 && dy > 0) ? dy : 0 (Guided Backprop's rule)
//   relu_backward_deconv   dx = dy > 0 ? dy : 0 (Deconvnet's rule; y unused, may be nullptr)
//   gelu_forward           y = x * Phi(x), Phi(x) = 0.5 * (1 + erf(x / sqrt(2))), in double
//   gelu_backward          dx = dy * (Phi(x) + x * phi(x)), from the forward *input* x, in double
// Outputs may alias inputs exactly (y == x, dx == dy), not partially. The CPU has no fast kernel
// for GELU and the guided/deconv rules: its sets name the ref:: functions.
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

namespace ref {
UnaryFn relu_forward;
UnaryBackwardFn relu_backward;
UnaryBackwardFn relu_backward_guided;
UnaryBackwardFn relu_backward_deconv;
UnaryFn gelu_forward;
UnaryBackwardFn gelu_backward;
extern const ReluKernels relu_kernels;
extern const GeluKernels gelu_kernels;
}  // namespace ref

namespace cpu {
UnaryFn relu_forward;
UnaryBackwardFn relu_backward;
extern const ReluKernels relu_kernels;
}  // namespace cpu

namespace cuda {
UnaryFn relu_forward;
UnaryBackwardFn relu_backward;
UnaryBackwardFn relu_backward_guided;
UnaryBackwardFn relu_backward_deconv;
UnaryFn gelu_forward;
UnaryBackwardFn gelu_backward;
extern const ReluKernels relu_kernels;
extern const GeluKernels gelu_kernels;
}  // namespace cuda

}  // namespace gb::kernels
