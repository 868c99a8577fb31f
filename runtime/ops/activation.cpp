// relu (with the table-selected backward rule), gelu and dropout.
#include "kernels/cpu/activation.h"

#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/elementwise.h"
#include "runtime/ops.h"
#include "runtime/ops/common.h"
#include "runtime/rng.h"

namespace gb::ops {
using namespace detail;

Tensor relu(const Tensor& x) {
  check_input(OpId::Relu, x, "input");
  Tensor xc = dense(x);
  Tensor y = empty_like_device(x.shape(), x);
  const int64_t n = x.numel();
  const bool fast = fast_cpu();  // backward uses the same kernels as forward
  const bool cuda = on_cuda(x);
  auto forward = fast ? kernels::cpu::relu_forward : kernels::ref::relu_forward;
  if (cuda) GB_CUDA(forward = kernels::cuda::relu_forward);
  forward(n, xc.f32(), y.f32());
  Tensor ys = y.detach();
  record("relu", {x}, y, [ys, n, fast, cuda](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device(ys.shape(), ys);
    auto backward = fast ? kernels::cpu::relu_backward : kernels::ref::relu_backward;
    switch (relu_backward_rule()) {
      case ReluRule::Standard:
        if (cuda) GB_CUDA(backward = kernels::cuda::relu_backward);
        break;
      case ReluRule::Guided:
        backward = kernels::ref::relu_backward_guided;
        if (cuda) GB_CUDA(backward = kernels::cuda::relu_backward_guided);
        break;
      case ReluRule::Deconv:
        backward = kernels::ref::relu_backward_deconv;
        if (cuda) GB_CUDA(backward = kernels::cuda::relu_backward_deconv);
        break;
    }
    backward(n, ys.f32(), g.f32(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor gelu(const Tensor& x) {
  check_input(OpId::Gelu, x, "input");
  Tensor xc = dense(x);
  Tensor y = empty_like_device(x.shape(), x);
  const int64_t n = x.numel();
  const bool cuda = on_cuda(x);
  auto forward = kernels::ref::gelu_forward;
  if (cuda) GB_CUDA(forward = kernels::cuda::gelu_forward);
  forward(n, xc.f32(), y.f32());
  Tensor xs = xc.detach();
  record("gelu", {x}, y, [xs, n, cuda](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device(xs.shape(), xs);
    auto backward = kernels::ref::gelu_backward;
    if (cuda) GB_CUDA(backward = kernels::cuda::gelu_backward);
    backward(n, xs.f32(), g.f32(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  check_input(OpId::Dropout, x, "input");
  if (p < 0.0f || p >= 1.0f) fail(OpId::Dropout, "p must be in [0, 1), got " + std::to_string(p));
  if (!training || p == 0.0f) return x;
  Tensor xc = dense(x);
  const int64_t n = x.numel();
  Tensor mask = Tensor::empty(x.shape());
  float* m = mask.f32();
  // One Philox draw per element, at counters [c, c+n): independent of threading.
  const uint64_t base = gen.counter();
  gen.set_counter(base + static_cast<uint64_t>(n));
  const float keep_scale = 1.0f / (1.0f - p);
  for (int64_t i = 0; i < n; ++i) {
    m[i] = gen.philox().uniform(base + static_cast<uint64_t>(i)) < p ? 0.0f : keep_scale;
  }
  if (on_cuda(x)) {  // the same Philox mask as on the CPU, applied on the device
    mask = mask.to(x.device());
    Tensor y = empty_like_device(x.shape(), x);
    GB_CUDA(kernels::cuda::mul(n, xc.f32(), mask.f32(), y.f32()));
    record("dropout", {x}, y, [mask, n](const Tensor& gy) {
      Tensor g = dense(gy);
      Tensor dx = empty_like_device(mask.shape(), mask);
      GB_CUDA(kernels::cuda::mul(n, g.f32(), mask.f32(), dx.f32()));
      return std::vector<Tensor>{dx};
    });
    return y;
  }
  Tensor y = Tensor::empty(x.shape());
  const float* px = xc.f32();
  float* py = y.f32();
  for (int64_t i = 0; i < n; ++i) py[i] = px[i] * m[i];
  record("dropout", {x}, y, [mask, n](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = Tensor::empty(mask.shape());
    const float* pg = g.f32();
    const float* pm = mask.f32();
    float* pd = dx.f32();
    for (int64_t i = 0; i < n; ++i) pd[i] = pg[i] * pm[i];
    return std::vector<Tensor>{dx};
  });
  return y;
}

}  // namespace gb::ops
