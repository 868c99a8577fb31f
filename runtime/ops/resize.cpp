// bilinear_resize over [N,C,H,W] (align_corners=false), dispatched through the op table.
// Kernels: kernels/resize.h. Shape letters: N batch, C channels, H/W input, OH/OW output.
#include "runtime/ops.h"
#include "runtime/ops/common.h"

namespace gb::ops {
using namespace detail;

Tensor bilinear_resize(const Tensor& x, int64_t out_h, int64_t out_w) {
  const OpId op = OpId::BilinearResize;
  check_input(op, x, "input");
  check_dim(op, x, 4, "input");
  if (out_h < 1 || out_w < 1) fail(op, "output size must be positive");
  const auto& k = kernels_for<OpId::BilinearResize>(x.device());
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor xc = dense(x);
  Tensor y = empty_like_device({N, C, out_h, out_w}, x);
  k.forward(N, C, H, W, out_h, out_w, xc.f32(), y.f32());
  record(op, {x}, y, [=, &k](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device({N, C, H, W}, g);
    k.backward(N, C, H, W, out_h, out_w, g.f32(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  return y;
}

}  // namespace gb::ops
