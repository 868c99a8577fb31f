// Pruning and compression: the channel graph ties residual channels and concatenations, the
// pruned dense model equals the masked original (resnet20, vgg11, smallcnn, inception), MAC
// counts match a hand computation, selection honours the budget and the rounding, masks survive
// optimizer steps, k-means codebooks hold at most K values, a distilled student's loss falls,
// channel scores vanish on zeroed channels, and the CLI runs end to end on a tiny Fashion-MNIST
// subset.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "interp/prune/channel_graph.h"
#include "interp/prune/channel_importance.h"
#include "interp/prune/magnitude.h"
#include "interp/prune/structured.h"
#include "interp/prune/weight_sharing.h"
#include "models/registry.h"
#include "models/training/checkpoint_meta.h"
#include "models/training/finetune.h"
#include "models/training/losses.h"
#include "runtime/autograd.h"
#include "runtime/layers.h"
#include "runtime/ops.h"
#include "runtime/rng.h"
#include "tests/test_util.h"

namespace {
using namespace gb;
namespace fs = std::filesystem;

// BN with non-trivial statistics and affine parameters, so masked channels really differ from
// unmasked ones and the comparison below is not vacuous.
void randomize_norms(Module& model, uint64_t seed) {
  Generator gen(seed, 7);
  for (auto& [path, m] : model.named_modules()) {
    if (dynamic_cast<nn::BatchNorm2d*>(m) == nullptr) continue;
    for (const char* name : {"weight", "bias", "running_mean", "running_var"}) {
      Tensor t = m->local_tensor(name);
      std::vector<float> v(static_cast<size_t>(t.numel()));
      for (auto& x : v) {
        x = std::string(name) == "running_var" ? 0.5f + gen.uniform() : gen.uniform() * 1.6f - 0.8f;
      }
      t.copy_(Tensor::from_vector(t.shape(), v));
    }
  }
}

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::abs(x));
  return m;
}

struct PruneCase {
  std::string model;
  models::ModelConfig cfg;
};

// Prunes half the MACs with random scores (every group prunable), then compares the dense
// pruned model with the original whose removed channels are zeroed.
void expect_pruned_equals_masked(const PruneCase& c) {
  SCOPED_TRACE(c.model);
  manual_seed(3);
  auto model = models::build_model(c.model, c.cfg);
  randomize_norms(*model, 11);
  model->eval();
  const Shape chw{c.cfg.in_channels, c.cfg.image_size, c.cfg.image_size};
  prune::AnalyzeOptions ao;
  ao.protect_first = false;
  ao.protect_last = false;
  const prune::ChannelGraph g = prune::analyze_channels(*model, chw, ao);
  ASSERT_GT(g.num_ids, 0);
  prune::ScoreOptions so;
  so.criterion = prune::Criterion::Random;
  so.seed = 5;
  const auto scores = prune::channel_importance(*model, g, so);
  prune::SelectOptions sel_opt;
  sel_opt.max_macs = g.macs / 2;
  const prune::Selection sel = prune::select_channels(g, scores, sel_opt);
  EXPECT_LE(sel.macs, g.macs / 2);
  const prune::PrunedModel pm = prune::prune_model(*model, c.model, c.cfg, g, sel.keep);
  EXPECT_FALSE(pm.config.channels.empty());
  EXPECT_LT(pm.model->parameter_count(), model->parameter_count());
  EXPECT_EQ(prune::count_macs(*pm.model, chw).total, sel.macs);
  // The architecture rebuilds from the config alone (what a checkpoint stores).
  EXPECT_EQ(models::build_model(c.model, pm.config)->parameter_count(),
            pm.model->parameter_count());

  Generator gen(9, 0);
  Tensor x = Tensor::randn({2, chw[0], chw[1], chw[2]}, gen);
  std::vector<float> unmasked, pruned, masked;
  {
    NoGradGuard ng;
    unmasked = (*model)(x).to_vector();
    pruned = (*pm.model)(x).to_vector();
  }
  prune::mask_channels(*model, g, sel.keep);
  {
    NoGradGuard ng;
    masked = (*model)(x).to_vector();
  }
  ASSERT_EQ(pruned.size(), masked.size());
  const float scale = std::max(1.0f, max_abs(masked));
  float diff = 0, change = 0;
  for (size_t i = 0; i < masked.size(); ++i) {
    diff = std::max(diff, std::abs(pruned[i] - masked[i]));
    change = std::max(change, std::abs(unmasked[i] - masked[i]));
  }
  EXPECT_LE(diff, 2e-5f * scale) << "pruned vs masked";
  EXPECT_GT(change, 1e-3f * scale) << "masking changed nothing: the test would be vacuous";
}

TEST(PruneStructured, PrunedEqualsMaskedResNet20) { expect_pruned_equals_masked({"resnet20", {}}); }

TEST(PruneStructured, PrunedEqualsMaskedVgg11) {
  models::ModelConfig cfg;
  cfg.width = 0.5f;
  expect_pruned_equals_masked({"vgg11", cfg});
}

TEST(PruneStructured, PrunedEqualsMaskedSmallCnnFashionShape) {
  models::ModelConfig cfg;
  cfg.in_channels = 1;
  cfg.image_size = 28;
  expect_pruned_equals_masked({"smallcnn", cfg});
}

TEST(PruneStructured, PrunedEqualsMaskedInceptionAcrossConcat) {
  models::ModelConfig cfg;
  cfg.width = 0.125f;
  cfg.image_size = 16;
  expect_pruned_equals_masked({"inception", cfg});
}

TEST(PruneStructured, PruningAPrunedModelAgain) {
  // Pruning a pruned model (iterative schedule) starts from channel overrides.
  manual_seed(1);
  models::ModelConfig cfg;
  auto model = models::build_model("resnet20", cfg);
  const Shape chw{3, 32, 32};
  for (int step = 0; step < 2; ++step) {
    const auto g = prune::analyze_channels(*model, chw);
    const auto scores = prune::channel_importance(*model, g, {prune::Criterion::L1});
    prune::SelectOptions so;
    so.max_macs = static_cast<int64_t>(0.8 * static_cast<double>(g.macs));
    const auto sel = prune::select_channels(g, scores, so);
    auto pm = prune::prune_model(*model, "resnet20", cfg, g, sel.keep);
    model = pm.model;
    cfg = pm.config;
  }
  EXPECT_LT(prune::count_macs(*model, chw).total, 40813184 * 0.65);
  EXPECT_EQ(models::build_model("resnet20", cfg)->parameter_count(), model->parameter_count());
}

TEST(PruneGraph, ResNet20ResidualChannelsAreTiedPerStage) {
  manual_seed(0);
  auto model = models::build_model("resnet20");
  const auto g = prune::analyze_channels(*model, {3, 32, 32});
  // Stem + 3 stage groups' worth of tied channels: 16 + 32 + 64 residual, 9 block-internal.
  EXPECT_EQ(g.groups.size(), 12u);
  EXPECT_EQ(g.num_ids, 16 + 32 + 64 + 3 * 16 + 3 * 32 + 3 * 64);
  const auto* stem = g.layer("conv1");
  ASSERT_NE(stem, nullptr);
  EXPECT_TRUE(stem->reads_input);
  for (const char* p : {"layer1.0.conv2", "layer1.1.conv2", "layer1.2.conv2"}) {
    ASSERT_NE(g.layer(p), nullptr) << p;
    EXPECT_EQ(g.layer(p)->out_ids, stem->out_ids) << p;
  }
  EXPECT_EQ(g.layer("layer2.0.conv1")->in_ids, stem->out_ids);
  EXPECT_EQ(g.layer("layer2.0.shortcut.0")->in_ids, stem->out_ids);
  EXPECT_EQ(g.layer("layer2.0.shortcut.0")->out_ids, g.layer("layer2.0.conv2")->out_ids);
  EXPECT_EQ(g.layer("layer2.2.conv2")->out_ids, g.layer("layer2.0.conv2")->out_ids);
  EXPECT_EQ(g.layer("fc")->in_ids, g.layer("layer3.0.conv2")->out_ids);
  EXPECT_TRUE(g.layer("fc")->is_output);
  EXPECT_EQ(g.layer("layer1.0.conv1")->measure_path, "layer1.0.bn1");
  EXPECT_EQ(g.layer("conv1")->measure_path, "bn1");
  for (int t : g.layer("fc")->out_ids) EXPECT_EQ(t, prune::kFixed);
  for (int t : stem->in_ids) EXPECT_EQ(t, prune::kFixed);

  std::set<std::string> protected_groups;
  for (const auto& G : g.groups) {
    if (G.producers.front() == "conv1") {
      EXPECT_EQ(
          std::set<std::string>(G.producers.begin(), G.producers.end()),
          (std::set<std::string>{"conv1", "layer1.0.conv2", "layer1.1.conv2", "layer1.2.conv2"}));
    }
    if (!G.prunable) protected_groups.insert(G.producers.front());
    if (G.producers.front() == "layer1.0.conv1") {
      EXPECT_EQ(G.ids.size(), 16u);
    }
  }
  EXPECT_EQ(protected_groups, (std::set<std::string>{"conv1", "layer3.0.conv2"}));
  // BN entries follow their conv's channels.
  for (const auto& N : g.norms) {
    if (N.path == "layer1.1.bn2") {
      EXPECT_EQ(N.ids, stem->out_ids);
    }
  }
}

TEST(PruneGraph, InceptionConcatKeepsBranchesSeparate) {
  manual_seed(0);
  models::ModelConfig cfg;
  cfg.width = 0.125f;
  auto model = models::build_model("inception", cfg);
  const auto g = prune::analyze_channels(*model, {3, 16, 16});
  const auto* b1 = g.layer("a3.b1.0");
  const auto* b4 = g.layer("a3.b4.1");
  const auto* next = g.layer("b3.b1.0");
  ASSERT_TRUE(b1 && b4 && next);
  // b3's first conv reads a3's concatenation: branch 1's channels first, branch 4's last.
  ASSERT_EQ(next->in_ids.size(), static_cast<size_t>(next->in_channels));
  EXPECT_TRUE(std::equal(b1->out_ids.begin(), b1->out_ids.end(), next->in_ids.begin()));
  EXPECT_TRUE(std::equal(b4->out_ids.rbegin(), b4->out_ids.rend(), next->in_ids.rbegin()));
  for (const auto& G : g.groups) EXPECT_EQ(G.producers.size(), 1u) << G.name;
}

TEST(PruneMacs, ResNet20MatchesHandCount) {
  manual_seed(0);
  auto model = models::build_model("resnet20");
  // Per image at 32x32: conv MACs = H*W*K*C*R*S of each conv.
  const int64_t stem = 32 * 32 * 16 * 3 * 9;
  const int64_t stage1 = 6 * (32 * 32 * 16 * 16 * 9);
  const int64_t stage2 = 16 * 16 * (32 * 16 * 9 + 32 * 16 * 1 + 5 * 32 * 32 * 9);
  const int64_t stage3 = 8 * 8 * (64 * 32 * 9 + 64 * 32 * 1 + 5 * 64 * 64 * 9);
  const int64_t fc = 64 * 10;
  const int64_t hand = stem + stage1 + stage2 + stage3 + fc;
  EXPECT_EQ(hand, 40813184);
  const auto mc = prune::count_macs(*model, {3, 32, 32});
  EXPECT_EQ(mc.total, hand);
  EXPECT_EQ(mc.per_module.at("layer2.0.shortcut.0"), 16 * 16 * 32 * 16);
  const auto g = prune::analyze_channels(*model, {3, 32, 32});
  EXPECT_EQ(g.macs, hand);
  EXPECT_EQ(prune::plan_macs(g, std::vector<char>(static_cast<size_t>(g.num_ids), 1)), hand);
  // Dropping all but 8 channels of layer1.0.conv1 removes 8/16 of that block's two convs.
  std::vector<char> keep(static_cast<size_t>(g.num_ids), 1);
  const auto& ids = g.layer("layer1.0.conv1")->out_ids;
  for (size_t k = 8; k < ids.size(); ++k) keep[static_cast<size_t>(ids[k])] = 0;
  EXPECT_EQ(prune::plan_macs(g, keep), hand - 2 * (32 * 32 * 8 * 16 * 9));
}

TEST(PruneSelect, BudgetRoundingAndProtection) {
  manual_seed(0);
  auto model = models::build_model("resnet20");
  const auto g = prune::analyze_channels(*model, {3, 32, 32});
  const auto scores = prune::channel_importance(*model, g, {prune::Criterion::L2});
  for (bool global : {false, true}) {
    SCOPED_TRACE(global ? "global" : "per group");
    prune::SelectOptions so;
    so.max_macs = g.macs / 2;
    so.global = global;
    so.round_to = 4;
    const auto sel = prune::select_channels(g, scores, so);
    EXPECT_LE(sel.macs, so.max_macs);
    EXPECT_GT(sel.macs, g.macs / 3);  // not pruned far past the budget
    for (size_t i = 0; i < g.groups.size(); ++i) {
      const auto n = static_cast<int64_t>(g.groups[i].ids.size());
      const int64_t k = sel.kept_per_group[i];
      EXPECT_TRUE(k == n || k % 4 == 0) << g.groups[i].name << " keeps " << k;
      if (!g.groups[i].prunable) {
        EXPECT_EQ(k, n) << g.groups[i].name;
      }
      // The kept channels are the highest-scored of the group.
      double min_kept = 1e300, max_dropped = -1;
      for (int t : g.groups[i].ids) {
        if (sel.keep[static_cast<size_t>(t)]) {
          min_kept = std::min(min_kept, scores[static_cast<size_t>(t)]);
        } else {
          max_dropped = std::max(max_dropped, scores[static_cast<size_t>(t)]);
        }
      }
      EXPECT_LE(max_dropped, min_kept) << g.groups[i].name;
    }
  }
  // The default (auto) rounds to 8 where the target allows it, and per group the rounding
  // wastes no budget: no group can grow by one more step and fit.
  prune::SelectOptions eight;
  eight.max_macs = g.macs / 2;
  const auto sel8 = prune::select_channels(g, scores, eight);
  EXPECT_EQ(sel8.round_to, 8);
  EXPECT_LE(sel8.macs, eight.max_macs);
  for (size_t i = 0; i < g.groups.size(); ++i) {
    const auto n = static_cast<int64_t>(g.groups[i].ids.size());
    const int64_t k = sel8.kept_per_group[i];
    if (k == n) continue;
    // One more step: keep the next 8 highest-scored dropped channels.
    std::vector<std::pair<double, int>> dropped;
    for (int t : g.groups[i].ids) {
      if (!sel8.keep[static_cast<size_t>(t)])
        dropped.push_back({scores[static_cast<size_t>(t)], t});
    }
    std::sort(dropped.rbegin(), dropped.rend());
    std::vector<char> grown = sel8.keep;
    const int64_t step = std::min<int64_t>(8, n - k);
    for (int64_t j = 0; j < step; ++j) grown[static_cast<size_t>(dropped[j].second)] = 1;
    EXPECT_GT(prune::plan_macs(g, grown), eight.max_macs) << g.groups[i].name << " could grow";
  }
  // Where 8 cannot reach the target, auto takes the next power of two that can.
  prune::SelectOptions deep;
  deep.round_to = 8;
  int64_t smallest8 = g.macs;  // the smallest model rounding to 8 allows
  for (deep.max_macs = g.macs / 2;; deep.max_macs -= g.macs / 200) {
    try {
      smallest8 = prune::select_channels(g, scores, deep).macs;
    } catch (const std::invalid_argument&) {
      break;
    }
  }
  deep.round_to = 0;
  deep.max_macs = smallest8 - 1;
  EXPECT_EQ(prune::select_channels(g, scores, deep).round_to, 4);
  prune::SelectOptions tiny;
  tiny.max_macs = g.macs / 100;
  tiny.round_to = 4;
  try {
    prune::select_channels(g, scores, tiny);
    FAIL() << "an unreachable budget must be an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("smallest model"), std::string::npos) << e.what();
  }
}

TEST(PruneCriteria, AllCriteriaScoreEveryChannelAndZeroedChannelsScoreZero) {
  manual_seed(2);
  models::ModelConfig cfg;
  cfg.in_channels = 1;
  cfg.image_size = 28;
  auto model = models::build_model("smallcnn", cfg);
  randomize_norms(*model, 3);
  const Shape chw{1, 28, 28};
  const auto g = prune::analyze_channels(*model, chw, {false, false});
  // Zero the first 4 channels of features.3 (its filters and BN scale/shift).
  std::vector<char> keep(static_cast<size_t>(g.num_ids), 1);
  const auto& ids = g.layer("features.3")->out_ids;
  for (int k = 0; k < 4; ++k) keep[static_cast<size_t>(ids[static_cast<size_t>(k)])] = 0;
  prune::mask_channels(*model, g, keep);
  Generator gen(4, 0);
  std::vector<interp::CalibrationBatch> calib;
  for (int b = 0; b < 2; ++b) {
    calib.push_back({Tensor::randn({4, 1, 28, 28}, gen), {0, 1, 2, 3}});
  }
  for (auto c : {prune::Criterion::L1, prune::Criterion::L2, prune::Criterion::BnScale,
                 prune::Criterion::Taylor, prune::Criterion::Attribution}) {
    SCOPED_TRACE(prune::criterion_name(c));
    prune::ScoreOptions so;
    so.criterion = c;
    so.calibration = &calib;
    const auto s = prune::channel_importance(*model, g, so);
    ASSERT_EQ(static_cast<int>(s.size()), g.num_ids);
    for (size_t t = 0; t < s.size(); ++t) {
      EXPECT_GE(s[t], 0.0);
      EXPECT_TRUE(std::isfinite(s[t]));
      if (!keep[t]) {
        EXPECT_EQ(s[t], 0.0) << "zeroed channel " << t;
      }
    }
    double live = 0;
    for (size_t t = 0; t < s.size(); ++t) live += keep[t] ? s[t] : 0.0;
    EXPECT_GT(live, 0.0);
  }
  EXPECT_EQ(prune::parse_criterion("taylor"), prune::Criterion::Taylor);
  EXPECT_THROW(prune::parse_criterion("l3"), std::invalid_argument);
  prune::ScoreOptions none;
  none.criterion = prune::Criterion::Taylor;
  EXPECT_THROW(prune::channel_importance(*model, g, none), std::invalid_argument);
}

TEST(PruneCriteria, TaylorMatchesClosedFormOnALinearHead) {
  // One conv (K = 2) -> global pool -> linear: A_k is the conv output; with the loss gradient
  // dL/dA_k = (p - y)^T W[:,k] / hw, Taylor = |mean_ij A_k * dL/dA_k|.
  manual_seed(0);
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Conv2d>(1, 2, 1, 1, 0, 1, true));
  net->push_back(std::make_shared<nn::GlobalAvgPool>());
  net->push_back(std::make_shared<nn::Linear>(2, 3));
  Generator gen(1, 0);
  Tensor x = Tensor::randn({1, 1, 2, 2}, gen);
  const auto s = interp::channel_scores(*net, {"0"}, {{x, {1}}}, {});
  Tensor a, logits;
  {
    NoGradGuard ng;
    a = (*net->find("0"))(x);
    logits = (*net)(x);
  }
  const auto l = logits.to_vector();
  double z = 0;
  for (float v : l) z += std::exp(v);
  const auto w = net->find("2")->local_tensor("weight").to_vector();  // [3,2]
  const auto av = a.to_vector();
  for (int k = 0; k < 2; ++k) {
    double dl_dmean = 0;  // dL / d(mean_ij A_k)
    for (int c = 0; c < 3; ++c) dl_dmean += (std::exp(l[c]) / z - (c == 1)) * w[c * 2 + k];
    double mean_a = 0;
    for (int j = 0; j < 4; ++j) mean_a += av[static_cast<size_t>(k * 4 + j)] / 4.0;
    // sum_ij A * (dl_dmean / 4) / 4 = mean_a * dl_dmean / 4
    EXPECT_NEAR(s.at("0")[static_cast<size_t>(k)], std::abs(mean_a * dl_dmean / 4.0), 1e-6);
  }
}

std::shared_ptr<data::Dataset> tiny_dataset(int64_t n, int c, int hw) {
  auto ds = std::make_shared<data::Dataset>();
  ds->source = "tiny";
  ds->channels = c;
  ds->height = hw;
  ds->width = hw;
  ds->classes = {"a", "b", "c"};
  ds->images.resize(static_cast<size_t>(n) * ds->image_size());
  Generator gen(5, 0);
  for (auto& p : ds->images) p = static_cast<uint8_t>(gen.below(256));
  for (int64_t i = 0; i < n; ++i) ds->labels.push_back(i % 3);
  return ds;
}

TEST(PruneUnstructured, MasksStayZeroThroughFineTuning) {
  manual_seed(0);
  models::ModelConfig cfg;
  cfg.num_classes = 3;
  cfg.in_channels = 1;
  cfg.image_size = 12;
  cfg.width = 0.5f;
  auto model = models::build_model("smallcnn", cfg);
  prune::MagnitudeOptions mo;
  mo.sparsity = 0.6;
  const auto masks = prune::magnitude_masks(*model, {1, 12, 12}, mo);
  ASSERT_EQ(masks.masks.size(), 2u);  // features.0 and fc are protected
  EXPECT_EQ(masks.masks[0].param, "features.3.weight");
  masks.apply();
  for (const auto& s : prune::weight_sparsity(*model)) {
    if (s.param == "features.3.weight" || s.param == "features.7.weight") {
      EXPECT_EQ(s.zeros, static_cast<int64_t>(std::floor(0.6 * static_cast<double>(s.numel))));
    } else {
      EXPECT_EQ(s.zeros, 0) << s.param;
    }
  }
  // Without re-masking, an optimizer step revives pruned weights...
  auto train = tiny_dataset(24, 1, 12);
  training::FinetuneConfig fc;
  fc.epochs = 1;
  fc.batch_size = 8;
  fc.lr = 0.05f;
  fc.augment = false;
  training::finetune(*model, train, data::Normalization::identity(1), fc);
  EXPECT_LT(prune::weight_sparsity(*model)[1].zeros, 10);
  // ...with the mask applied after every step they stay zero.
  masks.apply();
  int64_t steps = 0;
  training::FinetuneHooks hooks;
  hooks.after_step = [&] {
    masks.apply();
    ++steps;
  };
  const auto r = training::finetune(*model, train, data::Normalization::identity(1), fc, hooks);
  EXPECT_EQ(r.steps, 3);
  EXPECT_EQ(steps, 3);
  const auto w = masks.masks[0].weight.to_vector();
  const auto m = masks.masks[0].mask.to_vector();
  for (size_t i = 0; i < w.size(); ++i) {
    if (m[i] == 0.0f) {
      ASSERT_EQ(w[i], 0.0f) << i;
    }
  }
  EXPECT_THROW(prune::magnitude_masks(*model, {1, 12, 12}, {1.0}), std::invalid_argument);
}

TEST(PruneUnstructured, GlobalThresholdPrunesExactCountOfSmallestWeights) {
  manual_seed(0);
  auto model = models::build_model("resnet20");
  prune::MagnitudeOptions mo;
  mo.sparsity = 0.8;
  mo.global = true;
  const auto masks = prune::magnitude_masks(*model, {3, 32, 32}, mo);
  int64_t zeros = 0, total = 0;
  double max_pruned = 0, min_kept = 1e9;
  for (const auto& wm : masks.masks) {
    const auto w = wm.weight.to_vector();  // before apply(): the original magnitudes
    const auto m = wm.mask.to_vector();
    for (size_t i = 0; i < w.size(); ++i) {
      ++total;
      const double a = std::abs(static_cast<double>(w[i]));
      if (m[i] == 0.0f) {
        ++zeros;
        max_pruned = std::max(max_pruned, a);
      } else {
        min_kept = std::min(min_kept, a);
      }
    }
  }
  EXPECT_EQ(zeros, static_cast<int64_t>(std::floor(0.8 * static_cast<double>(total))));
  EXPECT_LE(max_pruned, min_kept);
  // Layers lose different fractions under one threshold; protected layers stay dense.
  masks.apply();
  std::set<int64_t> per_layer;
  for (const auto& s : prune::weight_sparsity(*model)) {
    if (s.param == "conv1.weight" || s.param == "fc.weight") {
      EXPECT_EQ(s.zeros, 0) << s.param;
    } else {
      per_layer.insert(s.zeros * 1000 / s.numel);
    }
  }
  EXPECT_GT(per_layer.size(), 1u);
}

TEST(PruneWeightSharing, AtMostKValuesPerLayerAndRetieKeepsThem) {
  Generator gen(3, 0);
  std::vector<float> v(5000);
  for (auto& x : v) x = gen.normal();
  for (bool pp : {false, true}) {
    prune::KMeansOptions ko;
    ko.k = 8;
    ko.kmeans_pp = pp;
    const auto book = prune::kmeans_1d(v, ko);
    EXPECT_LE(book.centroids.size(), 8u);
    EXPECT_GE(book.centroids.size(), 6u);
    // Each value sits at its nearest centroid.
    for (size_t i = 0; i < v.size(); i += 97) {
      const float c = book.centroids[book.assignment[i]];
      for (float o : book.centroids) EXPECT_LE(std::abs(v[i] - c), std::abs(v[i] - o) + 1e-6f);
    }
  }
  // Fewer distinct values than K: one cluster per value, exact.
  const auto small = prune::kmeans_1d({1.0f, 2.0f, 2.0f, 5.0f}, {16});
  EXPECT_EQ(small.centroids, (std::vector<float>{1.0f, 2.0f, 5.0f}));

  manual_seed(0);
  models::ModelConfig cfg;
  cfg.in_channels = 1;
  cfg.image_size = 12;
  cfg.num_classes = 3;
  auto model = models::build_model("smallcnn", cfg);
  auto shared = prune::share_weights(*model, {4});
  ASSERT_EQ(shared.layers.size(), 4u);
  for (const auto& L : shared.layers) {
    EXPECT_LE(prune::distinct_values(L.weight), 4) << L.param;
    EXPECT_GT(L.rel_error, 0.0);
    EXPECT_LT(L.rel_error, 0.5);
  }
  EXPECT_LT(shared.bits_shared * 10, shared.bits_dense * 2);  // 2 bits + codebook vs 32 bits
  training::FinetuneConfig fc;
  fc.epochs = 1;
  fc.batch_size = 8;
  fc.augment = false;
  training::FinetuneHooks hooks;
  hooks.after_step = [&] { prune::retie(shared); };
  training::finetune(*model, tiny_dataset(16, 1, 12), data::Normalization::identity(1), fc, hooks);
  for (const auto& L : shared.layers) EXPECT_LE(prune::distinct_values(L.weight), 4) << L.param;
}

TEST(PruneDistill, TinyDistillationRunLowersTheLoss) {
  manual_seed(0);
  models::ModelConfig cfg;
  cfg.num_classes = 3;
  cfg.in_channels = 1;
  cfg.image_size = 12;
  auto teacher = models::build_model("smallcnn", cfg);
  teacher->eval();
  cfg.width = 0.5f;
  auto student = models::build_model("smallcnn", cfg);
  auto ds = tiny_dataset(32, 1, 12);
  training::FinetuneConfig fc;
  fc.epochs = 6;
  fc.batch_size = 16;
  fc.lr = 0.05f;
  fc.schedule = "constant";
  fc.augment = false;
  std::vector<float> per_step;
  training::FinetuneHooks hooks;
  hooks.loss = [&](const Tensor& x, const Tensor& logits, const std::vector<int64_t>& labels) {
    Tensor t;
    {
      NoGradGuard ng;
      t = (*teacher)(x);
    }
    Tensor loss = training::distillation_loss(logits, t, Tensor::from_labels(labels), 4.0f, 1.0f);
    per_step.push_back(loss.item());
    return loss;
  };
  training::finetune(*student, ds, data::Normalization::identity(1), fc, hooks);
  ASSERT_EQ(per_step.size(), 12u);
  EXPECT_LT(per_step[10] + per_step[11], 0.8f * (per_step[0] + per_step[1]));
}

// ---- the CLI on a tiny Fashion-MNIST subset ----

gb::testing::RunResult run(const std::string& args) { return gb::testing::run_glassbox(args); }

TEST(PruneCli, PruneDistillCompressEndToEnd) {
  if (!gb::testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  const fs::path dir = gb::testing::temp_dir("prune", "cli");
  const std::string ck = (dir / "fm.safetensors").string();
  // Trained with the network-slimming penalty on BN scales (recorded in the checkpoint).
  auto r =
      run("train --model smallcnn --width 0.25 --epochs 1 --limit-train 64 --limit-test 32 "
          "--bn-l1 0.001 --quiet --out " +
          ck);
  ASSERT_EQ(r.status, 0) << r.output;
  const auto trained = training::load_model(ck);
  EXPECT_FLOAT_EQ(training::read_training_state(trained.meta, ck).config.bn_l1, 0.001f);

  const std::string pruned = (dir / "pruned.safetensors").string();
  const std::string js = (dir / "pruned.json").string();
  const std::string common = " --limit-train 64 --limit-test 32 --threads 2 --quiet";
  r = run("prune --checkpoint " + ck +
          " --structured --criterion taylor --target-macs 0.5 "
          "--finetune-epochs 1 --calib-images 16 --cam-images 8 --timing-reps 1 --out " +
          pruned + " --json " + js + common);
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* text : {"parameters", "MACs per image", "inference img/s", "training img/s",
                           "test accuracy", "Grad-CAM rank corr.", "features.3", "protected"}) {
    EXPECT_NE(r.output.find(text), std::string::npos) << text << "\n" << r.output;
  }
  std::ifstream jf(js);
  const auto j = nlohmann::json::parse(jf);
  EXPECT_LE(j.at("after").at("macs").get<double>(), 0.5 * j.at("before").at("macs").get<double>());
  EXPECT_FALSE(j.at("channels").empty());

  // eval, summary and bench load the pruned checkpoint with no extra arguments.
  r = run("eval --limit 16 --checkpoint " + pruned);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("accuracy"), std::string::npos) << r.output;
  r = run("summary --checkpoint " + pruned);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("features.3"), std::string::npos) << r.output;
  // bench runs it too: the model from the checkpoint, on inputs of its own shape.
  r = run("bench --model " + pruned +
          " --batch-size 4 --infer-batch-size 4 --warmup 0 --reps 1 --threads 1");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("pruned.safetensors inference"), std::string::npos) << r.output;

  // Never overwrite without --overwrite.
  r = run("prune --checkpoint " + ck + " --out " + pruned + common);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("already exists"), std::string::npos) << r.output;

  r = run("prune --checkpoint " + ck +
          " --unstructured --sparsity 0.7 --global --cam-images 4 "
          "--out " +
          (dir / "sparse.safetensors").string() + common);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("nonzero parameters"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("sparsity"), std::string::npos) << r.output;

  r = run("compress --checkpoint " + ck + " --weight-sharing 4 --out " +
          (dir / "shared.safetensors").string() + common);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("clusters"), std::string::npos) << r.output;
  r = run("eval --limit 16 --checkpoint " + (dir / "shared.safetensors").string());
  EXPECT_EQ(r.status, 0) << r.output;

  r = run("distill --teacher " + ck +
          " --student smallcnn --student-width 0.25 --epochs 1 "
          "--baseline --no-timing --out " +
          (dir / "student.safetensors").string() + common);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("vs alone"), std::string::npos) << r.output;
  r = run("eval --limit 16 --checkpoint " + (dir / "student.safetensors").string());
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST(PruneCli, BadInputNamesTheCause) {
  const fs::path dir = gb::testing::temp_dir("prune", "bad");
  auto r = run("prune --checkpoint /nonexistent/ck.safetensors --out " +
               (dir / "o.safetensors").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/nonexistent/ck.safetensors"), std::string::npos) << r.output;
  r = run("prune --checkpoint x --structured --unstructured --out " +
          (dir / "o.safetensors").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("not both"), std::string::npos) << r.output;
  r = run("prune --checkpoint x --criterion l3 --out " + (dir / "o.safetensors").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("unknown pruning criterion 'l3'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "o.safetensors"));
}

}  // namespace
