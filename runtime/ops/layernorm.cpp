// layer_norm over the last dimension: shape checks, dispatch through the op table and the
// backward rule (from the input and the row statistics the forward saves). Kernels:
// kernels/layernorm.h. Shape letters: N rows (the leading dims together), D features.
#include <string>
#include <utility>

#include "runtime/ops.h"
#include "runtime/ops/common.h"
#include "runtime/trace.h"

namespace gb::ops {
using namespace detail;

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  const OpId op = OpId::LayerNorm;
  check_input(op, x, "input");
  if (x.dim() < 1 || x.size(-1) < 1) fail(op, "input needs a last dimension of at least 1");
  if (!(eps >= 0.0f)) fail(op, "eps must be >= 0");
  const int64_t D = x.size(-1), N = x.numel() / D;
  for (const auto& [t, what] : {std::pair{&weight, "weight"}, std::pair{&bias, "bias"}}) {
    if (!t->defined()) continue;
    check_input(op, *t, what);
    if (t->dim() != 1 || t->size(0) != D) {
      fail(op, std::string(what) + " must be [" + std::to_string(D) + "], got " +
                   shape_str(t->shape()));
    }
  }
  check_same_device(op, x, {&weight, &bias});
  const auto& k = kernels_for<OpId::LayerNorm>(x.device());
  Tensor xc = dense(x), wc = weight.defined() ? dense(weight) : Tensor();
  Tensor bc = bias.defined() ? dense(bias) : Tensor();
  Tensor y = empty_like_device(x.shape(), x);
  Tensor mean = empty_like_device({N}, x), rstd = empty_like_device({N}, x);
  k.forward(N, D, xc.f32(), f32_or_null(wc), f32_or_null(bc), eps, y.f32(), mean.f32(), rstd.f32());
  Tensor xs = xc.detach(), ws = wc.defined() ? wc.detach() : Tensor();
  const bool has_w = weight.defined(), has_b = bias.defined();
  record(op, {x, weight, bias}, y, [=, &k](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = input_grad_needed(0) ? empty_like_device(xs.shape(), xs) : Tensor();
    Tensor dw = has_w && input_grad_needed(1) ? empty_like_device({D}, xs) : Tensor();
    Tensor db = has_b && input_grad_needed(2) ? empty_like_device({D}, xs) : Tensor();
    k.backward(N, D, xs.f32(), f32_or_null(ws), mean.f32(), rstd.f32(), g.f32(), f32_or_null(dx),
               f32_or_null(dw), f32_or_null(db));
    return std::vector<Tensor>{dx, dw, db};
  });
  if (tracing()) trace_attrs({{"epsilon", {static_cast<double>(eps)}}});
  return y;
}

}  // namespace gb::ops
