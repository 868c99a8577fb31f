// The layer-normalisation family (PyTorch's nn.LayerNorm over the last dimension, ONNX
// LayerNormalization with axis -1): y = (x - mean) * rstd * gamma + beta per row, with the biased
// variance and rstd = 1 / sqrt(var + eps). One contract for the reference (ref::,
// kernels/ref/layernorm.cpp: plain loops in double), fast CPU (cpu::, kernels/cpu/layernorm.cpp:
// rows across threads, SIMD within a row, the parameter gradients as per-block partials summed in
// block order, so nothing depends on the thread count) and CUDA (cuda::, kernels/cuda/layernorm.cu:
// one warp per row, fixed-order sums; one thread per column for the parameter gradients) kernels.
// Shape letters: N rows (every leading dimension together), D normalised features (contiguous).
//   forward   x [N,D], gamma [D] or nullptr (1), beta [D] or nullptr (0) -> y [N,D], and the
//             row statistics mean [N], rstd [N] the backward takes (both always written).
//   backward  x, gamma, mean, rstd, dy [N,D] -> dx [N,D], dgamma [D], dbeta [D], all overwritten;
//             each may be nullptr to skip it. With xhat = (x - mean) * rstd and g = dy * gamma:
//             dx = rstd * (g - mean_d(g) - xhat * mean_d(g * xhat)), dgamma = sum_n dy * xhat,
//             dbeta = sum_n dy.
// requires: N >= 0, D >= 1, eps >= 0. A NaN in a row makes that row's outputs NaN.
#pragma once
#include <cstdint>

#include "kernels/kernel_fn.h"

namespace gb::kernels {

using LayerNormForwardFn = void(int64_t N, int64_t D, const float* x, const float* gamma,
                                const float* beta, float eps, float* y, float* mean, float* rstd);
using LayerNormBackwardFn = void(int64_t N, int64_t D, const float* x, const float* gamma,
                                 const float* mean, const float* rstd, const float* dy, float* dx,
                                 float* dgamma, float* dbeta);

struct LayerNormKernels {
  KernelFn<LayerNormForwardFn> forward;
  KernelFn<LayerNormBackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};

namespace ref {
LayerNormForwardFn layer_norm_forward;
LayerNormBackwardFn layer_norm_backward;
extern const LayerNormKernels layer_norm_kernels;
}  // namespace ref

namespace cpu {
LayerNormForwardFn layer_norm_forward;
LayerNormBackwardFn layer_norm_backward;
extern const LayerNormKernels layer_norm_kernels;
}  // namespace cpu

namespace cuda {
LayerNormForwardFn layer_norm_forward;
LayerNormBackwardFn layer_norm_backward;
extern const LayerNormKernels layer_norm_kernels;
}  // namespace cuda

}  // namespace gb::kernels
