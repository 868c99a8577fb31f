// Tests for the ops and options added for model import (runtime/ops.h): pooling with
// Pool2dOptions (ceil_mode, count_include_pad, non-square windows), the pointwise activations
// (clamp / relu6, leaky_relu, sigmoid, tanh, hardsigmoid, hardswish), prelu, pad2d,
// conv_transpose2d. Forward values
// against hand-computed (PyTorch's) numbers under both CPU kernel sets, gradients at the points the
// options change, and errors that name the op. The conformance harness
// (tests/test_op_conformance.cpp) checks fast against reference kernels, gradients by central
// differences and determinism. Shape letters: N batch, C channels, H/W height/width.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"
#include "tests/gradcheck.h"
#include "tests/ops_test_util.h"

namespace gb {
namespace {

using test::for_each_cpu_mode;
using test::values_near;

using test::iota;

using test::expect_error_naming;

// ---------------------------------------------------------------------------------------------
// Pooling options

TEST(OpsImport, PoolCeilModeAddsTheOverhangingWindow) {
  const Tensor x = iota({1, 1, 4, 4});  // x(i, j) = 4i + j
  for_each_cpu_mode([&] {
    const ops::Pool2dOptions k3s2{3, 3, 2, 2, 0, 0, true, true};
    Tensor y = ops::max_pool2d(x, k3s2);
    EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
    EXPECT_TRUE(values_near(y, {10, 11, 14, 15}, 0.0));
    // The clipped windows divide by what they hold (no padding to count).
    EXPECT_TRUE(values_near(ops::avg_pool2d(x, k3s2), {5.0f, 6.5f, 11.0f, 12.5f}));
    // Without ceil_mode: one window.
    EXPECT_TRUE(values_near(ops::max_pool2d(x, 3, 2, 0), {10}, 0.0));
  });
}

TEST(OpsImport, PoolCountIncludePadChoosesTheDivisor) {
  const Tensor x = iota({1, 1, 4, 4});
  for_each_cpu_mode([&] {
    ops::Pool2dOptions o{3, 3, 2, 2, 1, 1, false, false};
    EXPECT_TRUE(values_near(ops::avg_pool2d(x, o), {2.5f, 4.0f, 8.5f, 10.0f}));
    o.count_include_pad = true;
    EXPECT_TRUE(values_near(ops::avg_pool2d(x, o), ops::avg_pool2d(x, 3, 2, 1).to_vector()));
    // ceil_mode with padding: the last window counts one padding row/column, not beyond.
    o.ceil_mode = true;
    Tensor y = ops::avg_pool2d(x, o);
    EXPECT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
    EXPECT_NEAR(y.to_vector()[8], 15.0f / 4.0f, 1e-6);
    o.count_include_pad = false;
    EXPECT_NEAR(ops::avg_pool2d(x, o).to_vector()[8], 15.0f, 1e-6);
  });
}

TEST(OpsImport, PoolNonSquareWindowAndStride) {
  const Tensor x = iota({1, 1, 3, 6});
  for_each_cpu_mode([&] {
    // 1x3 windows, stride 1x3: row maxima of each half.
    const ops::Pool2dOptions o{1, 3, 1, 3, 0, 0};
    EXPECT_TRUE(values_near(ops::max_pool2d(x, o), {2, 5, 8, 11, 14, 17}, 0.0));
    EXPECT_TRUE(values_near(ops::avg_pool2d(x, o), {1, 4, 7, 10, 13, 16}));
  });
}

// The gradient of the overhanging window flows to the pixels it holds, divided by its divisor.
TEST(OpsImport, PoolGradientOfClippedWindows) {
  for_each_cpu_mode([&] {
    Tensor x = iota({1, 1, 4, 4});
    x.set_requires_grad(true);
    ops::sum(ops::avg_pool2d(x, {3, 3, 2, 2, 1, 1, true, false})).backward();
    // Pixel (3,3) lies in windows (1,1) [9 pixels] and (2,2) [1 pixel] and (1,2), (2,1) [3 each].
    EXPECT_NEAR(x.grad().to_vector()[15], 1.0f / 9 + 1.0f + 2.0f / 3, 1e-6);
    Tensor x2 = iota({1, 1, 4, 4});
    x2.set_requires_grad(true);
    ops::sum(ops::max_pool2d(x2, {3, 3, 2, 2, 0, 0, true, true})).backward();
    EXPECT_TRUE(values_near(x2.grad(), {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1}, 0.0));
  });
}

TEST(OpsImport, PoolOptionErrorsNameTheOp) {
  const Tensor x = iota({1, 2, 5, 5});
  expect_error_naming([&] { ops::max_pool2d(x, {3, 3, 0, 1, 0, 0}); }, "max_pool2d");
  expect_error_naming([&] { ops::max_pool2d(x, {3, 2, 1, 1, 0, 2}); }, "max_pool2d");
  expect_error_naming([&] { ops::avg_pool2d(x, {6, 3, 1, 1, 0, 0}); }, "avg_pool2d");
  expect_error_naming([&] { ops::avg_pool2d(x, {3, 0, 1, 1, 0, 0}); }, "avg_pool2d");
  expect_error_naming([&] { ops::avg_pool2d(x, 2, -1); }, "avg_pool2d");
}

// ---------------------------------------------------------------------------------------------
// Pointwise activations

// The values of f(x) and the gradient of sum(f(x)) at x.
struct ValueAndGrad {
  std::vector<float> y, dx;
};
ValueAndGrad run(const std::function<Tensor(const Tensor&)>& f, const std::vector<float>& x) {
  Tensor t = Tensor::from_vector({static_cast<int64_t>(x.size())}, x);
  t.set_requires_grad(true);
  Tensor y = f(t);
  ops::sum(y).backward();
  return {y.to_vector(), t.grad().to_vector()};
}

TEST(OpsImport, ClampAndRelu6PassTheGradientAtTheBounds) {
  for_each_cpu_mode([&] {
    const auto r = run([](const Tensor& t) { return ops::relu6(t); }, {-1, 0, 3, 6, 7});
    EXPECT_EQ(r.y, (std::vector<float>{0, 0, 3, 6, 6}));
    EXPECT_EQ(r.dx, (std::vector<float>{0, 1, 1, 1, 0}));  // torch: (x >= min) & (x <= max)
    const float inf = std::numeric_limits<float>::infinity();
    const auto one_sided =
        run([inf](const Tensor& t) { return ops::clamp(t, -inf, 0.5f); }, {-100, 0.5f, 2});
    EXPECT_EQ(one_sided.y, (std::vector<float>{-100, 0.5f, 0.5f}));
    EXPECT_EQ(one_sided.dx, (std::vector<float>{1, 1, 0}));
    // lo > hi: every value is hi (torch.clamp).
    EXPECT_TRUE(values_near(ops::clamp(Tensor::from_vector({3}, {-5, 0, 5}), 1.0f, -1.0f),
                            {-1, -1, -1}, 0.0));
  });
}

TEST(OpsImport, LeakyReluSigmoidTanh) {
  for_each_cpu_mode([&] {
    const auto l = run([](const Tensor& t) { return ops::leaky_relu(t, 0.1f); }, {-2, 0, 3});
    EXPECT_TRUE(values_near(Tensor::from_vector({3}, l.y), {-0.2f, 0, 3}, 1e-7));
    EXPECT_TRUE(values_near(Tensor::from_vector({3}, l.dx), {0.1f, 0.1f, 1}, 1e-7));
    EXPECT_TRUE(values_near(ops::leaky_relu(Tensor::from_vector({1}, {-1})), {-0.01f}, 1e-7));
    const auto s = run([](const Tensor& t) { return ops::sigmoid(t); }, {0, 2, -2});
    EXPECT_TRUE(values_near(Tensor::from_vector({3}, s.y), {0.5f, 0.88079708f, 0.11920292f}, 1e-6));
    EXPECT_TRUE(
        values_near(Tensor::from_vector({3}, s.dx), {0.25f, 0.10499359f, 0.10499359f}, 1e-6));
    const auto t = run([](const Tensor& v) { return ops::tanh(v); }, {0, 1, -0.5f});
    EXPECT_TRUE(values_near(Tensor::from_vector({3}, t.y), {0, 0.76159416f, -0.46211716f}, 1e-6));
    EXPECT_TRUE(values_near(Tensor::from_vector({3}, t.dx), {1, 0.41997434f, 0.78644773f}, 1e-6));
  });
}

TEST(OpsImport, HardSigmoidAndHardSwishFollowTorch) {
  for_each_cpu_mode([&] {
    // PyTorch's Hardsigmoid (alpha 1/6, beta 0.5): relu6(x + 3) / 6, gradient 1/6 on (-3, 3).
    const auto h = run([](const Tensor& t) { return ops::hardsigmoid(t, 1.0f / 6, 0.5f); },
                       {-4, -3, 0, 1.5f, 3, 4});
    EXPECT_TRUE(values_near(Tensor::from_vector({6}, h.y), {0, 0, 0.5f, 0.75f, 1, 1}, 1e-6));
    EXPECT_TRUE(
        values_near(Tensor::from_vector({6}, h.dx), {0, 0, 1.0f / 6, 1.0f / 6, 0, 0}, 1e-7));
    // ONNX's defaults (alpha 0.2, beta 0.5).
    EXPECT_TRUE(values_near(ops::hardsigmoid(Tensor::from_vector({3}, {-3, 1, 3}), 0.2f, 0.5f),
                            {0, 0.7f, 1}, 1e-6));
    const auto w = run([](const Tensor& t) { return ops::hardswish(t); }, {-4, -3, -1, 0, 1, 3, 4});
    EXPECT_TRUE(
        values_near(Tensor::from_vector({7}, w.y), {0, 0, -1.0f / 3, 0, 2.0f / 3, 3, 4}, 1e-6));
    // torch: 0 below -3, x / 3 + 0.5 on [-3, 3] (so -0.5 at -3 and 1.5 at 3), 1 above.
    EXPECT_TRUE(values_near(Tensor::from_vector({7}, w.dx),
                            {0, -0.5f, 1.0f / 6, 0.5f, 5.0f / 6, 1.5f, 1}, 1e-6));
  });
}

TEST(OpsImport, PointwiseErrorsNameTheOp) {
  const Tensor ints = Tensor::zeros({2, 3}, DType::I64);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = Tensor::from_vector({2}, {1, 2});
  expect_error_naming([&] { ops::clamp(ints, 0, 1); }, "clamp");
  expect_error_naming([&] { ops::clamp(x, nan, 1); }, "clamp");
  expect_error_naming([&] { ops::relu6(Tensor()); }, "clamp");
  expect_error_naming([&] { ops::leaky_relu(ints); }, "leaky_relu");
  expect_error_naming([&] { ops::leaky_relu(x, nan); }, "leaky_relu");
  expect_error_naming([&] { ops::sigmoid(Tensor()); }, "sigmoid");
  expect_error_naming([&] { ops::tanh(ints); }, "tanh");
  expect_error_naming([&] { ops::hardsigmoid(x, 0.2f, nan); }, "hardsigmoid");
  expect_error_naming([&] { ops::hardswish(ints); }, "hardswish");
}

// ---------------------------------------------------------------------------------------------
// prelu

TEST(OpsImport, PreluPerChannelAndSharedSlope) {
  for_each_cpu_mode([&] {
    Tensor x = Tensor::from_vector({1, 2, 2}, {-1, 2, -3, 4});
    Tensor slope = Tensor::from_vector({2}, {0.1f, 0.5f});
    x.set_requires_grad(true);
    slope.set_requires_grad(true);
    Tensor y = ops::prelu(x, slope);
    EXPECT_TRUE(values_near(y, {-0.1f, 2, -1.5f, 4}, 1e-7));
    ops::sum(y).backward();
    EXPECT_TRUE(values_near(x.grad(), {0.1f, 1, 0.5f, 1}, 1e-7));
    EXPECT_TRUE(values_near(slope.grad(), {-1, -3}, 0.0));  // sum of x where x <= 0
    // One slope for every channel; x = 0 takes the slope's side (torch).
    Tensor x2 = Tensor::from_vector({2, 3}, {-2, 0, 1, -1, 3, -4});
    Tensor s2 = Tensor::from_vector({1}, {0.25f});
    s2.set_requires_grad(true);
    ops::sum(ops::prelu(x2, s2)).backward();
    EXPECT_TRUE(values_near(ops::prelu(x2, s2), {-0.5f, 0, 1, -0.25f, 3, -1}, 1e-7));
    EXPECT_TRUE(values_near(s2.grad(), {-7}, 0.0));
  });
}

TEST(OpsImport, PreluErrorsNameTheOp) {
  const Tensor x = Tensor::zeros({2, 3, 4});
  expect_error_naming([&] { ops::prelu(x, Tensor::zeros({2})); }, "prelu");
  expect_error_naming([&] { ops::prelu(x, Tensor::zeros({3, 1})); }, "prelu");
  expect_error_naming([&] { ops::prelu(Tensor::zeros({3}), Tensor::zeros({3})); }, "prelu");
  expect_error_naming([&] { ops::prelu(x, Tensor()); }, "prelu");
  expect_error_naming(
      [&] {
        ops::prelu(Tensor::zeros({2, 3}, DType::I64), Tensor::zeros({3}));
      },
      "prelu");
}

// ---------------------------------------------------------------------------------------------
// pad2d

TEST(OpsImport, Pad2dPlacesTheInputAndSlicesTheGradient) {
  for_each_cpu_mode([&] {
    Tensor x = iota({1, 1, 2, 2}, 1.0f);  // [[1, 2], [3, 4]]
    x.set_requires_grad(true);
    Tensor y = ops::pad2d(x, 1, 0, 0, 2, -1.0f);  // one row on top, two columns on the right
    EXPECT_EQ(y.shape(), (Shape{1, 1, 3, 4}));
    EXPECT_TRUE(values_near(y, {-1, -1, -1, -1, 1, 2, -1, -1, 3, 4, -1, -1}, 0.0));
    gb::backward(y, iota({1, 1, 3, 4}));
    EXPECT_TRUE(values_near(x.grad(), {4, 5, 8, 9}, 0.0));
    EXPECT_TRUE(values_near(ops::pad2d(iota({1, 1, 1, 1}, 5.0f), 0, 1, 1, 0), {0, 5, 0, 0}, 0.0));
  });
}

TEST(OpsImport, Pad2dErrorsNameTheOp) {
  const Tensor x = Tensor::zeros({1, 2, 3, 3});
  expect_error_naming([&] { ops::pad2d(x, -1, 0, 0, 0); }, "pad2d");
  expect_error_naming([&] { ops::pad2d(x, 0, 0, 0, -2); }, "pad2d");
  expect_error_naming([&] { ops::pad2d(Tensor::zeros({2, 3, 3}), 1, 1, 1, 1); }, "pad2d");
  expect_error_naming(
      [&] {
        ops::pad2d(Tensor::zeros({1, 1, 2, 2}, DType::I64), 1, 1, 1, 1);
      },
      "pad2d");
}

// ---------------------------------------------------------------------------------------------
// conv_transpose2d

TEST(OpsImport, ConvTransposeSpreadsEachInputThroughTheKernel) {
  for_each_cpu_mode([&] {
    // Stride 2, kernel 2x2 of ones: each input value fills its own 2x2 block (PyTorch's result).
    Tensor x = iota({1, 1, 2, 2}, 1.0f);  // [[1, 2], [3, 4]]
    Tensor w = Tensor::full({1, 1, 2, 2}, 1.0f);
    Tensor b = Tensor::full({1}, 0.5f);
    x.set_requires_grad(true);
    w.set_requires_grad(true);
    b.set_requires_grad(true);
    ops::ConvTranspose2dOptions opt;
    opt.stride_h = opt.stride_w = 2;
    const Tensor y = ops::conv_transpose2d(x, w, b, opt);
    EXPECT_EQ(y.shape(), (Shape{1, 1, 4, 4}));
    EXPECT_TRUE(values_near(y,
                            {1.5f, 1.5f, 2.5f, 2.5f, 1.5f, 1.5f, 2.5f, 2.5f,  //
                             3.5f, 3.5f, 4.5f, 4.5f, 3.5f, 3.5f, 4.5f, 4.5f},
                            0.0));
    // dy = iota: dx sums each block, dw[r, t] sums x * dy at offset (r, t), db everything.
    const std::vector<Tensor> g = grad(y, {x, w, b}, iota({1, 1, 4, 4}));
    EXPECT_TRUE(
        values_near(g[0], {0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15}, 0.0));
    EXPECT_TRUE(values_near(g[1],
                            {1 * 0 + 2 * 2 + 3 * 8 + 4 * 10, 1 * 1 + 2 * 3 + 3 * 9 + 4 * 11,
                             1 * 4 + 2 * 6 + 3 * 12 + 4 * 14, 1 * 5 + 2 * 7 + 3 * 13 + 4 * 15},
                            0.0));
    EXPECT_TRUE(values_near(g[2], {120}, 0.0));
    // One pixel, 3x3 kernel, stride 2, pad 1, output_padding 1: the output is 2x2, the kernel's
    // rows and columns 1..2 (output (h, w) reads tap (h + 1, w + 1)).
    opt.pad_h = opt.pad_w = 1;
    opt.output_padding_h = opt.output_padding_w = 1;
    const Tensor y2 =
        ops::conv_transpose2d(Tensor::full({1, 1, 1, 1}, 1.0f), iota({1, 1, 3, 3}), Tensor(), opt);
    EXPECT_TRUE(values_near(y2, {4, 5, 7, 8}, 0.0));
  });
}

TEST(OpsImport, ConvTransposeGroupsAndErrorsNameTheOp) {
  // Groups 2: input channel 0 feeds output channels 0..1 only, channel 1 feeds 2..3.
  ops::ConvTranspose2dOptions g2;
  g2.groups = 2;
  const Tensor x = Tensor::from_vector({1, 2, 1, 1}, {1, 10});
  const Tensor y = ops::conv_transpose2d(x, iota({2, 2, 1, 1}, 1.0f), Tensor(), g2);
  EXPECT_TRUE(values_near(y, {1, 2, 30, 40}, 0.0));
  const Tensor x4 = Tensor::zeros({1, 2, 3, 3});
  ops::ConvTranspose2dOptions bad;
  bad.stride_h = 2;
  bad.output_padding_h = 2;  // not below the stride
  expect_error_naming(
      [&] {
        ops::conv_transpose2d(x4, Tensor::zeros({2, 1, 3, 3}), {}, bad);
      },
      "conv_transpose2d");
  expect_error_naming(
      [&] {
        ops::conv_transpose2d(x4, Tensor::zeros({3, 1, 3, 3}), {});
      },
      "conv_transpose2d");
  expect_error_naming(
      [&] {
        ops::conv_transpose2d(x4, Tensor::zeros({2, 1, 3, 3}), Tensor::zeros({2}));
      },
      "conv_transpose2d");
  ops::ConvTranspose2dOptions big_pad;
  big_pad.pad_h = big_pad.pad_w = 3;  // (3 - 1) - 6 + 3 < 1
  expect_error_naming(
      [&] {
        ops::conv_transpose2d(x4, Tensor::zeros({2, 1, 3, 3}), {}, big_pad);
      },
      "conv_transpose2d");
}

}  // namespace
}  // namespace gb
