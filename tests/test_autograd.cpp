// Tests for the autograd engine (runtime/autograd.h), tensor and module hooks, module naming,
// graph walking, undefined tensors refused, the ReLU backward-rule switch, and small models that
// train (the optimizers' single steps are in test_optim.cpp).
// Gradients are compared with hand-derived values; tests/gradcheck.h is checked here against a
// deliberately wrong backward rule so a silently passing gradient check would be noticed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numbers>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/fusion.h"
#include "runtime/layers.h"
#include "runtime/module.h"
#include "runtime/op_table.h"
#include "runtime/ops.h"
#include "runtime/optim.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"
#include "tests/gradcheck.h"

namespace gb {
namespace {

using Ts = std::vector<Tensor>;
using Vec = std::vector<float>;

Tensor leaf(const Shape& shape, const Vec& values) {
  Tensor t = Tensor::from_vector(shape, values);
  t.set_requires_grad(true);
  return t;
}

Tensor randn(const Shape& shape, uint64_t seed, float stddev = 1.0f) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, stddev);
}

using test::values_near;

// y = x (a copy) recorded with a caller-chosen backward rule, for engine-level tests.
Tensor custom_op(const char* name, const Ts& inputs, BackwardFn backward) {
  Tensor y = inputs[0].clone();
  record_custom(name, inputs, y, std::move(backward));
  return y;
}

// ---------------------------------------------------------------------------------------------
// The gradient checker itself

TEST(GradCheck, DetectsAWrongBackwardRule) {
  const Tensor x = randn({3, 4}, 1);
  auto wrong = [](const Ts& v) {
    return custom_op("wrong", {v[0]}, [](const Tensor& g) { return Ts{ops::scale(g, 1.05f)}; });
  };
  auto right = [](const Ts& v) {
    return custom_op("right", {v[0]}, [](const Tensor& g) { return Ts{g}; });
  };
  EXPECT_FALSE(test::gradcheck(wrong, {x}));
  EXPECT_FALSE(test::projection_check(wrong, {x}));
  EXPECT_TRUE(test::gradcheck(right, {x}));
  EXPECT_TRUE(test::projection_check(right, {x}));
}

TEST(GradCheck, KinkFreeInputGenerators) {
  Generator gen(3);
  const Vec a = test::away_from_zero({500}, gen, 0.05f).to_vector();
  for (float v : a) EXPECT_GE(std::fabs(v), 0.05f);
  Vec d = test::distinct_values({7, 9}, gen, 0.05f).to_vector();
  std::sort(d.begin(), d.end());
  for (size_t i = 1; i < d.size(); ++i) EXPECT_GE(d[i] - d[i - 1], 0.0499f);
}

// ---------------------------------------------------------------------------------------------
// Engine

TEST(Autograd, FanOutAccumulates) {
  // y = x*x + x is used twice: L = sum(y*y) + sum(y); dL/dx = (2y + 1)(2x + 1).
  Tensor x = leaf({3}, {0.5f, -1.0f, 2.0f});
  const Tensor y = ops::add(ops::mul(x, x), x);
  ops::add(ops::sum(ops::mul(y, y)), ops::sum(y)).backward();
  Vec want;
  for (float v : x.to_vector()) {
    const float yv = v * v + v;
    want.push_back((2 * yv + 1) * (2 * v + 1));
  }
  EXPECT_TRUE(values_near(x.grad(), want));
}

TEST(Autograd, ClosuresLearnWhichInputGradientsThePassUses) {
  Tensor a = randn({3}, 21), b = randn({3}, 22);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  std::vector<bool> seen;
  auto op = [&] {
    return custom_op("probe", {a, b}, [&](const Tensor& g) {
      seen = {input_grad_needed(0), input_grad_needed(1)};
      return Ts{g, g};
    });
  };
  EXPECT_TRUE(input_grad_needed(0));  // outside a closure
  backward(ops::sum(op()));
  EXPECT_EQ(seen, (std::vector<bool>{true, true}));
  grad(ops::sum(op()), {a});  // only a's gradient is wanted
  EXPECT_EQ(seen, (std::vector<bool>{true, false}));
  grad(ops::sum(op()), {b});
  EXPECT_EQ(seen, (std::vector<bool>{false, true}));
  // A conv2d asked only for its input's gradient gives the same dx as a full backward.
  Tensor x = randn({2, 3, 6, 6}, 23), w = randn({4, 3, 3, 3}, 24);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  const Tensor y = ops::conv2d(x, w, {}, {1, 1, 1});
  const Tensor only_dx = grad(ops::sum(y), {x}, {}, true)[0];
  backward(ops::sum(y));
  EXPECT_TRUE(values_near(only_dx, x.grad().to_vector(), 1e-6));
}

TEST(Autograd, DiamondGraph) {
  // h = 3x feeds two branches that meet again: L = sum(h*h - h); dL/dx = 3(2h - 1) = 18x - 3.
  Tensor x = leaf({2, 2}, {1.0f, -0.5f, 0.0f, 2.0f});
  const Tensor h = ops::scale(x, 3.0f);
  const Tensor left = ops::mul(h, h), right = ops::scale(h, -1.0f);
  ops::sum(ops::add(left, right)).backward();
  Vec want;
  for (float v : x.to_vector()) want.push_back(18 * v - 3);
  EXPECT_TRUE(values_near(x.grad(), want));
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = leaf({2}, {1, 2});
  EXPECT_TRUE(grad_mode_enabled());
  {
    NoGradGuard guard;
    EXPECT_FALSE(grad_mode_enabled());
    {
      NoGradGuard nested;
      EXPECT_FALSE(grad_mode_enabled());
    }
    EXPECT_FALSE(grad_mode_enabled());
    const Tensor y = ops::relu(ops::mul(x, x));
    EXPECT_EQ(y.grad_fn(), nullptr);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.is_leaf());
    EXPECT_TRUE(walk_graph(y).empty());
  }
  EXPECT_TRUE(grad_mode_enabled());
  const Tensor z = ops::mul(x, x);
  ASSERT_NE(z.grad_fn(), nullptr);
  EXPECT_EQ(z.grad_fn()->op, OpId::Mul);
  // Inputs that need no grad record nothing either.
  EXPECT_EQ(ops::mul(x.detach(), x.detach()).grad_fn(), nullptr);
}

TEST(Autograd, LeafGradAccumulatesAcrossBackwardCalls) {
  Tensor x = leaf({2}, {1, 3});
  ops::sum(ops::mul(x, x)).backward();
  EXPECT_TRUE(values_near(x.grad(), {2, 6}));
  ops::sum(ops::mul(x, x)).backward();
  EXPECT_TRUE(values_near(x.grad(), {4, 12}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
  ops::sum(ops::scale(x, 5)).backward();
  EXPECT_TRUE(values_near(x.grad(), {5, 5}));
}

TEST(Autograd, SecondBackwardNeedsRetainGraph) {
  Tensor x = leaf({2}, {1, 3});
  const Tensor loss = ops::sum(ops::mul(x, x));
  gb::backward(loss, {}, /*retain_graph=*/true);
  EXPECT_TRUE(values_near(x.grad(), {2, 6}));
  gb::backward(loss, {}, /*retain_graph=*/false);  // the retained graph runs again
  EXPECT_TRUE(values_near(x.grad(), {4, 12}));
  EXPECT_THROW(loss.backward(), std::logic_error);  // freed now
  EXPECT_TRUE(values_near(x.grad(), {4, 12}));
}

TEST(Autograd, BackwardFromANonScalarNeedsASeed) {
  Tensor x = leaf({2}, {1, 3});
  const Tensor y = ops::scale(x, 2.0f);
  EXPECT_THROW(y.backward(), std::logic_error);
  EXPECT_THROW(gb::backward(y, Tensor::ones({3})), std::invalid_argument);
  y.backward(Tensor::from_vector({2}, {1, -1}));
  EXPECT_TRUE(values_near(x.grad(), {2, -2}));
  EXPECT_THROW(Tensor::ones({2}).backward(), std::logic_error);  // nothing requires grad
}

TEST(Autograd, GradWrtIntermediateLeavesLeafGradAlone) {
  Tensor x = leaf({3}, {1, -2, 0.5f});
  const Tensor h = ops::mul(x, x);
  const Tensor out = ops::sum(ops::scale(h, 3.0f));
  const Ts g = gb::grad(out, {h, x}, {}, /*retain_graph=*/true);
  EXPECT_TRUE(values_near(g[0], {3, 3, 3}));
  EXPECT_TRUE(values_near(g[1], {6, -12, 3}));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(h.grad().defined());
  // Only the intermediate: the part of the graph below h need not run.
  const Ts gh = gb::grad(out, {h});
  EXPECT_TRUE(values_near(gh[0], {3, 3, 3}));
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, GradWrtAnUnrelatedInputIsZero) {
  Tensor x = leaf({2}, {1, 2});
  Tensor w = leaf({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor out = ops::sum(ops::mul(x, x));
  const Ts g = gb::grad(out, {w, x});
  EXPECT_EQ(g[0].shape(), (Shape{2, 3}));
  EXPECT_TRUE(values_near(g[0], Vec(6, 0.0f), 0.0));
  EXPECT_TRUE(values_near(g[1], {2, 4}));
  EXPECT_THROW(gb::grad(out, {Tensor::ones({2})}), std::logic_error);  // needs no grad
}

TEST(Autograd, GradWithASeed) {
  Tensor x = leaf({2}, {1, 2});
  const Tensor y = ops::mul(x, x);
  const Ts g = gb::grad(y, {x}, Tensor::from_vector({2}, {10, -1}));
  EXPECT_TRUE(values_near(g[0], {20, -4}));
}

TEST(Autograd, NodeWithoutGradientForAnInputDoesNotStarveTheRest) {
  // A backward rule may return no gradient for an input (undefined). The producer of that input
  // then gets nothing from this consumer, yet the nodes below it must still run for the
  // gradient that reaches them by other paths. y = custom(x, 2x) passes g to x only; L = sum(y +
  // x) -> dL/dx = 1 + 1.
  Tensor x = leaf({2}, {1, 2});
  const Tensor b = ops::scale(x, 2.0f);
  const Tensor y = custom_op("first_only", {x, b}, [](const Tensor& g) { return Ts{g, Tensor()}; });
  ops::sum(ops::add(y, x)).backward();
  EXPECT_TRUE(values_near(x.grad(), {2, 2}));
  const Tensor y2 = custom_op("first_only", {x, ops::scale(x, 2.0f)}, [](const Tensor& g) {
    return Ts{g, Tensor()};
  });
  const Ts g = gb::grad(ops::sum(ops::add(y2, x)), {x});
  EXPECT_TRUE(values_near(g[0], {2, 2}));
}

// ---------------------------------------------------------------------------------------------
// Tensor hooks and retain_grad

TEST(Autograd, TensorHooksSeeAndReplaceGradients) {
  Tensor x = leaf({3}, {1, 2, 3});
  const Tensor h = ops::scale(x, 2.0f);
  Vec seen;
  h.register_hook([&](const Tensor& g) {
    seen = g.to_vector();
    return Tensor();  // keep
  });
  h.register_hook([](const Tensor& g) { return ops::scale(g, 10.0f); });  // replace
  ops::sum(ops::mul(h, h)).backward();
  EXPECT_EQ(seen, (Vec{4, 8, 12}));                    // dL/dh = 2h
  EXPECT_TRUE(values_near(x.grad(), {80, 160, 240}));  // 2 * 10 * 2h
}

TEST(Autograd, HookOnALeafRegisteredAfterTheForward) {
  Tensor x = leaf({2}, {1, 2});
  const Tensor loss = ops::sum(ops::mul(x, x));
  int calls = 0;
  x.register_hook([&](const Tensor& g) {
    ++calls;
    return ops::scale(g, -1.0f);
  });
  loss.backward();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(values_near(x.grad(), {-2, -4}));
}

// DISABLED: known runtime bug, needs a change to runtime/tensor.h. A leaf's hooks live on its
// AccumulateGrad node, which the leaf holds only weakly (TensorImpl::grad_accumulator), so a hook
// registered before any op uses the leaf dies with that node and never fires. Fix: keep leaf
// hooks on TensorImpl and run them for accumulator nodes.
TEST(Autograd, HookOnALeafRegisteredBeforeTheForward) {
  // As in PyTorch, a hook registered on a parameter before any forward pass must fire.
  Tensor x = leaf({2}, {1, 2});
  int calls = 0;
  x.register_hook([&](const Tensor& g) {
    ++calls;
    return Tensor();
  });
  ops::sum(ops::mul(x, x)).backward();
  EXPECT_EQ(calls, 1);
  ops::sum(ops::mul(x, x)).backward();
  EXPECT_EQ(calls, 2);
}

TEST(Autograd, RetainGrad) {
  Tensor x = leaf({2}, {1, -3});
  const Tensor h = ops::mul(x, x), k = ops::scale(h, 0.5f);
  h.retain_grad();
  ops::sum(ops::mul(k, k)).backward();  // L = sum(h^2/4): dL/dh = h/2
  EXPECT_TRUE(values_near(h.grad(), {0.5f, 4.5f}));
  EXPECT_FALSE(k.grad().defined());              // not retained
  EXPECT_TRUE(values_near(x.grad(), {1, -27}));  // h/2 * 2x = x^3
}

// ---------------------------------------------------------------------------------------------
// Views

TEST(Autograd, ViewsBackpropIntoTheBase) {
  Tensor x = leaf({2, 3, 4}, Vec(24, 0.0f));
  {
    NoGradGuard g;
    x.copy_(randn({2, 3, 4}, 1));
  }
  // Slice with step 2 of a permuted view, weighted by r, plus a second overlapping slice.
  const Tensor p = ops::permute(x, {2, 0, 1});  // [4,2,3]
  const Tensor s = ops::slice(p, 0, 1, 4, 2);   // rows 1 and 3 of the last x dim
  const Tensor r = randn(s.shape(), 2);
  const Tensor s2 = ops::slice(x, 1, 0, 1);  // x[:, 0:1, :]
  ops::add(ops::sum(ops::mul(s, r)), ops::sum(s2)).backward();
  const Vec g = x.grad().to_vector(), rv = r.to_vector();
  for (int64_t a = 0; a < 2; ++a) {
    for (int64_t b = 0; b < 3; ++b) {
      for (int64_t c = 0; c < 4; ++c) {
        float want = b == 0 ? 1.0f : 0.0f;
        // s[i, a, b] = x[a, b, 1 + 2i]
        if (c % 2 == 1) want += rv[static_cast<size_t>(((c - 1) / 2 * 2 + a) * 3 + b)];
        EXPECT_FLOAT_EQ(g[static_cast<size_t>((a * 3 + b) * 4 + c)], want) << a << b << c;
      }
    }
  }
}

TEST(Autograd, ViewsPassGradcheck) {
  EXPECT_TRUE(test::gradcheck(
      [](const Ts& v) {
        const Tensor t = ops::transpose(ops::slice(v[0], 2, 0, 5, 2), 0, 2);
        return ops::mul(ops::reshape(ops::contiguous(t), {-1}), ops::flatten(t, 0));
      },
      {randn({2, 3, 5}, 1)}));
}

// ---------------------------------------------------------------------------------------------
// Modules: names, hooks, graph attribution

std::shared_ptr<nn::Sequential> small_cnn() {
  manual_seed(5);
  auto features = std::make_shared<nn::Sequential>(
      std::vector<ModulePtr>{std::make_shared<nn::Conv2d>(1, 2, 3, 1, 1),
                             std::make_shared<nn::BatchNorm2d>(2), std::make_shared<nn::ReLU>()});
  return std::make_shared<nn::Sequential>(std::vector<ModulePtr>{
      features, std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(2 * 2 * 2, 3)});
}

TEST(Modules, PathsAndParameterNames) {
  auto net = small_cnn();
  std::vector<std::string> names;
  for (const auto& [n, t] : net->named_parameters()) {
    names.push_back(n);
    EXPECT_EQ(t.name(), n);
    EXPECT_TRUE(t.requires_grad());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"0.0.weight", "0.1.weight", "0.1.bias", "3.weight",
                                             "3.bias"}));
  std::vector<std::string> buffers;
  for (const auto& [n, t] : net->named_buffers()) buffers.push_back(n);
  EXPECT_EQ(buffers, (std::vector<std::string>{"0.1.running_mean", "0.1.running_var",
                                               "0.1.num_batches_tracked"}));
  std::vector<std::string> paths;
  for (const auto& [p, m] : net->named_modules()) paths.push_back(p);
  EXPECT_EQ(paths, (std::vector<std::string>{"", "0", "0.0", "0.1", "0.2", "1", "2", "3"}));
  ASSERT_NE(net->find("0.1"), nullptr);
  EXPECT_EQ(net->find("0.1")->type_name(), "BatchNorm2d");
  EXPECT_EQ(net->find("0.1")->path(), "0.1");
  EXPECT_EQ(net->find("4"), nullptr);
  EXPECT_EQ(net->find("0.7"), nullptr);
  EXPECT_EQ(net->parameter_count(), 2 * 9 + 2 + 2 + 8 * 3 + 3);
  // Plain Sequential: `0.weight`.
  nn::Sequential seq;
  seq.push_back(std::make_shared<nn::Linear>(4, 3));
  EXPECT_EQ(seq.named_parameters()[0].first, "0.weight");
  EXPECT_EQ(seq.named_parameters()[1].first, "0.bias");
}

TEST(Modules, AMissingParameterIsAnUndefinedTensorThatRefusesUse) {
  nn::Conv2d conv(3, 8, 3);  // no bias by default
  Tensor bias = conv.local_tensor("bias");
  EXPECT_FALSE(bias.defined());
  EXPECT_THROW(bias.fill_(1.0f), std::logic_error);
  EXPECT_THROW((void)bias.shape(), std::logic_error);
  EXPECT_THROW((void)bias.requires_grad(), std::logic_error);
  nn::Conv2d with_bias(3, 8, 3, 1, 0, 1, true);
  with_bias.local_tensor("bias").fill_(0.5f);
  EXPECT_TRUE(values_near(with_bias.local_tensor("bias"), Vec(8, 0.5f), 0.0));
}

TEST(Modules, ForwardHooksSeeAndReplaceOutput) {
  manual_seed(1);
  nn::Sequential net(std::vector<ModulePtr>{std::make_shared<nn::Linear>(4, 3),
                                            std::make_shared<nn::ReLU>(),
                                            std::make_shared<nn::Linear>(3, 2)});
  const Tensor x = randn({2, 4}, 3);
  Tensor seen_in, seen_out;
  Module* seen_module = nullptr;
  const int id =
      net.find("1")->add_forward_hook([&](Module& m, const Tensor& in, const Tensor& out) {
        seen_module = &m;
        seen_in = in;
        seen_out = out;
        return Tensor();
      });
  const Tensor y = net(x);
  ASSERT_TRUE(seen_out.defined());
  EXPECT_EQ(seen_module, net.find("1"));
  Vec relu_in = seen_in.to_vector();
  for (float& v : relu_in) v = std::max(v, 0.0f);
  EXPECT_EQ(seen_out.to_vector(), relu_in);
  net.find("1")->remove_hook(id);
  // Replace the ReLU's output with zeros: the network output is then the last bias.
  net.find("1")->add_forward_hook(
      [](Module&, const Tensor&, const Tensor& out) { return Tensor::zeros(out.shape()); });
  const Tensor y0 = net(x);
  const Vec b = net.find("2")->local_tensor("bias").to_vector();
  EXPECT_TRUE(values_near(y0, {b[0], b[1], b[0], b[1]}, 0.0));
  net.find("1")->clear_hooks();
  EXPECT_EQ(net(x).to_vector(), y.to_vector());
}

TEST(Modules, BackwardHooksSeeTheGradientOfTheModuleOutput) {
  manual_seed(2);
  nn::Sequential net(std::vector<ModulePtr>{std::make_shared<nn::Linear>(4, 3),
                                            std::make_shared<nn::ReLU>(),
                                            std::make_shared<nn::Linear>(3, 2)});
  const Tensor x = randn({2, 4}, 3);
  Tensor hidden;
  net.find("1")->add_forward_hook([&](Module&, const Tensor&, const Tensor& out) {
    hidden = out;
    return Tensor();
  });
  Vec seen;
  Module* seen_module = nullptr;
  net.find("1")->add_backward_hook([&](Module& m, const Tensor& g) {
    seen_module = &m;
    seen = g.to_vector();
  });
  const Tensor r = randn({2, 2}, 4);
  const Tensor loss = ops::sum(ops::mul(net(x), r));
  // The hook fires for gb::grad (as PyTorch's module backward hooks do for autograd.grad) and for
  // backward, with the same gradient.
  const Ts want = gb::grad(loss, {hidden}, {}, /*retain_graph=*/true);
  EXPECT_EQ(seen, want[0].to_vector());
  seen.clear();
  loss.backward();
  EXPECT_EQ(seen_module, net.find("1"));
  // d loss / d hidden = r W2 (rows of r times the last layer's weight).
  const Vec w2 = net.find("2")->local_tensor("weight").to_vector(), rv = r.to_vector();
  Vec analytic;
  for (int n = 0; n < 2; ++n)
    for (int j = 0; j < 3; ++j) analytic.push_back(rv[n * 2] * w2[j] + rv[n * 2 + 1] * w2[3 + j]);
  EXPECT_EQ(seen, want[0].to_vector());
  EXPECT_TRUE(values_near(want[0], analytic));
}

TEST(Modules, WalkGraphIsTopologicalAndAttributesModules) {
  auto net = small_cnn();
  const Tensor x = randn({2, 1, 4, 4}, 1);
  const Tensor loss = ops::cross_entropy((*net)(x), Tensor::from_labels({0, 2}));
  const auto nodes = walk_graph(loss);
  ASSERT_FALSE(nodes.empty());
  EXPECT_EQ(nodes.back(), loss.grad_fn());
  std::unordered_map<const Node*, size_t> pos;
  for (size_t i = 0; i < nodes.size(); ++i) pos[nodes[i].get()] = i;
  EXPECT_EQ(pos.size(), nodes.size());  // each node once
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& nx : nodes[i]->next) {
      if (!nx) continue;
      ASSERT_TRUE(pos.count(nx.get())) << nodes[i]->name() << " has an input outside the walk";
      EXPECT_LT(pos[nx.get()], i) << nodes[i]->name() << " listed before its input " << nx->name();
    }
  }
  std::vector<std::pair<std::string, std::string>> ops_and_modules;
  std::set<std::string> leaves;
  for (const auto& n : nodes) {
    if (n->is_accumulator()) {
      leaves.insert(n->leaf->name);
    } else {
      ops_and_modules.emplace_back(n->name(), n->module);
    }
  }
  EXPECT_EQ(leaves,
            (std::set<std::string>{"0.0.weight", "0.1.weight", "0.1.bias", "3.weight", "3.bias"}));
  // Training-mode batch norm + ReLU runs as one fused op, attributed to the batch norm module
  // (runtime/fusion.h); with fusion off, the three ops of the three modules.
  const std::vector<std::pair<std::string, std::string>> want = {
      {"conv2d", "0.0"}, {"batch_norm2d_act", "0.1"}, {"max_pool2d", "1"}, {"reshape", "2"},
      {"linear", "3"},   {"cross_entropy", ""}};
  EXPECT_EQ(ops_and_modules, want);
  {
    nn::set_op_fusion(false);
    const Tensor plain = ops::cross_entropy((*net)(x), Tensor::from_labels({0, 2}));
    nn::set_op_fusion(true);
    std::vector<std::pair<std::string, std::string>> plain_ops;
    for (const auto& n : walk_graph(plain))
      if (!n->is_accumulator()) plain_ops.emplace_back(n->name(), n->module);
    const std::vector<std::pair<std::string, std::string>> want_plain = {
        {"conv2d", "0.0"}, {"batch_norm2d", "0.1"}, {"relu", "0.2"},      {"max_pool2d", "1"},
        {"reshape", "2"},  {"linear", "3"},         {"cross_entropy", ""}};
    EXPECT_EQ(plain_ops, want_plain);
  }
  for (const auto& n : nodes) {
    if (n->op == OpId::Conv2d) {
      EXPECT_EQ(n->input_names[1], "0.0.weight");
      EXPECT_EQ(n->input_shapes[0], (Shape{2, 1, 4, 4}));
      EXPECT_EQ(n->output_shape, (Shape{2, 2, 4, 4}));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ReLU backward rules

TEST(Autograd, ReluRuleGuardSwitchesTheBackwardRule) {
  const Vec xv = {-1.0f, 2.0f, 3.0f, -4.0f}, seed = {1.0f, -1.0f, 2.0f, -3.0f};
  auto relu_grad = [&] {
    Tensor x = leaf({4}, xv);
    gb::backward(ops::relu(x), Tensor::from_vector({4}, seed));
    return x.grad();
  };
  EXPECT_EQ(relu_backward_rule(), ReluRule::Standard);
  EXPECT_TRUE(values_near(relu_grad(), {0, -1, 2, 0}, 0.0));
  {
    ReluRuleGuard guided(ReluRule::Guided);
    EXPECT_EQ(relu_backward_rule(), ReluRule::Guided);
    EXPECT_TRUE(values_near(relu_grad(), {0, 0, 2, 0}, 0.0));  // negative upstream zeroed
    {
      ReluRuleGuard deconv(ReluRule::Deconv);
      EXPECT_TRUE(values_near(relu_grad(), {1, 0, 2, 0}, 0.0));  // only upstream sign counts
    }
    EXPECT_EQ(relu_backward_rule(), ReluRule::Guided);
  }
  EXPECT_EQ(relu_backward_rule(), ReluRule::Standard);
  EXPECT_TRUE(values_near(relu_grad(), {0, -1, 2, 0}, 0.0));
}

// ---------------------------------------------------------------------------------------------
// Training

// Mean cross-entropy after each of `steps` SGD steps (the first entry is before any step).
std::vector<float> train(Module& net, const Tensor& x, const Tensor& y, int steps,
                         const optim::SgdOptions& opt) {
  optim::SGD sgd(net.named_parameters(), opt);
  std::vector<float> losses;
  for (int s = 0; s < steps; ++s) {
    sgd.zero_grad();
    const Tensor loss = ops::cross_entropy(net(x), y);
    losses.push_back(loss.item());
    loss.backward();
    sgd.step();
  }
  {
    NoGradGuard g;
    losses.push_back(ops::cross_entropy(net(x), y).item());
  }
  return losses;
}

TEST(Training, SmallMlpLearnsASeparableProblem) {
  manual_seed(3);
  const int64_t N = 64;
  const Tensor x = randn({N, 2}, 9);
  std::vector<int64_t> labels;
  const Vec xv = x.to_vector();
  for (int64_t i = 0; i < N; ++i) labels.push_back(xv[i * 2] + 0.5f * xv[i * 2 + 1] > 0 ? 1 : 0);
  nn::Sequential net(std::vector<ModulePtr>{std::make_shared<nn::Linear>(2, 16),
                                            std::make_shared<nn::ReLU>(),
                                            std::make_shared<nn::Linear>(16, 2)});
  const auto losses = train(net, x, Tensor::from_labels(labels), 50, {0.1f, 0.9f});
  EXPECT_LT(losses.back(), 0.5f * losses.front()) << losses.front() << " -> " << losses.back();
  EXPECT_LT(losses.back(), 0.25f);
}

TEST(Training, SmallCnnLearnsStripes) {
  // Class 0: vertical stripes, class 1: horizontal stripes, plus noise.
  const int64_t N = 8, S = 6;
  Tensor x = randn({N, 1, S, S}, 10, 0.2f);
  float* p = x.f32();
  std::vector<int64_t> labels;
  for (int64_t n = 0; n < N; ++n) {
    labels.push_back(n % 2);
    for (int64_t i = 0; i < S; ++i)
      for (int64_t j = 0; j < S; ++j) p[(n * S + i) * S + j] += ((n % 2 ? i : j) % 2) ? 1.0f : 0.0f;
  }
  manual_seed(4);
  nn::Sequential net(std::vector<ModulePtr>{
      std::make_shared<nn::Conv2d>(1, 4, 3, 1, 1), std::make_shared<nn::BatchNorm2d>(4),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(4 * 3 * 3, 2)});
  const auto losses = train(net, x, Tensor::from_labels(labels), 50, {0.05f, 0.9f});
  EXPECT_LT(losses.back(), 0.5f * losses.front()) << losses.front() << " -> " << losses.back();
  // 50 training steps plus the final (no-grad, still training-mode) loss evaluation.
  EXPECT_EQ(net.find("1")->local_tensor("num_batches_tracked").data<int64_t>()[0], 51);
}

}  // namespace
}  // namespace gb
