// Incremental inference (interp/incremental.h): the span arithmetic against brute force, and the
// logits of perturbed images computed incrementally against the model's own full forward on zoo
// models (residual adds, strided 1x1 shortcuts, max pools with and without padding, channel
// concats), for boxes of mixed sizes in one chunk, empty boxes, boxes on the border and a box
// covering the whole image; then occlusion and feature ablation maps with and without it.
// Shape letters: B images, C channels, H/W image size, K classes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "interp/incremental.h"
#include "interp/incremental_patch.h"
#include "interp/lime.h"
#include "interp/perturb.h"
#include "interp/shapley.h"
#include "interp/slic.h"
#include "runtime/autograd.h"
#include "runtime/layers.h"
#include "runtime/ops.h"
#include "runtime/rng.h"
#include "zoo_models.h"

using namespace gb;
using namespace gb::interp;

namespace {

// Images b = base with box b filled with noise.
Tensor perturbed(const Tensor& base, const std::vector<ChangedBox>& boxes, uint64_t seed) {
  const int64_t C = base.size(1), H = base.size(2), W = base.size(3);
  const auto B = static_cast<int64_t>(boxes.size());
  Tensor out = Tensor::empty({B, C, H, W});
  Generator gen(seed);
  const Tensor noise = Tensor::randn({B, C, H, W}, gen);
  for (int64_t b = 0; b < B; ++b) {
    std::memcpy(out.f32() + b * C * H * W, base.f32(), static_cast<size_t>(C * H * W) * 4);
    const ChangedBox& x = boxes[static_cast<size_t>(b)];
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t y = x.y0; y < x.y0 + x.h; ++y) {
        for (int64_t i = x.x0; i < x.x0 + x.w; ++i) {
          const int64_t at = ((b * C + c) * H + y) * W + i;
          out.f32()[at] = noise.f32()[at];
        }
      }
    }
  }
  return out;
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector(), vb = b.to_vector();
  double scale = 1.0, diff = 0.0;
  for (size_t i = 0; i < va.size(); ++i) {
    scale = std::max(scale, static_cast<double>(std::fabs(vb[i])));
    diff = std::max(diff, static_cast<double>(std::fabs(va[i] - vb[i])));
  }
  return diff / scale;
}

}  // namespace

TEST(IncrementalSpans, ReachedSpanMatchesBruteForce) {
  using incremental::reached_span;
  for (int64_t k : {1, 2, 3, 5}) {
    for (int64_t s : {1, 2, 3}) {
      for (int64_t p = 0; p < k; ++p) {
        const int64_t in_extent = 13;
        const int64_t out_extent = (in_extent + 2 * p - k) / s + 1;
        if (out_extent < 1) continue;
        for (int64_t a = 0; a < in_extent; ++a) {
          for (int64_t n = 1; a + n <= in_extent; ++n) {
            incremental::Span in{{a}, n};
            const auto out = reached_span(in, k, s, p, out_extent);
            int64_t lo = out_extent, hi = -1;
            for (int64_t o = 0; o < out_extent; ++o) {
              const int64_t w0 = o * s - p, w1 = w0 + k - 1;
              if (w1 >= a && w0 <= a + n - 1) {
                lo = std::min(lo, o);
                hi = std::max(hi, o);
              }
            }
            if (hi < 0) continue;  // nothing reached: any span of size 1 will do
            ASSERT_LE(out.start[0], lo) << k << " " << s << " " << p << " " << a << " " << n;
            ASSERT_GE(out.start[0] + out.size - 1, hi) << k << " " << s << " " << p;
            ASSERT_EQ(out.size, hi - lo + 1);
          }
        }
      }
    }
  }
}

TEST(IncrementalSpans, UniformSpanFitsInside) {
  const auto s = incremental::uniform_span({0, 5, 9}, {2, 4, 1}, 10);
  EXPECT_EQ(s.size, 4);
  EXPECT_EQ(s.start, (std::vector<int64_t>{0, 5, 6}));
  const auto u = incremental::union_span({&s, &s}, 10);
  EXPECT_EQ(u.size, 4);
}

struct ZooCase {
  const char* name;
  float width;
};

class IncrementalZoo : public ::testing::TestWithParam<ZooCase> {};

TEST_P(IncrementalZoo, LogitsMatchTheFullForward) {
  const ZooCase zc = GetParam();
  auto m = gb::testing::zoo_model_random_bn(zc.name, zc.width);
  Generator gen(5);
  const Tensor base = Tensor::randn({1, 3, 32, 32}, gen);
  // Mixed sizes in one chunk, an empty box, border boxes; then a chunk with a box over everything.
  const std::vector<std::vector<ChangedBox>> chunks = {
      {{0, 0, 8, 8}, {4, 12, 8, 8}, {24, 24, 8, 8}, {0, 0, 0, 0}, {30, 1, 2, 5}, {13, 17, 1, 1}},
      {{10, 0, 3, 32}, {0, 0, 32, 32}, {5, 5, 4, 4}}};
  for (double fraction : {0.5, 1.0}) {
    IncrementalForward inc(*m, base, fraction);
    for (size_t c = 0; c < chunks.size(); ++c) {
      const Tensor batch = perturbed(base, chunks[c], 11 + c);
      const double before = inc.stats().macs_done, full_before = inc.stats().macs_full;
      const Tensor got = inc.forward(batch, chunks[c]);
      Tensor want;
      {
        NoGradGuard ng;
        want = (*m)(batch);
      }
      ASSERT_EQ(got.shape(), want.shape());
      const double d = max_rel_diff(got, want);
      EXPECT_LT(d, 1e-4) << zc.name << " fraction " << fraction << " chunk " << c;
      const double macs = (inc.stats().macs_done - before) / (inc.stats().macs_full - full_before);
      if (c == 0) {
        EXPECT_LT(macs, 1.0) << zc.name << ": small boxes computed everything";
      }
      std::printf(
          "[incremental] %-9s w%.2f fraction %.1f chunk %zu max rel diff %.3g, MACs %.3f "
          "of full\n",
          zc.name, static_cast<double>(zc.width), fraction, c, d, macs);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Zoo, IncrementalZoo,
                         ::testing::Values(ZooCase{"resnet20", 0.5f}, ZooCase{"resnet18", 0.125f},
                                           ZooCase{"vgg11", 0.125f}, ZooCase{"inception", 0.125f},
                                           ZooCase{"smallcnn", 0.5f}, ZooCase{"airbench", 0.25f}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Incremental, SmallBoxesComputeLess) {
  auto m = gb::testing::zoo_model_random_bn("resnet20", 0.5f);
  Generator gen(3);
  const Tensor base = Tensor::randn({1, 3, 32, 32}, gen);
  IncrementalForward inc(*m, base);
  const std::vector<ChangedBox> boxes(4, ChangedBox{12, 12, 4, 4});
  inc.forward(perturbed(base, boxes, 2), boxes);
  EXPECT_LT(inc.stats().macs_done, 0.9 * inc.stats().macs_full);
  EXPECT_EQ(inc.stats().images, 4);
}

TEST(Incremental, RefusesWhatItCannotRun) {
  auto m = gb::testing::zoo_model_random_bn("resnet20", 0.5f);
  Generator gen(3);
  const Tensor base = Tensor::randn({1, 3, 32, 32}, gen);
  IncrementalForward inc(*m, base);
  const Tensor batch = Tensor::zeros({1, 3, 32, 32});
  EXPECT_THROW(inc.forward(batch, {ChangedBox{30, 0, 4, 4}}), std::invalid_argument);
  EXPECT_THROW(inc.forward(batch, {}), std::invalid_argument);
  EXPECT_THROW(IncrementalForward(*m, base, 0.0), std::invalid_argument);
}

TEST(Incremental, FallsBackWhereAnOpHasNoRule) {
  auto vit = gb::testing::zoo_model_random_bn("vit", 0.25f);
  Generator gen(4);
  const Tensor img = Tensor::randn({3, 32, 32}, gen);
  std::string why;
  EXPECT_EQ(try_incremental(*vit, img, &why), nullptr);
  EXPECT_NE(why.find("layer_norm"), std::string::npos) << why;
  // The methods still run, on the full forward, and say why.
  OcclusionOptions oo;
  oo.batch.incremental = IncrementalMode::On;
  IncrementalStats stats;
  oo.incremental_stats = &stats;
  const Tensor map = occlusion(*vit, img, 0, oo);
  EXPECT_EQ(map.numel(), 32 * 32);
  EXPECT_NE(stats.not_run.find("layer_norm"), std::string::npos);
}

TEST(Incremental, ChangedBoxIsTheBoundingBox) {
  Tensor a = Tensor::zeros({3, 8, 8});
  Tensor b = a.clone();
  EXPECT_EQ(changed_box(a, b).h, 0);
  b.f32()[1 * 64 + 2 * 8 + 5] = 1.0f;
  b.f32()[2 * 64 + 6 * 8 + 3] = -1.0f;
  const ChangedBox box = changed_box(a, b);
  EXPECT_EQ(box.y0, 2);
  EXPECT_EQ(box.x0, 3);
  EXPECT_EQ(box.h, 5);
  EXPECT_EQ(box.w, 3);
}

// ---- the methods with and without it ----

namespace {

void expect_close(const std::vector<double>& a, const std::vector<double>& b, double tol,
                  const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double scale = 1e-3;
  for (double v : b) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol * scale) << what << " " << i;
}

std::vector<double> as_doubles(const Tensor& t) {
  const auto v = t.to_vector();
  return {v.begin(), v.end()};
}

}  // namespace

TEST(IncrementalMethods, SameMapsAsTheFullForward) {
  auto m = gb::testing::zoo_model_random_bn("resnet20", 0.5f);
  Generator gen(21);
  const Tensor img = Tensor::randn({3, 32, 32}, gen);
  OcclusionOptions oo;
  oo.batch.incremental = IncrementalMode::On;  // Auto would decline 32x32
  IncrementalStats stats;
  oo.incremental_stats = &stats;
  const Tensor fast = occlusion(*m, img, 3, oo);
  EXPECT_TRUE(stats.not_run.empty()) << stats.not_run;
  EXPECT_EQ(stats.images, 50);  // 7 x 7 windows and the original
  EXPECT_LT(stats.mac_fraction(), 1.0);
  oo.batch.incremental = IncrementalMode::Off;
  IncrementalStats none;
  oo.incremental_stats = &none;
  const Tensor full = occlusion(*m, img, 3, oo);
  EXPECT_EQ(none.not_run, "--incremental off");
  expect_close(as_doubles(fast), as_doubles(full), 1e-4, "occlusion");

  const Segments seg = grid_segments(32, 32, 4, 4);
  ImageGameOptions go;
  go.batch.incremental = IncrementalMode::On;
  IncrementalStats game_stats;
  go.incremental_stats = &game_stats;
  const AblationResult a = feature_ablation(*m, img, seg, 3, go);
  EXPECT_GT(game_stats.images, 0);
  LimeOptions lo;
  lo.samples = 200;
  const LimeResult l = lime(image_value_fn(*m, img, seg, 3, go), seg.count, lo);
  KernelShapOptions ko;
  ko.samples = 200;
  const ShapleyResult k = kernel_shap(image_value_fn(*m, img, seg, 3, go), seg.count, ko);
  go.batch.incremental = IncrementalMode::Off;
  go.incremental_stats = nullptr;
  expect_close(a.drop, feature_ablation(*m, img, seg, 3, go).drop, 1e-4, "feature ablation");
  expect_close(l.coef, lime(image_value_fn(*m, img, seg, 3, go), seg.count, lo).coef, 1e-3, "lime");
  expect_close(k.phi, kernel_shap(image_value_fn(*m, img, seg, 3, go), seg.count, ko).phi, 1e-3,
               "kernelshap");
  std::printf(
      "[incremental] occlusion MACs %.3f of full; feature ablation + LIME + KernelSHAP "
      "%.3f\n",
      stats.mac_fraction(), game_stats.mac_fraction());
}

// ---- the rarer layers, on a hand-built net ----

namespace {

// A module that runs a function of its input (the test's own ops and constant weights).
class Fn : public Module {
 public:
  explicit Fn(std::function<Tensor(const Tensor&)> f) : f_(std::move(f)) {}
  Tensor forward(const Tensor& x) override { return f_(x); }
  std::string type_name() const override { return "Fn"; }

 private:
  std::function<Tensor(const Tensor&)> f_;
};

std::shared_ptr<Module> fn(std::function<Tensor(const Tensor&)> f) {
  return std::make_shared<Fn>(std::move(f));
}

ops::Pool2dOptions pool(int64_t k, int64_t s, int64_t p, bool ceil, bool include_pad) {
  ops::Pool2dOptions o{k, k, s, s, p, p};
  o.ceil_mode = ceil;
  o.count_include_pad = include_pad;
  return o;
}

// Depthwise, 1x7 and padded 1x1 convolutions, two convolutions of one input added (the second
// reads the first's output as its residual), padded average and ceil-mode max pools, PReLU, a
// batch norm after a ReLU; then ops that run whole (a dilated convolution, an average pool that
// excludes its padding, a subtraction of a constant) and the head.
std::shared_ptr<nn::Sequential> rare_layers_net() {
  Generator gen(17);
  auto w = [&](Shape s) { return Tensor::randn(s, gen, 0.3f); };
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Conv2d>(3, 8, 3, 1, 1));
  const Tensor wd = w({8, 8, 3, 3}), wa = w({8, 8, 3, 3}), wb = w({8, 8, 1, 1});
  ops::Conv2dOptions dil(1, 2);
  dil.dilation_h = dil.dilation_w = 2;
  net->push_back(std::make_shared<nn::Conv2d>(8, 8, 3, 1, 1, 8));  // depthwise
  ops::Conv2dOptions row;
  row.pad_w = 3;
  net->push_back(std::make_shared<nn::Conv2d>(8, 8, 1, 7, row, true));
  net->push_back(std::make_shared<nn::Conv2d>(8, 8, 1, 1, 1));  // 32 -> 34
  net->push_back(fn([=](const Tensor& x) {
    return ops::relu(ops::add(ops::conv2d(x, wa, Tensor(), {1, 1}), ops::conv2d(x, wb, Tensor())));
  }));
  net->push_back(
      fn([](const Tensor& x) { return ops::avg_pool2d(x, pool(3, 1, 1, false, true)); }));
  net->push_back(fn([](const Tensor& x) { return ops::max_pool2d(x, pool(3, 2, 1, true, true)); }));
  const Tensor slope = Tensor::uniform({8}, gen, 0.05f, 0.3f);
  net->push_back(fn([=](const Tensor& x) { return ops::prelu(x, slope); }));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::BatchNorm2d>(8));
  net->push_back(fn([=](const Tensor& x) { return ops::relu(ops::conv2d(x, wd, Tensor(), dil)); }));
  net->push_back(
      fn([](const Tensor& x) { return ops::avg_pool2d(x, pool(3, 1, 1, false, false)); }));
  const Tensor shift = w({1, 8, 1, 1});
  net->push_back(fn([=](const Tensor& x) { return ops::sub(x, shift); }));
  net->push_back(std::make_shared<nn::GlobalAvgPool>());
  net->push_back(std::make_shared<nn::Linear>(8, 5));
  for (auto& [name, b] : net->named_buffers()) {
    if (name.find("running_var") != std::string::npos)
      b.copy_(Tensor::uniform(b.shape(), gen, 0.5f, 2.0f));
    if (name.find("running_mean") != std::string::npos)
      b.copy_(Tensor::uniform(b.shape(), gen, -0.3f, 0.3f));
  }
  return net;
}

}  // namespace

TEST(Incremental, RareLayersMatchTheFullForward) {
  auto net = rare_layers_net();
  net->train();  // construction must leave the training flag as it was
  Generator gen(8);
  const Tensor base = Tensor::randn({1, 3, 32, 32}, gen);
  IncrementalForward inc(*net, base);
  EXPECT_TRUE(net->is_training());
  net->eval();
  const std::vector<ChangedBox> boxes = {{0, 0, 4, 4}, {14, 20, 3, 2}, {28, 28, 4, 4}, {}};
  const Tensor batch = perturbed(base, boxes, 9);
  const Tensor got = inc.forward(batch, boxes);
  Tensor want;
  {
    NoGradGuard ng;
    want = (*net)(batch);
  }
  EXPECT_LT(max_rel_diff(got, want), 1e-4);
  EXPECT_LT(inc.stats().mac_fraction(), 1.0);
}

TEST(Incremental, RefusesHooksAndBatchMixingOps) {
  auto net = rare_layers_net();
  net->eval();
  Generator gen(8);
  const Tensor base = Tensor::randn({1, 3, 32, 32}, gen);
  const int id =
      net->add_forward_hook([](Module&, const Tensor&, const Tensor&) { return Tensor(); });
  std::string why;
  EXPECT_EQ(try_incremental(*net, base, &why), nullptr);
  EXPECT_NE(why.find("hooks"), std::string::npos) << why;
  net->remove_hook(id);
  net->push_back(fn([](const Tensor& x) { return ops::sum(x, {0}, true); }));
  EXPECT_EQ(try_incremental(*net, base, &why), nullptr);
  EXPECT_NE(why.find("batch"), std::string::npos) << why;
}

TEST(Incremental, AutoDeclinesSmallImages) {
  BatchOptions b;
  EXPECT_FALSE(use_incremental(b, 32, 32));
  EXPECT_TRUE(use_incremental(b, 224, 224));
  EXPECT_FALSE(use_incremental(b, 224, 32));
  b.incremental = IncrementalMode::On;
  EXPECT_TRUE(use_incremental(b, 32, 32));
  b.incremental = IncrementalMode::Off;
  EXPECT_FALSE(use_incremental(b, 224, 224));
  auto m = gb::testing::zoo_model_random_bn("smallcnn", 0.25f);
  Generator gen(2);
  OcclusionOptions oo;
  IncrementalStats stats;
  oo.incremental_stats = &stats;
  occlusion(*m, Tensor::randn({3, 32, 32}, gen), 0, oo);
  EXPECT_NE(stats.not_run.find("auto"), std::string::npos) << stats.not_run;
}

TEST(IncrementalStatsTest, AddAndMinus) {
  IncrementalStats a;
  a.macs_done = 3;
  a.macs_full = 10;
  a.images = 2;
  a.macs_by_module = {{"conv1", 3}};
  IncrementalStats b = a;
  b.add(a);
  EXPECT_EQ(b.images, 4);
  EXPECT_DOUBLE_EQ(b.mac_fraction(), 0.3);
  const IncrementalStats d = b.minus(a);
  EXPECT_EQ(d.images, 2);
  EXPECT_DOUBLE_EQ(d.macs_by_module.at(0).second, 3);
  EXPECT_DOUBLE_EQ(IncrementalStats{}.mac_fraction(), 1.0);
}
