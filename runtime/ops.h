// The differentiable op API. Every function checks its inputs (shape, dtype, device) with an
// error naming the op, dispatches through the op table (runtime/op_table.h) and records its
// backward on the autograd tape when grad mode is on.
// Shape letters: N batch, C channels, H/W height/width, K output channels, R/S kernel size,
// D features (last dimension), I/O linear input/output features.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

#include "runtime/tensor.h"

namespace gb {
class Generator;
class ProcessGroup;

namespace ops {

// Per-axis stride, padding and dilation (tap (r, s) of output (p, q) reads input
// (p*stride_h - pad_h + r*dilation_h, q*stride_w - pad_w + s*dilation_w)), and groups.
// {stride, padding, groups} sets both axes alike (the zoo's square layers).
struct Conv2dOptions {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t groups = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  Conv2dOptions() = default;
  Conv2dOptions(int64_t stride, int64_t padding = 0, int64_t groups = 1)
      : stride_h(stride), stride_w(stride), pad_h(padding), pad_w(padding), groups(groups) {}
};

// x [N,C,H,W], w [K,C/groups,R,S], bias [K] or undefined -> [N,K,P,Q] with
// P = (H + 2*pad_h - (R - 1)*dilation_h - 1) / stride_h + 1, likewise Q. requires: stride and
// dilation >= 1, padding >= 0, C and K divisible by groups, the dilated kernel within the padded
// input (errors name the op).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& opt = {});
// Inference-only convolution with a fused epilogue, for folded conv + batch norm (+ residual)
// (+ ReLU or ReLU6): y[n,k] = act(conv(x, w)[n,k] * scale[k] + shift[k] + residual[n,k]), act =
// min(max(v, 0), relu_cap) when relu (plain ReLU with the default cap +infinity; 6 is ReLU6, and
// any cap gives clamp(v, 0, relu_cap) exactly, NaN passing), else the identity. scale/shift [K]
// and residual [N,K,P,Q] may be undefined (1, 0, 0). Records no backward: throws
// std::invalid_argument when grad mode is on and any input requires grad. requires: relu_cap > 0
// (not NaN), and relu set when relu_cap is finite (errors name the op).
Tensor conv2d_fused(const Tensor& x, const Tensor& w, const Tensor& scale, const Tensor& shift,
                    const Tensor& residual, bool relu, const Conv2dOptions& opt = {},
                    float relu_cap = std::numeric_limits<float>::infinity());
// Transposed convolution (PyTorch's conv_transpose2d, ONNX ConvTranspose with auto_pad NOTSET),
// the adjoint of conv2d in its input: x [N,C,H,W], w [C,K/groups,R,S], bias [K] or undefined ->
// [N,K,P,Q] with P = (H - 1) * stride_h - 2 * pad_h + R + output_padding_h, likewise Q.
// Gradients to x, w and bias. requires: stride >= 1, pad >= 0, 0 <= output_padding < stride,
// C and K divisible by groups, P and Q >= 1 (errors name the op).
struct ConvTranspose2dOptions {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t output_padding_h = 0, output_padding_w = 0;
  int64_t groups = 1;
};
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias,
                        const ConvTranspose2dOptions& opt = {});
// x [..., I] (rank >= 2: [N,I], or tokens [N,T,I]), w [O,I], bias [O] or undefined -> [..., O].
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias);
// Batched matrix product (torch.matmul for rank >= 2): a [..., M, K] x b [..., K, N] ->
// [..., M, N], the leading dims equal, or one side 2-D ([M, K] or [K, N]) and shared by every
// batch of the other (its gradient summed over them). An operand that is the transpose of a
// contiguous tensor in its last two dims (transpose(k, -2, -1)) is read in place, without a copy.
// Gradients to both. requires: F32, rank >= 2, same device, matching K and leading dims (errors
// name the op).
Tensor matmul(const Tensor& a, const Tensor& b);
// Layer normalisation over the last dimension (nn.LayerNorm(D), ONNX LayerNormalization axis
// -1): x [..., D], weight and bias [D] or undefined (1 and 0) -> [..., D] =
// (x - mean) / sqrt(var + eps) * weight + bias with the biased variance per row. Gradients to x,
// weight and bias. requires: F32, D >= 1, eps >= 0, weight/bias [D] (errors name the op).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);

// Batch norm over [N,C,H,W] (or [N,C]). Training: batch statistics, and running_mean/var (if
// defined) are updated in place with `momentum` (PyTorch's convention, unbiased variance).
// Eval: running statistics. gamma/beta may be undefined (no affine).
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                  Tensor running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);

// Training-mode batch norm whose statistics span the global batch of a data-parallel job (synced
// batch norm): every rank of `group` calls it with its shard x of the global batch, in the same
// module order. Mean and variance are combined over the ranks in rank order (Chan's pairwise
// formula, in double), and so are the backward's per-channel sums of dy and dy * xhat.
// `local_weight` is this rank's share of the global loss (its shard's images / the global batch's
// images): the trainer sums the ranks' parameter gradients weighted by it, and the input gradient
// is returned at the same scale. With one rank and local_weight 1 it equals batch_norm(training)
// to float rounding. Running statistics are updated from the global ones, identically on every
// rank. requires: local_weight > 0; at least one value per channel on this rank.
Tensor batch_norm_synced(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                         Tensor running_mean, Tensor running_var, float momentum, float eps,
                         ProcessGroup& group, float local_weight);

// Training-mode batch norm with a fused tail: act(batch_norm(x) + residual), act = ReLU when relu,
// residual (same shape as x) optional. One op and one pass instead of three; its backward applies
// the table's ReLU rule (relu_backward_rule) like relu does. Statistics as batch_norm(training).
Tensor batch_norm_act(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                      Tensor running_var, const Tensor& residual, bool relu, float momentum = 0.1f,
                      float eps = 1e-5f);

Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);

// Pointwise activations (any shape; one op-table row each; PyTorch's gradients, kernels and
// their exact formulas in kernels/activation.h). NaN inputs give NaN outputs.
// clamp: min(max(x, lo), hi) (lo > hi gives hi, as torch.clamp); pass +-infinity for a missing
// bound (ONNX Clip). Gradient dy where lo <= x <= hi, else 0. requires: lo, hi not NaN.
Tensor clamp(const Tensor& x, float lo, float hi);
// clamp(x, 0, 6), ONNX's Clip(0, 6); its gradient at exactly 0 and 6 is 1 (clamp's rule), where
// PyTorch's F.relu6 (hardtanh) gives 0.
Tensor relu6(const Tensor& x);
// x > 0 ? x : alpha * x; gradient alpha at x <= 0. requires: alpha not NaN.
Tensor leaky_relu(const Tensor& x, float alpha = 0.01f);
Tensor sigmoid(const Tensor& x);  // 1 / (1 + exp(-x))
Tensor tanh(const Tensor& x);
// max(0, min(1, alpha * x + beta)), as ONNX HardSigmoid (its defaults: alpha 0.2, beta 0.5;
// PyTorch's Hardsigmoid is alpha 1/6, beta 0.5); gradient alpha strictly inside (0, 1).
// requires: alpha, beta not NaN.
Tensor hardsigmoid(const Tensor& x, float alpha, float beta);
// x * hardsigmoid(x; 1/6, 0.5) (ONNX HardSwish = PyTorch's Hardswish, computed as PyTorch does).
Tensor hardswish(const Tensor& x);
// PReLU (PyTorch's nn.PReLU, ONNX PRelu with the slope reshaped to [C] or [1]): x [N,C,...] and
// slope [C], or any x with slope [1]; y = x > 0 ? x : slope[c] * x. Gradients to x and to the
// slope (dslope[c] = sum of x * dy where x <= 0). requires: same device, F32.
Tensor prelu(const Tensor& x, const Tensor& slope);

// Pooling windows over [N,C,H,W], as PyTorch's max_pool2d / avg_pool2d (dilation 1):
// P = floor((H + 2*pad_h - kernel_h) / stride_h) + 1 (ceil_mode: rounded up, minus one when the
// last window would start at or past H + pad_h), likewise Q; windows that overhang are clipped.
// Average pooling divides by the window clipped to the padded input (count_include_pad) or by
// the number of input pixels in it. requires: kernel >= 1, stride >= 1, 0 <= 2*pad <= kernel,
// H + 2*pad_h >= kernel_h and W + 2*pad_w >= kernel_w (errors name the op).
struct Pool2dOptions {
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
  bool ceil_mode = false;
  bool count_include_pad = true;
};
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& opt);
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& opt);
// Square windows; stride 0 means stride = kernel.
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
// [N,C,H,W] -> [N,C]
Tensor global_avg_pool(const Tensor& x);

// Elementwise with NumPy broadcasting.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
// a / b in IEEE float (division by zero gives +-inf or NaN, as in PyTorch). Gradients dy / b to
// a and -dy * a / b^2 (computed as -(dy / b) * y) to b, each summed to its input's shape.
Tensor div(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& a, float factor);

// Concatenation along `dim` (all other sizes equal).
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);

// Constant padding of [N,C,H,W] -> [N,C,top+H+bottom,left+W+right] with `value` (ONNX Pad
// mode=constant on the last two dims; F.pad(x, {left, right, top, bottom}, value)). Gradient: the
// slice of dy at the input's position. requires: 4-D F32 input, every pad >= 0.
Tensor pad2d(const Tensor& x, int64_t top, int64_t left, int64_t bottom, int64_t right,
             float value = 0.0f);

// Views (share storage when possible; reshape copies a non-contiguous input).
Tensor reshape(const Tensor& x, const Shape& shape);     // one -1 allowed
Tensor flatten(const Tensor& x, int64_t start_dim = 1);  // [N,...] -> [N, prod(...)]
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor contiguous(const Tensor& x);

// x converted to dtype `to` (F32, F16 or BF16; x itself when already of that dtype): narrowing
// rounds to nearest even, keeps subnormals and quiets NaNs; widening is exact
// (kernels/float_formats.h). The gradient is cast back to x's dtype. requires: x of F32, F16 or
// BF16 (errors name the op).
Tensor cast(const Tensor& x, DType to);

// Inverted dropout: zeroes with probability p and scales survivors by 1/(1-p) in training;
// identity otherwise. The mask is drawn from `gen` (Philox), so it is reproducible.
Tensor dropout(const Tensor& x, float p, bool training, Generator& gen);

// Over the last dimension of [..., D].
Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);
// logits [N,D], targets I64 [N] -> scalar mean loss; label_smoothing in [0,1).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, float label_smoothing = 0.0f);

// [N,C,H,W] -> [N,C,OH,OW], align_corners=false.
Tensor bilinear_resize(const Tensor& x, int64_t out_h, int64_t out_w);

// Reductions: over everything (-> scalar), or over `dims` (keepdim keeps them as size 1).
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);

// Sums `g` down to `shape` (the inverse of broadcasting); used by broadcasting backward rules.
Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace ops
}  // namespace gb
