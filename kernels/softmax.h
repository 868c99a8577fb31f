// The softmax family over rows x [N,D] (D contiguous), numerically stable (the row maximum is
// subtracted), and cross-entropy with label smoothing. One contract for the reference (ref::,
// kernels/ref/softmax.cpp: plain loops in double), fast CPU (cpu::, kernels/cpu/softmax.cpp: rows
// across threads, an AVX2 exp of about 2 ulp on an exact x - max, double row sums; the loss sums
// per-row losses in row order, so nothing depends on the thread count) and CUDA (cuda::,
// kernels/cuda/softmax.cu: one warp per row, sums in double in a fixed order) kernels.
// Shape letters: N rows, D classes/features.
//   softmax_backward      takes the forward output y: dx = y * (dy - sum(dy * y)).
//   log_softmax_backward  takes the forward output y (log-probabilities): dx = dy - exp(y)*sum(dy).
//   cross_entropy_forward logits [N,D], integer targets [N] in [0,D) -> probs [N,D] (the softmax,
//                         kept for the backward) and *loss (one float on the kernel's device) =
//                         the mean over N of (1 - eps) * nll + eps * mean over classes of -logp
//                         (PyTorch's label smoothing eps).
//   cross_entropy_backward dlogits = (probs - ((1 - eps) * onehot + eps / D)) * *dloss / N, with
//                         dloss one float on the kernel's device (no host synchronisation on the
//                         GPU).
// A NaN in a row makes that row's outputs and the loss NaN. The runtime checks targets on the host;
// a CUDA kernel given a target outside [0, D) writes a NaN loss for its row rather than reading
// out of range.
#pragma once
#include <cstdint>

#include "kernels/kernel_fn.h"

namespace gb::kernels {

using SoftmaxForwardFn = void(int64_t N, int64_t D, const float* x, float* y);
using SoftmaxBackwardFn = void(int64_t N, int64_t D, const float* y, const float* dy, float* dx);
using CrossEntropyForwardFn = void(int64_t N, int64_t D, const float* logits,
                                   const int64_t* targets, float label_smoothing, float* probs,
                                   float* loss);
using CrossEntropyBackwardFn = void(int64_t N, int64_t D, const float* probs,
                                    const int64_t* targets, float label_smoothing,
                                    const float* dloss, float* dlogits);

// softmax and log_softmax have one set each, of this shape.
struct SoftmaxKernels {
  KernelFn<SoftmaxForwardFn> forward;
  KernelFn<SoftmaxBackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};

struct CrossEntropyKernels {
  KernelFn<CrossEntropyForwardFn> forward;
  KernelFn<CrossEntropyBackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};

namespace ref {
SoftmaxForwardFn softmax_forward;
SoftmaxBackwardFn softmax_backward;
SoftmaxForwardFn log_softmax_forward;
SoftmaxBackwardFn log_softmax_backward;
CrossEntropyForwardFn cross_entropy_forward;
CrossEntropyBackwardFn cross_entropy_backward;
extern const SoftmaxKernels softmax_kernels;
extern const SoftmaxKernels log_softmax_kernels;
extern const CrossEntropyKernels cross_entropy_kernels;
}  // namespace ref

namespace cpu {
SoftmaxForwardFn softmax_forward;
SoftmaxBackwardFn softmax_backward;
SoftmaxForwardFn log_softmax_forward;
SoftmaxBackwardFn log_softmax_backward;
CrossEntropyForwardFn cross_entropy_forward;
CrossEntropyBackwardFn cross_entropy_backward;
extern const SoftmaxKernels softmax_kernels;
extern const SoftmaxKernels log_softmax_kernels;
extern const CrossEntropyKernels cross_entropy_kernels;
}  // namespace cpu

namespace cuda {
SoftmaxForwardFn softmax_forward;
SoftmaxBackwardFn softmax_backward;
SoftmaxForwardFn log_softmax_forward;
SoftmaxBackwardFn log_softmax_backward;
CrossEntropyForwardFn cross_entropy_forward;
CrossEntropyBackwardFn cross_entropy_backward;
extern const SoftmaxKernels softmax_kernels;
extern const SoftmaxKernels log_softmax_kernels;
extern const CrossEntropyKernels cross_entropy_kernels;
}  // namespace cuda

}  // namespace gb::kernels
