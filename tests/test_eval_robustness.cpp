// Tests of infidelity and max-sensitivity (interp/eval/robustness): infidelity is 0 for a linear
// net explained by its input x gradient (square removal, beta = 1) and by its gradient (Gaussian
// perturbations), invariant to the map's scale with normalize (beta scales inversely) and not
// without; max-sensitivity is 0 for a constant explanation, grows with the radius, and the radius
// is in pixel units (doubling the std halves the change in the model's units).
// Shape letters: C/H/W image, P = H*W pixels.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "interp/eval/robustness.h"
#include "quadrant_net.h"
#include "runtime/layers.h"
#include "runtime/rng.h"

using gb::Tensor;
using namespace gb::interp;
using namespace gb::interp::eval;

namespace {

using gb::testing::quadrant_net;

Tensor random_image(uint64_t seed) {
  gb::Generator gen(seed, 0);
  return Tensor::uniform({1, 3, 32, 32}, gen, 0.2f, 1.0f);
}

// d logit0 / d pixel, summed over channels: 3/768 inside the quadrant.
Tensor gradient_map(float scale = 1.0f) {
  std::vector<float> v(1024, 0.0f);
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 16; ++x) v[y * 32 + x] = scale * 3.0f / 768.0f;
  }
  return Tensor::from_vector({32, 32}, v);
}

// Input x gradient of logit 0 (baseline 0), summed over channels.
Tensor input_times_gradient(const Tensor& x, float scale = 1.0f) {
  const std::vector<float> xv = x.to_vector();
  std::vector<float> v(1024, 0.0f);
  for (int y = 0; y < 16; ++y) {
    for (int xx = 0; xx < 16; ++xx) {
      for (int c = 0; c < 3; ++c) v[y * 32 + xx] += scale * xv[c * 1024 + y * 32 + xx] / 768.0f;
    }
  }
  return Tensor::from_vector({32, 32}, v);
}

}  // namespace

TEST(Infidelity, ZeroForALinearNetWithInputTimesGradientUnderSquareRemoval) {
  auto net = quadrant_net();
  const Tensor x = random_image(1);
  InfidelityOptions o;
  o.samples = 64;
  o.seed = 4;
  const InfidelityResult r = infidelity(*net, x, input_times_gradient(x), 0, o);
  EXPECT_NEAR(r.beta, 1.0, 1e-4);
  EXPECT_LT(r.infidelity, 1e-10);
  o.normalize = false;
  EXPECT_LT(infidelity(*net, x, input_times_gradient(x), 0, o).infidelity, 1e-10);
  // A map that points elsewhere is unfaithful.
  std::vector<float> wrong = input_times_gradient(x).to_vector();
  std::rotate(wrong.begin(), wrong.begin() + 16, wrong.end());
  o.normalize = true;
  EXPECT_GT(infidelity(*net, x, Tensor::from_vector({32, 32}, wrong), 0, o).infidelity, 1e-6);
}

TEST(Infidelity, ZeroForTheGradientUnderGaussianPerturbations) {
  auto net = quadrant_net();
  const Tensor x = random_image(2);
  InfidelityOptions o;
  o.samples = 32;
  o.perturbation = InfidelityPerturbation::Gaussian;
  o.normalize = false;
  // The map is broadcast to the channels: the per-channel gradient (1/768) is exact ...
  EXPECT_LT(infidelity(*net, x, gradient_map(1.0f / 3.0f), 0, o).infidelity, 1e-10);
  // ... the channel sum (3/768) is 3x too large without beta, and exact again with it.
  EXPECT_GT(infidelity(*net, x, gradient_map(), 0, o).infidelity, 1e-4);
  o.normalize = true;
  const InfidelityResult r = infidelity(*net, x, gradient_map(), 0, o);
  EXPECT_NEAR(r.beta, 1.0 / 3.0, 1e-5);
  EXPECT_LT(r.infidelity, 1e-10);
}

TEST(Infidelity, NormalisedScoreIsInvariantToTheMapScale) {
  auto net = quadrant_net();
  const Tensor x = random_image(3);
  std::vector<float> noisy = input_times_gradient(x).to_vector();
  gb::Philox rng(8, 0);
  for (size_t i = 0; i < noisy.size(); ++i) noisy[i] += 0.002f * rng.normal(i);
  std::vector<float> scaled = noisy;
  for (float& v : scaled) v *= 5.0f;
  InfidelityOptions o;
  o.samples = 48;
  const InfidelityResult a = infidelity(*net, x, Tensor::from_vector({32, 32}, noisy), 0, o);
  const InfidelityResult b = infidelity(*net, x, Tensor::from_vector({32, 32}, scaled), 0, o);
  EXPECT_NEAR(a.infidelity, b.infidelity, 1e-6 * std::max(1.0, a.infidelity));
  EXPECT_NEAR(a.beta, 5.0 * b.beta, 1e-5 * a.beta);
  o.normalize = false;
  const double ua = infidelity(*net, x, Tensor::from_vector({32, 32}, noisy), 0, o).infidelity;
  const double ub = infidelity(*net, x, Tensor::from_vector({32, 32}, scaled), 0, o).infidelity;
  EXPECT_GT(ub, 2.0 * ua);
  o.samples = 0;
  EXPECT_THROW(infidelity(*net, x, gradient_map(), 0, o), std::invalid_argument);
}

TEST(MaxSensitivity, ZeroForAConstantExplanationAndScaledByRadiusAndStd) {
  const Tensor x = random_image(4);
  const MapFn constant = [](const Tensor&, int64_t) { return gradient_map(); };
  SensitivityOptions o;
  o.samples = 5;
  EXPECT_EQ(max_sensitivity(constant, x, gradient_map(), 0, o), 0.0);
  // The map of channel 0 itself: its change is the perturbation, at most radius / std per pixel.
  const MapFn first_channel = [](const Tensor& in, int64_t) {
    const std::vector<float> v = in.to_vector();
    return Tensor::from_vector({32, 32}, std::vector<float>(v.begin(), v.begin() + 1024));
  };
  const Tensor a = first_channel(x, 0);
  double norm = 0;
  for (const float v : a.to_vector()) norm += static_cast<double>(v) * v;
  norm = std::sqrt(norm);
  const double s1 = max_sensitivity(first_channel, x, a, 0, o);
  EXPECT_GT(s1, 0.0);
  EXPECT_LE(s1, 0.02 * 32 / norm + 1e-6);  // ||u||_F <= r sqrt(P)
  o.radius = 0.04;
  EXPECT_NEAR(max_sensitivity(first_channel, x, a, 0, o), 2 * s1, 1e-4 * s1);
  o.radius = 0.02;
  o.norm.mean = {0, 0, 0};
  o.norm.std = {0.5f, 0.5f, 0.5f};
  EXPECT_NEAR(max_sensitivity(first_channel, x, a, 0, o), 2 * s1, 1e-4 * s1);
  o.radius = 0;
  EXPECT_THROW(max_sensitivity(first_channel, x, a, 0, o), std::invalid_argument);
}
