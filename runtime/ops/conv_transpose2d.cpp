// conv_transpose2d: shape checks, dispatch through the op table and the backward rule. Kernels:
// kernels/conv_transpose2d.h, whose shapes are those of the convolution the op transposes: its
// input x [N,C,H,W] is that convolution's output (K_conv = C, P_conv = H), the op's output
// [N,K,P,Q] its input. Shape letters below are the op's own (as in runtime/ops.h).
#include "runtime/ops.h"
#include "runtime/ops/common.h"
#include "runtime/trace.h"

namespace gb::ops {
using namespace detail;

namespace {
// Checks x, w, bias and opt and returns the kernels' shape (the transposed convolution's).
kernels::Conv2dShape transpose_shape(const Tensor& x, const Tensor& w, const Tensor& bias,
                                     const ConvTranspose2dOptions& opt) {
  const OpId op = OpId::ConvTranspose2d;
  check_input(op, x, "input");
  check_input(op, w, "weight");
  check_dim(op, x, 4, "input");
  check_dim(op, w, 4, "weight");
  if (opt.stride_h < 1 || opt.stride_w < 1 || opt.pad_h < 0 || opt.pad_w < 0 || opt.groups < 1) {
    fail(op, "bad stride/padding/groups");
  }
  if (opt.output_padding_h < 0 || opt.output_padding_w < 0 ||
      opt.output_padding_h >= opt.stride_h || opt.output_padding_w >= opt.stride_w) {
    fail(op, "output_padding must lie in [0, stride)");
  }
  const int64_t C = x.size(1), K = w.size(1) * opt.groups;
  if (w.size(0) != C || C % opt.groups != 0) {
    fail(op, "weight " + shape_str(w.shape()) + " does not match input " + shape_str(x.shape()) +
                 " with groups " + std::to_string(opt.groups));
  }
  kernels::Conv2dShape s;  // the convolution from [N,K,P,Q] to [N,C,H,W]
  s.N = x.size(0), s.C = K, s.K = C, s.R = w.size(2), s.S = w.size(3);
  s.H = (x.size(2) - 1) * opt.stride_h - 2 * opt.pad_h + s.R + opt.output_padding_h;
  s.W = (x.size(3) - 1) * opt.stride_w - 2 * opt.pad_w + s.S + opt.output_padding_w;
  s.stride_h = opt.stride_h, s.stride_w = opt.stride_w;
  s.pad_h = opt.pad_h, s.pad_w = opt.pad_w;
  s.groups = opt.groups;
  if (s.H < 1 || s.W < 1) fail(op, "padding leaves no output for input " + shape_str(x.shape()));
  if (bias.defined()) {
    check_input(op, bias, "bias");
    if (bias.dim() != 1 || bias.size(0) != K) fail(op, "bias must be [K]");
  }
  check_same_device(op, x, {&w, &bias});
  return s;
}
}  // namespace

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias,
                        const ConvTranspose2dOptions& opt) {
  const kernels::Conv2dShape s = transpose_shape(x, w, bias, opt);
  const auto& k = kernels_for<OpId::ConvTranspose2d>(x.device());
  Tensor xc = dense(x), wc = dense(w), bc = bias.defined() ? dense(bias) : Tensor();
  Tensor y = empty_like_device({s.N, s.C, s.H, s.W}, x);
  k.forward(s, xc.f32(), wc.f32(), f32_or_null(bc), y.f32());
  const bool need_x = x.requires_grad() || x.grad_fn();
  Tensor xs = xc.detach(), ws = wc.detach();
  const bool has_bias = bias.defined();
  record(OpId::ConvTranspose2d, {x, w, bias}, y,
         [s, xs, ws, has_bias, need_x, &k](const Tensor& gy) {
           Tensor g = dense(gy);
           const bool want_dx = need_x && input_grad_needed(0);
           const bool want_dw = input_grad_needed(1);
           const bool want_db = has_bias && input_grad_needed(2);
           Tensor dx, dw, db;
           if (want_dx) {
             dx = empty_like_device(xs.shape(), xs);
             k.backward_input(s, g.f32(), ws.f32(), dx.f32());
           }
           if (want_dw || want_db) {
             dw = empty_like_device(ws.shape(), ws);
             if (has_bias) db = empty_like_device({s.C}, ws);
             k.backward_weight(s, xs.f32(), g.f32(), dw.f32(), f32_or_null(db));
           }
           return std::vector<Tensor>{dx, dw, db};
         });
  if (tracing()) {
    trace_attrs({{"stride", {double(opt.stride_h), double(opt.stride_w)}},
                 {"padding", {double(opt.pad_h), double(opt.pad_w)}},
                 {"output_padding", {double(opt.output_padding_h), double(opt.output_padding_w)}},
                 {"groups", {double(opt.groups)}}});
  }
  return y;
}

}  // namespace gb::ops
