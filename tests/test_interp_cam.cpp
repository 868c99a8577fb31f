// Tests of the CAM family (interp/cam.h) and the visualisation helpers (interp/visualize.h).
// The CAM methods run on a hand-built network whose logits depend only on the top-left quadrant
// of the image (a fixed spatial gate after the explained layer) and an image with one object
// there (channel 0) and another in the bottom-right (channel 1): every method must put most of
// its mass on the top-left quadrant. Also: batching equals one-at-a-time, TTA with no
// augmentation is the plain map, layers by name / default layer / errors, the model's mode is
// restored, and every method runs on resnet20. Visualisation: colormap endpoints, normalisation,
// PNG round trip through stb_image, sheet / grid / histogram dimensions.
#include <gtest/gtest.h>
#include <stb/stb_image.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "interp/cam.h"
#include "interp/target.h"
#include "interp/visualize.h"
#include "models/registry.h"
#include "runtime/autograd.h"
#include "runtime/layers.h"
#include "runtime/ops.h"
#include "runtime/rng.h"

namespace gb::interp {
namespace {

constexpr int64_t kSize = 16;  // image H = W; the explained layer is 8 x 8

// conv (3 -> 3, 3x3, channel k copies image channel k at the centre tap) -> relu -> pool (2x2
// max) -> fixed top-left gate -> global average -> fc. Class 0 = 64 (feature 0 - 0.5 feature 1),
// class 1 = 64 (feature 1 - 0.5 feature 0), class 2 = 64 feature 2 (logits of a few units, so
// softmaxes are not flat). Every logit depends only on the top-left quadrant of the input.
class QuadrantNet : public Module {
 public:
  QuadrantNet() {
    conv_ = register_module("conv", std::make_shared<nn::Conv2d>(3, 3, 3, 1, 1));
    relu_ = register_module("relu", std::make_shared<nn::ReLU>());
    pool_ = register_module("pool", std::make_shared<nn::MaxPool2d>(2));
    fc_ = register_module("fc", std::make_shared<nn::Linear>(3, 3));
    std::vector<float> w(3 * 3 * 3 * 3, 0.0f);
    for (int k = 0; k < 3; ++k) w[static_cast<size_t>(((k * 3 + k) * 3 + 1) * 3 + 1)] = 1.0f;
    conv_->local_tensor("weight").copy_(Tensor::from_vector({3, 3, 3, 3}, w));
    fc_->local_tensor("weight").copy_(
        Tensor::from_vector({3, 3}, {64.0f, -32.0f, 0.0f, -32.0f, 64.0f, 0.0f, 0.0f, 0.0f, 64.0f}));
    fc_->local_tensor("bias").zero_();
    const int64_t h = kSize / 2;
    std::vector<float> g(static_cast<size_t>(h * h), 0.0f);
    for (int64_t y = 0; y < h / 2; ++y) {
      for (int64_t x = 0; x < h / 2; ++x) g[static_cast<size_t>(y * h + x)] = 1.0f;
    }
    gate_ = Tensor::from_vector({1, 1, h, h}, g);
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = (*pool_)((*relu_)((*conv_)(x)));
    return (*fc_)(ops::global_avg_pool(ops::mul(h, gate_)));
  }
  std::string type_name() const override { return "QuadrantNet"; }

 private:
  std::shared_ptr<nn::Conv2d> conv_;
  std::shared_ptr<nn::ReLU> relu_;
  std::shared_ptr<nn::MaxPool2d> pool_;
  std::shared_ptr<nn::Linear> fc_;
  Tensor gate_;
};

// [1,3,16,16]: channel 0 object (a 4x4 square of 1s, plus a little texture) in the top-left
// quadrant, channel 1 object in the bottom-right one, channel 2 empty.
Tensor two_object_image(bool second_object = true) {
  std::vector<float> v(static_cast<size_t>(3 * kSize * kSize), 0.0f);
  for (int64_t y = 2; y < 6; ++y) {
    for (int64_t x = 2; x < 6; ++x) {
      v[static_cast<size_t>(y * kSize + x)] = 1.0f + 0.1f * static_cast<float>((x + y) % 3);
      if (second_object) {
        v[static_cast<size_t>(kSize * kSize + (y + 8) * kSize + x + 8)] = 1.0f;
      }
    }
  }
  return Tensor::from_vector({1, 3, kSize, kSize}, v);
}

// Fraction of a non-negative map [1,1,H,W]'s mass in the top-left quadrant.
double top_left_mass(const Tensor& map) {
  const int64_t H = map.size(2), W = map.size(3);
  const std::vector<float> v = map.to_vector();
  double tl = 0.0, all = 0.0;
  for (int64_t y = 0; y < H; ++y) {
    for (int64_t x = 0; x < W; ++x) {
      const double m = v[static_cast<size_t>(y * W + x)];
      EXPECT_GE(m, 0.0);
      all += m;
      if (y < H / 2 && x < W / 2) tl += m;
    }
  }
  EXPECT_GT(all, 0.0) << "the map is empty";
  return all > 0.0 ? tl / all : 0.0;
}

CamOptions quadrant_options(CamMethod m) {
  CamOptions o;
  o.method = m;
  o.layer = "pool";
  o.target = Target::of(0);
  return o;
}

TEST(InterpCam, TargetParsingAndResolution) {
  EXPECT_TRUE(parse_target("pred").is_pred());
  EXPECT_TRUE(parse_target("").is_pred());
  EXPECT_EQ(parse_target("7").classes, std::vector<int64_t>{7});
  EXPECT_THROW(parse_target("cat"), std::invalid_argument);
  EXPECT_THROW(parse_target("-1"), std::invalid_argument);
  const Tensor logits = Tensor::from_vector({2, 3}, {0.f, 2.f, 1.f, 5.f, 5.f, -1.f});
  EXPECT_EQ(resolve_target(Target::pred(), logits), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(resolve_target(Target::of(2), logits), (std::vector<int64_t>{2, 2}));
  EXPECT_THROW(resolve_target(Target::of(3), logits), std::invalid_argument);
  EXPECT_THROW(resolve_target(Target::per_input({0, 1, 2}), logits), std::invalid_argument);
  EXPECT_EQ(target_values(logits, {1, 2}), (std::vector<float>{2.f, -1.f}));
  EXPECT_EQ(parse_cam_method("gradcam++"), CamMethod::GradCamPlusPlus);
  EXPECT_STREQ(cam_method_name(CamMethod::ScoreCam), "scorecam");
  EXPECT_THROW(parse_cam_method("camcam"), std::invalid_argument);
}

TEST(InterpCam, EveryMethodPutsItsMassOnTheQuadrantTheLogitReads) {
  QuadrantNet net;
  const Tensor x = two_object_image();
  for (CamMethod m :
       {CamMethod::GradCam, CamMethod::GradCamPlusPlus, CamMethod::LayerCam, CamMethod::ScoreCam}) {
    SCOPED_TRACE(cam_method_name(m));
    const CamResult r = cam(net, x, quadrant_options(m));
    ASSERT_EQ(r.map.shape(), (Shape{1, 1, kSize, kSize}));
    ASSERT_EQ(r.low_res.shape(), (Shape{1, 1, kSize / 2, kSize / 2}));
    EXPECT_EQ(r.classes, std::vector<int64_t>{0});
    EXPECT_EQ(r.layer, "pool");
    EXPECT_GT(top_left_mass(r.map), 0.9);
    EXPECT_NEAR(top_left_mass(r.low_res), 1.0, 1e-6);  // at layer resolution: all of it
  }
}

TEST(InterpCam, GradCamMatchesTheClosedForm) {
  // Class 0: dY/dA_k = fc[0,k] * gate / 64 on the 8x8 layer, so alpha_k = fc[0,k] * 16 / 4096
  // = (0.25, -0.125, 0) and L = ReLU(0.25 A_0 - 0.125 A_1).
  QuadrantNet net;
  const Tensor x = two_object_image();
  const CamResult r = grad_cam(net, x, quadrant_options(CamMethod::GradCam));
  const LayerCapture c = capture_layer(net, x, "pool", Target::of(0), false);
  const std::vector<float> a = c.activation.to_vector();
  const std::vector<float> l = r.low_res.to_vector();
  for (size_t p = 0; p < l.size(); ++p) {
    const float expect = std::max(0.25f * (a[p] - 0.5f * a[64 + p]), 0.0f);
    EXPECT_NEAR(l[p], expect, 1e-6f) << p;
  }
}

TEST(InterpCam, EigenCamFindsTheOnlyObject) {
  QuadrantNet net;
  CamOptions o = quadrant_options(CamMethod::EigenCam);
  const CamResult r = eigen_cam(net, two_object_image(false), o);
  EXPECT_GT(top_left_mass(r.map), 0.9);
  o.eigen_center = true;
  EXPECT_GT(top_left_mass(eigen_cam(net, two_object_image(false), o).map), 0.9);
}

TEST(InterpCam, ScoreCamChannelSoftmaxAlsoLocalises) {
  QuadrantNet net;
  CamOptions o = quadrant_options(CamMethod::ScoreCam);
  o.score_weight = ScoreCamWeight::ChannelSoftmax;
  o.batch.max_chunk = 2;  // several chunks through forward_streamed
  EXPECT_GT(top_left_mass(score_cam(net, two_object_image(), o).map), 0.9);
}

TEST(InterpCam, GuidedGradCamIsGuidedBackpropTimesTheMap) {
  QuadrantNet net;
  const Tensor x = two_object_image();
  const Tensor g = guided_grad_cam(net, x, quadrant_options(CamMethod::GradCam));
  ASSERT_EQ(g.shape(), x.shape());
  const std::vector<float> v = g.to_vector();
  double tl = 0.0, all = 0.0;
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t y = 0; y < kSize; ++y) {
      for (int64_t xx = 0; xx < kSize; ++xx) {
        const double m = std::abs(v[static_cast<size_t>((c * kSize + y) * kSize + xx)]);
        all += m;
        if (y < kSize / 2 && xx < kSize / 2) tl += m;
      }
    }
  }
  ASSERT_GT(all, 0.0);
  EXPECT_GT(tl / all, 0.99);
}

TEST(InterpCam, BatchEqualsOneImageAtATime) {
  QuadrantNet net;
  const Tensor a = two_object_image(true), b = two_object_image(false);
  const Tensor both = ops::concat({a, b}, 0);
  for (CamMethod m : {CamMethod::GradCam, CamMethod::GradCamPlusPlus, CamMethod::LayerCam,
                      CamMethod::ScoreCam, CamMethod::EigenCam}) {
    SCOPED_TRACE(cam_method_name(m));
    const CamResult rb = cam(net, both, quadrant_options(m));
    const std::vector<float> vb = rb.map.to_vector();
    const std::vector<float> va = cam(net, a, quadrant_options(m)).map.to_vector();
    const std::vector<float> v2 = cam(net, b, quadrant_options(m)).map.to_vector();
    ASSERT_EQ(vb.size(), va.size() + v2.size());
    for (size_t i = 0; i < va.size(); ++i) {
      EXPECT_NEAR(vb[i], va[i], 1e-6f);
      EXPECT_NEAR(vb[va.size() + i], v2[i], 1e-6f);
    }
  }
}

TEST(InterpCam, TestTimeAugmentation) {
  QuadrantNet net;
  const Tensor x = two_object_image();
  CamOptions o = quadrant_options(CamMethod::GradCam);
  const std::vector<float> plain = cam(net, x, o).map.to_vector();
  o.tta.enabled = true;
  o.tta.hflip = false;
  o.tta.shift = 0;
  EXPECT_EQ(cam(net, x, o).map.to_vector(), plain);  // identity only: the same map
  o.tta.hflip = true;
  o.tta.shift = 1;
  const CamResult r = cam(net, x, o);
  EXPECT_EQ(r.map.shape(), (Shape{1, 1, kSize, kSize}));
  EXPECT_EQ(r.low_res.shape(), (Shape{1, 1, kSize / 2, kSize / 2}));
  EXPECT_GT(top_left_mass(r.map), 0.9);
  EXPECT_NE(r.map.to_vector(), plain);
}

TEST(InterpCam, LayersByNameDefaultsAndErrors) {
  QuadrantNet net;
  const Tensor x = two_object_image();
  EXPECT_EQ(default_cam_layer(net, x), "pool");
  const CamResult r = grad_cam(net, x, {});  // default layer, predicted class
  EXPECT_EQ(r.layer, "pool");
  EXPECT_EQ(r.classes, std::vector<int64_t>{0});
  CamOptions o;
  o.layer = "conv";  // full resolution: no resampling
  EXPECT_EQ(grad_cam(net, x, o).low_res.shape(), (Shape{1, 1, kSize, kSize}));
  o.layer = "nope";
  try {
    grad_cam(net, x, o);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("conv"), std::string::npos) << e.what();
  }
  o.layer = "fc";
  EXPECT_THROW(grad_cam(net, x, o), std::invalid_argument);  // 2-D output
  EXPECT_THROW(grad_cam(net, Tensor::zeros({3, kSize, kSize}), {}), std::invalid_argument);
}

TEST(InterpCam, ModelModeRestoredAndNoParameterGradTouched) {
  QuadrantNet net;
  net.train();
  grad_cam(net, two_object_image(), quadrant_options(CamMethod::GradCam));
  EXPECT_TRUE(net.is_training());
  for (const Tensor& p : net.parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(InterpCam, EveryMethodRunsOnResNet20) {
  manual_seed(3);
  auto model = models::build_model("resnet20");
  Generator gen(11);
  const Tensor x = Tensor::randn({2, 3, 32, 32}, gen);
  EXPECT_EQ(default_cam_layer(*model, x), "layer3.2");
  for (CamMethod m : {CamMethod::GradCam, CamMethod::GradCamPlusPlus, CamMethod::LayerCam,
                      CamMethod::ScoreCam, CamMethod::EigenCam}) {
    SCOPED_TRACE(cam_method_name(m));
    CamOptions o;
    o.method = m;
    o.layer = m == CamMethod::LayerCam ? "layer2.0" : "";
    const CamResult r = cam(*model, x, o);
    ASSERT_EQ(r.map.shape(), (Shape{2, 1, 32, 32}));
    for (float v : r.map.to_vector()) {
      ASSERT_TRUE(std::isfinite(v));
      ASSERT_GE(v, 0.0f);
    }
  }
  EXPECT_EQ(guided_grad_cam(*model, x).shape(), x.shape());
}

// ---- visualisation ----------------------------------------------------------------------------

TEST(InterpVisualize, ColormapEndpoints) {
  EXPECT_EQ(colormap_color(Colormap::Viridis, 0.0f), (Rgb{68, 1, 84}));
  EXPECT_EQ(colormap_color(Colormap::Viridis, 1.0f), (Rgb{253, 231, 37}));
  EXPECT_EQ(colormap_color(Colormap::Viridis, 2.0f), (Rgb{253, 231, 37}));  // clamped
  EXPECT_EQ(colormap_color(Colormap::Jet, 0.0f), (Rgb{0, 0, 128}));
  EXPECT_EQ(colormap_color(Colormap::Jet, 0.5f), (Rgb{128, 255, 128}));
  EXPECT_EQ(colormap_color(Colormap::Jet, 1.0f), (Rgb{128, 0, 0}));
  EXPECT_EQ(colormap_color(Colormap::Diverging, 0.5f), (Rgb{255, 255, 255}));
  const Rgb lo = colormap_color(Colormap::Diverging, 0.0f),
            hi = colormap_color(Colormap::Diverging, 1.0f);
  EXPECT_GT(lo[2], lo[0]);  // blue
  EXPECT_GT(hi[0], hi[2]);  // red
  EXPECT_EQ(colormap_color(Colormap::Gray, 1.0f), (Rgb{255, 255, 255}));
  EXPECT_EQ(colormap_color(Colormap::Gray, std::nanf("")), (Rgb{0, 0, 0}));
  // Viridis gets brighter monotonically (its design goal).
  double prev = -1.0;
  for (int i = 0; i <= 50; ++i) {
    const Rgb c = colormap_color(Colormap::Viridis, static_cast<float>(i) / 50.0f);
    const double luma = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    EXPECT_GT(luma, prev);
    prev = luma;
  }
  EXPECT_EQ(parse_colormap("jet"), Colormap::Jet);
  EXPECT_THROW(parse_colormap("rainbow"), std::invalid_argument);
}

TEST(InterpVisualize, Normalisation) {
  const std::vector<float> v{-2.0f, 0.0f, 1.0f, 2.0f};
  EXPECT_EQ(normalize_minmax(v.data(), v.size()), (std::vector<float>{0.0f, 0.5f, 0.75f, 1.0f}));
  EXPECT_EQ(normalize_signed(v.data(), v.size()), (std::vector<float>{0.0f, 0.5f, 0.75f, 1.0f}));
  const std::vector<float> c(5, 3.0f);
  EXPECT_EQ(normalize_minmax(c.data(), c.size()), std::vector<float>(5, 0.0f));
  std::vector<float> spike(101);
  for (int i = 0; i <= 100; ++i) spike[static_cast<size_t>(i)] = static_cast<float>(i);
  spike[100] = 1e6f;  // one outlier
  const std::vector<float> p = normalize_percentile(spike.data(), spike.size(), 0.0f, 99.0f);
  EXPECT_NEAR(p[50], 50.0f / 99.0f, 1e-4f);
  EXPECT_EQ(p[100], 1.0f);
  EXPECT_THROW(normalize_percentile(spike.data(), spike.size(), 50.0f, 10.0f),
               std::invalid_argument);
}

TEST(InterpVisualize, PngRoundTripOverlayAndUpscale) {
  const std::vector<float> map{0.0f, 1.0f, 0.5f, 0.25f, 0.75f, 1.0f};
  const Image heat = colorize(map.data(), 2, 3, Colormap::Viridis);
  const Image big = upscale_nearest(heat, 8);
  ASSERT_EQ(big.width, 24);
  ASSERT_EQ(big.height, 16);
  const auto dir = std::filesystem::temp_directory_path() / "glassbox_test_interp_cam";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "heat.png").string();
  write_png(path, big);
  int w = 0, h = 0, n = 0;
  unsigned char* px = stbi_load(path.c_str(), &w, &h, &n, 3);
  ASSERT_NE(px, nullptr);
  EXPECT_EQ(w, 24);
  EXPECT_EQ(h, 16);
  EXPECT_TRUE(std::equal(big.pixels.begin(), big.pixels.end(), px));
  EXPECT_EQ(px[0], 68);                  // top-left block: viridis(0)
  EXPECT_EQ(px[(0 * 24 + 8) * 3], 253);  // second block: viridis(1)
  stbi_image_free(px);
  std::filesystem::remove_all(dir);
  EXPECT_THROW(write_png("/nonexistent-dir/x.png", big), std::runtime_error);

  // In memory: the same pixels back from the encoded bytes.
  const std::vector<uint8_t> png = encode_png(big);
  unsigned char* decoded = stbi_load_from_memory(png.data(), static_cast<int>(png.size()), &w, &h,
                                                 &n, 3);
  ASSERT_NE(decoded, nullptr);
  EXPECT_EQ(w, 24);
  EXPECT_TRUE(std::equal(big.pixels.begin(), big.pixels.end(), decoded));
  stbi_image_free(decoded);
  EXPECT_THROW(encode_png(Image()), std::invalid_argument);

  const Image black(24, 16, {0, 0, 0});
  const Image half = overlay(black, big, 0.5f);
  EXPECT_EQ(half.at(8, 0)[0], 127);  // round(0.5 * 253 + 0.5 * 0)
  EXPECT_THROW(overlay(black, heat, 0.5f), std::invalid_argument);

  // Normalised image back to pixels.
  const Tensor img = Tensor::from_vector({3, 1, 1}, {0.0f, 1.0f, -1.0f});
  const Image px1 = image_from_tensor(img, {0.5f, 0.5f, 0.5f}, {0.5f, 0.25f, 0.5f});
  EXPECT_EQ(px1.pixels, (std::vector<uint8_t>{128, 191, 0}));
}

TEST(InterpVisualize, TextSheetGridAndHistogramDimensions) {
  Image canvas(40, 10, {255, 255, 255});
  draw_text(canvas, 1, 1, "Ab", {0, 0, 0});
  int dark = 0;
  for (size_t i = 0; i < canvas.pixels.size(); i += 3) dark += canvas.pixels[i] == 0;
  EXPECT_GT(dark, 10);
  EXPECT_EQ(text_width("abc", 2), (3 * 6 - 1) * 2);

  std::vector<Image> tiles{Image(32, 32), Image(32, 32), Image(16, 20)};
  SheetOptions so;
  so.pad = 3;
  const Image sheet = make_sheet(tiles, {"input", "gradcam", "a label far too long to fit"}, so);
  const int64_t lh = text_height(1) + 2;
  EXPECT_EQ(sheet.width, 3 * 32 + 4 * 3);
  EXPECT_EQ(sheet.height, lh + 32 + 2 * 3);
  so.columns = 2;
  const Image two_rows = make_sheet(tiles, {}, so);
  EXPECT_EQ(two_rows.width, 2 * 32 + 3 * 3);
  EXPECT_EQ(two_rows.height, 2 * (lh + 32) + 3 * 3);
  EXPECT_THROW(make_sheet(tiles, {"one"}, so), std::invalid_argument);

  Generator gen(5);
  const Tensor act = Tensor::randn({1, 10, 4, 4}, gen);
  GridOptions go;
  go.scale = 2;
  const Image grid = channel_grid(act, go);  // 4 columns, 3 rows of 8x8 tiles
  EXPECT_EQ(grid.width, 4 * 8 + 5);
  EXPECT_EQ(grid.height, 3 * 8 + 4);

  nn::Linear lin(4, 3);
  const std::vector<NamedValues> params = parameter_values(lin);
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "weight");
  EXPECT_EQ(params[0].values.size(), 12u);
  EXPECT_TRUE(parameter_values(lin, true).empty());  // no gradients yet
  HistogramOptions ho;
  ho.bins = 10;
  const Image hist = histogram_sheet(params, ho);
  EXPECT_EQ(hist.width, 10 * ho.bin_width + 2 * ho.pad);
  EXPECT_EQ(hist.height, ho.pad + 2 * (text_height(1) + 2 + ho.bar_height + 1 + ho.pad));
}

}  // namespace
}  // namespace gb::interp
