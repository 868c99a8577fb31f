// conv2d and linear: shape checks, kernel dispatch (fast or reference) and backward rules.
// Shape letters: N, C, H, W input; K output channels; R, S kernel; P, Q output; I/O features.
#include "kernels/cpu/conv.h"
#include "kernels/cpu/linear.h"
#include "kernels/cuda/conv.h"
#include "kernels/cuda/linear.h"
#include "runtime/ops.h"
#include "runtime/ops/common.h"
#include "runtime/profiler.h"

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
  s.stride_h = s.stride_w = opt.stride;
  s.pad_h = s.pad_w = opt.padding;
  s.groups = opt.groups;
  if (opt.stride < 1 || opt.padding < 0 || opt.groups < 1) fail(op, "bad stride/padding/groups");
  if (s.C % s.groups != 0 || s.K % s.groups != 0) {
    fail(op, "channels " + std::to_string(s.C) + " -> " + std::to_string(s.K) +
                 " not divisible by groups " + std::to_string(s.groups));
  }
  if (w.size(1) != s.C / s.groups) {
    fail(op, "weight " + shape_str(w.shape()) + " does not match input " + shape_str(x.shape()) +
                 " with groups " + std::to_string(s.groups));
  }
  // P()/Q() divide with truncation toward zero, so test the window size itself as well.
  if (s.H + 2 * s.pad_h < s.R || s.W + 2 * s.pad_w < s.S || s.P() < 1 || s.Q() < 1) {
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
}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& opt) {
  const kernels::Conv2dShape s = conv_shape(OpId::Conv2d, x, w, bias, opt);
  Tensor xc = dense(x), wc = dense(w), bc = bias.defined() ? dense(bias) : Tensor();
  Tensor y = empty_like_device({s.N, s.K, s.P(), s.Q()}, x);
  const float* bp = bc.defined() ? bc.f32() : nullptr;
  const bool fast = fast_cpu();  // backward uses the same kernels as forward
  const bool cuda = on_cuda(x);
  if (profile::enabled() && !cuda)
    profile::note_kernel(fast ? kernels::cpu::conv2d_kernel_name(s) : "reference");
  if (cuda) {
    GB_CUDA(kernels::cuda::conv2d_forward(s, xc.f32(), wc.f32(), bp, y.f32()));
  } else if (fast) {
    kernels::cpu::conv2d_forward(s, xc.f32(), wc.f32(), bp, y.f32());
  } else {
    kernels::ref::conv2d_forward(s, xc.f32(), wc.f32(), bp, y.f32());
  }
  const bool need_x = x.requires_grad() || x.grad_fn();
  Tensor xs = xc.detach(), ws = wc.detach();
  const bool has_bias = bias.defined();
  record("conv2d", {x, w, bias}, y, [s, xs, ws, has_bias, need_x, fast, cuda](const Tensor& gy) {
    if (profile::enabled() && !cuda) {
      profile::note_kernel(fast ? kernels::cpu::conv2d_kernel_name(s) : "reference");
    }
    Tensor g = dense(gy);
    // Only the gradients this backward pass uses (e.g. no dW for a saliency map).
    const bool want_dx = need_x && input_grad_needed(0);
    const bool want_dw = input_grad_needed(1) || (has_bias && input_grad_needed(2));
    Tensor dx, dw, db;
    if (want_dx) {
      dx = empty_like_device(xs.shape(), xs);
      if (cuda) {
        GB_CUDA(kernels::cuda::conv2d_backward_input(s, g.f32(), ws.f32(), dx.f32()));
      } else {
        (fast ? kernels::cpu::conv2d_backward_input : kernels::ref::conv2d_backward_input)(
            s, g.f32(), ws.f32(), dx.f32());
      }
    }
    if (want_dw) {
      dw = empty_like_device(ws.shape(), ws);
      if (has_bias) db = empty_like_device({s.K}, ws);
      if (cuda) {
        GB_CUDA(kernels::cuda::conv2d_backward_weight(s, xs.f32(), g.f32(), dw.f32(),
                                                      has_bias ? db.f32() : nullptr));
      } else {
        (fast ? kernels::cpu::conv2d_backward_weight : kernels::ref::conv2d_backward_weight)(
            s, xs.f32(), g.f32(), dw.f32(), has_bias ? db.f32() : nullptr);
      }
    }
    return std::vector<Tensor>{dx, dw, db};
  });
  return y;
}

Tensor conv2d_fused(const Tensor& x, const Tensor& w, const Tensor& scale, const Tensor& shift,
                    const Tensor& residual, bool relu, const Conv2dOptions& opt) {
  const OpId op = OpId::Conv2dFused;
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
  if (grad_mode_enabled()) {
    for (const Tensor* t : {&x, &w, &scale, &shift, &residual}) {
      if (t->defined() && (t->requires_grad() || t->grad_fn())) {
        fail(op,
             "inference only: an input requires grad (use conv2d, batch_norm and relu, or a "
             "NoGradGuard)");
      }
    }
  }
  Tensor xc = dense(x), wc = dense(w);
  Tensor sc = scale.defined() ? dense(scale) : Tensor();
  Tensor sh = shift.defined() ? dense(shift) : Tensor();
  Tensor rc = residual.defined() ? dense(residual) : Tensor();
  Tensor y = Tensor::empty(y_shape);
  kernels::cpu::ConvEpilogue ep;
  ep.scale = sc.defined() ? sc.f32() : nullptr;
  ep.shift = sh.defined() ? sh.f32() : nullptr;
  ep.residual = rc.defined() ? rc.f32() : nullptr;
  ep.relu = relu;
  if (fast_cpu()) {
    if (profile::enabled()) {
      profile::note_kernel(std::string("fused ") + kernels::cpu::conv2d_kernel_name(s));
    }
    kernels::cpu::conv2d_forward_fused(s, xc.f32(), wc.f32(), ep, y.f32());
    return y;
  }
  kernels::ref::conv2d_forward(s, xc.f32(), wc.f32(), nullptr, y.f32());
  float* py = y.f32();
  const int64_t PQ = s.P() * s.Q();
  for (int64_t nk = 0; nk < s.N * s.K; ++nk) {
    const int64_t k = nk % s.K;
    for (int64_t i = 0; i < PQ; ++i) {
      float v = py[nk * PQ + i] * (ep.scale ? ep.scale[k] : 1.0f) + (ep.shift ? ep.shift[k] : 0.0f);
      if (ep.residual) v += ep.residual[nk * PQ + i];
      py[nk * PQ + i] = relu && v < 0.0f ? 0.0f : v;
    }
  }
  return y;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const OpId op = OpId::Linear;
  check_input(op, x, "input");
  check_input(op, w, "weight");
  check_dim(op, x, 2, "input");
  check_dim(op, w, 2, "weight");
  const int64_t N = x.size(0), I = x.size(1), O = w.size(0);
  if (w.size(1) != I) {
    fail(op, "weight " + shape_str(w.shape()) + " does not match input " + shape_str(x.shape()));
  }
  if (bias.defined()) {
    check_input(op, bias, "bias");
    if (bias.dim() != 1 || bias.size(0) != O) fail(op, "bias must be [O]");
  }
  check_same_device(op, x, {&w, &bias});
  Tensor xc = dense(x), wc = dense(w), bc = bias.defined() ? dense(bias) : Tensor();
  Tensor y = empty_like_device({N, O}, x);
  const float* bp = bc.defined() ? bc.f32() : nullptr;
  const bool fast = fast_cpu();  // backward uses the same kernels as forward
  const bool cuda = on_cuda(x);
  if (cuda) {
    GB_CUDA(kernels::cuda::linear_forward(N, I, O, xc.f32(), wc.f32(), bp, y.f32()));
  } else if (fast) {
    kernels::cpu::linear_forward(N, I, O, xc.f32(), wc.f32(), bp, y.f32());
  } else {
    kernels::ref::linear_forward(N, I, O, xc.f32(), wc.f32(), bp, y.f32());
  }
  const bool need_x = x.requires_grad() || x.grad_fn();
  const bool has_bias = bias.defined();
  Tensor xs = xc.detach(), ws = wc.detach();
  record("linear", {x, w, bias}, y, [=](const Tensor& gy) {
    Tensor g = dense(gy);
    const bool want_dx = need_x && input_grad_needed(0);
    Tensor dx = want_dx ? empty_like_device({N, I}, xs) : Tensor();
    Tensor dw = empty_like_device({O, I}, xs);
    Tensor db = has_bias ? empty_like_device({O}, xs) : Tensor();
    auto fn = fast ? kernels::cpu::linear_backward : kernels::ref::linear_backward;
    if (cuda) GB_CUDA(fn = kernels::cuda::linear_backward);
    fn(N, I, O, xs.f32(), ws.f32(), g.f32(), want_dx ? dx.f32() : nullptr, dw.f32(),
       has_bias ? db.f32() : nullptr);
    return std::vector<Tensor>{dx, dw, db};
  });
  return y;
}

}  // namespace gb::ops
