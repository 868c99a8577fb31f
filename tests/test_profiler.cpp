// Tests for the per-layer profiler (runtime/profiler.h): forward rows per module path with the
// module type, backward rows per (module, op), functional ops of a block attributed to the block,
// aggregation over steps, note_kernel text on the innermost span, and nothing recorded when
// profiling is off; and the `glassbox bench --per-layer` table built from such rows. Structure
// only: no test depends on how long anything takes.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "models/registry.h"
#include "models/training/throughput.h"
#include "runtime/autograd.h"
#include "runtime/layers.h"
#include "runtime/module.h"
#include "runtime/ops.h"
#include "runtime/profiler.h"
#include "runtime/rng.h"

namespace gb {
namespace {

using profile::Pass;
using profile::ProfileRow;

const ProfileRow* find_row(const std::vector<ProfileRow>& rows, const std::string& module,
                           const std::string& op_or_type, Pass pass) {
  for (const auto& r : rows) {
    if (r.module == module && r.op_or_type == op_or_type && r.pass == pass) return &r;
  }
  return nullptr;
}

int64_t kernel_count(const ProfileRow& r, const std::string& text) {
  for (const auto& [t, c] : r.kernels) {
    if (t == text) return c;
  }
  return 0;
}

// One training step of `model` on a 2x3x32x32 input: forward, loss, backward.
void train_step(Module& model) {
  Generator gen(7, 0);
  Tensor x = Tensor::randn({2, 3, 32, 32}, gen);
  Tensor y = Tensor::from_labels({1, 4});
  Tensor loss = ops::cross_entropy(model(x), y);
  loss.backward();
}

std::shared_ptr<Module> resnet20() {
  manual_seed(0);
  models::ModelConfig mc;
  auto m = models::build_model("resnet20", mc);
  m->train();
  return m;
}

TEST(Profiler, ForwardAndBackwardRowsNameModulesTypesAndOps) {
  auto model = resnet20();
  profile::reset();
  {
    profile::ProfileScope on;
    EXPECT_TRUE(profile::enabled());
    train_step(*model);
  }
  EXPECT_FALSE(profile::enabled());
  const auto rows = profile::rows();

  // Forward: every module call has a row with its type, once per step.
  for (const auto& [path, type] :
       std::vector<std::pair<std::string, std::string>>{{"", "ResNet"},
                                                        {"conv1", "Conv2d"},
                                                        {"bn1", "BatchNorm2d+ReLU"},
                                                        {"layer1", "Sequential"},
                                                        {"layer1.0", "BasicBlock"},
                                                        {"layer1.0.conv1", "Conv2d"},
                                                        {"layer2.0.shortcut.0", "Conv2d"},
                                                        {"layer3.2.bn2", "BatchNorm2d+add+ReLU"},
                                                        {"fc", "Linear"}}) {
    const ProfileRow* r = find_row(rows, path, type, Pass::Forward);
    ASSERT_NE(r, nullptr) << "no forward row for '" << path << "' " << type;
    EXPECT_EQ(r->calls, 1) << path;
    EXPECT_GE(r->total_ms, 0.0) << path;
  }
  // Forward rows follow the execution order: the stem before the blocks, fc last of the leaves.
  auto pos = [&](const std::string& path) {
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].module == path && rows[i].pass == Pass::Forward) return i;
    }
    return rows.size();
  };
  EXPECT_LT(pos("conv1"), pos("layer1.0.conv1"));
  EXPECT_LT(pos("layer1.0.conv1"), pos("layer3.2.conv2"));
  EXPECT_LT(pos("layer3.2.conv2"), pos("fc"));

  // Backward: conv2d nodes under their conv module; the batch norms, fused in training with the
  // block's residual add and relu (runtime/fusion.h), under the batch norm modules.
  for (const char* conv :
       {"conv1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.shortcut.0", "layer3.2.conv2"}) {
    const ProfileRow* r = find_row(rows, conv, "conv2d", Pass::Backward);
    ASSERT_NE(r, nullptr) << "no backward conv2d row for " << conv;
    EXPECT_EQ(r->calls, 1) << conv;
  }
  EXPECT_NE(find_row(rows, "layer1.0.bn2", "batch_norm2d_act", Pass::Backward), nullptr);
  EXPECT_NE(find_row(rows, "layer2.1.bn1", "batch_norm2d_act", Pass::Backward), nullptr);
  EXPECT_NE(find_row(rows, "fc", "linear", Pass::Backward), nullptr);
  // The loss ran outside any module: its backward row has an empty module path.
  EXPECT_NE(find_row(rows, "", "cross_entropy", Pass::Backward), nullptr);
  // No backward row is keyed by a module type, and no forward row by an op name.
  EXPECT_EQ(find_row(rows, "layer1.0.conv1", "Conv2d", Pass::Backward), nullptr);
  EXPECT_EQ(find_row(rows, "layer1.0.conv1", "conv2d", Pass::Forward), nullptr);
}

TEST(Profiler, SelfTimesPartitionTheForwardCall) {
  auto model = resnet20();
  Generator gen(3, 0);
  Tensor x = Tensor::randn({2, 3, 32, 32}, gen);
  profile::reset();
  double outer_ms = 0;
  {
    profile::ProfileScope on;
    NoGradGuard ng;
    const auto t0 = std::chrono::steady_clock::now();
    Tensor out = (*model)(x);
    outer_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  // Self times exclude children, so over all modules they add up to the root call, which lies
  // inside the outer measurement; no row is negative. No backward ran, so no backward rows.
  double sum = 0;
  for (const auto& r : profile::rows()) {
    EXPECT_EQ(r.pass, Pass::Forward);
    EXPECT_GE(r.total_ms, -1e-9) << r.module;
    sum += r.total_ms;
  }
  EXPECT_LE(sum, outer_ms + 1e-6);
}

TEST(Profiler, AggregatesOverSteps) {
  auto model = resnet20();
  profile::reset();
  {
    profile::ProfileScope on;
    train_step(*model);
    train_step(*model);
    train_step(*model);
  }
  const auto rows = profile::rows();
  const ProfileRow* f = find_row(rows, "layer2.1.conv2", "Conv2d", Pass::Forward);
  const ProfileRow* b = find_row(rows, "layer2.1.conv2", "conv2d", Pass::Backward);
  ASSERT_NE(f, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(f->calls, 3);
  EXPECT_EQ(b->calls, 3);
  // Rows are unique per (module, op_or_type, pass).
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = i + 1; j < rows.size(); ++j) {
      EXPECT_FALSE(rows[i].module == rows[j].module && rows[i].op_or_type == rows[j].op_or_type &&
                   rows[i].pass == rows[j].pass)
          << rows[i].module << " " << rows[i].op_or_type;
    }
  }
}

// A module that names a kernel in forward and records a node whose backward names another.
class NotingModule : public Module {
 public:
  Tensor forward(const Tensor& x) override {
    profile::note_kernel("test-forward-kernel");
    Tensor y = x.clone();
    record_custom("noting_op", {x}, y, [](const Tensor& g) {
      profile::note_kernel("test-backward-kernel");
      return std::vector<Tensor>{g};
    });
    return y;
  }
  std::string type_name() const override { return "Noting"; }
};

// A parent that notes its own kernel, then runs the noting child and a ReLU.
class ParentModule : public Module {
 public:
  ParentModule() {
    child_ = register_module("child", std::make_shared<NotingModule>());
    relu_ = register_module("act", std::make_shared<nn::ReLU>());
  }
  Tensor forward(const Tensor& x) override {
    profile::note_kernel("parent-kernel");
    return (*relu_)((*child_)(x));
  }
  std::string type_name() const override { return "Parent"; }

 private:
  std::shared_ptr<Module> child_, relu_;
};

TEST(Profiler, NoteKernelAttachesToInnermostSpan) {
  ParentModule m;
  Generator gen(1, 0);
  profile::reset();
  {
    profile::ProfileScope on;
    for (int i = 0; i < 2; ++i) {
      Tensor x = Tensor::randn({2, 3}, gen);
      x.set_requires_grad(true);
      Tensor loss = ops::sum(m(x));
      loss.backward();
    }
    profile::note_kernel("outside-any-span");  // no open span: dropped
  }
  const auto rows = profile::rows();
  const ProfileRow* parent = find_row(rows, "", "Parent", Pass::Forward);
  const ProfileRow* child = find_row(rows, "child", "Noting", Pass::Forward);
  const ProfileRow* act = find_row(rows, "act", "ReLU", Pass::Forward);
  const ProfileRow* node = find_row(rows, "child", "noting_op", Pass::Backward);
  ASSERT_NE(parent, nullptr);
  ASSERT_NE(child, nullptr);
  ASSERT_NE(act, nullptr);
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(kernel_count(*parent, "parent-kernel"), 2);
  EXPECT_EQ(kernel_count(*parent, "test-forward-kernel"), 0);
  EXPECT_EQ(kernel_count(*child, "test-forward-kernel"), 2);
  EXPECT_EQ(kernel_count(*child, "parent-kernel"), 0);
  EXPECT_TRUE(act->kernels.empty());
  ASSERT_EQ(node->kernels.size(), 1u);
  EXPECT_EQ(node->kernels[0].first, "test-backward-kernel");
  EXPECT_EQ(node->kernels[0].second, 2);
  for (const auto& r : rows) EXPECT_EQ(kernel_count(r, "outside-any-span"), 0);
}

TEST(Profiler, NothingIsRecordedWhenOff) {
  auto model = resnet20();
  profile::reset();
  EXPECT_FALSE(profile::enabled());
  train_step(*model);
  profile::note_kernel("ignored");
  ParentModule m;
  Generator gen(1, 0);
  Tensor x = Tensor::randn({2, 3}, gen);
  x.set_requires_grad(true);
  ops::sum(m(x)).backward();
  EXPECT_TRUE(profile::rows().empty());

  // A scope that ended leaves profiling off again; nested scopes restore the outer state.
  {
    profile::ProfileScope outer;
    {
      profile::ProfileScope inner;
      EXPECT_TRUE(profile::enabled());
    }
    EXPECT_TRUE(profile::enabled());
  }
  EXPECT_FALSE(profile::enabled());
  train_step(*model);
  EXPECT_TRUE(profile::rows().empty());
}

// reset() while spans are open: the open spans record nothing, later ones record normally.
class ResettingModule : public Module {
 public:
  ResettingModule() { relu_ = register_module("act", std::make_shared<nn::ReLU>()); }
  Tensor forward(const Tensor& x) override {
    profile::reset();
    profile::note_kernel("after-reset");  // the open span belongs to the old generation
    return (*relu_)(x);
  }
  std::string type_name() const override { return "Resetting"; }

 private:
  std::shared_ptr<Module> relu_;
};

TEST(Profiler, ResetDuringOpenSpansIsHarmless) {
  ResettingModule m;
  Generator gen(2, 0);
  Tensor x = Tensor::randn({4}, gen);
  {
    profile::ProfileScope on;
    NoGradGuard ng;
    m(x);
  }
  const auto rows = profile::rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].module, "act");
  EXPECT_EQ(rows[0].calls, 1);
  EXPECT_TRUE(rows[0].kernels.empty());
  profile::reset();
  EXPECT_TRUE(profile::rows().empty());
}

// The bench table built from profiler rows: one line per module with forward and backward time
// per step, the backward ops, the kernel notes of both passes, tiny containers hidden.
TEST(Profiler, BenchTableShowsKernelNotesPerModule) {
  training::ThroughputRow row;
  row.model = "m";
  row.mode = "train";
  row.batch = 8;
  row.median_ms = 10;
  training::LayerProfile p;
  p.steps = 2;
  p.step_ms = 10;
  auto add = [&](const std::string& module, const std::string& op, Pass pass, double ms,
                 std::vector<std::pair<std::string, int64_t>> kernels) {
    ProfileRow r;
    r.module = module;
    r.op_or_type = op;
    r.pass = pass;
    r.total_ms = ms;
    r.calls = 2;
    r.kernels = std::move(kernels);
    p.rows.push_back(r);
  };
  add("", "Net", Pass::Forward, 0.0, {});
  add("body", "Sequential", Pass::Forward, 0.001, {});
  add("body.conv", "Conv2d", Pass::Forward, 6.0, {{"conv3x3-direct", 2}});
  add("body.conv", "conv2d", Pass::Backward, 8.0, {{"im2col+gemm", 2}});
  add("block", "Block", Pass::Forward, 1.0, {});
  add("block", "add", Pass::Backward, 0.5, {});
  add("block", "relu", Pass::Backward, 0.5, {});
  add("", "cross_entropy", Pass::Backward, 0.2, {});
  row.per_layer = p;
  const std::string t = training::format_per_layer(row, "order");
  EXPECT_NE(t.find("conv3x3-direct; bwd: im2col+gemm"), std::string::npos) << t;
  EXPECT_NE(t.find("add,relu"), std::string::npos) << t;
  EXPECT_NE(t.find("(top level)"), std::string::npos) << t;
  EXPECT_NE(t.find("cross_entropy"), std::string::npos) << t;
  EXPECT_EQ(t.find("Sequential"), std::string::npos) << t;
  EXPECT_NE(t.find("1 module under 0.005 ms per step not shown"), std::string::npos) << t;
  // Execution order by default; slowest first with "time".
  EXPECT_LT(t.find("body.conv"), t.find("block"));
  const std::string by_time = training::format_per_layer(row, "time");
  EXPECT_LT(by_time.find("body.conv"), by_time.find("block"));
  EXPECT_LT(by_time.find("block"), by_time.find("(top level)"));
}

}  // namespace
}  // namespace gb
