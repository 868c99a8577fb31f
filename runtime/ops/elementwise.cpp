// Broadcasting elementwise ops (add, sub, mul, div) and scale, dispatched through the op table.
// Kernels: kernels/elementwise.h. Broadcasting follows NumPy: shapes align at the right, size-1
// dimensions stretch.
#include <algorithm>

#include "runtime/ops.h"
#include "runtime/ops/broadcast.h"
#include "runtime/ops/common.h"
#include "runtime/trace.h"

namespace gb::ops {
using namespace detail;
namespace {

Shape broadcast_shape(OpId op, const Shape& a, const Shape& b) {
  const size_t nd = std::max(a.size(), b.size());
  Shape out(nd);
  for (size_t i = 0; i < nd; ++i) {
    const int64_t da = i < nd - a.size() ? 1 : a[i - (nd - a.size())];
    const int64_t db = i < nd - b.size() ? 1 : b[i - (nd - b.size())];
    if (da != db && da != 1 && db != 1) {
      fail(op, "shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
    }
    out[i] = std::max(da, db);
  }
  return out;
}

kernels::BinaryOp binary_kind(OpId op) {
  switch (op) {
    case OpId::Sub:
      return kernels::BinaryOp::Sub;
    case OpId::Mul:
      return kernels::BinaryOp::Mul;
    case OpId::Div:
      return kernels::BinaryOp::Div;
    default:
      return kernels::BinaryOp::Add;
  }
}

// y = a / b: da = g / b, db = -(g / b) * y (= -g * a / b^2), each summed to its input's shape.
// db is skipped when b's gradient is not needed.
std::vector<Tensor> div_backward(const kernels::BinaryKernels& k, const Tensor& g, const Tensor& b,
                                 const Tensor& y, const Shape& shape_a, const Shape& shape_b) {
  const Tensor g_over_b = broadcast_binary(k, kernels::BinaryOp::Div, g, b, g.shape());
  Tensor db;
  if (input_grad_needed(1)) {
    const Tensor t = broadcast_binary(k, kernels::BinaryOp::Mul, g_over_b, y, g.shape());
    db = sum_to(scale(t, -1.0f), shape_b);
  }
  return {sum_to(g_over_b, shape_a), db};
}

Tensor binary(OpId op, const Tensor& a, const Tensor& b) {
  check_input(op, a, "lhs");
  check_input(op, b, "rhs");
  check_same_device(op, a, {&b});
  const Shape out_shape = broadcast_shape(op, a.shape(), b.shape());
  const kernels::BinaryKernels& k = binary_kernels_for(op, a.device());
  Tensor y = broadcast_binary(k, binary_kind(op), a, b, out_shape);
  const Shape shape_a = a.shape(), shape_b = b.shape();
  // What the backward reads: mul the other operand, div the divisor and the quotient.
  Tensor as = op == OpId::Mul ? dense(a).detach() : Tensor();
  Tensor bs = op == OpId::Mul || op == OpId::Div ? dense(b).detach() : Tensor();
  Tensor ys = op == OpId::Div ? y.detach() : Tensor();
  record(op, {a, b}, y, [=, &k](const Tensor& gy) {
    Tensor g = dense(gy);
    switch (op) {
      case OpId::Sub:
        return std::vector<Tensor>{sum_to(g, shape_a), sum_to(scale(g, -1.0f), shape_b)};
      case OpId::Mul:
        return std::vector<Tensor>{
            sum_to(broadcast_binary(k, kernels::BinaryOp::Mul, g, bs, g.shape()), shape_a),
            sum_to(broadcast_binary(k, kernels::BinaryOp::Mul, g, as, g.shape()), shape_b)};
      case OpId::Div:
        return div_backward(k, g, bs, ys, shape_a, shape_b);
      default:
        return std::vector<Tensor>{sum_to(g, shape_a), sum_to(g, shape_b)};
    }
  });
  return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary(OpId::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(OpId::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(OpId::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(OpId::Div, a, b); }

Tensor scale(const Tensor& a, float factor) {
  check_input(OpId::Scale, a, "input");
  const auto& k = kernels_for<OpId::Scale>(a.device());
  Tensor ac = dense(a);
  Tensor y = empty_like_device(a.shape(), a);
  k.scale(y.numel(), ac.f32(), factor, y.f32());
  record(OpId::Scale, {a}, y,
         [factor](const Tensor& gy) { return std::vector<Tensor>{scale(gy, factor)}; });
  if (tracing()) trace_attrs({{"factor", {double(factor)}}});
  return y;
}

}  // namespace gb::ops
