// The pointwise activations of model import: clamp, leaky_relu, sigmoid, tanh, hardsigmoid and
// hardswish (kernels/activation.h), and prelu with its learnable per-channel slope
// (kernels/prelu.h), each dispatched through its own op-table row. Any shape; the backward reads
// the forward input (clamp, leaky_relu, hardsigmoid, hardswish, prelu) or output (sigmoid, tanh),
// as the contract of each says. Shape letters (prelu): N batch, C channels, L = the product of
// the dimensions after C.
#include <cmath>

#include "runtime/ops.h"
#include "runtime/ops/common.h"
#include "runtime/trace.h"

namespace gb::ops {
using namespace detail;
namespace {

// y = forward(n, x, y) over the dense input; the backward calls backward(n, saved, dy, dx) with
// saved the forward output (from_output) or input. Both closures capture the op's kernel set, so
// the two passes run the same backend.
template <class Forward, class Backward>
Tensor pointwise(OpId op, const Tensor& x, bool from_output, Forward forward, Backward backward) {
  Tensor xc = dense(x);
  Tensor y = empty_like_device(x.shape(), x);
  const int64_t n = x.numel();
  forward(n, xc.f32(), y.f32());
  const Tensor saved = (from_output ? y : xc).detach();
  record(op, {x}, y, [saved, n, backward](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device(saved.shape(), saved);
    backward(n, saved.f32(), g.f32(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  return y;
}

void check_not_nan(OpId op, float v, const char* what) {
  if (std::isnan(v)) fail(op, std::string(what) + " must not be NaN");
}

}  // namespace

Tensor clamp(const Tensor& x, float lo, float hi) {
  check_input(OpId::Clamp, x, "input");
  check_not_nan(OpId::Clamp, lo, "lo");
  check_not_nan(OpId::Clamp, hi, "hi");
  const auto& k = kernels_for<OpId::Clamp>(x.device());
  Tensor y = pointwise(
      OpId::Clamp, x, false,
      [&k, lo, hi](int64_t n, const float* in, float* out) { k.forward(n, in, lo, hi, out); },
      [&k, lo, hi](int64_t n, const float* in, const float* dy, float* dx) {
        k.backward(n, in, lo, hi, dy, dx);
      });
  if (tracing()) trace_attrs({{"lo", {double(lo)}}, {"hi", {double(hi)}}});
  return y;
}

Tensor relu6(const Tensor& x) { return clamp(x, 0.0f, 6.0f); }

Tensor leaky_relu(const Tensor& x, float alpha) {
  check_input(OpId::LeakyRelu, x, "input");
  check_not_nan(OpId::LeakyRelu, alpha, "alpha");
  const auto& k = kernels_for<OpId::LeakyRelu>(x.device());
  Tensor y = pointwise(
      OpId::LeakyRelu, x, false,
      [&k, alpha](int64_t n, const float* in, float* out) { k.forward(n, in, alpha, out); },
      [&k, alpha](int64_t n, const float* in, const float* dy, float* dx) {
        k.backward(n, in, alpha, dy, dx);
      });
  if (tracing()) trace_attrs({{"alpha", {double(alpha)}}});
  return y;
}

Tensor sigmoid(const Tensor& x) {
  check_input(OpId::Sigmoid, x, "input");
  const auto& k = kernels_for<OpId::Sigmoid>(x.device());
  return pointwise(OpId::Sigmoid, x, true, k.forward, k.backward);
}

Tensor tanh(const Tensor& x) {
  check_input(OpId::Tanh, x, "input");
  const auto& k = kernels_for<OpId::Tanh>(x.device());
  return pointwise(OpId::Tanh, x, true, k.forward, k.backward);
}

Tensor hardsigmoid(const Tensor& x, float alpha, float beta) {
  check_input(OpId::HardSigmoid, x, "input");
  check_not_nan(OpId::HardSigmoid, alpha, "alpha");
  check_not_nan(OpId::HardSigmoid, beta, "beta");
  const auto& k = kernels_for<OpId::HardSigmoid>(x.device());
  Tensor y = pointwise(
      OpId::HardSigmoid, x, false,
      [&k, alpha, beta](int64_t n, const float* in, float* out) {
        k.forward(n, in, alpha, beta, out);
      },
      [&k, alpha, beta](int64_t n, const float* in, const float* dy, float* dx) {
        k.backward(n, in, alpha, beta, dy, dx);
      });
  if (tracing()) trace_attrs({{"alpha", {double(alpha)}}, {"beta", {double(beta)}}});
  return y;
}

Tensor hardswish(const Tensor& x) {
  check_input(OpId::HardSwish, x, "input");
  const auto& k = kernels_for<OpId::HardSwish>(x.device());
  return pointwise(OpId::HardSwish, x, false, k.forward, k.backward);
}

Tensor prelu(const Tensor& x, const Tensor& slope) {
  const OpId op = OpId::PRelu;
  check_input(op, x, "input");
  check_input(op, slope, "slope");
  check_same_device(op, x, {&slope});
  const int64_t S = slope.numel();
  if (slope.dim() != 1 || (S != 1 && (x.dim() < 2 || x.size(1) != S))) {
    fail(op, "slope must be [1] or [C] for input [N,C,...]; got slope " + shape_str(slope.shape()) +
                 " for input " + shape_str(x.shape()));
  }
  // A single slope is the one-channel case: x viewed as [1, 1, numel].
  const int64_t N = S == 1 ? 1 : x.size(0), C = S;
  const int64_t L = N * C == 0 ? 0 : x.numel() / (N * C);
  const auto& k = kernels_for<OpId::PRelu>(x.device());
  Tensor xc = dense(x), sc = dense(slope);
  Tensor y = empty_like_device(x.shape(), x);
  k.forward(N, C, L, xc.f32(), sc.f32(), y.f32());
  Tensor xs = xc.detach(), ss = sc.detach();
  record(op, {x, slope}, y, [=, &k](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = input_grad_needed(0) ? empty_like_device(xs.shape(), xs) : Tensor();
    Tensor ds = input_grad_needed(1) ? empty_like_device(ss.shape(), ss) : Tensor();
    k.backward(N, C, L, xs.f32(), ss.f32(), g.f32(), f32_or_null(dx), f32_or_null(ds));
    return std::vector<Tensor>{dx, ds};
  });
  return y;
}

}  // namespace gb::ops
