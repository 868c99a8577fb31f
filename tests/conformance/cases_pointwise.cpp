// Conformance cases of the pointwise activations of model import: clamp, leaky_relu, sigmoid,
// tanh, hardsigmoid, hardswish, and prelu (per-channel and shared slopes, gradients to input and
// slope); and of cast (round trips through f16 and bf16, compared bit for bit). Per op: small odd
// shapes with inputs kept away from the kinks (gradients elementwise), a case of special values
// (NaN, +-inf, -0, the kinks and bounds exactly, huge and tiny magnitudes; no gradient check, but
// fast and CUDA against reference forward and backward), and a size past the threading threshold
// whose per-thread ranges end mid-vector (gradients by projection). Shape letters: N batch, C
// channels, H/W height/width (prelu); the others take any shape.
#include <cmath>
#include <limits>

#include "runtime/ops.h"
#include "tests/conformance/case.h"

namespace gb::conformance {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Uniform values in [lo, hi), each at least `margin` (> the gradcheck step) from every kink.
Tensor avoiding(const Shape& shape, uint64_t seed, std::vector<float> kinks, float lo = -4.0f,
                float hi = 4.0f, float margin = 0.05f) {
  Generator gen(seed);
  Tensor t = Tensor::uniform(shape, gen, lo, hi);
  float* p = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) {
    for (float k : kinks) {
      if (std::fabs(p[i] - k) < margin) p[i] = p[i] >= k ? k + margin : k - margin;
    }
  }
  return t;
}

// The special values, followed by the given points (kinks, bounds) and their float neighbours.
Tensor special(std::vector<float> points) {
  std::vector<float> v = {std::numeric_limits<float>::quiet_NaN(),
                          kInf,
                          -kInf,
                          0.0f,
                          -0.0f,
                          1e-40f,
                          -1e-40f,
                          1e30f,
                          -1e30f,
                          88.5f,
                          -88.5f,
                          -87.2f,
                          20.0f,
                          -20.0f,
                          0.5f,
                          -0.5f};
  for (float p : points) {
    v.push_back(p);
    v.push_back(std::nextafter(p, kInf));
    v.push_back(std::nextafter(p, -kInf));
  }
  return Tensor::from_vector({static_cast<int64_t>(v.size())}, v);
}

Case no_gradcheck(Case c) {
  c.grad = GradCheck::None;
  return c;
}

Case by_projection(Case c) {
  c.grad = GradCheck::Projection;
  return c;
}

// The standard set of cases of a pointwise op with kinks `kinks` (and bounds).
std::vector<Case> pointwise_cases(const TensorFn& fn, const std::vector<float>& kinks,
                                  uint64_t seed) {
  return {{"3x7", {avoiding({3, 7}, seed, kinks)}, fn},
          {"1", {avoiding({1}, seed + 1, kinks)}, fn},
          {"2x3x5x3 wide range", {avoiding({2, 3, 5, 3}, seed + 2, kinks, -9.0f, 9.0f)}, fn},
          no_gradcheck({"special values", {special(kinks)}, fn}),
          by_projection({"threads 3x16x32x33", {avoiding({3, 16, 32, 33}, seed + 3, kinks)}, fn})};
}

}  // namespace

std::vector<Case> clamp_cases() {
  auto clamp = [](float lo, float hi) {
    return [lo, hi](const Ts& v) { return ops::clamp(v[0], lo, hi); };
  };
  std::vector<Case> out = pointwise_cases(clamp(-1.5f, 2.0f), {-1.5f, 2.0f}, 10);
  for (Case c : pointwise_cases(clamp(0.0f, 6.0f), {0.0f, 6.0f}, 20)) {  // ReLU6
    c.label = "relu6 " + c.label;
    out.push_back(c);
  }
  out.push_back({"one-sided (hi +inf)", {avoiding({4, 5}, 30, {0.25f})}, clamp(0.25f, kInf)});
  out.push_back(no_gradcheck({"lo > hi gives hi", {avoiding({4, 5}, 31, {})}, clamp(1.0f, -1.0f)}));
  out.push_back(no_gradcheck({"relu6 through relu6()", {special({0.0f, 6.0f})}, [](const Ts& v) {
                                return ops::relu6(v[0]);
                              }}));
  return out;
}

std::vector<Case> leaky_relu_cases() {
  auto leaky = [](float alpha) {
    return [alpha](const Ts& v) { return ops::leaky_relu(v[0], alpha); };
  };
  std::vector<Case> out = pointwise_cases(leaky(0.01f), {0.0f}, 40);
  for (float alpha : {0.2f, -0.5f, 1.5f}) {
    Case c{"alpha " + std::to_string(alpha), {avoiding({3, 4, 5}, 50, {0.0f})}, leaky(alpha)};
    out.push_back(c);
  }
  return out;
}

std::vector<Case> sigmoid_cases() {
  auto fn = [](const Ts& v) { return ops::sigmoid(v[0]); };
  std::vector<Case> out = pointwise_cases(fn, {}, 60);
  // Arguments where 1 / (1 + exp(-x)) saturates or underflows (gradients tiny but defined).
  out.push_back({"large magnitudes", {avoiding({5, 9}, 61, {}, -30.0f, 30.0f)}, fn});
  return out;
}

std::vector<Case> tanh_cases() {
  auto fn = [](const Ts& v) { return ops::tanh(v[0]); };
  std::vector<Case> out = pointwise_cases(fn, {}, 70);
  out.push_back({"small magnitudes", {avoiding({5, 9}, 71, {}, -1e-3f, 1e-3f, 0.0f)}, fn});
  return out;
}

std::vector<Case> hardsigmoid_cases() {
  struct Params {
    const char* label;
    float alpha, beta;
  };
  std::vector<Case> out;
  uint64_t seed = 80;
  for (Params p : {Params{"onnx 0.2 0.5", 0.2f, 0.5f}, Params{"torch 1/6 0.5", 1.0f / 6, 0.5f},
                   Params{"-0.3 0.1", -0.3f, 0.1f}}) {
    auto fn = [p](const Ts& v) { return ops::hardsigmoid(v[0], p.alpha, p.beta); };
    // The kinks: alpha * x + beta = 0 and = 1.
    for (Case c : pointwise_cases(fn, {-p.beta / p.alpha, (1.0f - p.beta) / p.alpha}, seed)) {
      c.label = std::string(p.label) + " " + c.label;
      out.push_back(c);
    }
    seed += 10;
  }
  return out;
}

std::vector<Case> hardswish_cases() {
  auto fn = [](const Ts& v) { return ops::hardswish(v[0]); };
  return pointwise_cases(fn, {-3.0f, 3.0f}, 110);
}

std::vector<Case> prelu_cases() {
  auto prelu = [](const Ts& v) { return ops::prelu(v[0], v[1]); };
  return {
      {"[2,3,4,5] slope [3]", {avoiding({2, 3, 4, 5}, 120, {0.0f}), randn({3}, 121, 0.5f)}, prelu},
      {"[3,5] slope [5]", {avoiding({3, 5}, 122, {0.0f}), randn({5}, 123, 0.5f)}, prelu},
      {"[1,1,7] slope [1]", {avoiding({1, 1, 7}, 124, {0.0f}), randn({1}, 125, 0.5f)}, prelu},
      {"[2,4,3,3] shared slope [1]", {avoiding({2, 4, 3, 3}, 126, {0.0f}), randn({1}, 127)}, prelu},
      {"[5] shared slope [1]", {avoiding({5}, 128, {0.0f}), randn({1}, 129)}, prelu},
      no_gradcheck({"special values, slope [1]",
                    {ops::reshape(special({0.0f}), {1, 1, -1}), randn({1}, 130)},
                    prelu}),
      by_projection({"threads 3x16x32x33 slope [16]",
                     {avoiding({3, 16, 32, 33}, 131, {0.0f}), randn({16}, 132, 0.5f)},
                     prelu}),
  };
}

// Round trips through the 16-bit formats, so each case's output is F32: every fast and CUDA
// result must equal the reference bit for bit (atol = rtol = 0). The gradient is the identity
// cast back, so the central differences step over the rounding (h 0.25: at most one unit in the
// last place of bf16 per 2h, 3% at |x| < 4).
std::vector<Case> cast_cases() {
  auto through = [](std::vector<DType> formats) {
    return [formats](const Ts& v) {
      Tensor t = v[0];
      for (DType f : formats) t = ops::cast(t, f);
      return ops::cast(t, DType::F32);
    };
  };
  const auto bf16 = through({DType::BF16}), f16 = through({DType::F16});
  // The formats' boundaries: f16's largest value, its overflow tie, smallest normal and
  // subnormal, half of that (a tie to zero); bf16's ties at 1 + 2^-8 (to even, down) and
  // 1 + 3 * 2^-8 (up), its largest value; f16's tie at 1 + 2^-11; a float32 subnormal.
  const std::vector<float> bounds = {65504.0f,       65520.0f,    6.103515625e-05f, 5.9604645e-08f,
                                     2.9802322e-08f, 1.00390625f, 1.01171875f,      3.3895314e38f,
                                     1.00048828125f, 1.5e-39f};
  std::vector<Case> out = {
      {"bf16 3x7", {avoiding({3, 7}, 140, {})}, bf16},
      {"f16 1", {avoiding({1}, 141, {})}, f16},
      {"f16 then bf16 2x3x5x3",
       {avoiding({2, 3, 5, 3}, 142, {})},
       through({DType::F16, DType::BF16})},
      {"bf16 then f16 odd 37", {avoiding({37}, 143, {})}, through({DType::BF16, DType::F16})},
      no_gradcheck({"bf16 special values", {special(bounds)}, bf16}),
      no_gradcheck({"f16 special values", {special(bounds)}, f16}),
      by_projection({"threads bf16 3x16x32x33", {avoiding({3, 16, 32, 33}, 144, {})}, bf16}),
      by_projection({"threads f16 3x16x32x33", {avoiding({3, 16, 32, 33}, 145, {})}, f16}),
  };
  for (Case& c : out) {
    c.atol = c.rtol = 0.0;
    c.grad_options.h = 0.25;
    c.grad_options.atol = c.grad_options.rtol = 0.05;
  }
  return out;
}

}  // namespace gb::conformance
