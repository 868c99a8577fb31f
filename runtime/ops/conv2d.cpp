// conv2d and the inference-only conv2d_fused: shape checks, dispatch through the op table and the
// backward rule. Kernels: kernels/conv2d.h. Shape letters: N, C, H, W input; K output channels;
// R, S kernel; P, Q output.
#include "runtime/ops.h"
#include "runtime/ops/common.h"
#include "runtime/profiler.h"
#include "runtime/trace.h"

namespace gb::ops {
using namespace detail;

namespace {
// Checks x, w and bias for op and returns the kernel shape.
kernels::Conv2dShape conv_shape(OpId op, const Tensor& x, const Tensor& w, const Tensor& bias,
                                const Conv2dOptions& opt) {
  check_input(op, x, "input");
  check_input(op, w, "weight");
  check_dim(op, x, 4, "input");
  check_dim(op, w, 4, "weight");
  kernels::Conv2dShape s;
  s.N = x.size(0), s.C = x.size(1), s.H = x.size(2), s.W = x.size(3);
  s.K = w.size(0), s.R = w.size(2), s.S = w.size(3);
  s.stride_h = opt.stride_h, s.stride_w = opt.stride_w;
  s.pad_h = opt.pad_h, s.pad_w = opt.pad_w;
  s.dilation_h = opt.dilation_h, s.dilation_w = opt.dilation_w;
  s.groups = opt.groups;
  if (opt.stride_h < 1 || opt.stride_w < 1 || opt.pad_h < 0 || opt.pad_w < 0 || opt.groups < 1 ||
      opt.dilation_h < 1 || opt.dilation_w < 1) {
    fail(op, "bad stride/padding/dilation/groups");
  }
  if (s.C % s.groups != 0 || s.K % s.groups != 0) {
    fail(op, "channels " + std::to_string(s.C) + " -> " + std::to_string(s.K) +
                 " not divisible by groups " + std::to_string(s.groups));
  }
  if (w.size(1) != s.C / s.groups) {
    fail(op, "weight " + shape_str(w.shape()) + " does not match input " + shape_str(x.shape()) +
                 " with groups " + std::to_string(s.groups));
  }
  // P()/Q() divide with truncation toward zero, so test the window size itself as well.
  if (s.H + 2 * s.pad_h < s.R_span() || s.W + 2 * s.pad_w < s.S_span() || s.P() < 1 || s.Q() < 1) {
    fail(op, "kernel larger than padded input " + shape_str(x.shape()));
  }
  if (bias.defined()) {
    check_input(op, bias, "bias");
    if (bias.dim() != 1 || bias.size(0) != s.K) fail(op, "bias must be [K]");
  }
  check_same_device(op, x, {&w, &bias});
  return s;
}

// Checks a per-channel vector [K] (may be undefined).
void check_channel_vector(OpId op, const Tensor& t, int64_t K, const char* what) {
  if (!t.defined()) return;
  check_input(op, t, what);
  if (t.dim() != 1 || t.size(0) != K)
    fail(op, std::string(what) + " must be [K] with K=" + std::to_string(K));
}

// Tells the profiler which CPU algorithm runs shape s on `backend` (the GPU reports nothing).
void note_conv_kernel(Backend backend, const kernels::Conv2dShape& s, const char* prefix = "") {
  if (!profile::enabled() || backend == Backend::Cuda) return;
  profile::note_kernel(std::string(prefix) + (backend == Backend::CpuFast
                                                  ? kernels::cpu::conv2d_kernel_name(s)
                                                  : "reference"));
}

void refuse_grad(OpId op, std::initializer_list<const Tensor*> inputs) {
  if (!grad_mode_enabled()) return;
  for (const Tensor* t : inputs) {
    if (t->defined() && (t->requires_grad() || t->grad_fn())) {
      fail(op,
           "inference only: an input requires grad (use conv2d, batch_norm and relu, or a "
           "NoGradGuard)");
    }
  }
}
}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& opt) {
  const kernels::Conv2dShape s = conv_shape(OpId::Conv2d, x, w, bias, opt);
  const auto& k = kernels_for<OpId::Conv2d>(x.device());
  const Backend backend = backend_for(x.device().type);  // the backward uses the same kernels
  Tensor xc = dense(x), wc = dense(w), bc = bias.defined() ? dense(bias) : Tensor();
  Tensor y = empty_like_device({s.N, s.K, s.P(), s.Q()}, x);
  note_conv_kernel(backend, s);
  k.forward(s, xc.f32(), wc.f32(), f32_or_null(bc), y.f32());
  const bool need_x = x.requires_grad() || x.grad_fn();
  Tensor xs = xc.detach(), ws = wc.detach();
  const bool has_bias = bias.defined();
  record(OpId::Conv2d, {x, w, bias}, y,
         [s, xs, ws, has_bias, need_x, backend, &k](const Tensor& gy) {
           note_conv_kernel(backend, s);
           Tensor g = dense(gy);
           // Only the gradients this backward pass uses (e.g. no dW for a saliency map).
           const bool want_dx = need_x && input_grad_needed(0);
           const bool want_dw = input_grad_needed(1) || (has_bias && input_grad_needed(2));
           Tensor dx, dw, db;
           if (want_dx) {
             dx = empty_like_device(xs.shape(), xs);
             k.backward_input(s, g.f32(), ws.f32(), dx.f32());
           }
           if (want_dw) {
             dw = empty_like_device(ws.shape(), ws);
             if (has_bias) db = empty_like_device({s.K}, ws);
             k.backward_weight(s, xs.f32(), g.f32(), dw.f32(), f32_or_null(db));
           }
           return std::vector<Tensor>{dx, dw, db};
         });
  if (tracing()) {
    trace_attrs({{"stride", {double(opt.stride_h), double(opt.stride_w)}},
                 {"padding", {double(opt.pad_h), double(opt.pad_w)}},
                 {"dilation", {double(opt.dilation_h), double(opt.dilation_w)}},
                 {"groups", {double(opt.groups)}}});
  }
  return y;
}

Tensor conv2d_fused(const Tensor& x, const Tensor& w, const Tensor& scale, const Tensor& shift,
                    const Tensor& residual, bool relu, const Conv2dOptions& opt, float relu_cap) {
  const OpId op = OpId::Conv2dFused;
  refuse_when_tracing(op);
  if (!(relu_cap > 0.0f)) fail(op, "relu_cap " + std::to_string(relu_cap) + " must be > 0");
  if (!relu && relu_cap != std::numeric_limits<float>::infinity()) {
    fail(op, "relu_cap " + std::to_string(relu_cap) + " given without relu");
  }
  const kernels::Conv2dShape s = conv_shape(op, x, w, Tensor(), opt);
  check_channel_vector(op, scale, s.K, "scale");
  check_channel_vector(op, shift, s.K, "shift");
  const Shape y_shape{s.N, s.K, s.P(), s.Q()};
  if (residual.defined()) {
    check_input(op, residual, "residual");
    if (residual.shape() != y_shape) {
      fail(op, "residual " + shape_str(residual.shape()) + " must match the output " +
                   shape_str(y_shape));
    }
  }
  refuse_grad(op, {&x, &w, &scale, &shift, &residual});
  const auto& k = kernels_for<OpId::Conv2dFused>(x.device());
  Tensor xc = dense(x), wc = dense(w);
  Tensor sc = scale.defined() ? dense(scale) : Tensor();
  Tensor sh = shift.defined() ? dense(shift) : Tensor();
  Tensor rc = residual.defined() ? dense(residual) : Tensor();
  Tensor y = empty_like_device(y_shape, x);
  kernels::ConvEpilogue ep;
  ep.scale = f32_or_null(sc);
  ep.shift = f32_or_null(sh);
  ep.residual = f32_or_null(rc);
  ep.relu = relu;
  ep.relu_cap = relu_cap;
  note_conv_kernel(backend_for(x.device().type), s, "fused ");
  k.forward(s, xc.f32(), wc.f32(), ep, y.f32());
  return y;
}

}  // namespace gb::ops
