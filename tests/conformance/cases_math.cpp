// Conformance cases of the pointwise, shape, loss, reduction and optimizer ops: ReLU (and its
// guided/deconv rules), GELU, broadcasting add/sub/mul/div, scale, concat, pad2d, the views,
// contiguous, dropout, softmax, log-softmax, cross-entropy, sum/mean, and the SGD / AdamW updates
// and gradient clipping (forward-only: their "output" is the updated parameter and optimizer
// state). Shape letters: N rows, D features; other shapes are arbitrary.
#include <cmath>
#include <limits>

#include "runtime/ops.h"
#include "runtime/optim.h"
#include "tests/conformance/case.h"

namespace gb::conformance {
namespace {
Case forward_only(Case c) {
  c.grad = GradCheck::None;
  c.backward = false;
  return c;
}

// A parameter on v's device with value p and gradient g, as an optimizer sees it.
Tensor param_with_grad(const Tensor& p, const Tensor& g) {
  Tensor param = p.clone();
  param.set_requires_grad(true);
  param.set_grad(g.clone());
  return param;
}

// The parameter after the steps and every optimizer state tensor, flattened into one.
Tensor params_and_state(const Tensor& p, const optim::Optimizer& opt) {
  Ts parts = {ops::flatten(p.detach(), 0)};
  for (const auto& [name, t] : opt.state()) parts.push_back(ops::flatten(t, 0));
  return ops::concat(parts, 0);
}
}  // namespace

std::vector<Case> relu_cases() {
  Generator gen(1);
  auto relu = [](const Ts& v) { return ops::relu(v[0]); };
  std::vector<Case> out = {
      {"away from the kink", {test::away_from_zero({2, 3, 4, 5}, gen)}, relu},
      {"threads 2x16x32x32", {test::away_from_zero({2, 16, 32, 32}, gen)}, relu}};
  out[1].grad = GradCheck::Projection;
  for (ReluRule rule : {ReluRule::Guided, ReluRule::Deconv}) {
    Case c{rule == ReluRule::Guided ? "guided rule" : "deconv rule", {randn({3, 4, 5}, 2)}, relu};
    c.relu_rule = rule;
    c.grad = GradCheck::None;  // modified backward rules, not gradients
    out.push_back(c);
  }
  // NaN passes (as torch.relu), -0 becomes +0; 17 values so the vector loop has a tail.
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  const std::vector<float> special = {nan,   -inf, inf,  0.0f, -0.0f, 1e-30f, -1e-30f, nan, 2.0f,
                                      -2.0f, nan,  3.0f, nan,  -nan,  -1.0f,  5.0f,    nan};
  Case specials{"special values (NaN passes)",
                {Tensor::from_vector({static_cast<int64_t>(special.size())}, special)},
                relu};
  specials.grad = GradCheck::None;
  out.push_back(specials);
  return out;
}

std::vector<Case> gelu_cases() {
  auto gelu = [](const Ts& v) { return ops::gelu(v[0]); };
  std::vector<Case> out = {{"3x7", {randn({3, 7}, 1, 2.0f)}, gelu},
                           {"1", {randn({1}, 2)}, gelu},
                           {"threads 70x1001 (tails, wide)", {randn({70, 1001}, 3, 3.0f)}, gelu}};
  out.back().grad = GradCheck::Projection;
  // Infinities, NaN, zeros, the far tails (Phi below float's range) and values near the kink.
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> special = {inf,   -inf,  std::nanf(""), 0.0f,   -0.0f,   -20.0f, 20.0f,
                                      -13.f, -9.5f, -5.0f,         1e-30f, -1e-30f, 7.0f};
  Case specials{"special values",
                {Tensor::from_vector({static_cast<int64_t>(special.size())}, special)},
                gelu};
  specials.grad = GradCheck::None;  // fast vs reference only, both passes
  out.push_back(specials);
  return out;
}

namespace {
// Division by zero and by infinities, and NaN operands: IEEE results on every backend.
Case div_special_values() {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  Tensor a = Tensor::empty({8}), b = Tensor::empty({8});
  const float av[8] = {1.0f, -1.0f, 0.0f, inf, 2.0f, nan, 3.0f, -0.0f};
  const float bv[8] = {0.0f, 0.0f, 0.0f, 2.0f, inf, 1.0f, -0.0f, 5.0f};
  for (int i = 0; i < 8; ++i) a.f32()[i] = av[i], b.f32()[i] = bv[i];
  return forward_only({"special values", {a, b}, [](const Ts& v) { return ops::div(v[0], v[1]); }});
}
}  // namespace

std::vector<Case> binary_cases(OpId op) {
  auto fn = op == OpId::Add ? ops::add : op == OpId::Sub ? ops::sub : op == OpId::Mul ? ops::mul
                                                                                       : ops::div;
  auto binary = [fn](const Ts& v) { return fn(v[0], v[1]); };
  // The right operand: away from zero for div (|b| >= 0.5, so 1/b is well conditioned).
  auto rhs = [op](const Shape& shape, uint64_t seed) {
    if (op != OpId::Div) return randn(shape, seed);
    Generator gen(seed);
    return test::away_from_zero(shape, gen, 0.5f, 1.5f);
  };
  std::vector<Case> out;
  const Shape big{2, 3, 4, 5};
  uint64_t seed = 10;
  for (const Shape& small :
       {Shape{3, 1, 1}, Shape{1}, Shape{2, 1, 4, 1}, Shape{5}, Shape{}, Shape{2, 3, 4, 5}}) {
    out.push_back({shape_str(big) + " with " + shape_str(small),
                   {randn(big, seed), rhs(small, seed + 1)},
                   binary});
    out.push_back({shape_str(small) + " with " + shape_str(big),
                   {randn(small, seed + 2), rhs(big, seed + 3)},
                   binary});
    seed += 4;
  }
  out.push_back({"[3,1] with [1,4]", {randn({3, 1}, 50), rhs({1, 4}, 51)}, binary});
  Case threads{
      "threads 2x16x32x32", {randn({2, 16, 32, 32}, 52), rhs({2, 16, 32, 32}, 53)}, binary};
  threads.grad = GradCheck::Projection;
  out.push_back(threads);
  if (op == OpId::Div) out.push_back(div_special_values());
  return out;
}

std::vector<Case> scale_cases() {
  return {{"3x4 by -2.5", {randn({3, 4}, 1)}, [](const Ts& v) { return ops::scale(v[0], -2.5f); }},
          {"scalar by 0", {randn({}, 2)}, [](const Ts& v) { return ops::scale(v[0], 0.0f); }}};
}

std::vector<Case> concat_cases() {
  auto along = [](int64_t dim) { return [dim](const Ts& v) { return ops::concat(v, dim); }; };
  return {{"dim 1, three inputs",
           {randn({2, 3, 4}, 1), randn({2, 1, 4}, 2), randn({2, 2, 4}, 3)},
           along(1)},
          {"dim 0", {randn({1, 3, 2}, 4), randn({2, 3, 2}, 5)}, along(0)},
          {"dim -1", {randn({2, 3}, 6), randn({2, 2}, 7)}, along(-1)},
          {"one input", {randn({3, 2}, 8)}, along(0)},
          {"non-contiguous input", {randn({3, 2}, 9), randn({2, 2}, 10)}, [](const Ts& v) {
             return ops::concat({ops::transpose(v[0], 0, 1), v[1]}, 1);
           }}};
}

std::vector<Case> pad2d_cases() {
  auto pad = [](int64_t t, int64_t l, int64_t b, int64_t r, float value) {
    return [=](const Ts& v) { return ops::pad2d(v[0], t, l, b, r, value); };
  };
  Case special{"value inf [1,2,5,4] pads 0,1,3,0",
               {randn({1, 2, 5, 4}, 5)},
               pad(0, 1, 3, 0, std::numeric_limits<float>::infinity())};
  special.grad = GradCheck::None;  // the projection of an infinite output is not finite
  Case threads{"threads 4x16x32x32 pads 1 each", {randn({4, 16, 32, 32}, 6)}, pad(1, 1, 1, 1, 0)};
  threads.grad = GradCheck::Projection;
  return {{"[2,3,4,5] pads 1,2,0,3", {randn({2, 3, 4, 5}, 1)}, pad(1, 2, 0, 3, 0.0f)},
          {"[1,1,1,1] pads 2 each, value -1.5", {randn({1, 1, 1, 1}, 2)}, pad(2, 2, 2, 2, -1.5f)},
          {"no padding", {randn({2, 2, 3, 3}, 3)}, pad(0, 0, 0, 0, 0.0f)},
          {"non-contiguous input",
           {randn({2, 3, 5, 4}, 4)},
           [](const Ts& v) { return ops::pad2d(ops::transpose(v[0], 2, 3), 0, 3, 2, 1, 0.5f); }},
          special,
          threads};
}

std::vector<Case> reshape_cases() {
  return {{"[2,3,4] -> [4,-1]",
           {randn({2, 3, 4}, 1)},
           [](const Ts& v) {
             return ops::reshape(v[0], {4, -1});
           }},
          {"non-contiguous input",
           {randn({2, 3, 4}, 2)},
           [](const Ts& v) {
             return ops::reshape(ops::permute(v[0], {2, 0, 1}), {-1, 6});
           }},
          {"flatten", {randn({2, 3, 2, 2}, 3)}, [](const Ts& v) { return ops::flatten(v[0]); }},
          {"flatten from 2", {randn({2, 3, 2, 2}, 4)}, [](const Ts& v) {
             return ops::flatten(v[0], 2);
           }}};
}

std::vector<Case> permute_cases() {
  return {{"{2,0,1}",
           {randn({2, 3, 4}, 1)},
           [](const Ts& v) {
             return ops::permute(v[0], {2, 0, 1});
           }},
          {"transpose 0,2",
           {randn({2, 3, 4}, 2)},
           [](const Ts& v) { return ops::transpose(v[0], 0, 2); }},
          {"transpose -1,-2", {randn({2, 3, 4}, 3)}, [](const Ts& v) {
             return ops::transpose(v[0], -1, -2);
           }}};
}

std::vector<Case> slice_cases() {
  return {{"dim 1 [0:5:2]",
           {randn({2, 5, 3}, 1)},
           [](const Ts& v) { return ops::slice(v[0], 1, 0, 5, 2); }},
          {"dim -1 [1:5:2]",
           {randn({2, 3, 5}, 2)},
           [](const Ts& v) { return ops::slice(v[0], -1, 1, 5, 2); }},
          {"slice of a slice", {randn({4, 6}, 3)}, [](const Ts& v) {
             return ops::slice(ops::slice(v[0], 0, 1, 3), 1, -3, 100, 2);
           }}};
}

std::vector<Case> copy_cases() {
  return {{"transpose 3x4",
           {randn({3, 4}, 1)},
           [](const Ts& v) { return ops::contiguous(ops::transpose(v[0], 0, 1)); }},
          {"strided slice of [2,16,32,32]", {randn({2, 16, 32, 32}, 2)}, [](const Ts& v) {
             return ops::contiguous(ops::slice(ops::permute(v[0], {0, 2, 3, 1}), 3, 1, 16, 3));
           }}};
}

std::vector<Case> dropout_cases() {
  auto drop = [](float p) {
    return [p](const Ts& v) {
      Generator gen(11);  // the same stream every call: the same mask
      return ops::dropout(v[0], p, true, gen);
    };
  };
  return {{"p 0.4", {randn({3, 8}, 1)}, drop(0.4f)},
          {"p 0.1 odd size", {randn({7, 5, 3}, 2)}, drop(0.1f)}};
}

std::vector<Case> softmax_cases(bool log) {
  auto fn = [log](const Ts& v) { return log ? ops::log_softmax(v[0]) : ops::softmax(v[0]); };
  std::vector<Case> out;
  uint64_t seed = 1;
  for (const Shape& s : {Shape{3, 5}, Shape{2, 3, 4}, Shape{1, 1}})
    out.push_back({shape_str(s), {randn(s, seed++, 2.0f)}, fn});
  Case wide{"threads 300x1000", {randn({300, 1000}, seed++, 4.0f)}, fn};
  wide.grad = GradCheck::Projection;
  out.push_back(wide);
  return out;
}

std::vector<Case> cross_entropy_cases() {
  auto ce = [](std::vector<int64_t> labels, float eps) {
    return [labels, eps](const Ts& v) {
      return ops::cross_entropy(v[0], Tensor::from_labels(labels).to(v[0].device()), eps);
    };
  };
  std::vector<int64_t> many(300);
  for (size_t i = 0; i < many.size(); ++i) many[i] = static_cast<int64_t>((i * 37) % 1000);
  std::vector<Case> out = {
      {"4x5", {randn({4, 5}, 1, 1.5f)}, ce({1, 0, 4, 2}, 0.0f)},
      {"4x5 smoothing 0.1", {randn({4, 5}, 2, 1.5f)}, ce({1, 0, 4, 2}, 0.1f)},
      {"1x1", {randn({1, 1}, 3)}, ce({0}, 0.0f)},
      {"threads 300x1000 smoothing 0.2", {randn({300, 1000}, 4, 3.0f)}, ce(many, 0.2f)}};
  out[3].grad = GradCheck::Projection;
  return out;
}

std::vector<Case> reduce_cases(bool mean) {
  using Dims = std::vector<int64_t>;
  auto all = [mean](const Ts& v) { return mean ? ops::mean(v[0]) : ops::sum(v[0]); };
  std::vector<Case> out = {{"all of [2,3,4]", {randn({2, 3, 4}, 1)}, all},
                           {"scalar", {randn({}, 2)}, all}};
  uint64_t seed = 3;
  for (const Dims& dims : {Dims{1}, Dims{0, 2}, Dims{-1}, Dims{0, 1, 2}}) {
    for (bool keep : {false, true}) {
      out.push_back({"dims " + shape_str(dims) + (keep ? " keepdim" : ""),
                     {randn({2, 3, 4}, seed++)},
                     [=](const Ts& v) {
                       return mean ? ops::mean(v[0], dims, keep) : ops::sum(v[0], dims, keep);
                     }});
    }
  }
  if (!mean) {
    out.push_back({"sum_to [3,1,1]", {randn({2, 3, 4, 5}, seed++)}, [](const Ts& v) {
                     return ops::sum_to(v[0], {3, 1, 1});
                   }});
  }
  return out;
}

std::vector<Case> sgd_cases() {
  auto sgd = [](float momentum, bool nesterov) {
    return [=](const Ts& v) {
      Tensor p = param_with_grad(v[0], v[1]);
      optim::SgdOptions o;
      o.lr = 0.1f, o.momentum = momentum, o.nesterov = nesterov, o.weight_decay = 5e-4f;
      optim::SGD opt({{"p", p}}, o);
      opt.step();  // creates the momentum buffer
      opt.step();  // uses it
      return params_and_state(p, opt);
    };
  };
  return {
      forward_only(
          {"momentum 0.9 nesterov", {randn({5, 7}, 1), randn({5, 7}, 2)}, sgd(0.9f, true)}),
      forward_only({"no momentum", {randn({3}, 3), randn({3}, 4)}, sgd(0.0f, false)}),
      forward_only({"momentum 0.5", {randn({65, 33}, 5), randn({65, 33}, 6)}, sgd(0.5f, false)})};
}

std::vector<Case> adamw_cases() {
  auto adamw = [](const Ts& v) {
    Tensor p = param_with_grad(v[0], v[1]);
    optim::AdamWOptions o;
    o.lr = 1e-2f, o.weight_decay = 0.01f;
    optim::AdamW opt({{"p", p}}, o);
    opt.step();
    opt.step();
    return params_and_state(p, opt);
  };
  return {forward_only({"5x7", {randn({5, 7}, 1), randn({5, 7}, 2)}, adamw}),
          forward_only({"1", {randn({1}, 3), randn({1}, 4)}, adamw})};
}

std::vector<Case> clip_grad_norm_cases() {
  auto clip = [](float max_norm) {
    return [max_norm](const Ts& v) {
      Tensor a = param_with_grad(v[0], v[1]), b = param_with_grad(v[2], v[3]);
      const float norm = optim::clip_grad_norm({{"a", a}, {"b", b}}, max_norm);
      return ops::concat({ops::flatten(a.grad(), 0), ops::flatten(b.grad(), 0),
                          Tensor::full({1}, norm).to(a.device())},
                         0);
    };
  };
  const Ts in = {randn({4, 5}, 1), randn({4, 5}, 2), randn({9}, 3), randn({9}, 4)};
  return {forward_only({"clipped to 1", in, clip(1.0f)}),
          forward_only({"under the limit", in, clip(100.0f)})};
}

}  // namespace gb::conformance
