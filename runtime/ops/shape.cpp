// View ops (reshape, flatten, permute, transpose, slice), contiguous copies and concat. Views
// share storage with their input (their op-table rows hold no kernels); their backward maps the
// gradient back to the input shape. contiguous and concat run the strided-copy kernels
// (kernels/copy.h) found through the op table.
#include <algorithm>

#include "runtime/ops.h"
#include "runtime/ops/common.h"
#include "runtime/trace.h"

namespace gb::ops {
using namespace detail;

namespace {
// The first element of t's view, as bytes (any dtype).
unsigned char* first_byte(const Tensor& t) {
  return static_cast<unsigned char*>(t.storage()->data()) +
         t.offset() * static_cast<int64_t>(dtype_size(t.dtype()));
}

// dst (any strides) = src (any strides, same shape and dtype) through a strided-copy kernel set.
void copy_strided(const kernels::StridedCopyKernels& k, const Tensor& src, const Tensor& dst) {
  k.strided_copy(static_cast<int>(src.dim()), src.shape().data(), first_byte(src),
                 src.strides().data(), first_byte(dst), dst.strides().data(),
                 dtype_size(src.dtype()));
}
}  // namespace

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  check_input(OpId::Copy, x, "input");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  copy_strided(kernels_for<OpId::Copy>(x.device()), x, y);
  record(OpId::Copy, {x}, y, [](const Tensor& gy) { return std::vector<Tensor>{gy}; });
  return y;
}

Tensor reshape(const Tensor& x, const Shape& shape_in) {
  const OpId op = OpId::Reshape;
  if (!x.defined()) fail(op, "input is undefined");
  Shape shape = shape_in;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) fail(op, "only one -1 allowed in " + shape_str(shape_in));
      infer = static_cast<int64_t>(i);
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0 && known > 0) shape[static_cast<size_t>(infer)] = x.numel() / known;
  if (shape_numel(shape) != x.numel()) {
    fail(op, "cannot reshape " + shape_str(x.shape()) + " to " + shape_str(shape_in));
  }
  Tensor base = contiguous(x);
  Tensor y = make_view(base, shape, contiguous_strides(shape), base.offset());
  const Shape in_shape = x.shape();
  record(OpId::Reshape, {base}, y, [in_shape](const Tensor& gy) {
    Tensor g = dense(gy);
    return std::vector<Tensor>{make_view(g, in_shape, contiguous_strides(in_shape), g.offset())};
  });
  return y;
}

Tensor flatten(const Tensor& x, int64_t start_dim) {
  if (!x.defined()) fail(OpId::Reshape, "flatten: input is undefined");
  if (start_dim < 0) start_dim += x.dim();
  if (start_dim < 0 || start_dim >= std::max<int64_t>(x.dim(), 1)) {
    fail(OpId::Reshape, "flatten: start_dim out of range for shape " + shape_str(x.shape()));
  }
  Shape s(x.shape().begin(), x.shape().begin() + start_dim);
  int64_t rest = 1;
  for (int64_t d = start_dim; d < x.dim(); ++d) rest *= x.size(d);
  s.push_back(rest);
  return reshape(x, s);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  const OpId op = OpId::Permute;
  if (static_cast<int64_t>(dims.size()) != x.dim()) fail(op, "needs one index per dim");
  Shape shape(dims.size()), strides(dims.size());
  std::vector<int64_t> inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = dims[i] < 0 ? dims[i] + x.dim() : dims[i];
    if (d < 0 || d >= x.dim() || inverse[static_cast<size_t>(d)] != -1) {
      fail(op, "bad permutation of shape " + shape_str(x.shape()));
    }
    inverse[static_cast<size_t>(d)] = static_cast<int64_t>(i);
    shape[i] = x.shape()[static_cast<size_t>(d)];
    strides[i] = x.strides()[static_cast<size_t>(d)];
  }
  Tensor y = make_view(x, shape, strides, x.offset());
  record(OpId::Permute, {x}, y, [inverse](const Tensor& gy) {
    return std::vector<Tensor>{contiguous(permute(gy, inverse))};
  });
  if (tracing()) trace_attrs({{"dims", std::vector<double>(dims.begin(), dims.end())}});
  return y;
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  std::vector<int64_t> dims(static_cast<size_t>(x.dim()));
  for (int64_t i = 0; i < x.dim(); ++i) dims[static_cast<size_t>(i)] = i;
  if (d0 < 0) d0 += x.dim();
  if (d1 < 0) d1 += x.dim();
  if (d0 < 0 || d0 >= x.dim() || d1 < 0 || d1 >= x.dim()) {
    fail(OpId::Permute, "transpose: dimension out of range for shape " + shape_str(x.shape()));
  }
  std::swap(dims[static_cast<size_t>(d0)], dims[static_cast<size_t>(d1)]);
  return permute(x, dims);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  const OpId op = OpId::Slice;
  if (dim < 0) dim += x.dim();
  if (dim < 0 || dim >= x.dim()) fail(op, "slice dimension out of range");
  const int64_t n = x.size(dim);
  if (start < 0) start += n;
  if (end < 0) end += n;
  end = std::min(end, n);
  if (step < 1 || start < 0 || start > end) {
    fail(op, "bad slice [" + std::to_string(start) + ":" + std::to_string(end) + ":" +
                 std::to_string(step) + "] of size " + std::to_string(n));
  }
  Shape shape = x.shape(), strides = x.strides();
  const auto d = static_cast<size_t>(dim);
  shape[d] = (end - start + step - 1) / step;
  strides[d] *= step;
  Tensor y = make_view(x, shape, strides, x.offset() + start * x.strides()[d]);
  const Shape in_shape = x.shape();
  record(OpId::Slice, {x}, y, [=](const Tensor& gy) {
    Tensor dx = Tensor::zeros(in_shape, DType::F32, gy.device());
    Shape view_strides = contiguous_strides(in_shape);
    Shape vshape = in_shape;
    vshape[d] = shape[d];
    const int64_t off = start * view_strides[d];
    view_strides[d] *= step;
    make_view(dx, vshape, view_strides, off).copy_(dense(gy));
    return std::vector<Tensor>{dx};
  });
  if (tracing()) {
    trace_attrs({{"dim", {double(dim)}},
                 {"start", {double(start)}},
                 {"end", {double(end)}},
                 {"step", {double(step)}}});
  }
  return y;
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  const OpId op = OpId::Concat;
  if (xs.empty()) fail(op, "no inputs");
  for (const auto& x : xs) check_input(op, x, "input");
  const int64_t nd = xs[0].dim();
  if (dim < 0) dim += nd;
  if (dim < 0 || dim >= nd) fail(op, "dimension out of range");
  Shape out = xs[0].shape();
  out[static_cast<size_t>(dim)] = 0;
  std::vector<int64_t> sizes;
  for (const auto& x : xs) {
    if (x.dim() != nd) fail(op, "inputs differ in rank");
    for (int64_t i = 0; i < nd; ++i) {
      if (i != dim && x.size(i) != xs[0].size(i)) {
        fail(op, "shapes " + shape_str(xs[0].shape()) + " and " + shape_str(x.shape()) +
                     " differ outside dimension " + std::to_string(dim));
      }
    }
    sizes.push_back(x.size(dim));
    out[static_cast<size_t>(dim)] += x.size(dim);
  }
  for (const auto& x : xs) check_same_device(op, xs[0], {&x});
  const auto& k = kernels_for<OpId::Concat>(xs[0].device());
  Tensor y = empty_like_device(out, xs[0]);
  int64_t begin = 0;
  for (const auto& x : xs) {  // each input into its slice of y
    Shape view_shape = out;
    view_shape[static_cast<size_t>(dim)] = x.size(dim);
    copy_strided(
        k, x, make_view(y, view_shape, y.strides(), begin * y.strides()[static_cast<size_t>(dim)]));
    begin += x.size(dim);
  }
  record(OpId::Concat, xs, y, [sizes, dim](const Tensor& gy) {
    std::vector<Tensor> grads;
    int64_t begin = 0;
    for (int64_t s : sizes) {
      grads.push_back(slice(gy, dim, begin, begin + s).clone());
      begin += s;
    }
    return grads;
  });
  if (tracing()) trace_attrs({{"dim", {double(dim)}}});
  return y;
}

}  // namespace gb::ops
