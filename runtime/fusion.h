// Op fusion at the module level, in two forms.
// Inference: a Conv2d followed by an eval-mode BatchNorm2d (then optionally a residual add and a
// ReLU) runs as one conv2d_fused op, with the batch norm folded into a per-channel scale and shift
// applied in the convolution's store. It applies only where nothing can observe or differentiate
// the skipped intermediate tensors:
//   - no graph is being recorded (inside a NoGradGuard) and no op trace is active
//     (runtime/trace.h: a trace sees the unfused ops),
//   - neither module has hooks (Grad-CAM, feature-map taps and the profiler's per-module view of
//     hooked layers keep working; hooking a layer turns fusion off for it),
//   - the batch norm is in eval mode, the fast CPU kernels are selected (reference mode runs the
//     modules one by one), and fusion is enabled (set_op_fusion; on by default).
// Results match the unfused modules up to float rounding of the folded scale and shift.
// Training: a training-mode BatchNorm2d without hooks, followed by a residual add and/or a ReLU,
// runs as one batch_norm_act op (recorded for backward; the ReLU rule of the op table applies).
#pragma once
#include <limits>

#include "runtime/module.h"
#include "runtime/tensor.h"

namespace gb::nn {

// Process-wide switch for both forms (for benchmarks and cross-checks); on by default.
bool op_fusion_enabled();
void set_op_fusion(bool on);

// True when conv (a Conv2d) and bn (a BatchNorm2d over its output channels) may run fused on x
// under the rules above.
bool can_fuse_conv_bn(const Module& conv, const Module& bn);

// act(bn(conv(x)) + residual), act = min(max(v, 0), relu_cap) when relu (ReLU by default; the
// graph models' clamp(0, hi) passes hi), residual optional (undefined: none), as one fused op.
// requires: can_fuse_conv_bn(conv, bn), and ops::conv2d_fused's requirements on relu_cap.
Tensor fused_conv_bn(const Module& conv, const Module& bn, const Tensor& x, const Tensor& residual,
                     bool relu, float relu_cap = std::numeric_limits<float>::infinity());

// True when bn (a BatchNorm2d) is in training mode, has no hooks, no trace is active, the fast CPU kernels are
// selected and fusion is enabled.
bool can_fuse_bn_act(const Module& bn);
// act(bn(x) + residual), act = ReLU when relu, residual optional, as one batch_norm_act op; counts
// the batch in bn's num_batches_tracked as its forward would. requires: can_fuse_bn_act(bn).
Tensor fused_bn_act(const Module& bn, const Tensor& x, const Tensor& residual, bool relu);

// Runs parent's children in registration order on x (as Sequential does), fusing each
// Conv2d -> BatchNorm2d [-> ReLU] run of consecutive children where can_fuse_conv_bn allows, and
// each BatchNorm2d -> ReLU run where can_fuse_bn_act allows; a ReLU child is fused only when it
// has no hooks either.
Tensor forward_children_fused(Module& parent, const Tensor& x);

}  // namespace gb::nn
