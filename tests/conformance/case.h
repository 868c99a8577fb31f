// The conformance harness's cases (tests/test_op_conformance.cpp runs them): for each op-table
// row, a few awkward-shape cases, each a function of some float inputs that runs the op through
// the public API. Adding an op is a row in runtime/op_table.cpp plus a `case OpId::X:` in
// conformance_cases() (cases.cpp) returning at least one Case; the harness then checks the row's
// fast CPU kernels against its reference kernels, gradients by central differences, determinism
// across thread counts, the dispatch, and (where a GPU is present) its CUDA kernels.
// Shape letters: N batch, C channels, H/W height/width, K output channels, D features.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/op_table.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"
#include "tests/gradcheck.h"

namespace gb::conformance {

using Ts = std::vector<Tensor>;
using test::TensorFn;

// How a case's gradients are checked against central differences: every element (small inputs),
// random directions v^T J u (larger inputs), or not at all (an inference-only op, an optimizer
// step, or a backward rule that is not a gradient: guided backprop).
enum class GradCheck { Elementwise, Projection, None };

struct Case {
  std::string label;  // the shapes and options, for failure messages
  Ts inputs;          // CPU, F32; moved to the device under test
  // Runs the op on inputs that may be on any device; creates any other tensor it needs on the
  // device of its first input.
  TensorFn fn;
  GradCheck grad = GradCheck::Elementwise;
  test::GradCheckOptions grad_options{};
  // Compare the backward of the fast (and CUDA) kernels with the reference kernels' (off for
  // forward-only cases).
  bool backward = true;
  // fast vs reference, per element: |fast - ref| <= atol + rtol * (|ref| + rms(ref)) (rms over
  // the finite elements; NaN matches NaN, an infinity only itself).
  double atol = 1e-6, rtol = 1e-5;
  ReluRule relu_rule = ReluRule::Standard;  // the ReLU backward rule the case runs under
};

// Every case of op's row. Each row has at least one (the harness fails a row without).
std::vector<Case> conformance_cases(OpId op);

// Builders of the ops' cases, one per family (cases_nn.cpp, cases_math.cpp, cases_pointwise.cpp,
// cases_attention.cpp).
std::vector<Case> conv2d_cases();
std::vector<Case> conv2d_fused_cases();
std::vector<Case> conv_transpose2d_cases();
std::vector<Case> linear_cases();
std::vector<Case> batch_norm_cases();
std::vector<Case> batch_norm_act_cases();
std::vector<Case> matmul_cases();  // cases_attention.cpp
std::vector<Case> layer_norm_cases();
std::vector<Case> max_pool_cases();
std::vector<Case> avg_pool_cases();
std::vector<Case> global_avg_pool_cases();
std::vector<Case> bilinear_resize_cases();
std::vector<Case> relu_cases();
std::vector<Case> gelu_cases();
std::vector<Case> clamp_cases();  // cases_pointwise.cpp
std::vector<Case> leaky_relu_cases();
std::vector<Case> sigmoid_cases();
std::vector<Case> tanh_cases();
std::vector<Case> hardsigmoid_cases();
std::vector<Case> hardswish_cases();
std::vector<Case> prelu_cases();
std::vector<Case> binary_cases(OpId op);
std::vector<Case> scale_cases();
std::vector<Case> concat_cases();
std::vector<Case> pad2d_cases();
std::vector<Case> reshape_cases();
std::vector<Case> permute_cases();
std::vector<Case> slice_cases();
std::vector<Case> copy_cases();
std::vector<Case> cast_cases();  // cases_pointwise.cpp
std::vector<Case> dropout_cases();
std::vector<Case> softmax_cases(bool log);
std::vector<Case> cross_entropy_cases();
std::vector<Case> reduce_cases(bool mean);
std::vector<Case> sgd_cases();
std::vector<Case> adamw_cases();
std::vector<Case> clip_grad_norm_cases();

// Inputs: N(0, stddev) values from a seeded Philox stream.
inline Tensor randn(const Shape& shape, uint64_t seed, float stddev = 1.0f) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, stddev);
}

}  // namespace gb::conformance
