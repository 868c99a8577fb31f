// pad2d: constant padding of [N,C,H,W], dispatched through the op table; its backward is the
// slice of the gradient at the input's position. Kernels: kernels/pad.h. Shape letters: N batch,
// C channels, H/W input, P/Q output.
#include "runtime/ops.h"
#include "runtime/ops/common.h"
#include "runtime/trace.h"

namespace gb::ops {
using namespace detail;

Tensor pad2d(const Tensor& x, int64_t top, int64_t left, int64_t bottom, int64_t right,
             float value) {
  const OpId op = OpId::Pad2d;
  check_input(op, x, "input");
  check_dim(op, x, 4, "input");
  if (top < 0 || left < 0 || bottom < 0 || right < 0) {
    fail(op, "pads must be >= 0, got top " + std::to_string(top) + " left " + std::to_string(left) +
                 " bottom " + std::to_string(bottom) + " right " + std::to_string(right));
  }
  kernels::Pad2dShape s;
  s.N = x.size(0), s.C = x.size(1), s.H = x.size(2), s.W = x.size(3);
  s.top = top, s.left = left, s.bottom = bottom, s.right = right;
  const auto& k = kernels_for<OpId::Pad2d>(x.device());
  Tensor xc = dense(x);
  Tensor y = empty_like_device({s.N, s.C, s.P(), s.Q()}, x);
  k.forward(s, xc.f32(), value, y.f32());
  record(op, {x}, y, [s, &k](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device({s.N, s.C, s.H, s.W}, g);
    k.backward(s, g.f32(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  if (tracing()) {
    trace_attrs({{"pads", {double(top), double(left), double(bottom), double(right)}},
                 {"value", {double(value)}}});
  }
  return y;
}

}  // namespace gb::ops
