// The anomaly guard (runtime/anomaly.h) and its use by the training loop: a NaN/Inf made in a
// forward or a backward is reported at the op and module that produced it (not downstream), the
// guard off changes nothing, the guard on only observes (bit-identical weights), and a diverging
// run stops naming the step, the op and the module, with or without the guard on for that step,
// leaving the checkpoint on disk as it was.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "models/registry.h"
#include "models/training/loop.h"
#include "models/training/optimizer_setup.h"
#include "models/training/trainer.h"
#include "runtime/anomaly.h"
#include "runtime/autograd.h"
#include "runtime/layers.h"
#include "runtime/ops.h"
#include "runtime/rng.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace gb;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// x / (x - x): NaN where x is 0, Inf elsewhere, from finite x.
class Ratio : public Module {
 public:
  Tensor forward(const Tensor& x) override { return ops::div(x, ops::sub(x, x)); }
  std::string type_name() const override { return "Ratio"; }
};

// body (Linear 4->3, ReLU), then `ratio` when armed.
class Net : public Module {
 public:
  explicit Net(bool armed) : armed_(armed) {
    body = register_module("body",
                           std::make_shared<nn::Sequential>(std::vector<ModulePtr>{
                               std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::ReLU>()}));
    ratio = register_module("ratio", std::make_shared<Ratio>());
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = (*body)(x);
    return armed_ ? (*ratio)(h) : h;
  }
  std::string type_name() const override { return "Net"; }
  std::shared_ptr<nn::Sequential> body;
  std::shared_ptr<Ratio> ratio;

 private:
  bool armed_;
};

Tensor random_input(const Shape& shape, uint64_t seed = 3) {
  Generator gen(seed, 0);
  return Tensor::randn(shape, gen);
}

// The report of the AnomalyError `f` throws (fails the test when it throws none).
template <class F>
AnomalyReport report_of(F&& f) {
  try {
    f();
  } catch (const AnomalyError& e) {
    return e.report();
  }
  ADD_FAILURE() << "expected an AnomalyError";
  return {};
}

// A node whose forward is the identity and whose backward returns NaN.
Tensor nan_backward(const Tensor& x) {
  Tensor y = x.clone();
  record_custom("nan_backward", {x}, y, [](const Tensor& gy) {
    return std::vector<Tensor>{Tensor::full(gy.shape(), kNan)};
  });
  return y;
}

}  // namespace

TEST(Anomaly, OffByDefaultAndScoped) {
  EXPECT_FALSE(anomaly_detection_enabled());
  {
    AnomalyGuard on;
    EXPECT_TRUE(anomaly_detection_enabled());
    {
      AnomalyGuard off(false);
      EXPECT_FALSE(anomaly_detection_enabled());
    }
    EXPECT_TRUE(anomaly_detection_enabled());
  }
  EXPECT_FALSE(anomaly_detection_enabled());
}

TEST(Anomaly, CountsNanAndInfInAnyLayout) {
  const Tensor t = Tensor::from_vector({2, 3}, {1, kNan, kInf, -kInf, 0, 2});
  const NonFiniteCount c = count_nonfinite(t);
  EXPECT_EQ(c.nan, 1);
  EXPECT_EQ(c.inf, 2);
  const NonFiniteCount col = count_nonfinite(ops::slice(t, 1, 1, 2));  // a strided view: NaN, 0
  EXPECT_EQ(col.nan, 1);
  EXPECT_EQ(col.inf, 0);
  EXPECT_FALSE(count_nonfinite(Tensor::zeros({1000000})).any());
  EXPECT_FALSE(count_nonfinite(Tensor()).any());
}

TEST(Anomaly, ForwardNanFromFiniteInputsNamesTheOpAndModule) {
  manual_seed(1);
  Net net(/*armed=*/true);
  const Tensor x = random_input({2, 4});
  AnomalyGuard guard;
  for (bool grad : {true, false}) {  // checked whether or not the graph is recorded
    std::optional<NoGradGuard> no_grad;
    if (!grad) no_grad.emplace();
    const AnomalyReport r = report_of([&] { net(x); });
    EXPECT_EQ(r.pass, AnomalyPass::Forward);
    EXPECT_EQ(r.op, "div");
    EXPECT_EQ(r.module, "ratio");
    EXPECT_EQ(r.shape, (Shape{2, 3}));
    EXPECT_EQ(r.nan + r.inf, 6);
    EXPECT_TRUE(contains(r.inputs, "inputs were finite")) << r.inputs;
    EXPECT_TRUE(contains(r.describe(),
                         "the forward of div in module 'ratio': output [2, 3] has 6 "
                         "of 6 values non-finite"))
        << r.describe();
  }
}

TEST(Anomaly, AParameterSetToInfIsNamedAtTheOpThatReadsIt) {
  manual_seed(1);
  Net net(/*armed=*/false);
  Tensor w = net.named_parameters()[0].second;
  w.f32()[1] = kInf;
  AnomalyGuard guard;
  const AnomalyReport r = report_of([&] { net(random_input({2, 4})); });
  EXPECT_EQ(r.pass, AnomalyPass::Forward);
  EXPECT_EQ(r.op, "linear");
  EXPECT_EQ(r.module, "body.0");
  EXPECT_TRUE(contains(r.inputs, "parameter 'body.0.weight'")) << r.inputs;
  EXPECT_TRUE(contains(r.inputs, "already held non-finite")) << r.inputs;
}

TEST(Anomaly, ANonFiniteInputIsReportedAtTheFirstOpAndSaidToComeFromOutside) {
  Tensor x = Tensor::from_vector({3}, {1, kNan, 2});
  AnomalyGuard guard;
  ModuleScope scope("stem");
  const AnomalyReport r = report_of([&] { ops::add(ops::scale(x, 2.0f), x); });
  EXPECT_EQ(r.op, "scale");  // the first op, not the add downstream
  EXPECT_TRUE(contains(r.inputs, "input 0 (made by no recorded op")) << r.inputs;
}

TEST(Anomaly, BackwardOnlyInfNamesTheBackwardOfTheOp) {
  // a / b = 1e20 is finite; its gradient with respect to b, -a / b^2, is not.
  Tensor a = Tensor::full({3}, 1e-10f).set_requires_grad(true);
  Tensor b = Tensor::full({3}, 1e-30f).set_requires_grad(true);
  AnomalyGuard guard;
  Tensor loss;
  {
    ModuleScope scope("head.scale");
    loss = ops::sum(ops::div(a, b));
  }
  const AnomalyReport r = report_of([&] { loss.backward(); });
  EXPECT_EQ(r.pass, AnomalyPass::Backward);
  EXPECT_EQ(r.op, "div");
  EXPECT_EQ(r.module, "head.scale");
  EXPECT_TRUE(contains(r.what, "gradient for input 1")) << r.what;
  EXPECT_EQ(r.nan + r.inf, 3);
  EXPECT_TRUE(contains(r.inputs, "incoming gradient was finite")) << r.inputs;
}

TEST(Anomaly, ACustomNodeWhoseBackwardReturnsNanIsNamed) {
  Tensor x = Tensor::full({2, 2}, 1.0f).set_requires_grad(true);
  AnomalyGuard guard;
  Tensor loss;
  {
    ModuleScope scope("custom");
    loss = ops::sum(ops::scale(nan_backward(x), 3.0f));
  }
  const AnomalyReport r = report_of([&] { loss.backward(); });
  EXPECT_EQ(r.pass, AnomalyPass::Backward);
  EXPECT_EQ(r.op, "nan_backward");
  EXPECT_EQ(r.module, "custom");
  EXPECT_EQ(r.nan, 4);
  // grad() (gradients of intermediate tensors, as explanations use) is checked the same way.
  Tensor x2 = Tensor::full({2}, 1.0f).set_requires_grad(true);
  Tensor y2 = nan_backward(x2);
  EXPECT_EQ(report_of([&] { grad(ops::sum(ops::scale(y2, 2.0f)), {x2}); }).op, "nan_backward");
}

TEST(Anomaly, GuardOffNeverThrowsAndChangesNothing) {
  manual_seed(1);
  Net armed(/*armed=*/true);
  const Tensor x = random_input({2, 4});
  EXPECT_TRUE(count_nonfinite(armed(x)).any());  // no throw without the guard
  Tensor a = Tensor::full({3}, 1e-10f).set_requires_grad(true);
  Tensor b = Tensor::full({3}, 1e-30f).set_requires_grad(true);
  ops::sum(ops::div(a, b)).backward();
  EXPECT_TRUE(count_nonfinite(b.grad()).any());

  // A finite forward and backward: the same bits with the guard on and off.
  auto run = [&](bool on) {
    manual_seed(2);
    Net net(/*armed=*/false);
    AnomalyGuard guard(on);
    Tensor y = net(x);
    ops::sum(ops::mul(y, y)).backward();
    std::vector<std::vector<float>> out{y.to_vector()};
    for (const auto& [name, p] : net.named_parameters()) out.push_back(p.grad().to_vector());
    return out;
  };
  EXPECT_EQ(run(false), run(true));
}

namespace {

// A three-class data set of random 12x12 grey images.
std::shared_ptr<data::Dataset> random_dataset(int64_t n) {
  auto ds = std::make_shared<data::Dataset>();
  ds->source = "random";
  ds->channels = 1;
  ds->height = ds->width = 12;
  ds->classes = {"a", "b", "c"};
  ds->images.resize(static_cast<size_t>(n) * ds->image_size());
  Generator gen(5, 0);
  for (auto& p : ds->images) p = static_cast<uint8_t>(gen.below(256));
  for (int64_t i = 0; i < n; ++i) ds->labels.push_back(i % 3);
  return ds;
}

struct TinyRun {
  std::vector<std::vector<float>> weights;  // after the run (or where it stopped)
  std::string error;                        // what() of the error that stopped it, if any
  std::optional<AnomalyReport> where;       // its report, when it was an AnomalyError
};

// smallcnn trained for `steps` steps (batch 8, constant lr, SGD) through train_steps.
TinyRun train_tiny(float lr, training::AnomalySettings anomaly, int64_t steps,
                   training::LossFn loss = {}) {
  manual_seed(0);
  models::ModelConfig mc;
  mc.num_classes = 3;
  mc.in_channels = 1;
  mc.image_size = 12;
  mc.width = 0.5f;
  auto model = models::build_model("smallcnn", mc);
  auto optimizer = training::make_optimizer({"sgd", lr, 0.9f, true, 5e-4f}, *model);
  auto schedule = training::make_schedule("constant", lr, steps, 0.0f);
  data::Loader loader(random_dataset(48), training::training_loader_config(
                                              8, 1, data::Normalization::identity(1), true, 2));
  training::StepSettings settings;
  settings.anomaly = anomaly;
  training::LoopHooks hooks;
  hooks.loss = std::move(loss);
  const training::TrainingLoop loop{*model, *optimizer, *schedule, Device{}, settings, hooks};
  TinyRun r;
  model->train();
  training::RunningMetrics m;
  try {
    while (m.steps < steps) training::train_steps(loop, loader, m, steps);
  } catch (const AnomalyError& e) {
    r.error = e.what();
    r.where = e.report();
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  for (const auto& [name, p] : model->named_parameters()) r.weights.push_back(p.to_vector());
  return r;
}

training::AnomalySettings guard_never() { return {0, false}; }
training::AnomalySettings guard_always() { return {0, true}; }

}  // namespace

TEST(AnomalyTraining, TheGuardOnlyObservesBitIdenticalWeights) {
  const TinyRun off = train_tiny(0.05f, guard_never(), 8);
  const TinyRun on = train_tiny(0.05f, guard_always(), 8);
  ASSERT_EQ(off.error, "");
  ASSERT_EQ(on.error, "");
  EXPECT_EQ(off.weights, on.weights);
}

TEST(AnomalyTraining, ADivergingRunNamesTheStepOpAndModule) {
  // The default: the guard is on in the first steps, so it stops at the op.
  const TinyRun guarded = train_tiny(1e30f, {}, 6);
  ASSERT_TRUE(guarded.where) << guarded.error;
  EXPECT_TRUE(contains(guarded.error, "step ")) << guarded.error;
  EXPECT_TRUE(contains(guarded.error, "(epoch 1, learning rate 1e+30)")) << guarded.error;
  EXPECT_TRUE(contains(guarded.error, "it first appeared in the forward of ")) << guarded.error;
  EXPECT_FALSE(guarded.where->module.empty()) << guarded.error;
  EXPECT_TRUE(contains(guarded.error, "in module '" + guarded.where->module + "'"));

  // The guard off: the non-finite loss makes the loop re-run the step with it on, which finds
  // the same op in the same module.
  const TinyRun rerun = train_tiny(1e30f, guard_never(), 6);
  ASSERT_TRUE(rerun.where) << rerun.error;
  EXPECT_TRUE(contains(rerun.error, "the loss became")) << rerun.error;
  EXPECT_EQ(rerun.where->op, guarded.where->op);
  EXPECT_EQ(rerun.where->module, guarded.where->module);
  EXPECT_EQ(rerun.error.substr(0, 12), guarded.error.substr(0, 12));  // "step N (epoch"
}

TEST(AnomalyTraining, ANonFiniteGradientWithAFiniteLossIsLocatedByTheReRun) {
  auto loss = [](const Tensor&, const Tensor& logits, const std::vector<int64_t>& labels) {
    const Tensor ce = ops::cross_entropy(logits, Tensor::from_labels(labels));
    ModuleScope scope("loss_term");
    return ops::add(ce, ops::scale(ops::sum(nan_backward(logits)), 0.0f));
  };
  const TinyRun r = train_tiny(0.05f, guard_never(), 2, loss);
  ASSERT_TRUE(r.where) << r.error;
  EXPECT_TRUE(contains(r.error, "step 1 (epoch 1")) << r.error;
  EXPECT_TRUE(contains(r.error, "the gradient of '")) << r.error;
  EXPECT_TRUE(contains(r.error, "the backward of nan_backward in module 'loss_term'")) << r.error;
}

TEST(AnomalyTraining, TrainStopsAndLeavesTheCheckpointAsItWas) {
  if (!gb::testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  const fs::path dir = gb::testing::temp_dir("anomaly", "train");
  training::TrainConfig c;
  c.model = "smallcnn";
  c.width = 0.25f;
  c.epochs = 1;
  c.batch_size = 32;
  c.lr = 1e30f;
  c.schedule = "constant";
  c.limit_train = 128;
  c.limit_test = 32;
  training::TrainOptions o;
  o.quiet = true;
  o.overwrite = true;
  o.out = dir / "ck.safetensors";
  std::ofstream(o.out) << "earlier checkpoint";
  try {
    training::train(c, o);
    FAIL() << "expected an error";
  } catch (const AnomalyError& e) {
    const std::string m = e.what();
    EXPECT_TRUE(contains(m, "train: step ")) << m;
    EXPECT_TRUE(contains(m, "first appeared in the forward of ")) << m;
    EXPECT_TRUE(contains(m, "the last checkpoint (if any) is left as it was")) << m;
  }
  std::ifstream f(o.out);
  std::string kept((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(kept, "earlier checkpoint");
}

TEST(AnomalyCli, TrainNamesTheStepOpAndModuleAndTheFlagsAreShared) {
  if (!gb::testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  const fs::path out = gb::testing::temp_dir("anomaly", "cli") / "ck.safetensors";
  const std::string recipe =
      "train --model smallcnn --width 0.25 --epochs 1 --limit-train 64 --limit-test 32 "
      "--batch-size 32 --lr 1e30 --schedule constant --quiet --out " +
      out.string();
  for (const std::string flags : {"--anomaly-steps 0", "--detect-anomaly"}) {
    const auto r = gb::testing::run_glassbox(recipe + " " + flags);
    EXPECT_NE(r.status, 0) << flags;
    EXPECT_TRUE(contains(r.output, "train: step 2 (epoch 1, learning rate 1e+30): the loss became"))
        << r.output;
    EXPECT_TRUE(contains(r.output, "first appeared in the forward of ")) << r.output;
    EXPECT_FALSE(fs::exists(out));
  }
  EXPECT_NE(gb::testing::run_glassbox(recipe + " --anomaly-steps -1").status, 0);
  for (const char* command : {"prune", "distill", "compress"}) {
    const auto r = gb::testing::run_glassbox(std::string(command) + " --help");
    EXPECT_TRUE(contains(r.output, "--detect-anomaly")) << command;
    EXPECT_TRUE(contains(r.output, "--anomaly-steps")) << command;
  }
}
