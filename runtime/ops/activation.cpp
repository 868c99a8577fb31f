// relu (with the table-selected backward rule), gelu and dropout: dispatch through the op table.
// Kernels: kernels/activation.h (dropout's mask multiply: kernels/elementwise.h).
#include "runtime/ops.h"
#include "runtime/ops/common.h"
#include "runtime/rng.h"

namespace gb::ops {
using namespace detail;

Tensor relu(const Tensor& x) {
  check_input(OpId::Relu, x, "input");
  const auto& k = kernels_for<OpId::Relu>(x.device());
  Tensor xc = dense(x);
  Tensor y = empty_like_device(x.shape(), x);
  const int64_t n = x.numel();
  k.forward(n, xc.f32(), y.f32());
  Tensor ys = y.detach();
  record(OpId::Relu, {x}, y, [ys, n, &k](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device(ys.shape(), ys);
    switch (relu_backward_rule()) {
      case ReluRule::Standard:
        k.backward(n, ys.f32(), g.f32(), dx.f32());
        break;
      case ReluRule::Guided:
        k.backward_guided(n, ys.f32(), g.f32(), dx.f32());
        break;
      case ReluRule::Deconv:
        k.backward_deconv(n, ys.f32(), g.f32(), dx.f32());
        break;
    }
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor gelu(const Tensor& x) {
  check_input(OpId::Gelu, x, "input");
  const auto& k = kernels_for<OpId::Gelu>(x.device());
  Tensor xc = dense(x);
  Tensor y = empty_like_device(x.shape(), x);
  const int64_t n = x.numel();
  k.forward(n, xc.f32(), y.f32());
  Tensor xs = xc.detach();
  record(OpId::Gelu, {x}, y, [xs, n, &k](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device(xs.shape(), xs);
    k.backward(n, xs.f32(), g.f32(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  return y;
}

namespace {
// The inverted-dropout mask on the host: 0 with probability p, 1/(1-p) otherwise, one Philox draw
// per element at counters [c, c+n), so it does not depend on threading or the device.
Tensor dropout_mask(const Shape& shape, float p, Generator& gen) {
  Tensor mask = Tensor::empty(shape);
  float* m = mask.f32();
  const int64_t n = mask.numel();
  const uint64_t base = gen.counter();
  gen.set_counter(base + static_cast<uint64_t>(n));
  const float keep_scale = 1.0f / (1.0f - p);
  for (int64_t i = 0; i < n; ++i) {
    m[i] = gen.philox().uniform(base + static_cast<uint64_t>(i)) < p ? 0.0f : keep_scale;
  }
  return mask;
}
}  // namespace

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  check_input(OpId::Dropout, x, "input");
  if (p < 0.0f || p >= 1.0f) fail(OpId::Dropout, "p must be in [0, 1), got " + std::to_string(p));
  if (!training || p == 0.0f) return x;
  const auto& k = kernels_for<OpId::Dropout>(x.device());
  Tensor xc = dense(x);
  const int64_t n = x.numel();
  const Tensor mask = dropout_mask(x.shape(), p, gen).to(x.device());
  Tensor y = empty_like_device(x.shape(), x);
  k.same_shape(kernels::BinaryOp::Mul, n, xc.f32(), mask.f32(), y.f32());
  record(OpId::Dropout, {x}, y, [mask, n, &k](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device(mask.shape(), mask);
    k.same_shape(kernels::BinaryOp::Mul, n, g.f32(), mask.f32(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  return y;
}

}  // namespace gb::ops
