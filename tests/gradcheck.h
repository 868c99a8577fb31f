// Gradient checks by central differences, shared by the op and autograd suites.
//
// A checked function f maps a list of float tensors to one tensor of any shape. It is reduced to
// a scalar by a fixed random projection, L(x) = sum_j f(x)_j * R_j (R ~ N(0,1), drawn once from
// a seeded Philox stream), so every output element matters and symmetric errors cannot cancel.
// The analytic gradient is dL/dx = J^T R, obtained from autograd by seeding the backward with R
// (gb::grad, with R passed as a non-contiguous view at a storage offset, so backward rules that
// ignore seed strides fail), and cross-checked against leaf .grad from gb::backward (contiguous
// R). Inputs are cloned into fresh leaves for every evaluation; f must not mutate them.
//
// gradcheck: every input element i, numeric derivative
//     n_i = (L(x + h e_i) - L(x - h e_i)) / (x_i^+ - x_i^-)
// where x_i^+- are the float32 values actually stored (so the perturbation's rounding does not
// count as error) and L is accumulated in double from the float32 outputs.
// Tolerance model: element i passes when
//     |a_i - n_i| <= atol + rtol * max(|a_i|, |n_i|).
// Defaults (h = 1e-2, atol = 1e-3, rtol = 1e-2) suit float32 forward passes on O(1) inputs: the
// truncation error is about h^2/6 |L'''| ~ 1e-5, and float rounding of the outputs that an input
// touches adds about 2^-24 * sqrt(#touched) * |y| / h, below 1e-4 for the small shapes used here
// (outputs an input does not touch are recomputed bit-identically and cancel exactly).
//
// projection_check (for inputs too large to perturb one element at a time): random directions
// u (one per input, entries U(-1,1), so no element moves by more than h) and the same R; compares
//     a = sum_k <dL/dx_k, u_k>   against   n = (L(x + h u) - L(x - h u)) / 2h
// with |a - n| <= atol + rtol * m, where m = sum_k sum_i |dL/dx_k,i * u_k,i| (the sum of absolute
// terms, so cancellation in a cannot make the check vacuous or fail spuriously).
//
// Kinks: a central difference across a kink measures the wrong thing, so inputs are drawn away
// from them: away_from_zero() keeps |x| >= margin (ReLU; margin > h), distinct_values() spaces
// all values more than 2h apart (max-pool: no +-h perturbation can change a window's argmax).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/op_table.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"

namespace gb::test {

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradCheckOptions {
  double h = 1e-2;
  double atol = 1e-3;
  double rtol = 1e-2;
  uint64_t seed = 4242;        // for the projection R (and the directions u)
  int directions = 3;          // projection_check: number of random (u, R) pairs
  bool check_backward = true;  // also compare leaf .grad from gb::backward with gb::grad
  int max_reports = 8;         // mismatches listed in a failure message
};

// Sum of a[i] * b[i] in double over the logical elements of two equally shaped tensors.
inline double dot_double(const Tensor& a, const Tensor& b) {
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double s = 0.0;
  for (size_t i = 0; i < va.size(); ++i) s += static_cast<double>(va[i]) * vb[i];
  return s;
}

// |x| >= margin everywhere: uniform magnitude in [margin, margin + spread], random sign.
inline Tensor away_from_zero(const Shape& shape, Generator& gen, float margin = 0.05f,
                             float spread = 1.0f) {
  Tensor t = Tensor::empty(shape);
  float* p = t.f32();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) {
    const float mag = margin + spread * gen.uniform();
    p[i] = gen.uniform() < 0.5f ? -mag : mag;
  }
  return t;
}

// All values distinct and `gap` apart (a shuffled arithmetic progression centred on zero).
inline Tensor distinct_values(const Shape& shape, Generator& gen, float gap = 0.05f) {
  Tensor t = Tensor::empty(shape);
  const int64_t n = t.numel();
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(perm[static_cast<size_t>(i)], perm[gen.below(static_cast<uint64_t>(i + 1))]);
  }
  float* p = t.f32();
  for (int64_t i = 0; i < n; ++i) {
    p[i] = gap * (static_cast<float>(perm[static_cast<size_t>(i)]) - 0.5f * static_cast<float>(n));
  }
  return t;
}

namespace detail {

inline std::vector<Tensor> fresh_leaves(const std::vector<Tensor>& xs) {
  std::vector<Tensor> out;
  for (const auto& x : xs) {
    Tensor c = x.clone();
    c.set_requires_grad(true);
    out.push_back(c);
  }
  return out;
}

// L(xs) = <f(xs), R> in double, evaluated without recording a graph.
inline double projected(const TensorFn& f, const std::vector<Tensor>& xs, const Tensor& r) {
  NoGradGuard no_grad;
  return dot_double(f(xs), r);
}

// The values of r in a non-contiguous view with a storage offset (dimensions stored in reverse
// order, after one unused element), so that every backward rule must honour seed strides and
// offsets.
inline Tensor strided_copy(const Tensor& r) {
  const Shape rev(r.shape().rbegin(), r.shape().rend());
  Shape strides = contiguous_strides(rev);
  std::reverse(strides.begin(), strides.end());
  Tensor buf = Tensor::zeros({r.numel() + 1});
  Tensor v = make_view(buf, r.shape(), strides, 1);
  v.copy_(r);
  return v;
}

// Analytic gradients of <f(xs), R>: gb::grad seeded with R (as a strided, offset view); with
// check_backward also the leaf
// .grad of a separate gb::backward pass, which must agree to float rounding.
inline ::testing::AssertionResult analytic(const TensorFn& f, const std::vector<Tensor>& xs,
                                           const Tensor& r, const GradCheckOptions& opt,
                                           std::vector<Tensor>* grads) {
  std::vector<Tensor> leaves = fresh_leaves(xs);
  Tensor out = f(leaves);
  if (out.shape() != r.shape()) {
    return ::testing::AssertionFailure() << "output shape changed between calls";
  }
  if (!out.requires_grad()) {
    return ::testing::AssertionFailure() << "output does not require grad (graph not recorded)";
  }
  *grads = gb::grad(out, leaves, strided_copy(r));
  for (size_t k = 0; k < xs.size(); ++k) {
    if ((*grads)[k].shape() != xs[k].shape()) {
      return ::testing::AssertionFailure()
             << "input " << k << ": gradient shape " << shape_str((*grads)[k].shape())
             << " != input shape " << shape_str(xs[k].shape());
    }
    if (leaves[k].grad().defined()) {
      return ::testing::AssertionFailure() << "input " << k << ": gb::grad wrote leaf .grad";
    }
  }
  if (opt.check_backward) {
    std::vector<Tensor> leaves2 = fresh_leaves(xs);
    Tensor out2 = f(leaves2);
    gb::backward(out2, r);
    for (size_t k = 0; k < xs.size(); ++k) {
      const std::vector<float> a = (*grads)[k].to_vector();
      const Tensor g2 = leaves2[k].grad();
      const std::vector<float> b =
          g2.defined() ? g2.to_vector() : std::vector<float>(a.size(), 0.0f);
      for (size_t i = 0; i < a.size(); ++i) {
        if (std::fabs(a[i] - b[i]) > 1e-6f + 1e-5f * std::fabs(a[i])) {
          return ::testing::AssertionFailure() << "input " << k << " element " << i << ": gb::grad "
                                               << a[i] << " != backward .grad " << b[i];
        }
      }
    }
  }
  return ::testing::AssertionSuccess();
}

inline Tensor projection_for(const TensorFn& f, const std::vector<Tensor>& xs, Generator& gen) {
  Tensor y;
  {
    NoGradGuard no_grad;
    y = f(xs);
  }
  return Tensor::randn(y.shape(), gen);
}

}  // namespace detail

// Element-by-element central-difference check of every input of f (see the header comment).
inline ::testing::AssertionResult gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs,
                                            const GradCheckOptions& opt = {}) {
  Generator gen(opt.seed, 7);
  const Tensor r = detail::projection_for(f, inputs, gen);
  std::vector<Tensor> grads;
  if (auto res = detail::analytic(f, inputs, r, opt, &grads); !res) return res;

  std::ostringstream report;
  int failures = 0;
  double worst = 0.0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    std::vector<Tensor> xs;
    for (const auto& x : inputs) xs.push_back(x.clone());
    float* p = xs[k].f32();
    const std::vector<float> a = grads[k].to_vector();
    for (int64_t i = 0, n = xs[k].numel(); i < n; ++i) {
      const float x0 = p[i];
      const float xp = static_cast<float>(x0 + opt.h), xm = static_cast<float>(x0 - opt.h);
      p[i] = xp;
      const double lp = detail::projected(f, xs, r);
      p[i] = xm;
      const double lm = detail::projected(f, xs, r);
      p[i] = x0;
      const double num = (lp - lm) / (static_cast<double>(xp) - static_cast<double>(xm));
      const double ana = a[static_cast<size_t>(i)];
      const double err = std::fabs(ana - num);
      const double tol = opt.atol + opt.rtol * std::max(std::fabs(ana), std::fabs(num));
      worst = std::max(worst, err / tol);
      if (!(err <= tol)) {
        if (failures < opt.max_reports) {
          report << "\n  input " << k << " " << shape_str(xs[k].shape()) << " element " << i
                 << ": analytic " << ana << ", numeric " << num << ", |diff| " << err << " > tol "
                 << tol;
        }
        ++failures;
      }
    }
  }
  if (failures > 0) {
    return ::testing::AssertionFailure() << failures << " gradient element(s) off (worst err/tol "
                                         << worst << "):" << report.str();
  }
  return ::testing::AssertionSuccess() << "worst err/tol " << worst;
}

// Random-direction check v^T J u (see the header comment); three evaluations per direction.
inline ::testing::AssertionResult projection_check(const TensorFn& f,
                                                   const std::vector<Tensor>& inputs,
                                                   const GradCheckOptions& opt = {}) {
  Generator gen(opt.seed, 11);
  std::ostringstream report;
  int failures = 0;
  for (int d = 0; d < opt.directions; ++d) {
    const Tensor r = detail::projection_for(f, inputs, gen);
    std::vector<Tensor> grads;
    if (auto res = detail::analytic(f, inputs, r, opt, &grads); !res) return res;
    std::vector<Tensor> plus, minus;
    double ana = 0.0, mag = 0.0;
    for (size_t k = 0; k < inputs.size(); ++k) {
      const Tensor u = Tensor::uniform(inputs[k].shape(), gen, -1.0f, 1.0f);
      const std::vector<float> x = inputs[k].to_vector(), vu = u.to_vector();
      const std::vector<float> g = grads[k].to_vector();
      std::vector<float> xp(x.size()), xm(x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        xp[i] = static_cast<float>(x[i] + opt.h * vu[i]);
        xm[i] = static_cast<float>(x[i] - opt.h * vu[i]);
        // The derivative along the direction actually taken (float-rounded endpoints).
        const double du = (static_cast<double>(xp[i]) - xm[i]) / (2.0 * opt.h);
        ana += static_cast<double>(g[i]) * du;
        mag += std::fabs(static_cast<double>(g[i]) * du);
      }
      plus.push_back(Tensor::from_vector(inputs[k].shape(), xp));
      minus.push_back(Tensor::from_vector(inputs[k].shape(), xm));
    }
    const double num =
        (detail::projected(f, plus, r) - detail::projected(f, minus, r)) / (2.0 * opt.h);
    const double err = std::fabs(ana - num);
    const double tol = opt.atol + opt.rtol * mag;
    if (!(err <= tol)) {
      report << "\n  direction " << d << ": analytic " << ana << ", numeric " << num << ", |diff| "
             << err << " > tol " << tol;
      ++failures;
    }
  }
  if (failures > 0) {
    return ::testing::AssertionFailure() << failures << " direction(s) off:" << report.str();
  }
  return ::testing::AssertionSuccess();
}

// Runs `body` once with the plain reference CPU kernels and once with the fast ones.
inline void for_each_cpu_mode(const std::function<void()>& body) {
  for (CpuKernelMode mode : {CpuKernelMode::Reference, CpuKernelMode::Fast}) {
    SCOPED_TRACE(mode == CpuKernelMode::Reference ? "cpu kernels: reference" : "cpu kernels: fast");
    CpuKernelModeGuard guard(mode);
    body();
  }
}

// Every element of `got` within tol * (1 + |want|) of `want` (and the counts equal).
inline ::testing::AssertionResult values_near(const Tensor& got, const std::vector<float>& want,
                                              double tol = 1e-5) {
  if (!got.defined()) return ::testing::AssertionFailure() << "tensor is undefined";
  const std::vector<float> g = got.to_vector();
  if (g.size() != want.size()) {
    return ::testing::AssertionFailure() << "got " << g.size() << " values, want " << want.size();
  }
  for (size_t i = 0; i < g.size(); ++i) {
    if (!(std::fabs(g[i] - want[i]) <= tol * (1.0 + std::fabs(want[i])))) {
      return ::testing::AssertionFailure()
             << "element " << i << ": got " << g[i] << ", want " << want[i];
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace gb::test
