// The zoo's vision transformer (models/vit.h): logits for CIFAR and Fashion-MNIST shapes, module
// paths and the token layout the explanation methods read (block outputs [N,T,D], attention
// [N,Hd,T,T] whose rows sum to 1, the class token first), every parameter reached by the
// gradient, the fast CPU kernels against the reference ones through the whole network, width
// scaling, bad image sizes, and a few AdamW steps lowering the loss on a fixed batch.
// Shape letters: N batch, T tokens, D width, Hd heads.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "models/registry.h"
#include "runtime/autograd.h"
#include "runtime/op_table.h"
#include "runtime/ops.h"
#include "runtime/optim.h"
#include "runtime/rng.h"

namespace gb {
namespace {
using models::build_model;
using models::ModelConfig;

Tensor images(int64_t n, int64_t c, int64_t hw, uint64_t seed = 1) {
  Generator gen(seed);
  return Tensor::randn({n, c, hw, hw}, gen);
}

TEST(Vit, LogitsForCifarAndFashionMnistShapes) {
  manual_seed(1);
  auto net = build_model("vit", {});
  EXPECT_EQ((*net)(images(2, 3, 32)).shape(), (Shape{2, 10}));
  ModelConfig fm;
  fm.in_channels = 1;
  fm.image_size = 28;
  fm.num_classes = 7;
  auto small = build_model("vit", fm);
  EXPECT_EQ((*small)(images(2, 1, 28)).shape(), (Shape{2, 7}));
  EXPECT_EQ(small->find("")->local_tensor("pos_embed").shape(), (Shape{1, 50, 128}));
}

TEST(Vit, TokensAndAttentionAreObservable) {
  manual_seed(2);
  auto net = build_model("vit", {});
  Tensor tokens, attn;
  net->find("blocks.5")->add_forward_hook([&](Module&, const Tensor&, const Tensor& y) {
    tokens = y;
    return Tensor();
  });
  net->find("blocks.3.attn.softmax")
      ->add_forward_hook([&](Module&, const Tensor&, const Tensor& y) {
        attn = y;
        return Tensor();
      });
  const Tensor logits = (*net)(images(2, 3, 32));
  ASSERT_EQ(tokens.shape(), (Shape{2, 65, 128}));
  ASSERT_EQ(attn.shape(), (Shape{2, 4, 65, 65}));
  const std::vector<float> rows = ops::sum(attn, {3}).to_vector();
  for (float r : rows) EXPECT_NEAR(r, 1.0f, 1e-5);
  // The class token (0) is what the head reads: changing another token's block output leaves
  // the logits' dependence on token 0 only through the final norm and head.
  const Tensor g = grad(ops::sum(logits), {tokens})[0];
  const std::vector<float> gv = g.to_vector();
  double cls = 0.0, rest = 0.0;
  for (int64_t t = 0; t < 65; ++t) {
    for (int64_t d = 0; d < 128; ++d) {
      (t == 0 ? cls : rest) += std::fabs(gv[static_cast<size_t>(t * 128 + d)]);
    }
  }
  EXPECT_GT(cls, 0.0);
  EXPECT_EQ(rest, 0.0) << "only the class token reaches the head after the last block";
}

TEST(Vit, EveryParameterGetsAGradient) {
  manual_seed(3);
  auto net = build_model("vit", {});
  const Tensor loss = ops::cross_entropy((*net)(images(2, 3, 32)), Tensor::from_labels({1, 7}));
  loss.backward();
  for (const auto& [name, p] : net->named_parameters()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(p.grad().defined());
    double mag = 0.0;
    for (float v : p.grad().to_vector()) mag += std::fabs(v);
    EXPECT_GT(mag, 0.0);
  }
}

TEST(Vit, FastKernelsMatchTheReferenceThroughTheNetwork) {
  manual_seed(4);
  ModelConfig cfg;
  cfg.width = 0.5f;  // D = 64
  auto net = build_model("vit", cfg);
  const Tensor x = images(2, 3, 32);
  std::vector<float> fast, ref;
  {
    CpuKernelModeGuard g(CpuKernelMode::Fast);
    fast = (*net)(x).to_vector();
  }
  {
    CpuKernelModeGuard g(CpuKernelMode::Reference);
    ref = (*net)(x).to_vector();
  }
  ASSERT_EQ(fast.size(), ref.size());
  for (size_t i = 0; i < fast.size(); ++i) EXPECT_NEAR(fast[i], ref[i], 1e-4);
  EXPECT_EQ(net->find("blocks.0.attn.qkv")->local_tensor("weight").shape(), (Shape{192, 64}));
}

TEST(Vit, BadImageSizesAreErrors) {
  ModelConfig cfg;
  cfg.image_size = 30;
  EXPECT_THROW(build_model("vit", cfg), std::invalid_argument);
  manual_seed(5);
  auto net = build_model("vit", {});
  EXPECT_THROW((*net)(images(1, 3, 28)), std::invalid_argument);  // built for 32x32
  cfg.image_size = 32;
  cfg.channels = {{"blocks.0", 3}};
  EXPECT_THROW(build_model("vit", cfg), std::invalid_argument);
}

TEST(Vit, AdamWStepsLowerTheLossOnAFixedBatch) {
  manual_seed(6);
  ModelConfig cfg;
  cfg.width = 0.25f;  // D = 32
  auto net = build_model("vit", cfg);
  optim::AdamWOptions o;
  o.lr = 3e-3f;
  optim::AdamW opt(net->named_parameters(), o);
  const Tensor x = images(8, 3, 32, 7);
  const Tensor y = Tensor::from_labels({0, 1, 2, 3, 4, 5, 6, 7});
  float first = 0.0f, last = 0.0f;
  for (int step = 0; step < 15; ++step) {
    opt.zero_grad();
    const Tensor loss = ops::cross_entropy((*net)(x), y);
    if (step == 0) first = loss.item();
    last = loss.item();
    loss.backward();
    opt.step();
  }
  EXPECT_LT(last, 0.5f * first) << "first " << first << ", last " << last;
}

}  // namespace
}  // namespace gb
