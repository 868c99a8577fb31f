// Pooling over [N,C,H,W]: max, average and global average, forward and backward, dispatched
// through the op table. Kernels: kernels/pool.h. Shape letters: N batch, C channels, H/W input,
// P/Q output, L = H*W.
#include "runtime/ops.h"
#include "runtime/ops/common.h"
#include "runtime/trace.h"

namespace gb::ops {
using namespace detail;
namespace {
kernels::Pool2dShape pool_shape(OpId op, const Tensor& x, const Pool2dOptions& opt) {
  check_input(op, x, "input");
  check_dim(op, x, 4, "input");
  if (opt.kernel_h < 1 || opt.kernel_w < 1 || opt.stride_h < 1 || opt.stride_w < 1 ||
      opt.pad_h < 0 || opt.pad_w < 0 || opt.pad_h * 2 > opt.kernel_h ||
      opt.pad_w * 2 > opt.kernel_w) {
    fail(op, "bad kernel/stride/padding (kernel and stride >= 1, 0 <= padding <= kernel / 2)");
  }
  kernels::Pool2dShape s;
  s.N = x.size(0), s.C = x.size(1), s.H = x.size(2), s.W = x.size(3);
  s.R = opt.kernel_h, s.S = opt.kernel_w;
  s.stride_h = opt.stride_h, s.stride_w = opt.stride_w;
  s.pad_h = opt.pad_h, s.pad_w = opt.pad_w;
  s.ceil_mode = opt.ceil_mode;
  s.count_include_pad = opt.count_include_pad;
  // P()/Q() divide with truncation toward zero, so test the window size itself as well.
  if (s.H + 2 * s.pad_h < s.R || s.W + 2 * s.pad_w < s.S || s.P() < 1 || s.Q() < 1) {
    fail(op, "window larger than input " + shape_str(x.shape()));
  }
  return s;
}

Pool2dOptions square(int64_t kernel, int64_t stride, int64_t padding) {
  const int64_t st = stride == 0 ? kernel : stride;
  return {kernel, kernel, st, st, padding, padding};
}
// The window as trace attributes (runtime/trace.h).
OpAttrs pool_attrs(const Pool2dOptions& opt) {
  return {{"kernel", {double(opt.kernel_h), double(opt.kernel_w)}},
          {"stride", {double(opt.stride_h), double(opt.stride_w)}},
          {"padding", {double(opt.pad_h), double(opt.pad_w)}},
          {"ceil_mode", {opt.ceil_mode ? 1.0 : 0.0}},
          {"count_include_pad", {opt.count_include_pad ? 1.0 : 0.0}}};
}
}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& opt) {
  const auto s = pool_shape(OpId::MaxPool2d, x, opt);
  const auto& k = kernels_for<OpId::MaxPool2d>(x.device());
  Tensor xc = dense(x);
  Tensor y = empty_like_device({s.N, s.C, s.P(), s.Q()}, x);
  Tensor argmax = Tensor::empty({s.N, s.C, s.P(), s.Q()}, DType::I32, x.device());
  k.forward(s, xc.f32(), y.f32(), argmax.data<int32_t>());
  record(OpId::MaxPool2d, {x}, y, [s, argmax, &k](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device({s.N, s.C, s.H, s.W}, g);
    k.backward(s, g.f32(), argmax.data<int32_t>(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  if (tracing()) trace_attrs(pool_attrs(opt));
  return y;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& opt) {
  const auto s = pool_shape(OpId::AvgPool2d, x, opt);
  const auto& k = kernels_for<OpId::AvgPool2d>(x.device());
  Tensor xc = dense(x);
  Tensor y = empty_like_device({s.N, s.C, s.P(), s.Q()}, x);
  k.forward(s, xc.f32(), y.f32());
  record(OpId::AvgPool2d, {x}, y, [s, &k](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device({s.N, s.C, s.H, s.W}, g);
    k.backward(s, g.f32(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  if (tracing()) trace_attrs(pool_attrs(opt));
  return y;
}

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  if (stride < 0) fail(OpId::MaxPool2d, "bad kernel/stride/padding (negative stride)");
  return max_pool2d(x, square(kernel, stride, padding));
}

Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  if (stride < 0) fail(OpId::AvgPool2d, "bad kernel/stride/padding (negative stride)");
  return avg_pool2d(x, square(kernel, stride, padding));
}

Tensor global_avg_pool(const Tensor& x) {
  const OpId op = OpId::GlobalAvgPool;
  check_input(op, x, "input");
  check_dim(op, x, 4, "input");
  const auto& k = kernels_for<OpId::GlobalAvgPool>(x.device());
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), L = H * W;
  Tensor xc = dense(x);
  Tensor y = empty_like_device({N, C}, x);
  k.forward(N, C, L, xc.f32(), y.f32());
  record(op, {x}, y, [=, &k](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device({N, C, H, W}, g);
    k.backward(N, C, L, g.f32(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  return y;
}

}  // namespace gb::ops
