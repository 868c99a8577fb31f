// Tests for the optimizers, schedules and gradient clipping of runtime/optim.h: single steps
// against PyTorch's torch.optim update formulas (computed here in double), schedules at their
// milestones, and clip_grad_norm below and above its limit.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "runtime/optim.h"
#include "runtime/tensor.h"
#include "tests/gradcheck.h"

namespace gb {
namespace {

using Vec = std::vector<float>;
using test::values_near;

Tensor leaf(const Shape& shape, const Vec& values) {
  Tensor t = Tensor::from_vector(shape, values);
  t.set_requires_grad(true);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Optimizers, schedules, clipping (PyTorch's torch.optim formulas, computed in double)

struct SgdCase {
  float momentum, dampening, weight_decay;
  bool nesterov;
};

TEST(Optim, SgdStepsMatchPyTorchFormula) {
  const Vec p0 = {1.0f, -2.0f, 0.25f}, g1 = {0.5f, 0.1f, -0.3f}, g2 = {-0.2f, 0.4f, 0.05f};
  const double lr = 0.1;
  for (SgdCase c :
       {SgdCase{0, 0, 0, false}, SgdCase{0, 0, 0.01f, false}, SgdCase{0.9f, 0, 0.01f, false},
        SgdCase{0.9f, 0, 0.01f, true}, SgdCase{0.8f, 0.1f, 0, false}}) {
    SCOPED_TRACE("momentum " + std::to_string(c.momentum) + " dampening " +
                 std::to_string(c.dampening) + " wd " + std::to_string(c.weight_decay) +
                 " nesterov " + std::to_string(c.nesterov));
    Tensor p = leaf({3}, p0);
    optim::SGD sgd({{"p", p}},
                   {static_cast<float>(lr), c.momentum, c.dampening, c.weight_decay, c.nesterov});
    std::vector<double> want(p0.begin(), p0.end()), buf(3, 0.0);
    for (int step = 0; step < 2; ++step) {
      const Vec& g = step == 0 ? g1 : g2;
      p.set_grad(Tensor::from_vector({3}, g));
      sgd.step();
      for (size_t i = 0; i < 3; ++i) {
        double d = g[i] + c.weight_decay * want[i];
        if (c.momentum != 0) {
          buf[i] = step == 0 ? d : c.momentum * buf[i] + (1 - c.dampening) * d;
          d = c.nesterov ? d + c.momentum * buf[i] : buf[i];
        }
        want[i] -= lr * d;
      }
      EXPECT_TRUE(values_near(p, Vec(want.begin(), want.end()), 1e-6)) << "step " << step;
    }
    EXPECT_EQ(sgd.steps(), 2);
  }
}

TEST(Optim, SgdSkipsParametersWithoutGradAndZeroGradClears) {
  Tensor a = leaf({1}, {1.0f}), b = leaf({1}, {2.0f});
  optim::SGD sgd({{"a", a}, {"b", b}}, {0.5f});
  a.set_grad(Tensor::from_vector({1}, {1.0f}));
  sgd.step();
  EXPECT_FLOAT_EQ(a.item(), 0.5f);
  EXPECT_FLOAT_EQ(b.item(), 2.0f);
  sgd.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Optim, AdamWStepsMatchPyTorchFormula) {
  const Vec p0 = {1.0f, -2.0f, 0.25f}, g1 = {0.5f, 0.1f, -0.3f}, g2 = {-0.2f, 0.4f, 0.05f};
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
  Tensor p = leaf({3}, p0);
  optim::AdamW adam({{"p", p}},
                    {static_cast<float>(lr), static_cast<float>(b1), static_cast<float>(b2),
                     static_cast<float>(eps), static_cast<float>(wd)});
  std::vector<double> want(p0.begin(), p0.end()), m(3, 0.0), v(3, 0.0);
  for (int t = 1; t <= 3; ++t) {
    const Vec& g = t == 2 ? g2 : g1;
    p.set_grad(Tensor::from_vector({3}, g));
    adam.step();
    for (size_t i = 0; i < 3; ++i) {
      want[i] *= 1 - lr * wd;  // decoupled weight decay
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const double mhat = m[i] / (1 - std::pow(b1, t)), vhat = v[i] / (1 - std::pow(b2, t));
      want[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
    EXPECT_TRUE(values_near(p, Vec(want.begin(), want.end()), 1e-6)) << "step " << t;
  }
  // State is named after the parameter, PyTorch-style slots.
  EXPECT_EQ(adam.steps(), 3);
  const auto state = adam.state();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].first, "p.exp_avg");
  EXPECT_TRUE(values_near(state[0].second, Vec(m.begin(), m.end()), 1e-6));
}

TEST(Optim, Schedules) {
  const optim::StepSchedule step(0.1f, 10, 0.5f);
  EXPECT_FLOAT_EQ(step.lr(0), 0.1f);
  EXPECT_FLOAT_EQ(step.lr(9), 0.1f);
  EXPECT_FLOAT_EQ(step.lr(10), 0.05f);
  EXPECT_FLOAT_EQ(step.lr(25), 0.025f);

  const optim::CosineSchedule cosine(1.0f, 100);
  EXPECT_FLOAT_EQ(cosine.lr(0), 1.0f);
  EXPECT_NEAR(cosine.lr(25), 0.5 * (1 + std::cos(std::numbers::pi * 0.25)), 1e-6);
  EXPECT_NEAR(cosine.lr(50), 0.5f, 1e-6);
  EXPECT_NEAR(cosine.lr(100), 0.0f, 1e-6);
  const optim::CosineSchedule warm(1.0f, 110, 10, 0.1f);
  EXPECT_FLOAT_EQ(warm.lr(0), 0.1f);  // (step + 1) / warmup
  EXPECT_FLOAT_EQ(warm.lr(9), 1.0f);
  EXPECT_FLOAT_EQ(warm.lr(10), 1.0f);
  EXPECT_NEAR(warm.lr(60), 0.1 + 0.9 * 0.5, 1e-6);
  EXPECT_NEAR(warm.lr(110), 0.1f, 1e-6);

  // One-cycle over 100 steps with 20 warm-up steps: (s + 1) / 20 * peak, then linear to 0.
  const optim::OneCycleSchedule one(2.0f, 100, 0.2f);
  EXPECT_FLOAT_EQ(one.lr(0), 0.1f);
  EXPECT_FLOAT_EQ(one.lr(9), 1.0f);
  EXPECT_FLOAT_EQ(one.lr(19), 2.0f);
  EXPECT_FLOAT_EQ(one.lr(20), 2.0f);
  EXPECT_FLOAT_EQ(one.lr(59), 2.0f * 41.0f / 80);
  EXPECT_FLOAT_EQ(one.lr(99), 2.0f / 80);
  EXPECT_NEAR(one.lr(100), 0.0f, 1e-7);
  for (int64_t s = 20; s < 99; ++s) EXPECT_GT(one.lr(s), one.lr(s + 1));

  EXPECT_FLOAT_EQ(optim::ConstantSchedule(0.3f).lr(1000), 0.3f);
}

TEST(Optim, ClipGradNorm) {
  Tensor a = leaf({2}, {0, 0}), b = leaf({1}, {0}), c = leaf({1}, {0});
  a.set_grad(Tensor::from_vector({2}, {3, 4}));
  b.set_grad(Tensor::from_vector({1}, {12}));
  const optim::NamedTensors params = {{"a", a}, {"b", b}, {"c", c}};  // c has no grad
  EXPECT_FLOAT_EQ(optim::clip_grad_norm(params, 100.0f), 13.0f);
  EXPECT_TRUE(values_near(a.grad(), {3, 4}, 0.0));  // under the limit: untouched
  EXPECT_FLOAT_EQ(optim::clip_grad_norm(params, 6.5f), 13.0f);
  const float f = 6.5f / (13.0f + 1e-6f);  // PyTorch: max_norm / (norm + 1e-6)
  EXPECT_TRUE(values_near(a.grad(), {3 * f, 4 * f}, 1e-6));
  EXPECT_TRUE(values_near(b.grad(), {12 * f}, 1e-6));
  EXPECT_NEAR(optim::clip_grad_norm(params, 100.0f), 6.5f, 1e-5);
}

}  // namespace
}  // namespace gb
