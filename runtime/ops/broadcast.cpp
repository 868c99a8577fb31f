// Binary kernels over broadcast operands (see broadcast.h): element strides of each operand read
// as the output's shape (0 on stretched dims), then one kernel call.
#include "runtime/ops/broadcast.h"

#include "runtime/ops/common.h"

namespace gb::ops::detail {
namespace {
// Element strides of a contiguous tensor of `shape` read as `out` (0 where broadcast).
Shape broadcast_strides(const Shape& shape, const Shape& out) {
  const Shape st = contiguous_strides(shape);
  Shape r(out.size(), 0);
  const size_t off = out.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) r[off + i] = shape[i] == 1 ? 0 : st[i];
  return r;
}
}  // namespace

const kernels::BinaryKernels& binary_kernels_for(OpId op, Device device) {
  switch (op) {
    case OpId::Sub:
      return kernels_for<OpId::Sub>(device);
    case OpId::Mul:
      return kernels_for<OpId::Mul>(device);
    case OpId::Div:
      return kernels_for<OpId::Div>(device);
    case OpId::Dropout:
      return kernels_for<OpId::Dropout>(device);
    default:
      return kernels_for<OpId::Add>(device);
  }
}

Tensor broadcast_binary(const kernels::BinaryKernels& k, kernels::BinaryOp op, const Tensor& a,
                        const Tensor& b, const Shape& out_shape) {
  Tensor ac = dense(a), bc = dense(b);
  Tensor y = empty_like_device(out_shape, a);
  if (a.shape() == b.shape()) {
    k.same_shape(op, y.numel(), ac.f32(), bc.f32(), y.f32());
    return y;
  }
  const Shape sa = broadcast_strides(a.shape(), out_shape);
  const Shape sb = broadcast_strides(b.shape(), out_shape);
  k.broadcast(op, static_cast<int>(out_shape.size()), out_shape.data(), ac.f32(), sa.data(),
              bc.f32(), sb.data(), y.f32());
  return y;
}

}  // namespace gb::ops::detail
