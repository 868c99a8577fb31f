// linear (nn.Linear): shape checks, dispatch through the op table and the backward rule.
// Kernels: kernels/linear.h. Shape letters: N rows (every leading dim of the input together), I
// input features, O output features.
#include <algorithm>

#include "runtime/ops.h"
#include "runtime/ops/common.h"

namespace gb::ops {
using namespace detail;

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const OpId op = OpId::Linear;
  check_input(op, x, "input");
  check_input(op, w, "weight");
  if (x.dim() < 2) fail(op, "input must have at least 2 dimensions, got " + shape_str(x.shape()));
  check_dim(op, w, 2, "weight");
  const int64_t I = x.size(-1), N = x.numel() / std::max<int64_t>(I, 1), O = w.size(0);
  Shape out_shape = x.shape();
  out_shape.back() = O;
  if (w.size(1) != I) {
    fail(op, "weight " + shape_str(w.shape()) + " does not match input " + shape_str(x.shape()));
  }
  if (bias.defined()) {
    check_input(op, bias, "bias");
    if (bias.dim() != 1 || bias.size(0) != O) fail(op, "bias must be [O]");
  }
  check_same_device(op, x, {&w, &bias});
  const auto& k = kernels_for<OpId::Linear>(x.device());
  Tensor xc = dense(x), wc = dense(w), bc = bias.defined() ? dense(bias) : Tensor();
  Tensor y = empty_like_device(out_shape, x);
  k.forward(N, I, O, xc.f32(), wc.f32(), f32_or_null(bc), y.f32());
  const bool need_x = x.requires_grad() || x.grad_fn();
  const bool has_bias = bias.defined();
  Tensor xs = xc.detach(), ws = wc.detach();
  record(op, {x, w, bias}, y, [=, &k](const Tensor& gy) {
    Tensor g = dense(gy);
    const bool want_dx = need_x && input_grad_needed(0);
    Tensor dx = want_dx ? empty_like_device(xs.shape(), xs) : Tensor();
    Tensor dw = empty_like_device({O, I}, xs);
    Tensor db = has_bias ? empty_like_device({O}, xs) : Tensor();
    k.backward(N, I, O, xs.f32(), ws.f32(), g.f32(), f32_or_null(dx), dw.f32(), f32_or_null(db));
    return std::vector<Tensor>{dx, dw, db};
  });
  return y;
}

}  // namespace gb::ops
