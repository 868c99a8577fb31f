// Tests of the gradient attributions (interp/gradients.h) on models whose answers are known:
// a linear model (gradient = the weight row, input x gradient = w * x, IG exact, SmoothGrad =
// the gradient whatever the noise), a model that starts with a ReLU (Guided Backprop and
// Deconvnet in closed form), a two-ReLU conv net (the guided rule lets no negative gradient out
// of any ReLU), and a smooth GELU net (IG's completeness error shrinks with the steps and
// Gauss-Legendre beats the Riemann rules at equal steps). Also the quadrature rules, the
// baselines, SmoothGrad determinism, and the model's mode / parameter gradients left untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <vector>

#include "interp/gradients.h"
#include "runtime/autograd.h"
#include "runtime/layers.h"
#include "runtime/op_table.h"
#include "runtime/ops.h"
#include "runtime/rng.h"

namespace gb::interp {
namespace {

using Vec = std::vector<float>;

Tensor randn(const Shape& s, uint64_t seed, float stddev = 1.0f) {
  Generator gen(seed);
  return Tensor::randn(s, gen, stddev);
}

// Flatten -> Linear(C*H*W -> 3), weights drawn from a fixed seed.
std::shared_ptr<nn::Sequential> linear_model(int64_t chw, bool relu_first = false) {
  manual_seed(21);
  auto m = std::make_shared<nn::Sequential>();
  if (relu_first) m->push_back(std::make_shared<nn::ReLU>());
  m->push_back(std::make_shared<nn::Flatten>());
  m->push_back(std::make_shared<nn::Linear>(chw, 3));
  return m;
}

// The weight row of class k of the model's Linear layer.
Vec weight_row(nn::Sequential& m, int64_t k) {
  const Tensor w = m.find(std::to_string(m.size() - 1))->local_tensor("weight");
  const Vec v = w.to_vector();
  const int64_t in = w.size(1);
  return Vec(v.begin() + k * in, v.begin() + (k + 1) * in);
}

// Conv(3->4, 3x3) -> GELU -> global average -> Linear(4->3): smooth everywhere.
std::shared_ptr<nn::Sequential> smooth_model() {
  manual_seed(5);
  auto m = std::make_shared<nn::Sequential>();
  m->push_back(std::make_shared<nn::Conv2d>(3, 4, 3, 1, 1, 1, true));
  m->push_back(std::make_shared<nn::GELU>());
  m->push_back(std::make_shared<nn::GlobalAvgPool>());
  m->push_back(std::make_shared<nn::Linear>(4, 3));
  return m;
}

void expect_near(const Vec& a, const Vec& b, float tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << "at " << i;
}

TEST(InterpGradients, LinearModelGradientSaliencyAndInputTimesGradient) {
  auto m = linear_model(3 * 4 * 4);
  const Tensor x = randn({2, 3, 4, 4}, 1);
  const Vec w = weight_row(*m, 1);
  const Attribution g = gradient(*m, x, Target::of(1));
  ASSERT_EQ(g.attr.shape(), x.shape());
  const Vec gv = g.attr.to_vector();
  for (int n = 0; n < 2; ++n)
    expect_near(Vec(gv.begin() + n * 48, gv.begin() + (n + 1) * 48), w, 1e-6f);

  const Attribution s = saliency(*m, x, Target::of(1));
  ASSERT_EQ(s.attr.shape(), (Shape{2, 1, 4, 4}));
  const Vec sv = s.attr.to_vector();
  for (int p = 0; p < 16; ++p) {
    float expect = 0.0f;
    for (int c = 0; c < 3; ++c)
      expect = std::max(expect, std::abs(w[static_cast<size_t>(c * 16 + p)]));
    EXPECT_NEAR(sv[static_cast<size_t>(p)], expect, 1e-6f);
    EXPECT_NEAR(sv[static_cast<size_t>(16 + p)], expect, 1e-6f);
  }

  const Vec ig = input_x_gradient(*m, x, Target::of(1)).attr.to_vector();
  const Vec xv = x.to_vector();
  for (size_t i = 0; i < xv.size(); ++i) EXPECT_NEAR(ig[i], xv[i] * w[i % 48], 1e-6f);
}

TEST(InterpGradients, PredictedTargetIsTheArgmaxPerInput) {
  auto m = linear_model(3 * 4 * 4);
  const Tensor x = randn({4, 3, 4, 4}, 2);
  const Attribution g = gradient(*m, x);
  Tensor logits;
  {
    NoGradGuard no_grad;
    logits = (*m)(x);
  }
  EXPECT_EQ(g.classes, resolve_target(Target::pred(), logits));
}

TEST(InterpGradients, GuidedBackpropAndDeconvnetInClosedForm) {
  // y = W relu(x): plain d y_k/dx = W_k (x > 0); guided: max(W_k, 0) (x > 0); deconv: max(W_k, 0).
  auto m = linear_model(2 * 3 * 3, true);
  const Tensor x = randn({1, 2, 3, 3}, 3);
  const Vec w = weight_row(*m, 2), xv = x.to_vector();
  const Vec plain = gradient(*m, x, Target::of(2)).attr.to_vector();
  const Vec guided = guided_backprop(*m, x, Target::of(2)).attr.to_vector();
  const Vec deconv = deconvnet(*m, x, Target::of(2)).attr.to_vector();
  bool differs = false;
  for (size_t i = 0; i < w.size(); ++i) {
    const float on = xv[i] > 0.0f ? 1.0f : 0.0f;
    EXPECT_FLOAT_EQ(plain[i], w[i] * on);
    EXPECT_FLOAT_EQ(guided[i], std::max(w[i], 0.0f) * on);
    EXPECT_FLOAT_EQ(deconv[i], std::max(w[i], 0.0f));
    EXPECT_GE(guided[i], 0.0f);
    differs = differs || guided[i] != plain[i];
  }
  EXPECT_TRUE(differs);
  EXPECT_EQ(relu_backward_rule(), ReluRule::Standard);  // the guard was released
}

TEST(InterpGradients, GuidedRuleLetsNoNegativeGradientOutOfAnyRelu) {
  // conv1 -> relu -> conv2 -> relu -> pool -> fc; the gradients of conv1's and conv2's outputs
  // are what leaves the two ReLUs' backward.
  manual_seed(8);
  nn::Sequential net;
  auto conv1 = std::make_shared<nn::Conv2d>(3, 6, 3, 1, 1);
  auto conv2 = std::make_shared<nn::Conv2d>(6, 6, 3, 1, 1);
  net.push_back(conv1);
  net.push_back(std::make_shared<nn::ReLU>());
  net.push_back(conv2);
  net.push_back(std::make_shared<nn::ReLU>());
  net.push_back(std::make_shared<nn::GlobalAvgPool>());
  net.push_back(std::make_shared<nn::Linear>(6, 4));
  float min_seen = 0.0f;
  auto watch = [&min_seen](Module&, const Tensor& g) {
    for (float v : g.to_vector()) min_seen = std::min(min_seen, v);
  };
  conv1->add_backward_hook(watch);
  conv2->add_backward_hook(watch);
  const Tensor x = randn({2, 3, 6, 6}, 4);
  const Vec plain = gradient(net, x, Target::of(0)).attr.to_vector();
  EXPECT_LT(min_seen, 0.0f);  // the standard rule does pass negative gradients
  min_seen = 0.0f;
  const Vec guided = guided_backprop(net, x, Target::of(0)).attr.to_vector();
  EXPECT_EQ(min_seen, 0.0f);
  EXPECT_NE(plain, guided);
  min_seen = 0.0f;
  deconvnet(net, x, Target::of(0));
  EXPECT_EQ(min_seen, 0.0f);
}

TEST(InterpGradients, SmoothGradWithoutNoiseIsTheGradient) {
  auto m = smooth_model();
  const Tensor x = randn({2, 3, 5, 5}, 6);
  SmoothGradOptions o;
  o.noise = 0.0f;
  o.samples = 4;
  const Vec g = gradient(*m, x).attr.to_vector();
  const Attribution sg = smooth_grad(*m, x, o);
  expect_near(sg.attr.to_vector(), g, 1e-6f);
  expect_near(saliency_reduce(sg.attr).to_vector(), saliency(*m, x).attr.to_vector(), 1e-6f);
  o.squared = true;
  const Vec sq = smooth_grad(*m, x, o).attr.to_vector();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(sq[i], g[i] * g[i], 1e-6f);
}

TEST(InterpGradients, SmoothGradOnALinearModelIsTheWeightWhateverTheNoise) {
  auto m = linear_model(3 * 4 * 4);
  SmoothGradOptions o;
  o.noise = 0.5f;
  o.samples = 10;
  o.target = Target::of(0);
  expect_near(smooth_grad(*m, randn({1, 3, 4, 4}, 7), o).attr.to_vector(), weight_row(*m, 0),
              1e-6f);
}

TEST(InterpGradients, SmoothGradIsDeterministicPerSeed) {
  auto m = smooth_model();
  const Tensor x = randn({2, 3, 5, 5}, 8);
  SmoothGradOptions o;
  o.samples = 7;
  o.max_batch = 5;  // several passes, one of them shared by both images
  o.seed = 42;
  const Vec a = smooth_grad(*m, x, o).attr.to_vector();
  const Vec b = smooth_grad(*m, x, o).attr.to_vector();
  EXPECT_EQ(a, b);  // bit-identical
  o.seed = 43;
  EXPECT_NE(smooth_grad(*m, x, o).attr.to_vector(), a);
  o.samples = 0;
  EXPECT_THROW(smooth_grad(*m, x, o), std::invalid_argument);
}

TEST(InterpGradients, QuadratureRules) {
  for (Quadrature q :
       {Quadrature::RiemannLeft, Quadrature::RiemannRight, Quadrature::RiemannMidpoint,
        Quadrature::RiemannTrapezoid, Quadrature::GaussLegendre}) {
    for (int64_t n : {2, 3, 8, 17}) {
      const QuadratureRule r = quadrature_rule(q, n);
      ASSERT_EQ(r.alpha.size(), static_cast<size_t>(n));
      double sum = 0.0;
      for (size_t k = 0; k < r.weight.size(); ++k) {
        sum += r.weight[k];
        EXPECT_GE(r.alpha[k], 0.0);
        EXPECT_LE(r.alpha[k], 1.0);
        if (k > 0) {
          EXPECT_GT(r.alpha[k], r.alpha[k - 1]);
        }
      }
      EXPECT_NEAR(sum, 1.0, 1e-12) << quadrature_name(q) << " " << n;
    }
    EXPECT_EQ(parse_quadrature(quadrature_name(q)), q);
  }
  const QuadratureRule two = quadrature_rule(Quadrature::GaussLegendre, 2);
  EXPECT_NEAR(two.alpha[0], 0.5 - 0.5 / std::sqrt(3.0), 1e-15);
  EXPECT_NEAR(two.alpha[1], 0.5 + 0.5 / std::sqrt(3.0), 1e-15);
  // n Gauss-Legendre points integrate t^(2n-1) exactly.
  for (int64_t n = 1; n <= 12; ++n) {
    const QuadratureRule r = quadrature_rule(Quadrature::GaussLegendre, n);
    double s = 0.0;
    for (size_t k = 0; k < r.alpha.size(); ++k) s += r.weight[k] * std::pow(r.alpha[k], 2 * n - 1);
    EXPECT_NEAR(s, 1.0 / (2.0 * static_cast<double>(n)), 1e-13) << n;
  }
  EXPECT_THROW(quadrature_rule(Quadrature::RiemannTrapezoid, 1), std::invalid_argument);
  EXPECT_THROW(quadrature_rule(Quadrature::GaussLegendre, 0), std::invalid_argument);
  EXPECT_THROW(parse_quadrature("simpson"), std::invalid_argument);
}

TEST(InterpGradients, IntegratedGradientsIsExactOnALinearModel) {
  auto m = linear_model(3 * 4 * 4);
  const Tensor x = randn({2, 3, 4, 4}, 9);
  const Tensor b = black_baseline(x, {0.5f, 0.4f, 0.3f}, {0.2f, 0.25f, 0.3f});
  IgOptions o;
  o.target = Target::of(2);
  o.steps = 3;
  o.method = Quadrature::RiemannLeft;
  const IgResult r = integrated_gradients(*m, x, b, o);
  const Vec w = weight_row(*m, 2), xv = x.to_vector(), bv = b.to_vector(), a = r.attr.to_vector();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], (xv[i] - bv[i]) * w[i % 48], 1e-5f);
  EXPECT_LT(r.max_completeness_error(), 1e-4f);
  EXPECT_EQ(r.classes, (std::vector<int64_t>{2, 2}));
  // Baseline equal to the input: nothing to attribute.
  const IgResult zero = integrated_gradients(*m, x, x, o);
  for (float v : zero.attr.to_vector()) EXPECT_EQ(v, 0.0f);
  EXPECT_THROW(integrated_gradients(*m, x, Tensor::zeros({1, 3, 4, 5}), o), std::invalid_argument);
}

TEST(InterpGradients, IntegratedGradientsCompletenessTightensWithSteps) {
  auto m = smooth_model();
  const Tensor x = randn({2, 3, 6, 6}, 10, 1.5f);
  const Tensor b = Tensor::zeros({1, 3, 6, 6});  // one baseline shared by both images
  auto err = [&](Quadrature q, int64_t steps) {
    IgOptions o;
    o.method = q;
    o.steps = steps;
    o.max_batch = 16;
    const IgResult r = integrated_gradients(*m, x, b, o);
    EXPECT_EQ(r.completeness_error.size(), 2u);
    for (size_t n = 0; n < 2; ++n) {
      EXPECT_NEAR(r.completeness_error[n], std::abs(r.attr_sum[n] - r.delta[n]), 1e-6f);
    }
    return r.max_completeness_error();
  };
  const float left8 = err(Quadrature::RiemannLeft, 8), left64 = err(Quadrature::RiemannLeft, 64);
  const float gl8 = err(Quadrature::GaussLegendre, 8);
  EXPECT_GT(left8, 1e-4f);  // the model is curved enough for the test to mean something
  EXPECT_LT(left64, left8 / 4.0f);
  EXPECT_LT(gl8, err(Quadrature::RiemannRight, 8));
  EXPECT_LT(gl8, left8);
  EXPECT_LT(gl8, err(Quadrature::RiemannTrapezoid, 8));
  EXPECT_LT(gl8, err(Quadrature::RiemannMidpoint, 8));
  EXPECT_LT(err(Quadrature::GaussLegendre, 32), 1e-4f);
}

TEST(InterpGradients, Baselines) {
  const Tensor x = randn({2, 3, 5, 5}, 11);
  const Vec black = black_baseline(x, {0.5f, 0.25f, 0.0f}, {0.5f, 0.25f, 1.0f}).to_vector();
  EXPECT_EQ(black[0], -1.0f);
  EXPECT_EQ(black[25], -1.0f);
  EXPECT_EQ(black[74], 0.0f);
  EXPECT_EQ(black[75], -1.0f);  // second image, channel 0
  for (float v : black_baseline(x).to_vector()) EXPECT_EQ(v, 0.0f);
  EXPECT_THROW(black_baseline(x, {0.5f}, {}), std::invalid_argument);

  const Vec flat = blurred_baseline(Tensor::full({1, 1, 6, 6}, 2.5f), 1.5f).to_vector();
  for (float v : flat) EXPECT_NEAR(v, 2.5f, 1e-6f);
  const Vec xv = x.to_vector(), blur = blurred_baseline(x, 1.0f).to_vector();
  auto spread = [](const Vec& v) {
    double m = 0.0, s = 0.0;
    for (float f : v) m += f;
    m /= static_cast<double>(v.size());
    for (float f : v) s += (f - m) * (f - m);
    return s;
  };
  EXPECT_LT(spread(blur), 0.5 * spread(xv));
  EXPECT_THROW(blurred_baseline(x, 0.0f), std::invalid_argument);

  const Vec mean = mean_baseline(x).to_vector();
  double s = 0.0;
  for (int i = 0; i < 25; ++i) s += xv[static_cast<size_t>(i)];
  for (int i = 0; i < 25; ++i) EXPECT_NEAR(mean[static_cast<size_t>(i)], s / 25.0, 1e-6);

  const Vec u1 = uniform_noise_baseline(x, 3, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}).to_vector();
  EXPECT_EQ(u1, uniform_noise_baseline(x, 3, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}).to_vector());
  EXPECT_NE(u1, uniform_noise_baseline(x, 4, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}).to_vector());
  for (float v : u1) {
    EXPECT_GE(v, -1.0f);
    EXPECT_LT(v, 1.0f);
  }
}

TEST(InterpGradients, ModelModeRestoredAndParameterGradsUntouched) {
  auto m = smooth_model();
  m->train();
  const Tensor x = randn({1, 3, 5, 5}, 12);
  gradient(*m, x);
  smooth_grad(*m, x);
  integrated_gradients(*m, x, black_baseline(x), {});
  EXPECT_TRUE(m->is_training());
  for (const Tensor& p : m->parameters()) EXPECT_FALSE(p.grad().defined());
  EXPECT_THROW(gradient(*m, Tensor::zeros({3, 5, 5})), std::invalid_argument);
}

}  // namespace
}  // namespace gb::interp
