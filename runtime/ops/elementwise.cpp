// Broadcasting elementwise ops (add, sub, mul, scale), sum_to, and the sum/mean reductions.
// Broadcasting follows NumPy: shapes align at the right, size-1 dimensions stretch.
#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/reduce.h"

#include <algorithm>

#include "runtime/ops.h"
#include "runtime/ops/common.h"

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

// Element strides of a contiguous tensor of `shape` read as `out` (0 where broadcast).
Shape broadcast_strides(const Shape& shape, const Shape& out) {
  const Shape st = contiguous_strides(shape);
  Shape r(out.size(), 0);
  const size_t off = out.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) r[off + i] = shape[i] == 1 ? 0 : st[i];
  return r;
}

// Visits every element of `out` with the matching offsets into a and b.
template <class Fn>
void for_each_broadcast(const Shape& out, const Shape& sa, const Shape& sb, Fn&& fn) {
  const int64_t n = shape_numel(out);
  const size_t nd = out.size();
  std::vector<int64_t> idx(nd, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t i = 0; i < n; ++i) {
    fn(i, oa, ob);
    for (size_t d = nd; d-- > 0;) {
      if (++idx[d] < out[d]) {
        oa += sa[d];
        ob += sb[d];
        break;
      }
      oa -= sa[d] * (out[d] - 1);
      ob -= sb[d] * (out[d] - 1);
      idx[d] = 0;
    }
  }
}

enum class Binary { Add, Sub, Mul };

#ifdef GB_WITH_CUDA
// The same op on the GPU: same shapes elementwise, otherwise the broadcasting kernel.
void binary_forward_cuda(Binary kind, const Tensor& a, const Tensor& b, const Tensor& y) {
  const float* pa = a.f32();
  const float* pb = b.f32();
  float* py = y.f32();
  if (a.shape() == b.shape()) {
    const int64_t n = y.numel();
    switch (kind) {
      case Binary::Add:
        kernels::cuda::add(n, pa, pb, py);
        break;
      case Binary::Sub:
        kernels::cuda::sub(n, pa, pb, py);
        break;
      case Binary::Mul:
        kernels::cuda::mul(n, pa, pb, py);
        break;
    }
    return;
  }
  const Shape sa = broadcast_strides(a.shape(), y.shape()),
              sb = broadcast_strides(b.shape(), y.shape());
  const auto op = kind == Binary::Add   ? kernels::cuda::BinaryOp::Add
                  : kind == Binary::Sub ? kernels::cuda::BinaryOp::Sub
                                        : kernels::cuda::BinaryOp::Mul;
  kernels::cuda::broadcast_binary(op, static_cast<int>(y.dim()), y.shape().data(), pa, sa.data(),
                                  pb, sb.data(), py);
}
#endif

Tensor binary_forward(Binary kind, const Tensor& a, const Tensor& b, const Shape& out_shape) {
  Tensor ac = dense(a), bc = dense(b);
  Tensor y = empty_like_device(out_shape, a);
  if (on_cuda(a)) {
    GB_CUDA(binary_forward_cuda(kind, ac, bc, y));
    return y;
  }
  const float* pa = ac.f32();
  const float* pb = bc.f32();
  float* py = y.f32();
  if (a.shape() == b.shape()) {
    const int64_t n = y.numel();
    if (fast_cpu()) {
      switch (kind) {
        case Binary::Add:
          kernels::cpu::add(n, pa, pb, py);
          break;
        case Binary::Sub:
          kernels::cpu::sub(n, pa, pb, py);
          break;
        case Binary::Mul:
          kernels::cpu::mul(n, pa, pb, py);
          break;
      }
      return y;
    }
    switch (kind) {
      case Binary::Add:
        for (int64_t i = 0; i < n; ++i) py[i] = pa[i] + pb[i];
        break;
      case Binary::Sub:
        for (int64_t i = 0; i < n; ++i) py[i] = pa[i] - pb[i];
        break;
      case Binary::Mul:
        for (int64_t i = 0; i < n; ++i) py[i] = pa[i] * pb[i];
        break;
    }
    return y;
  }
  const Shape sa = broadcast_strides(a.shape(), out_shape),
              sb = broadcast_strides(b.shape(), out_shape);
  for_each_broadcast(out_shape, sa, sb, [&](int64_t i, int64_t oa, int64_t ob) {
    switch (kind) {
      case Binary::Add:
        py[i] = pa[oa] + pb[ob];
        break;
      case Binary::Sub:
        py[i] = pa[oa] - pb[ob];
        break;
      case Binary::Mul:
        py[i] = pa[oa] * pb[ob];
        break;
    }
  });
  return y;
}

Tensor binary(OpId op, Binary kind, const Tensor& a, const Tensor& b) {
  check_input(op, a, "lhs");
  check_input(op, b, "rhs");
  check_same_device(op, a, {&b});
  const Shape out_shape = broadcast_shape(op, a.shape(), b.shape());
  Tensor y = binary_forward(kind, a, b, out_shape);
  const Shape shape_a = a.shape(), shape_b = b.shape();
  Tensor as = kind == Binary::Mul ? dense(a).detach() : Tensor();
  Tensor bs = kind == Binary::Mul ? dense(b).detach() : Tensor();
  record(op_info(op).name, {a, b}, y, [=](const Tensor& gy) {
    Tensor g = dense(gy);
    switch (kind) {
      case Binary::Add:
        return std::vector<Tensor>{sum_to(g, shape_a), sum_to(g, shape_b)};
      case Binary::Sub:
        return std::vector<Tensor>{sum_to(g, shape_a), sum_to(scale(g, -1.0f), shape_b)};
      case Binary::Mul:
        return std::vector<Tensor>{sum_to(binary_forward(Binary::Mul, g, bs, out_shape), shape_a),
                                   sum_to(binary_forward(Binary::Mul, g, as, out_shape), shape_b)};
    }
    return std::vector<Tensor>{};
  });
  return y;
}

// Reduces x over `dims` (sorted, unique) into a tensor of the keepdim shape; `divisor` scales.
Tensor reduce(const Tensor& x, const std::vector<int64_t>& dims, double divisor) {
  Shape keep = x.shape();
  for (int64_t d : dims) keep[static_cast<size_t>(d)] = 1;
  Tensor xc = dense(x);
  if (on_cuda(x)) {  // fixed-order device reduction, then the divisor
    Tensor y = empty_like_device(keep, x);
    GB_CUDA(kernels::cuda::reduce_sum_broadcast(static_cast<int>(x.dim()), x.shape().data(),
                                                xc.f32(), keep.data(), y.f32()));
    if (divisor != 1.0) {
      GB_CUDA(kernels::cuda::scale(y.numel(), y.f32(), static_cast<float>(1.0 / divisor),
                                   y.f32()));
    }
    return y;
  }
  std::vector<double> acc(static_cast<size_t>(shape_numel(keep)), 0.0);
  const Shape so = broadcast_strides(keep, x.shape());
  const Shape sx = contiguous_strides(x.shape());
  const float* px = xc.f32();
  for_each_broadcast(x.shape(), sx, so, [&](int64_t, int64_t ox, int64_t oo) {
    acc[static_cast<size_t>(oo)] += px[ox];
  });
  Tensor y = Tensor::empty(keep);
  float* py = y.f32();
  for (size_t i = 0; i < acc.size(); ++i) py[i] = static_cast<float>(acc[i] / divisor);
  return y;
}

std::vector<int64_t> normalise_dims(OpId op, const Tensor& x, std::vector<int64_t> dims) {
  for (auto& d : dims) {
    if (d < 0) d += x.dim();
    if (d < 0 || d >= x.dim()) fail(op, "dimension out of range for shape " + shape_str(x.shape()));
  }
  std::sort(dims.begin(), dims.end());
  dims.erase(std::unique(dims.begin(), dims.end()), dims.end());
  return dims;
}

Tensor reduce_op(OpId op, const Tensor& x, std::vector<int64_t> dims, bool keepdim, bool is_mean) {
  check_input(op, x, "input");
  dims = normalise_dims(op, x, dims);
  int64_t count = 1;
  for (int64_t d : dims) count *= x.size(d);
  Tensor y = reduce(x, dims, is_mean ? static_cast<double>(count) : 1.0);
  if (!keepdim) {
    Shape squeezed;
    for (int64_t d = 0; d < x.dim(); ++d) {
      if (!std::binary_search(dims.begin(), dims.end(), d)) squeezed.push_back(x.size(d));
    }
    y = make_view(y, squeezed, contiguous_strides(squeezed), 0);
  }
  const Shape x_shape = x.shape();
  Shape keep = x_shape;
  for (int64_t d : dims) keep[static_cast<size_t>(d)] = 1;
  const float factor = is_mean ? 1.0f / static_cast<float>(count) : 1.0f;
  record(op_info(op).name, {x}, y, [=](const Tensor& gy) {
    Tensor gd = dense(gy);
    Tensor g = make_view(gd, keep, contiguous_strides(keep), gd.offset());
    Tensor dx = binary_forward(Binary::Add, Tensor::zeros(x_shape, DType::F32, g.device()), g,
                               x_shape);
    if (factor != 1.0f) {
      float* p = dx.f32();
      if (on_cuda(dx)) {
        GB_CUDA(kernels::cuda::scale(dx.numel(), p, factor, p));
      } else {
        for (int64_t i = 0, n = dx.numel(); i < n; ++i) p[i] *= factor;
      }
    }
    return std::vector<Tensor>{dx};
  });
  return y;
}

std::vector<int64_t> all_dims(const Tensor& x) {
  std::vector<int64_t> d(static_cast<size_t>(x.dim()));
  for (int64_t i = 0; i < x.dim(); ++i) d[static_cast<size_t>(i)] = i;
  return d;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary(OpId::Add, Binary::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(OpId::Sub, Binary::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(OpId::Mul, Binary::Mul, a, b); }

Tensor scale(const Tensor& a, float factor) {
  check_input(OpId::Scale, a, "input");
  Tensor ac = dense(a);
  Tensor y = empty_like_device(a.shape(), a);
  const float* pa = ac.f32();
  float* py = y.f32();
  if (on_cuda(a)) {
    GB_CUDA(kernels::cuda::scale(y.numel(), pa, factor, py));
  } else {
    for (int64_t i = 0, n = y.numel(); i < n; ++i) py[i] = pa[i] * factor;
  }
  record("scale", {a}, y,
         [factor](const Tensor& gy) { return std::vector<Tensor>{scale(gy, factor)}; });
  return y;
}

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
