// Conformance cases of the layer ops: conv2d (every CPU algorithm: Winograd, padded-flat,
// strided phases, im2col + GEMM, grouped, depthwise (3x3 / 5x5, stride 1 / 2, C = 1 / 17), 1x1),
// conv2d_fused, conv_transpose2d (through each conv2d algorithm it reuses), linear, batch norm
// (training, eval, no affine, [N,C] inputs) and its fused form, the pools and bilinear resize.
// Shapes are odd on purpose (7, 5, 17; batch 1); the larger cases cross the kernels' threading
// thresholds so the determinism check sees several threads at work.
// Shape letters: N batch, C channels, H/W height/width, K output channels, R kernel size.
#include "runtime/ops.h"
#include "runtime/process_group.h"
#include "tests/conformance/case.h"

namespace gb::conformance {
namespace {
Tensor zeros_on(const Shape& shape, const Tensor& like) {
  return Tensor::zeros(shape, DType::F32, like.device());
}
// "k3 s2 p1", built by appending (GCC 12 warns falsely on the operator+ chain).
std::string pool_label(int64_t kernel, int64_t stride, int64_t padding) {
  std::string s = "k";
  s += std::to_string(kernel);
  s += " s";
  s += std::to_string(stride);
  s += " p";
  s += std::to_string(padding);
  return s;
}

Tensor ones_on(const Shape& shape, const Tensor& like) {
  return Tensor::ones(shape).to(like.device());
}

struct ConvShape {
  const char* label;
  int64_t N, C, H, W, K, R, stride, pad, groups;
  bool bias;
  GradCheck grad;
};

Case conv_case(const ConvShape& c, uint64_t seed) {
  Ts in;
  in.reserve(3);
  in.push_back(randn({c.N, c.C, c.H, c.W}, seed));
  in.push_back(randn({c.K, c.C / c.groups, c.R, c.R}, seed + 1, 0.5f));
  if (c.bias) in.push_back(randn({c.K}, seed + 2));
  const ops::Conv2dOptions opt{c.stride, c.pad, c.groups};
  Case k{c.label, in, [opt](const Ts& v) {
           return ops::conv2d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), opt);
         }};
  k.grad = c.grad;
  k.rtol = 1e-4;  // Winograd and blocked sums round differently from the double reference
  return k;
}
// Per-axis options ONNX files use (they route off the Winograd, padded-flat and depthwise paths,
// which refuse dilation, onto im2col + GEMM; non-square kernels and strides keep them).
Case general_conv_case(const char* label, const Shape& x, const Shape& w, ops::Conv2dOptions opt,
                       bool bias, GradCheck grad, uint64_t seed) {
  Ts in;
  in.reserve(3);
  in.push_back(randn(x, seed));
  in.push_back(randn(w, seed + 1, 0.5f));
  if (bias) in.push_back(randn({w[0]}, seed + 2));
  Case k{label, in, [opt](const Ts& v) {
           return ops::conv2d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), opt);
         }};
  k.grad = grad;
  k.rtol = 1e-4;
  return k;
}

ops::Conv2dOptions conv_opt(int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                            int64_t groups) {
  ops::Conv2dOptions o;
  o.stride_h = sh, o.stride_w = sw, o.pad_h = ph, o.pad_w = pw;
  o.dilation_h = dh, o.dilation_w = dw, o.groups = groups;
  return o;
}

std::vector<Case> general_conv_cases() {
  const GradCheck E = GradCheck::Elementwise, P = GradCheck::Projection;
  uint64_t seed = 300;
  std::vector<Case> out;
  auto add = [&](const char* label, const Shape& x, const Shape& w, ops::Conv2dOptions o, bool b,
                 GradCheck g) {
    out.push_back(general_conv_case(label, x, w, o, b, g, seed += 3));
  };
  add("dilation 2 p2 3x3", {2, 3, 7, 8}, {4, 3, 3, 3}, conv_opt(1, 1, 2, 2, 2, 2, 1), true, E);
  add("dilation (2,1) s(1,2) p(2,1)", {2, 2, 9, 7}, {3, 2, 3, 3}, conv_opt(1, 2, 2, 1, 2, 1, 1),
      false, E);
  add("dilation 3 s2 no padding", {1, 2, 11, 10}, {3, 2, 2, 3}, conv_opt(2, 2, 0, 0, 3, 3, 1), true,
      E);
  add("kernel 3x1 p(1,0)", {2, 3, 6, 5}, {4, 3, 3, 1}, conv_opt(1, 1, 1, 0, 1, 1, 1), true, E);
  add("kernel 1x5 s(2,1) p(0,2)", {2, 3, 6, 7}, {4, 3, 1, 5}, conv_opt(2, 1, 0, 2, 1, 1, 1), false,
      E);
  add("s(1,2) p(0,1) 3x3", {2, 3, 7, 8}, {2, 3, 3, 3}, conv_opt(1, 2, 0, 1, 1, 1, 1), true, E);
  add("grouped dilated", {2, 4, 8, 7}, {6, 2, 3, 3}, conv_opt(1, 1, 2, 2, 2, 2, 2), true, E);
  add("depthwise dilated s2", {2, 3, 9, 8}, {3, 1, 3, 3}, conv_opt(2, 2, 2, 2, 2, 2, 3), true, E);
  add("depthwise 3x5 p(1,2)", {2, 3, 7, 9}, {3, 1, 3, 5}, conv_opt(1, 1, 1, 2, 1, 1, 3), true, E);
  add("threads dilation 2 8->16 ch 19x17", {3, 8, 19, 17}, {16, 8, 3, 3},
      conv_opt(1, 1, 2, 2, 2, 2, 1), true, P);
  return out;
}
}  // namespace

std::vector<Case> conv2d_cases() {
  const GradCheck E = GradCheck::Elementwise, P = GradCheck::Projection;
  const ConvShape shapes[] = {
      {"b1 s1 p0 bias 5x7", 1, 2, 5, 7, 3, 3, 1, 0, 1, true, E},
      {"b2 s2 p1 nobias", 2, 2, 5, 7, 4, 3, 2, 1, 1, false, E},
      {"b2 s2 p0 bias", 2, 3, 7, 5, 2, 3, 2, 0, 1, true, E},
      {"groups2 s1 p1", 2, 4, 5, 7, 6, 3, 1, 1, 2, true, E},
      {"groups2 even kernel s2", 2, 2, 6, 5, 4, 2, 2, 0, 2, false, E},
      {"depthwise s2 p1", 2, 3, 7, 5, 3, 3, 2, 1, 3, true, E},
      {"depthwise b1 s1 p1", 1, 4, 5, 7, 4, 3, 1, 1, 4, false, E},
      {"pointwise", 1, 3, 4, 4, 2, 1, 1, 0, 1, false, E},
      {"5x5 s3 p2", 2, 3, 11, 9, 4, 5, 3, 2, 1, true, P},
      {"winograd 9->11 ch 17x17", 2, 9, 17, 17, 11, 3, 1, 1, 1, true, P},
      {"winograd threads 8->16 ch 16x16", 4, 8, 16, 16, 16, 3, 1, 1, 1, false, P},
      {"padded-flat s1 3->8 33x31", 3, 3, 33, 31, 8, 3, 1, 1, 1, true, P},
      {"phases s2 8->16 12x11", 2, 8, 12, 11, 16, 3, 2, 1, 1, true, P},
      {"pointwise 1x1 s2 16->8", 4, 16, 9, 9, 8, 1, 2, 0, 1, false, P},
      {"pointwise 1x1 s2 13->11 37x35 bias", 3, 13, 37, 35, 11, 1, 2, 0, 1, true, P},
      {"pointwise 1x1 s3 5->6 b1", 1, 5, 10, 7, 6, 1, 3, 0, 1, true, E},
      // Backward-input by output phases, one image per thread (ResNet's downsampling shapes).
      {"phases threads s2 16->24 ch 18x17 b5", 5, 16, 18, 17, 24, 3, 2, 1, 1, true, P},
      {"pointwise threads 1x1 s2 16->24 18x17 b5", 5, 16, 18, 17, 24, 1, 2, 0, 1, false, P},
      // The depthwise kernels (groups == C == K; cpu/conv_depthwise.h, cuda/conv_depthwise.cu).
      {"depthwise 3x3 s1 p1 7x9 C17 b3 bias", 3, 17, 7, 9, 17, 3, 1, 1, 17, true, P},
      {"depthwise 3x3 s2 p1 7x9 bias", 2, 5, 7, 9, 5, 3, 2, 1, 5, true, E},
      {"depthwise 5x5 s2 p2 11x10 bias", 2, 4, 11, 10, 4, 5, 2, 2, 4, true, P},
      {"depthwise C1 3x3 s1 p1 7x9", 3, 1, 7, 9, 1, 3, 1, 1, 1, true, E},
      {"depthwise 5x5 s1 p2 b1", 1, 3, 9, 7, 3, 5, 1, 2, 3, false, P},
      {"depthwise threads 3x3 s1 40x37 C8", 2, 8, 40, 37, 8, 3, 1, 1, 8, true, P},
      {"depthwise threads 3x3 s2 35x41 C17", 3, 17, 35, 41, 17, 3, 2, 1, 17, false, P},
  };
  std::vector<Case> out;
  uint64_t seed = 100;
  for (const ConvShape& s : shapes) out.push_back(conv_case(s, seed += 3));
  for (Case& c : general_conv_cases()) out.push_back(std::move(c));
  return out;
}

std::vector<Case> conv_transpose2d_cases() {
  const GradCheck E = GradCheck::Elementwise, P = GradCheck::Projection;
  struct TShape {
    const char* label;
    Shape x, w;  // x [N,C,H,W], w [C, K/groups, R, S]
    ops::ConvTranspose2dOptions opt;
    bool bias;
    GradCheck grad;
  };
  using O = ops::ConvTranspose2dOptions;
  const TShape shapes[] = {
      {"b1 s1 p0 bias 3x3", {1, 2, 4, 5}, {2, 3, 3, 3}, O{}, true, E},
      {"s2 p1 output_padding 1", {2, 3, 4, 3}, {3, 2, 3, 3}, O{2, 2, 1, 1, 1, 1, 1}, true, E},
      {"s2 k2 (upsampling) no bias", {2, 2, 3, 4}, {2, 3, 2, 2}, O{2, 2, 0, 0, 0, 0, 1}, false, E},
      {"non-square k3x2 s(2,3) p(1,0) op(0,2)",
       {2, 2, 3, 3},
       {2, 3, 3, 2},
       O{2, 3, 1, 0, 0, 2, 1},
       true,
       E},
      {"groups 2 s2 p1", {2, 4, 3, 4}, {4, 3, 3, 3}, O{2, 2, 1, 1, 0, 0, 2}, true, E},
      {"depthwise s2 p1 op1", {2, 3, 4, 3}, {3, 1, 3, 3}, O{2, 2, 1, 1, 1, 1, 3}, true, E},
      {"1x1", {1, 3, 3, 3}, {3, 2, 1, 1}, O{}, false, E},
      {"pad 2 > k-1", {1, 2, 5, 5}, {2, 2, 3, 3}, O{1, 1, 2, 2, 0, 0, 1}, true, E},
      {"threads s2 p1 16->8 ch 12x11",
       {3, 16, 12, 11},
       {16, 8, 4, 4},
       O{2, 2, 1, 1, 0, 0, 1},
       true,
       P},
      {"threads s1 p1 8->8 ch 16x16 (winograd)",
       {4, 8, 16, 16},
       {8, 8, 3, 3},
       O{1, 1, 1, 1, 0, 0, 1},
       true,
       P},
  };
  std::vector<Case> out;
  uint64_t seed = 400;
  for (const TShape& t : shapes) {
    Ts in;
    in.reserve(3);  // (GCC 12 warns falsely on an initializer list grown by push_back)
    in.push_back(randn(t.x, seed++));
    in.push_back(randn(t.w, seed++, 0.5f));
    if (t.bias) in.push_back(randn({t.w[1] * t.opt.groups}, seed++));
    Case c{t.label, in, [opt = t.opt](const Ts& v) {
             return ops::conv_transpose2d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), opt);
           }};
    c.grad = t.grad;
    c.rtol = 1e-4;  // as conv2d's
    out.push_back(c);
  }
  return out;
}

std::vector<Case> conv2d_fused_cases() {
  struct Shape4 {
    const char* label;
    Shape x, w;
    ops::Conv2dOptions opt;
  };
  const Shape4 shapes[] = {
      {"padded-flat", {3, 4, 9, 9}, {6, 4, 3, 3}, {1, 1, 1}},
      {"phases", {2, 4, 9, 8}, {6, 4, 3, 3}, {2, 1, 1}},
      {"im2col", {2, 4, 8, 8}, {6, 4, 1, 1}, {2, 0, 1}},
      {"grouped", {2, 4, 8, 8}, {6, 2, 3, 3}, {1, 1, 2}},
      {"depthwise", {2, 6, 9, 7}, {6, 1, 3, 3}, {1, 1, 6}},
      {"depthwise 5x5 s2", {2, 5, 11, 37}, {5, 1, 5, 5}, {2, 2, 5}},
      {"winograd", {2, 8, 17, 17}, {8, 8, 3, 3}, {1, 1, 1}},
      {"dilated non-square", {2, 8, 17, 15}, {8, 8, 3, 2}, conv_opt(1, 2, 2, 1, 2, 1, 1)}};
  std::vector<Case> out;
  uint64_t seed = 200;
  for (const Shape4& s : shapes) {
    const int64_t K = s.w[0];
    const Tensor x = randn(s.x, seed++), w = randn(s.w, seed++, 0.5f);
    const Shape y_shape = ops::conv2d(x, w, Tensor(), s.opt).shape();
    // scale/shift/ReLU; + residual, no ReLU; + residual, ReLU capped at 1 (ReLU6's form, with a
    // cap that standard-normal data reaches)
    for (int variant = 0; variant < 3; ++variant) {
      const bool residual = variant >= 1, relu = variant != 1;
      const float cap = variant == 2 ? 1.0f : std::numeric_limits<float>::infinity();
      Ts in = {x, w, randn({K}, seed++), randn({K}, seed++)};
      if (residual) in.push_back(randn(y_shape, seed++));
      const char* suffix[] = {" relu", " +residual", " +residual relu cap 1"};
      Case c{std::string(s.label) + suffix[variant], in,
             [opt = s.opt, residual, relu, cap](const Ts& v) {
               NoGradGuard inference;
               return ops::conv2d_fused(v[0], v[1], v[2], v[3], residual ? v[4] : Tensor(), relu,
                                        opt, cap);
             }};
      c.grad = GradCheck::None;
      c.backward = false;
      c.rtol = 1e-4;
      out.push_back(c);
    }
  }
  return out;
}

std::vector<Case> linear_cases() {
  auto with_bias = [](const Ts& v) { return ops::linear(v[0], v[1], v[2]); };
  auto no_bias = [](const Ts& v) { return ops::linear(v[0], v[1], Tensor()); };
  std::vector<Case> out = {
      {"3x5 -> 4 bias", {randn({3, 5}, 1), randn({4, 5}, 2), randn({4}, 3)}, with_bias},
      {"3x5 -> 4", {randn({3, 5}, 4), randn({4, 5}, 5)}, no_bias},
      {"1x7 -> 2", {randn({1, 7}, 6), randn({2, 7}, 7), randn({2}, 8)}, with_bias},
      {"1x1 -> 1", {randn({1, 1}, 9), randn({1, 1}, 10), randn({1}, 11)}, with_bias},
      {"9x70 -> 33", {randn({9, 70}, 12), randn({33, 70}, 13, 0.2f), randn({33}, 14)}, with_bias},
      {"130x257 -> 65", {randn({130, 257}, 15), randn({65, 257}, 16, 0.1f)}, no_bias},
  };
  for (size_t i = 4; i < out.size(); ++i) out[i].grad = GradCheck::Projection;
  for (auto& c : out) c.rtol = 1e-4;
  return out;
}

std::vector<Case> batch_norm_cases() {
  const Tensor gamma = ops::add(randn({2}, 2, 0.3f), Tensor::scalar(1.0f)).detach();
  std::vector<Case> out = {
      {"train affine",
       {randn({3, 2, 3, 4}, 1, 2.0f), gamma, randn({2}, 3)},
       [](const Ts& v) { return ops::batch_norm(v[0], v[1], v[2], {}, {}, true); }},
      {"train no affine",
       {randn({3, 2, 3, 4}, 4, 2.0f)},
       [](const Ts& v) { return ops::batch_norm(v[0], {}, {}, {}, {}, true); }},
      {"train bias only",
       {randn({3, 2, 3, 4}, 5, 2.0f), randn({2}, 6)},
       [](const Ts& v) { return ops::batch_norm(v[0], {}, v[1], {}, {}, true); }},
      {"train [N,C] running stats",
       {randn({6, 3}, 7), randn({3}, 8), randn({3}, 9)},
       [](const Ts& v) {
         return ops::batch_norm(v[0], v[1], v[2], zeros_on({3}, v[0]), ones_on({3}, v[0]), true);
       }},
      {"eval",
       {randn({2, 3, 2, 3}, 10), randn({3}, 11), randn({3}, 12)},
       [](const Ts& v) {
         const Tensor rm = ops::scale(ones_on({3}, v[0]), 0.3f), rv = ones_on({3}, v[0]);
         return ops::batch_norm(v[0], v[1], v[2], rm, ops::scale(rv, 1.5f), false);
       }},
      {"eval bias only",
       {randn({2, 3, 2, 3}, 13), randn({3}, 14)},
       [](const Ts& v) {
         return ops::batch_norm(v[0], {}, v[1], zeros_on({3}, v[0]), ones_on({3}, v[0]), false);
       }},
      {"train threads 8x16x16x16",
       {randn({8, 16, 16, 16}, 15), randn({16}, 16), randn({16}, 17)},
       [](const Ts& v) { return ops::batch_norm(v[0], v[1], v[2], {}, {}, true); }},
      {"eval threads 8x16x16x16",
       {randn({8, 16, 16, 16}, 18), randn({16}, 19), randn({16}, 20)},
       [](const Ts& v) {
         return ops::batch_norm(v[0], v[1], v[2], zeros_on({16}, v[0]), ones_on({16}, v[0]), false);
       }},
  };
  for (size_t i = 6; i < out.size(); ++i) out[i].grad = GradCheck::Projection;
  // The synced form of data-parallel training on one process: statistics-only forward_train,
  // forward_eval, backward_eval without dx and backward_apply.
  const auto synced = [](const Ts& v) {
    static LocalProcessGroup one;
    return ops::batch_norm_synced(v[0], v[1], v[2], zeros_on({v[0].size(1)}, v[0]),
                                  ones_on({v[0].size(1)}, v[0]), 0.1f, 1e-5f, one, 1.0f);
  };
  out.push_back({"synced train", {randn({3, 2, 3, 4}, 21, 2.0f), gamma, randn({2}, 22)}, synced});
  out.push_back({"synced train threads 8x16x16x16",
                 {randn({8, 16, 16, 16}, 23), randn({16}, 24), randn({16}, 25)},
                 synced});
  out.back().grad = GradCheck::Projection;
  for (auto& c : out) c.rtol = 1e-4;
  return out;
}

std::vector<Case> batch_norm_act_cases() {
  const Tensor gamma = ops::add(randn({2}, 33, 0.3f), Tensor::scalar(1.0f)).detach();
  auto fused = [](bool relu) {
    return [relu](const Ts& v) {
      return ops::batch_norm_act(v[0], v[1], v[2], zeros_on({v[0].size(1)}, v[0]),
                                 ones_on({v[0].size(1)}, v[0]), v.size() > 3 ? v[3] : Tensor(),
                                 relu);
    };
  };
  std::vector<Case> out = {
      {"residual, no relu",
       {randn({3, 2, 3, 4}, 31, 2.0f), gamma, randn({2}, 34), randn({3, 2, 3, 4}, 32)},
       fused(false)},
      {"relu", {randn({3, 2, 3, 4}, 35, 2.0f), gamma, randn({2}, 36)}, fused(true)},
      {"relu + residual threads",
       {randn({8, 16, 16, 16}, 37), randn({16}, 38), randn({16}, 39), randn({8, 16, 16, 16}, 40)},
       fused(true)},
  };
  out[1].grad = GradCheck::Projection;  // ReLU kinks: directions, not elements
  out[2].grad = GradCheck::Projection;
  for (ReluRule rule : {ReluRule::Guided, ReluRule::Deconv}) {  // the rules are not gradients
    Case c{rule == ReluRule::Guided ? "relu + residual, guided rule" : "relu, deconv rule",
           {randn({4, 3, 5, 6}, 41, 2.0f), randn({3}, 43), randn({3}, 44), randn({4, 3, 5, 6}, 42)},
           fused(true)};
    c.relu_rule = rule;
    c.grad = GradCheck::None;
    out.push_back(c);
  }
  for (auto& c : out) c.rtol = 1e-4;
  return out;
}

// Pooling with PyTorch's options: ceil_mode that adds a row or column (8x8, and 7x10 where only
// the width gains one), ceil_mode whose extra window would start in the padding (5x5 k2 s2 p1:
// dropped), count_include_pad off, non-square windows and strides (the non-square ceil_mode
// cases gain a row, 9x7 a column too).
struct PoolOpt {
  const char* label;
  Shape x;
  ops::Pool2dOptions opt;
};
const PoolOpt kPoolOptionShapes[] = {
    {"k3 s2 p0 ceil 8x8", {2, 3, 8, 8}, {3, 3, 2, 2, 0, 0, true, true}},
    {"k3 s2 p1 ceil 8x8", {2, 3, 8, 8}, {3, 3, 2, 2, 1, 1, true, true}},
    {"k3 s2 p0 ceil 7x10", {1, 2, 7, 10}, {3, 3, 2, 2, 0, 0, true, true}},
    {"k3 s2 p1 ceil 7x10", {1, 2, 7, 10}, {3, 3, 2, 2, 1, 1, true, true}},
    {"k2 s2 p1 ceil 5x5 last window dropped", {2, 2, 5, 5}, {2, 2, 2, 2, 1, 1, true, true}},
    {"k3 s2 p1 exclude pad 7x9", {2, 3, 7, 9}, {3, 3, 2, 2, 1, 1, false, false}},
    {"k3 s2 p1 ceil exclude pad 8x8", {2, 3, 8, 8}, {3, 3, 2, 2, 1, 1, true, false}},
    {"k3x2 s2x1 p1x0 ceil 8x9", {2, 2, 8, 9}, {3, 2, 2, 1, 1, 0, true, true}},
    {"k2x3 s1x3 p0x1 exclude pad 6x10", {1, 3, 6, 10}, {2, 3, 1, 3, 0, 1, false, false}},
    {"k3x2 s3x2 p1x0 ceil exclude pad 9x7", {2, 2, 9, 7}, {3, 2, 3, 2, 1, 0, true, false}},
};

std::vector<Case> max_pool_cases() {
  struct P {
    int64_t kernel, stride, padding;
  };
  std::vector<Case> out;
  Generator gen(1);
  // Values 0.05 apart (> 2h), so no perturbation changes which element wins a window.
  const Tensor x = test::distinct_values({2, 3, 5, 7}, gen, 0.05f);
  for (P p : {P{2, 0, 0}, P{3, 2, 1}, P{3, 1, 1}, P{2, 1, 0}, P{3, 3, 0}, P{2, 2, 1}}) {
    out.push_back({pool_label(p.kernel, p.stride, p.padding), {x}, [p](const Ts& v) {
                     return ops::max_pool2d(v[0], p.kernel, p.stride, p.padding);
                   }});
  }
  for (const PoolOpt& p : kPoolOptionShapes) {
    out.push_back({p.label, {test::distinct_values(p.x, gen, 0.05f)}, [o = p.opt](const Ts& v) {
                     return ops::max_pool2d(v[0], o);
                   }});
  }
  Case big{"k3 s2 p1 threads 4x16x33x31", {randn({4, 16, 33, 31}, 2)}, [](const Ts& v) {
             return ops::max_pool2d(v[0], 3, 2, 1);
           }};
  big.grad = GradCheck::None;  // ties and kinks at this size; the small cases check the rule
  out.push_back(big);
  Case big_ceil{"k3 s2 p0 ceil threads 4x16x32x34", {randn({4, 16, 32, 34}, 3)}, [](const Ts& v) {
                  return ops::max_pool2d(v[0], {3, 3, 2, 2, 0, 0, true, true});
                }};
  big_ceil.grad = GradCheck::None;
  out.push_back(big_ceil);
  return out;
}

std::vector<Case> avg_pool_cases() {
  struct P {
    int64_t kernel, stride, padding;
  };
  std::vector<Case> out;
  for (P p : {P{2, 0, 0}, P{3, 2, 1}, P{3, 1, 1}, P{2, 1, 1}}) {
    out.push_back(
        {pool_label(p.kernel, p.stride, p.padding), {randn({2, 3, 5, 7}, 1)}, [p](const Ts& v) {
           return ops::avg_pool2d(v[0], p.kernel, p.stride, p.padding);
         }});
  }
  uint64_t seed = 10;
  for (const PoolOpt& p : kPoolOptionShapes) {
    out.push_back({p.label, {randn(p.x, seed++)}, [o = p.opt](const Ts& v) {
                     return ops::avg_pool2d(v[0], o);
                   }});
  }
  Case big{"k2 threads 4x16x32x32", {randn({4, 16, 32, 32}, 2)}, [](const Ts& v) {
             return ops::avg_pool2d(v[0], 2);
           }};
  big.grad = GradCheck::Projection;
  out.push_back(big);
  Case big_ceil{
      "k3 s2 p1 ceil exclude pad threads 4x16x33x34", {randn({4, 16, 33, 34}, 3)}, [](const Ts& v) {
        return ops::avg_pool2d(v[0], {3, 3, 2, 2, 1, 1, true, false});
      }};
  big_ceil.grad = GradCheck::Projection;
  out.push_back(big_ceil);
  return out;
}

std::vector<Case> global_avg_pool_cases() {
  auto fn = [](const Ts& v) { return ops::global_avg_pool(v[0]); };
  std::vector<Case> out = {{"2x3x5x7", {randn({2, 3, 5, 7}, 1)}, fn},
                           {"1x1x1x1", {randn({1, 1, 1, 1}, 2)}, fn},
                           {"threads 8x64x8x8", {randn({8, 64, 8, 8}, 3)}, fn}};
  out[2].grad = GradCheck::Projection;
  return out;
}

std::vector<Case> bilinear_resize_cases() {
  auto resize = [](int64_t h, int64_t w) {
    return [h, w](const Ts& v) { return ops::bilinear_resize(v[0], h, w); };
  };
  return {{"3x4 -> 5x7", {randn({1, 2, 3, 4}, 1)}, resize(5, 7)},
          {"6x5 -> 3x2", {randn({2, 1, 6, 5}, 2)}, resize(3, 2)},
          {"5x4 -> 2x9", {randn({1, 1, 5, 4}, 3)}, resize(2, 9)},
          {"same size", {randn({1, 2, 3, 5}, 4)}, resize(3, 5)}};
}

}  // namespace gb::conformance
