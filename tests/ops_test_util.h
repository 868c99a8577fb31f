// Helpers shared by the op API suites (test_ops.cpp, test_ops_import.cpp): a tensor of evenly
// spaced values and the check that an error names what it is about. Header-only, for tests.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>

#include "runtime/tensor.h"

namespace gb::test {

// A tensor of `shape` holding start, start + step, ... in row-major order.
inline Tensor iota(const Shape& shape, float start = 0.0f, float step = 1.0f) {
  Tensor t = Tensor::empty(shape);
  float* p = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = start + step * static_cast<float>(i);
  return t;
}

// Expects fn to throw std::invalid_argument whose message contains `name`.
inline void expect_error_naming(const std::function<void()>& fn, const std::string& name) {
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

}  // namespace gb::test
