// cuDNN as the optional second convolution backend (kept for comparison with the hand-written
// kernels). Same contracts as cuda::conv2d_* in kernels/conv2d.h. Built only when cuDNN is found
// (GB_WITH_CUDNN); cuDNN chooses its algorithm by its heuristics, in deterministic mode.
#pragma once
#include "kernels/conv2d.h"

namespace gb::kernels::cuda::cudnn {

Conv2dForwardFn conv2d_forward;
Conv2dBackwardInputFn conv2d_backward_input;
Conv2dBackwardWeightFn conv2d_backward_weight;

}  // namespace gb::kernels::cuda::cudnn
