// Pooling (max, average, global average) and bilinear resize over [N,C,H,W]. Pooling runs the
// fast cpu:: kernels or the ref:: loops on the CPU (fast_cpu()); resize has only ref:: so far.
#include <limits>

#include "kernels/cpu/pool.h"
#include "kernels/cpu/resize.h"
#include "kernels/cuda/pool.h"
#include "kernels/cuda/resize.h"
#include "runtime/ops.h"
#include "runtime/ops/common.h"

namespace gb::ops {
using namespace detail;
namespace {
kernels::Pool2dShape pool_shape(OpId op, const Tensor& x, int64_t kernel, int64_t stride,
                                int64_t padding) {
  check_input(op, x, "input");
  check_dim(op, x, 4, "input");
  if (kernel < 1 || stride < 0 || padding < 0 || padding * 2 > kernel) {
    fail(op, "bad kernel/stride/padding");
  }
  kernels::Pool2dShape s;
  s.N = x.size(0), s.C = x.size(1), s.H = x.size(2), s.W = x.size(3);
  s.R = s.S = kernel;
  s.stride_h = s.stride_w = stride == 0 ? kernel : stride;
  s.pad_h = s.pad_w = padding;
  // P()/Q() divide with truncation toward zero, so test the window size itself as well.
  if (s.H + 2 * s.pad_h < s.R || s.W + 2 * s.pad_w < s.S || s.P() < 1 || s.Q() < 1) {
    fail(op, "window larger than input " + shape_str(x.shape()));
  }
  return s;
}
}  // namespace

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const auto s = pool_shape(OpId::MaxPool2d, x, kernel, stride, padding);
  Tensor xc = dense(x);
  Tensor y = empty_like_device({s.N, s.C, s.P(), s.Q()}, x);
  Tensor argmax = Tensor::empty({s.N, s.C, s.P(), s.Q()}, DType::I32, x.device());
  const bool cuda = on_cuda(x);
  const bool fast = fast_cpu();  // backward uses the same kernels as forward
  auto forward = fast ? kernels::cpu::maxpool2d_forward : kernels::ref::maxpool2d_forward;
  if (cuda) GB_CUDA(forward = kernels::cuda::maxpool2d_forward);
  forward(s, xc.f32(), y.f32(), argmax.data<int32_t>());
  record("max_pool2d", {x}, y, [s, argmax, cuda, fast](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device({s.N, s.C, s.H, s.W}, g);
    auto backward = fast ? kernels::cpu::maxpool2d_backward : kernels::ref::maxpool2d_backward;
    if (cuda) GB_CUDA(backward = kernels::cuda::maxpool2d_backward);
    backward(s, g.f32(), argmax.data<int32_t>(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const auto s = pool_shape(OpId::AvgPool2d, x, kernel, stride, padding);
  Tensor xc = dense(x);
  Tensor y = empty_like_device({s.N, s.C, s.P(), s.Q()}, x);
  const bool cuda = on_cuda(x);
  const bool fast = fast_cpu();  // backward uses the same kernels as forward
  auto forward = fast ? kernels::cpu::avgpool2d_forward : kernels::ref::avgpool2d_forward;
  if (cuda) GB_CUDA(forward = kernels::cuda::avgpool2d_forward);
  forward(s, xc.f32(), y.f32());
  record("avg_pool2d", {x}, y, [s, cuda, fast](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device({s.N, s.C, s.H, s.W}, g);
    auto backward = fast ? kernels::cpu::avgpool2d_backward : kernels::ref::avgpool2d_backward;
    if (cuda) GB_CUDA(backward = kernels::cuda::avgpool2d_backward);
    backward(s, g.f32(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor global_avg_pool(const Tensor& x) {
  const OpId op = OpId::GlobalAvgPool;
  check_input(op, x, "input");
  check_dim(op, x, 4, "input");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), L = H * W;
  Tensor xc = dense(x);
  Tensor y = empty_like_device({N, C}, x);
  const bool cuda = on_cuda(x);
  const bool fast = fast_cpu();  // backward uses the same kernels as forward
  auto forward = fast ? kernels::cpu::global_avgpool_forward : kernels::ref::global_avgpool_forward;
  if (cuda) GB_CUDA(forward = kernels::cuda::global_avgpool_forward);
  forward(N, C, L, xc.f32(), y.f32());
  record("global_avg_pool", {x}, y, [=](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device({N, C, H, W}, g);
    auto backward =
        fast ? kernels::cpu::global_avgpool_backward : kernels::ref::global_avgpool_backward;
    if (cuda) GB_CUDA(backward = kernels::cuda::global_avgpool_backward);
    backward(N, C, L, g.f32(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor bilinear_resize(const Tensor& x, int64_t out_h, int64_t out_w) {
  const OpId op = OpId::BilinearResize;
  check_input(op, x, "input");
  check_dim(op, x, 4, "input");
  if (out_h < 1 || out_w < 1) fail(op, "output size must be positive");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor xc = dense(x);
  Tensor y = empty_like_device({N, C, out_h, out_w}, x);
  const bool cuda = on_cuda(x);
  auto forward = kernels::ref::bilinear_resize_forward;
  if (cuda) GB_CUDA(forward = kernels::cuda::bilinear_resize_forward);
  forward(N, C, H, W, out_h, out_w, xc.f32(), y.f32());
  record("bilinear_resize", {x}, y, [=](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device({N, C, H, W}, g);
    auto backward = kernels::ref::bilinear_resize_backward;
    if (cuda) GB_CUDA(backward = kernels::cuda::bilinear_resize_backward);
    backward(N, C, H, W, out_h, out_w, g.f32(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  return y;
}

}  // namespace gb::ops
