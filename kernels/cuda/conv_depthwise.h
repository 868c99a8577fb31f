// The hand-written CUDA depthwise convolution: groups == C == K (one filter per channel, channel
// multiplier 1), any kernel size, stride and padding. Same contracts as cuda::conv2d_* in
// kernels/conv2d.h (device pointers, glassbox's stream); cuda::handwritten::conv2d_* route
// depthwise shapes here. Shape letters: N batch, C channels (= K = G), H/W input size, R/S kernel
// size, P/Q output size. Plain C++ (the dispatch in conv2d.cu and the tests include it).
//   forward          one thread per output element (n, c, p, q): its R*S taps in (r, s) order,
//                    fp32 FMAs, plus bias[c]
//   backward_input   one thread per input element (n, c, h, v): the taps (r, s) whose output
//                    (p, q) = ((h + ph - r) / sh, (v + pw - s) / sw) divides exactly and lies
//                    inside P x Q, in (r, s) order
//   backward_weight  one 256-thread block per (c, r, s): thread t sums the (n, p, q) = t, t + 256,
//                    ... of dy * x in fp32, then a fixed shared-memory tree; db[c] the same way
//                    with one more block per channel
// No atomics: bitwise the same result run after run. Accuracy: relative error < 1e-5 against
// ref:: (tests/test_cuda_conv.cpp).
#pragma once
#include "kernels/conv2d.h"

namespace gb::kernels::cuda::depthwise {

// True when s is depthwise: groups == C == K (C = K = 1 ungrouped included), without dilation
// (dilated depthwise layers run the implicit GEMM).
bool applicable(const Conv2dShape& s);

// requires: applicable(s); throws std::runtime_error otherwise or for a stride < 1.
Conv2dForwardFn conv2d_forward;
Conv2dBackwardInputFn conv2d_backward_input;
Conv2dBackwardWeightFn conv2d_backward_weight;

}  // namespace gb::kernels::cuda::depthwise
