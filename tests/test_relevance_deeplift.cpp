// DeepLIFT rescale (interp/relevance/deeplift.h): Captum's max-pool rule against its closed form
// on a 2x2 pool, equality with input x gradient on an affine net with baseline 0, and
// summation-to-delta (sum attr = f_t(x) - f_t(x0)) to 1e-4 relative on zoo models at small width
// with random batch-norm statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "interp/gradients.h"
#include "interp/relevance/deeplift.h"
#include "models/registry.h"
#include "runtime/layers.h"
#include "runtime/rng.h"

using namespace gb;
using namespace gb::interp;
using relevance::deeplift;

namespace {

std::shared_ptr<nn::Sequential> pool_net() {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::MaxPool2d>(2));
  net->push_back(std::make_shared<nn::Flatten>());
  return net;
}

Tensor image(const std::vector<float>& v) { return Tensor::from_vector({1, 1, 2, 2}, v); }

}  // namespace

TEST(RelevanceDeepLift, MaxPoolRuleClosedForm) {
  auto net = pool_net();
  // y = 3 (at 1), y0 = 4 (at 0): the baseline's winner carries delta -1, m = -1 / (1 - 4).
  auto r = deeplift(*net, image({1, 3, 2, 0}), image({4, 0, 0, 0}), Target::of(0));
  auto a = r.attr.to_vector();
  EXPECT_NEAR(a[0], -1.0, 1e-6);
  EXPECT_NEAR(a[1], 0.0, 1e-6);
  EXPECT_NEAR(a[2], 0.0, 1e-6);
  EXPECT_NEAR(a[3], 0.0, 1e-6);
  EXPECT_NEAR(r.delta[0], -1.0, 1e-6);
  // y = 5 (at 1) > y0 = 4: the input's winner carries +1.
  r = deeplift(*net, image({1, 5, 2, 0}), image({4, 0, 0, 0}), Target::of(0));
  a = r.attr.to_vector();
  EXPECT_NEAR(a[1], 1.0, 1e-6);
  EXPECT_NEAR(a[0] + a[2] + a[3], 0.0, 1e-6);
}

TEST(RelevanceDeepLift, RescaleOfReluClosedForm) {
  // y = relu(x): x = 2, x0 = -1 -> m = (2 - 0) / 3, attr = 3 * 2/3 = 2.
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::Flatten>());
  const auto r = deeplift(*net, Tensor::from_vector({1, 1, 1, 1}, {2.0f}),
                          Tensor::from_vector({1, 1, 1, 1}, {-1.0f}), Target::of(0));
  EXPECT_NEAR(r.attr.to_vector()[0], 2.0, 1e-6);
}

TEST(RelevanceDeepLift, AffineNetWithZeroBaselineIsInputTimesGradient) {
  manual_seed(4);
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Conv2d>(3, 4, 3, 1, 1, 1, true));
  net->push_back(std::make_shared<nn::AvgPool2d>(2));
  net->push_back(std::make_shared<nn::Flatten>());
  net->push_back(std::make_shared<nn::Linear>(4 * 4 * 4, 3, false));
  Generator gen(8);
  const Tensor x = Tensor::randn({2, 3, 8, 8}, gen);
  const auto r = deeplift(*net, x, Tensor::zeros(x.shape()), Target::of(2));
  const Attribution ixg = input_x_gradient(*net, x, Target::of(2));
  const auto a = r.attr.to_vector(), b = ixg.attr.to_vector();
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5 + 1e-4 * std::fabs(b[i]));
}

namespace {

std::shared_ptr<Module> zoo_model(const std::string& name, float width) {
  manual_seed(7);
  models::ModelConfig cfg;
  cfg.width = width;
  auto m = models::build_model(name, cfg);
  Generator gen(99);
  for (auto& [bname, b] : m->named_buffers()) {
    if (bname.find("running_mean") != std::string::npos)
      b.copy_(Tensor::uniform(b.shape(), gen, -0.3f, 0.3f));
    if (bname.find("running_var") != std::string::npos)
      b.copy_(Tensor::uniform(b.shape(), gen, 0.5f, 2.0f));
  }
  m->eval();
  return m;
}

void check_summation_to_delta(const std::string& name, float width) {
  auto m = zoo_model(name, width);
  Generator gen(13);
  const Tensor x = Tensor::randn({2, 3, 32, 32}, gen);
  const Tensor x0 = Tensor::full(x.shape(), -1.5f);  // a dark baseline
  const auto r = deeplift(*m, x, x0, Target::pred());
  for (double d : r.delta) ASSERT_GT(std::fabs(d), 0.05) << name << ": delta near 0";
  std::printf("[summation-to-delta] %-9s w%.2f max_rel_err=%.3g\n", name.c_str(),
              static_cast<double>(width), r.max_relative_error());
  EXPECT_LT(r.max_relative_error(), 1e-4) << name;
  // batch == one by one
  const auto one =
      deeplift(*m, ops::slice(x, 0, 1, 2), ops::slice(x0, 0, 1, 2), Target::of(r.targets[1]));
  const auto a = r.attr.to_vector(), b = one.attr.to_vector();
  const size_t per = b.size();
  for (size_t i = 0; i < per; ++i) ASSERT_NEAR(a[per + i], b[i], 1e-6 + 1e-4 * std::fabs(b[i]));
}

}  // namespace

TEST(RelevanceDeepLift, SummationToDeltaResnet20) { check_summation_to_delta("resnet20", 0.25f); }
TEST(RelevanceDeepLift, SummationToDeltaVgg11) { check_summation_to_delta("vgg11", 0.25f); }
TEST(RelevanceDeepLift, SummationToDeltaInception) { check_summation_to_delta("inception", 0.25f); }
