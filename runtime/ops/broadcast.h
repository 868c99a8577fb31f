// Internal to runtime/ops: running a binary kernel set over two tensors with NumPy broadcasting,
// shared by the elementwise ops and the backward of the reductions. Shapes align at the right;
// size-1 dimensions stretch (stride 0).
#pragma once
#include "runtime/op_table.h"
#include "runtime/tensor.h"

namespace gb::ops::detail {

// The binary kernel set of op (Add, Sub, Mul or Dropout) on `device`.
const kernels::BinaryKernels& binary_kernels_for(OpId op, Device device);

// y [out_shape] = a op b with broadcasting; a and b (any strides) must broadcast to out_shape.
// Equal shapes run the same-shape kernel, others the broadcasting one. Records nothing.
Tensor broadcast_binary(const kernels::BinaryKernels& k, kernels::BinaryOp op, const Tensor& a,
                        const Tensor& b, const Shape& out_shape);

}  // namespace gb::ops::detail
