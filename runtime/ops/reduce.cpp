// The sum and mean reductions (over everything or over some dims, keepdim or not) and sum_to,
// the inverse of broadcasting, dispatched through the op table. Kernels: kernels/reduce.h; the
// backward broadcasts the gradient back with add's kernels (kernels/elementwise.h).
#include <algorithm>

#include "runtime/ops.h"
#include "runtime/ops/broadcast.h"
#include "runtime/ops/common.h"
#include "runtime/trace.h"

namespace gb::ops {
using namespace detail;
namespace {

std::vector<int64_t> normalise_dims(OpId op, const Tensor& x, std::vector<int64_t> dims) {
  for (auto& d : dims) {
    if (d < 0) d += x.dim();
    if (d < 0 || d >= x.dim()) fail(op, "dimension out of range for shape " + shape_str(x.shape()));
  }
  std::sort(dims.begin(), dims.end());
  dims.erase(std::unique(dims.begin(), dims.end()), dims.end());
  return dims;
}

// x's shape with the reduced dims set to 1.
Shape keepdim_shape(const Tensor& x, const std::vector<int64_t>& dims) {
  Shape keep = x.shape();
  for (int64_t d : dims) keep[static_cast<size_t>(d)] = 1;
  return keep;
}

// dx [x_shape] = the gradient g [keep] broadcast back, times factor (1: sum; 1/count: mean).
Tensor reduce_backward(const Tensor& gy, const Shape& keep, const Shape& x_shape, float factor) {
  Tensor gd = dense(gy);
  Tensor g = make_view(gd, keep, contiguous_strides(keep), gd.offset());
  const Tensor zeros = Tensor::zeros(x_shape, DType::F32, g.device());
  Tensor dx = broadcast_binary(kernels_for<OpId::Add>(g.device()), kernels::BinaryOp::Add, zeros, g,
                               x_shape);
  if (factor != 1.0f)
    kernels_for<OpId::Scale>(dx.device()).scale(dx.numel(), dx.f32(), factor, dx.f32());
  return dx;
}

Tensor reduce_op(OpId op, const Tensor& x, std::vector<int64_t> dims, bool keepdim, bool is_mean) {
  check_input(op, x, "input");
  dims = normalise_dims(op, x, dims);
  const auto& k =
      is_mean ? kernels_for<OpId::Mean>(x.device()) : kernels_for<OpId::Sum>(x.device());
  int64_t count = 1;
  for (int64_t d : dims) count *= x.size(d);
  const Shape keep = keepdim_shape(x, dims);
  Tensor xc = dense(x);
  Tensor y = empty_like_device(keep, x);
  k.sum_to_shape(static_cast<int>(x.dim()), x.shape().data(), xc.f32(), keep.data(),
                 is_mean ? static_cast<double>(count) : 1.0, y.f32());
  if (!keepdim) {
    Shape squeezed;
    for (int64_t d = 0; d < x.dim(); ++d) {
      if (!std::binary_search(dims.begin(), dims.end(), d)) squeezed.push_back(x.size(d));
    }
    y = make_view(y, squeezed, contiguous_strides(squeezed), 0);
  }
  const Shape x_shape = x.shape();
  const float factor = is_mean ? 1.0f / static_cast<float>(count) : 1.0f;
  record(op, {x}, y, [=](const Tensor& gy) {
    return std::vector<Tensor>{reduce_backward(gy, keep, x_shape, factor)};
  });
  if (tracing()) {
    trace_attrs({{"dims", std::vector<double>(dims.begin(), dims.end())},
                 {"keepdim", {keepdim ? 1.0 : 0.0}}});
  }
  return y;
}

std::vector<int64_t> all_dims(const Tensor& x) {
  std::vector<int64_t> d(static_cast<size_t>(x.dim()));
  for (int64_t i = 0; i < x.dim(); ++i) d[static_cast<size_t>(i)] = i;
  return d;
}

}  // namespace

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  if (shape.size() > g.shape().size()) {
    throw std::invalid_argument("sum_to: cannot reduce " + shape_str(g.shape()) + " to " +
                                shape_str(shape));
  }
  const size_t lead = g.shape().size() - shape.size();
  std::vector<int64_t> dims;
  for (size_t i = 0; i < g.shape().size(); ++i) {
    if (i >= lead && shape[i - lead] != 1 && shape[i - lead] != g.shape()[i]) {
      throw std::invalid_argument("sum_to: cannot reduce " + shape_str(g.shape()) + " to " +
                                  shape_str(shape));
    }
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) {
      dims.push_back(static_cast<int64_t>(i));
    }
  }
  // Through sum/reshape so that it is recorded when g requires grad (it is public API).
  Tensor r = sum(g, dims, /*keepdim=*/true);
  return r.shape() == shape ? r : reshape(r, shape);
}

Tensor sum(const Tensor& x) { return reduce_op(OpId::Sum, x, all_dims(x), false, false); }
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_op(OpId::Sum, x, dims, keepdim, false);
}
Tensor mean(const Tensor& x) { return reduce_op(OpId::Mean, x, all_dims(x), false, true); }
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_op(OpId::Mean, x, dims, keepdim, true);
}

}  // namespace gb::ops
