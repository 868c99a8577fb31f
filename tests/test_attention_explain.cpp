// Explaining the zoo's vision transformer: token grids (interp/tokens.h), the attention capture,
// the attention map and attention rollout against their definitions computed here with Eigen,
// Grad-CAM on tokens (the default layer before the last attention, activations and gradients as
// [N,D,8,8] channel maps, the map from the mean-gradient weights), the registry's attention
// methods, and the error for a model without attention.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>

#include "interp/attention.h"
#include "interp/cam.h"
#include "interp/registry.h"
#include "interp/tokens.h"
#include "models/registry.h"
#include "runtime/ops.h"
#include "runtime/rng.h"

using namespace gb;
using namespace gb::interp;
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {

ModulePtr vit() {
  manual_seed(11);
  auto m = models::build_model("vit", {});
  m->eval();
  return m;
}

Tensor image(int64_t n, uint64_t seed = 5) {
  Tensor x = Tensor::empty({n, 3, 32, 32});
  const Philox rng(seed);
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = rng.normal(static_cast<uint64_t>(i));
  return x;
}

// Head-averaged attention of image n as a T x T matrix.
Matrix head_mean(const Tensor& a, int64_t n) {
  const int64_t Hd = a.size(1), T = a.size(2);
  const std::vector<float> v = a.to_vector();
  Matrix m = Matrix::Zero(T, T);
  for (int64_t h = 0; h < Hd; ++h) {
    for (int64_t i = 0; i < T; ++i) {
      for (int64_t j = 0; j < T; ++j) m(i, j) += v[((n * Hd + h) * T + i) * T + j] / Hd;
    }
  }
  return m;
}

// Row 0 over tokens 1..64 as an 8x8 map resized to 32x32.
Tensor class_row_map(const Matrix& m) {
  std::vector<float> row(64);
  for (int p = 0; p < 64; ++p) row[p] = static_cast<float>(m(0, p + 1));
  return ops::bilinear_resize(Tensor::from_vector({1, 1, 8, 8}, row), 32, 32);
}

void expect_near(const Tensor& a, const Tensor& b, double tol) {
  ASSERT_EQ(a.shape(), b.shape());
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::fabs(double(va[i]) - vb[i]));
  EXPECT_LT(worst, tol);
}

}  // namespace

TEST(ExplainTokens, GridsAndLayout) {
  EXPECT_EQ(token_grid(65).side, 8);
  EXPECT_EQ(token_grid(65).first_patch, 1);
  EXPECT_EQ(token_grid(49).side, 7);
  EXPECT_EQ(token_grid(49).first_patch, 0);
  EXPECT_FALSE(token_grid(7).valid());
  // [1,5,2]: class token then a 2x2 grid; token t = (10t, 10t + 1).
  std::vector<float> v;
  for (int t = 0; t < 5; ++t) v.insert(v.end(), {10.0f * t, 10.0f * t + 1});
  const Tensor g = tokens_to_grid(Tensor::from_vector({1, 5, 2}, v));
  EXPECT_EQ(g.shape(), (Shape{1, 2, 2, 2}));
  EXPECT_EQ(g.to_vector(), (std::vector<float>{10, 20, 30, 40, 11, 21, 31, 41}));
  EXPECT_THROW(tokens_to_grid(Tensor::zeros({1, 7, 2})), std::invalid_argument);
}

TEST(ExplainAttention, CaptureFindsEverySoftmaxAndMapsFollowTheirDefinitions) {
  auto model = vit();
  const Tensor x = image(2);
  const AttentionCapture c = capture_attention(*model, x);
  ASSERT_EQ(c.layers.size(), 6u);
  EXPECT_EQ(c.layers.front(), "blocks.0.attn.softmax");
  EXPECT_EQ(c.attention.back().shape(), (Shape{2, 4, 65, 65}));

  // attention: the last layer's class-token row, heads averaged.
  const Tensor map = attention_map(*model, x);
  EXPECT_EQ(map.shape(), (Shape{2, 1, 32, 32}));
  expect_near(ops::slice(map, 0, 1, 2), class_row_map(head_mean(c.attention.back(), 1)), 1e-6);
  expect_near(ops::slice(attention_map(*model, x, "blocks.2.attn.softmax"), 0, 0, 1),
              class_row_map(head_mean(c.attention[2], 0)), 1e-6);
  EXPECT_THROW(attention_map(*model, x, "blocks.2"), std::invalid_argument);

  // rollout: prod over layers of (0.5 A + 0.5 I) with rows renormalised, last layer leftmost.
  Matrix R = Matrix::Identity(65, 65);
  for (const Tensor& a : c.attention) {
    Matrix A = 0.5 * head_mean(a, 1) + 0.5 * Matrix::Identity(65, 65);
    A = A.array().colwise() / A.rowwise().sum().array();
    R = A * R;
  }
  EXPECT_NEAR(R.row(0).sum(), 1.0, 1e-9);  // stays row-stochastic
  expect_near(ops::slice(attention_rollout(*model, x), 0, 1, 2), class_row_map(R), 1e-6);
}

TEST(ExplainAttention, GradCamOnTokensUsesTheLayerBeforeTheLastAttention) {
  auto model = vit();
  const Tensor x = image(1);
  EXPECT_EQ(default_cam_layer(*model, x), "blocks.5.norm1");
  const LayerCapture cap = capture_layer(*model, x, "blocks.3", Target::of(2), true);
  EXPECT_EQ(cap.activation.shape(), (Shape{1, 128, 8, 8}));
  EXPECT_EQ(cap.gradient.shape(), (Shape{1, 128, 8, 8}));
  // Grad-CAM = ReLU(sum_d mean_p(g_d) A_d) on the 8x8 grid.
  CamOptions co;
  co.layer = "blocks.3";
  co.target = Target::of(2);
  const CamResult r = grad_cam(*model, x, co);
  const std::vector<float> a = cap.activation.to_vector(), g = cap.gradient.to_vector();
  std::vector<float> want(64, 0.0f);
  for (int d = 0; d < 128; ++d) {
    double w = 0;
    for (int p = 0; p < 64; ++p) w += g[d * 64 + p] / 64.0;
    for (int p = 0; p < 64; ++p) want[p] += static_cast<float>(w * a[d * 64 + p]);
  }
  for (float& v : want) v = std::max(v, 0.0f);
  expect_near(r.low_res, Tensor::from_vector({1, 1, 8, 8}, want), 1e-5);
  // The patch tokens of the last block's output no longer reach the class token: zero gradient.
  const LayerCapture last = capture_layer(*model, x, "blocks.5", Target::of(2), true);
  for (float v : last.gradient.to_vector()) EXPECT_EQ(v, 0.0f);
}

TEST(ExplainAttention, RegistryMethodsAndModelsWithoutAttention) {
  auto model = vit();
  const Tensor x = image(1);
  MethodOptions mo;
  for (const char* m : {"attention", "attention-rollout", "gradcam", "scorecam"}) {
    const MethodOutput out = run_method(*model, m, x, 3, mo);
    EXPECT_EQ(out.map.shape(), (Shape{32, 32})) << m;
    for (float v : out.map.to_vector()) EXPECT_GE(v, 0.0f) << m;
  }
  manual_seed(1);
  auto cnn = models::build_model("resnet20", {});
  try {
    run_method(*cnn, "attention", x, 0, mo);
    FAIL() << "a CNN has no attention";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("vision transformer"), std::string::npos) << e.what();
  }
}
