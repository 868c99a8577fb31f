// matmul (batched matrix product): shape checks, the in-place reading of transposed operands,
// dispatch through the op table and the backward rule. Kernels: kernels/matmul.h.
// Shape letters: B batches (the leading dims together), M rows, K summed dim, N columns.
#include <utility>

#include "runtime/ops.h"
#include "runtime/ops/common.h"

namespace gb::ops {
using namespace detail;
namespace {

// t's last two dims are swapped relative to a contiguous tensor (t = transpose(c, -2, -1) of a
// contiguous c): the kernel can read c's rows as t's columns.
bool transposed_contiguous(const Tensor& t) {
  const size_t d = static_cast<size_t>(t.dim());
  const Shape& sh = t.shape();
  const Shape& st = t.strides();
  if (st[d - 1] != sh[d - 2] || st[d - 2] != 1) return false;
  int64_t expect = sh[d - 2] * sh[d - 1];
  for (size_t i = d - 2; i-- > 0;) {
    if (sh[i] != 1 && st[i] != expect) return false;
    expect *= sh[i];
  }
  return true;
}

// The matrices of one operand as the kernel reads them: its data (contiguous, or the transposed
// view read in place) and whether it is stored transposed.
struct Operand {
  Tensor data;
  bool trans;
};
Operand operand(const Tensor& t) {
  if (t.is_contiguous()) return {t, false};
  if (transposed_contiguous(t)) return {t, true};
  return {t.clone(), false};
}

Shape leading(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

// A gradient buffer laid out as the operand's data ([..., C, R] when stored transposed) and the
// view of it with the operand's logical shape.
Tensor grad_buffer(const Shape& logical, bool trans, const Tensor& like, Tensor& view) {
  Shape stored = logical;
  const size_t d = stored.size();
  if (trans) std::swap(stored[d - 1], stored[d - 2]);
  Tensor buf = empty_like_device(stored, like);
  Shape strides = contiguous_strides(stored);
  if (trans) std::swap(strides[d - 1], strides[d - 2]);
  view = trans ? make_view(buf, logical, strides, buf.offset()) : buf;
  return buf;
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  const OpId op = OpId::MatMul;
  check_input(op, a, "a");
  check_input(op, b, "b");
  if (a.dim() < 2 || b.dim() < 2) {
    fail(op, "operands need at least two dimensions, got " + shape_str(a.shape()) + " and " +
                 shape_str(b.shape()));
  }
  check_same_device(op, a, {&b});
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  if (b.size(-2) != K) {
    fail(op, "inner dimensions differ: " + shape_str(a.shape()) + " x " + shape_str(b.shape()));
  }
  const Shape la = leading(a), lb = leading(b);
  if (la != lb && a.dim() != 2 && b.dim() != 2) {
    fail(op, "leading dimensions differ (" + shape_str(a.shape()) + " x " + shape_str(b.shape()) +
                 "; only equal ones or a 2-D operand broadcast)");
  }
  const Operand oa = operand(a), ob = operand(b);
  Shape out = la.size() >= lb.size() ? la : lb;
  const int64_t batches = shape_numel(out);
  out.push_back(M);
  out.push_back(N);
  kernels::MatMulShape s{batches, M, N, K, oa.trans, ob.trans, M * K, K * N};
  if (b.dim() == 2 && a.dim() > 2 && !oa.trans) {
    s.B = 1, s.M = batches * M, s.stride_b = 0;  // one GEMM with the batches as rows
  } else {
    if (a.dim() == 2 && la != lb) s.stride_a = 0;
    if (b.dim() == 2 && la != lb) s.stride_b = 0;
  }
  const auto& k = kernels_for<OpId::MatMul>(a.device());
  Tensor y = empty_like_device(out, a);
  k.forward(s, oa.data.f32(), ob.data.f32(), y.f32());
  Tensor as = oa.data.detach(), bs = ob.data.detach();
  const Shape sa = a.shape(), sb = b.shape();
  record(op, {a, b}, y, [=, &k](const Tensor& gy) {
    Tensor g = dense(gy), da, db, buf_a, buf_b;
    if (input_grad_needed(0)) buf_a = grad_buffer(sa, s.trans_a, g, da);
    if (input_grad_needed(1)) buf_b = grad_buffer(sb, s.trans_b, g, db);
    k.backward(s, as.f32(), bs.f32(), g.f32(), f32_or_null(buf_a), f32_or_null(buf_b));
    return std::vector<Tensor>{da, db};
  });
  return y;
}

}  // namespace gb::ops
