// The 2-D convolution family (cross-correlation, as in PyTorch): the one contract that the
// reference (ref::), fast CPU (cpu::) and CUDA (cuda::) kernels implement, and their kernel sets.
// Dense NCHW float32. Shape letters: N batch, C input channels, H/W input size, K output channels,
// R/S kernel size, P/Q output size, G groups. Strides, paddings and dilations per axis
// (Conv2dShape, kernels/shapes.h); dilated shapes run im2col + GEMM on the CPU.
//   forward          x [N,C,H,W], w [K,C/G,R,S], bias [K] or nullptr -> y [N,K,P,Q]
//   backward_input   dy [N,K,P,Q], w -> dx [N,C,H,W] (overwritten)
//   backward_weight  x, dy -> dw [K,C/G,R,S] (overwritten), db [K] (overwritten; nullptr: none)
//   forward_fused    inference forward with an epilogue (ConvEpilogue) applied to each output
// ref:: are plain loops with double accumulators (kernels/ref/conv2d.cpp). cpu:: (kernels/cpu/
// conv2d.cpp) picks per shape and pass: the depthwise kernels (cpu/conv_depthwise.h, groups == C
// == K), Winograd F(4x4,3x3) (cpu/conv_winograd.h), the padded-flat implicit GEMM
// (cpu/conv_direct.h) or im2col + packed SGEMM; forward and backward-input are bit-identical for
// any thread count, backward-weight sums per-thread partials in thread order (bit-identical run to
// run for a fixed thread count; the depthwise one for any thread count). cuda:: (kernels/cuda/
// conv2d.cu) is an implicit GEMM with no im2col buffer and a deterministic split-K weight
// gradient, one thread per output element for depthwise shapes (cuda/conv_depthwise.cu), or cuDNN
// when selected (set_conv_backend); device pointers, glassbox's stream.
// Accuracy against ref:: (tests/conformance/, tests/test_kernels.cpp, tests/test_cuda_conv.cpp):
// per element |fast - ref| <= 1e-6 + 1e-4 * (|ref| + rms(ref)) in the conformance harness, and
// 1e-6 + 1e-5 * (the same sum over |terms|) in test_kernels (Winograd: 3e-5); CUDA: a relative
// norm error below 1e-5.
#pragma once
#include <limits>

#include "kernels/kernel_fn.h"
#include "kernels/shapes.h"

namespace gb::kernels {

// What a fused forward applies to each output before storing it:
//   y[n, k, p, q] = act(acc * scale[k] + shift[k] + residual[n, k, p, q]); scale == nullptr
// means 1, shift == nullptr means 0, residual == nullptr means 0, act is
// min(max(v, 0), relu_cap) when relu is true (ReLU with the default cap +infinity, ReLU6 with 6,
// as clamp(v, 0, relu_cap)) and the identity otherwise; relu_cap is read only when relu is set.
// A NaN v stays NaN under ReLU and the cap in every kernel. A conv bias is shift alone; an inference-mode batch
// norm folds into scale and shift, so conv+BN+ReLU (and a ResNet block's conv+BN+add+ReLU, and
// MobileNetV2's conv+ReLU6) is one pass over the output. residual must not alias y.
// requires: relu_cap > 0 (not NaN) when relu is set.
struct ConvEpilogue {
  const float* scale = nullptr;     // [K] or nullptr
  const float* shift = nullptr;     // [K] or nullptr
  const float* residual = nullptr;  // [N, K, P, Q] or nullptr
  bool relu = false;
  float relu_cap = std::numeric_limits<float>::infinity();
};

using Conv2dForwardFn = void(const Conv2dShape& s, const float* x, const float* w,
                             const float* bias, float* y);
using Conv2dBackwardInputFn = void(const Conv2dShape& s, const float* dy, const float* w,
                                   float* dx);
using Conv2dBackwardWeightFn = void(const Conv2dShape& s, const float* x, const float* dy,
                                    float* dw, float* db);
using Conv2dForwardFusedFn = void(const Conv2dShape& s, const float* x, const float* w,
                                  const ConvEpilogue& epilogue, float* y);

struct Conv2dKernels {
  KernelFn<Conv2dForwardFn> forward;
  KernelFn<Conv2dBackwardInputFn> backward_input;
  KernelFn<Conv2dBackwardWeightFn> backward_weight;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name},
            {"backward_input", backward_input.name},
            {"backward_weight", backward_weight.name}};
  }
};

// Inference only (no backward pass exists for the fused form).
struct Conv2dFusedKernels {
  KernelFn<Conv2dForwardFusedFn> forward;
  std::vector<KernelName> names() const { return {{"forward", forward.name}}; }
};

namespace ref {
Conv2dForwardFn conv2d_forward;
Conv2dBackwardInputFn conv2d_backward_input;
Conv2dBackwardWeightFn conv2d_backward_weight;
// conv2d_forward without bias, then the epilogue per element in float.
Conv2dForwardFusedFn conv2d_forward_fused;
extern const Conv2dKernels conv2d_kernels;
extern const Conv2dFusedKernels conv2d_fused_kernels;
}  // namespace ref

namespace cpu {
// Which algorithm cpu:: convolutions use. Depthwise shapes (groups == C == K) run
// conv_depthwise.h under every setting but Im2colGemm. Auto: Winograd F(4x4, 3x3) (conv_winograd.h)
// for all passes of 3x3, stride-1, pad-1 layers with at least 8 input and output channels (the
// weight gradient up to 512 x 512 channels) and at least 32 4x4 output tiles in the batch (so not
// for one small image; conv2d_winograd_worthwhile); the padded-flat kernels of conv_direct.h for
// the other passes and shapes where they apply (one group; stride 1 with a kernel larger than 1x1,
// or any stride > 1, whose backward-input stays on im2col + GEMM); im2col + GEMM elsewhere.
// PaddedFlat turns Winograd off; Im2colGemm turns Winograd, padded-flat and depthwise off (the old
// path); Winograd forces Winograd wherever it applies. For kernel research and benchmarks;
// process-wide, not thread-safe against concurrent convolutions.
enum class ConvAlgorithm { Auto, Im2colGemm, PaddedFlat, Winograd };
void set_conv_algorithm(ConvAlgorithm algorithm);
ConvAlgorithm conv_algorithm();
// Parses "auto", "im2col", "padded-flat" or "winograd"; returns false for anything else.
bool parse_conv_algorithm(const char* name, ConvAlgorithm* algorithm);
// The kernels cpu:: convolutions run for shape s, as "forward[; backward-input X][; backward-weight
// Y]" where the backward passes differ from the forward: e.g. "winograd F(4x4,3x3);
// backward-weight padded-flat", "padded-flat (phases); backward-input im2col+gemm", "gemm-1x1",
// "depthwise".
const char* conv2d_kernel_name(const Conv2dShape& s);

Conv2dForwardFn conv2d_forward;
Conv2dBackwardInputFn conv2d_backward_input;
Conv2dBackwardWeightFn conv2d_backward_weight;
// The epilogue is applied in the depthwise, Winograd or padded-flat kernel's store, or as one
// pass after im2col + GEMM.
Conv2dForwardFusedFn conv2d_forward_fused;
extern const Conv2dKernels conv2d_kernels;
extern const Conv2dFusedKernels conv2d_fused_kernels;
}  // namespace cpu

namespace cuda {
// Which convolution backend cuda::conv2d_* run: the hand-written implicit GEMM (default) or cuDNN
// (deterministic algorithms, FMA math, no TF32), for comparison. Process-wide; Cudnn throws at the
// next call when glassbox was built without cuDNN (cudnn_available() false).
enum class ConvBackend { HandWritten, Cudnn };
void set_conv_backend(ConvBackend backend);
ConvBackend conv_backend();
bool cudnn_available();

// Deterministic: no atomics; reductions run in a fixed order, so a given shape gives bitwise
// identical results run after run. No fused forward on the GPU (the row has no CUDA set).
// Depthwise shapes (groups == C == K) run cuda/conv_depthwise.h under the hand-written backend.
Conv2dForwardFn conv2d_forward;
Conv2dBackwardInputFn conv2d_backward_input;
Conv2dBackwardWeightFn conv2d_backward_weight;
extern const Conv2dKernels conv2d_kernels;

// The hand-written kernels alone, whatever the backend setting (benchmarks compare the two);
// depthwise shapes go to cuda/conv_depthwise.h.
namespace handwritten {
Conv2dForwardFn conv2d_forward;
Conv2dBackwardInputFn conv2d_backward_input;
Conv2dBackwardWeightFn conv2d_backward_weight;
}  // namespace handwritten
}  // namespace cuda

}  // namespace gb::kernels
