// Tests for the ops and options added for model import (runtime/ops.h): pooling with
// Pool2dOptions (ceil_mode, count_include_pad, non-square windows). Forward values against
// hand-computed (PyTorch's) numbers under both CPU kernel sets, gradients at the points the
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

namespace gb {
namespace {

using test::for_each_cpu_mode;
using test::values_near;

Tensor iota(const Shape& shape, float start = 0.0f, float step = 1.0f) {
  Tensor t = Tensor::empty(shape);
  float* p = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = start + step * static_cast<float>(i);
  return t;
}

// Expects fn to throw std::invalid_argument whose message contains `name`.
void expect_error_naming(const std::function<void()>& fn, const std::string& name) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument naming '" << name << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos)
        << "message '" << e.what() << "' does not name '" << name << "'";
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected std::invalid_argument, got other exception: " << e.what();
  }
}

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

}  // namespace
}  // namespace gb
