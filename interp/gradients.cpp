// Gradient attributions: one batched forward + backward per chunk (grad_pass), with the target
// logits weighted per input so a quadrature sum is formed by autograd itself; Gauss-Legendre
// nodes by Newton iteration on the Legendre polynomial; the baselines on plain float loops.
// Shape letters: N images, C channels, H/W size, B inputs of one pass.
#include "interp/gradients.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <utility>

#include "interp/batch.h"
#include "runtime/autograd.h"
#include "runtime/op_table.h"
#include "runtime/ops.h"
#include "runtime/rng.h"

namespace gb::interp {
namespace {

void check_images(const Tensor& x, const char* who) {
  if (!x.defined() || x.dim() != 4 || x.dtype() != DType::F32 ||
      x.device().type != DeviceType::Cpu) {
    throw std::invalid_argument(std::string(who) + ": input must be a CPU float tensor [N,C,H,W]" +
                                (x.defined() ? ", got " + shape_str(x.shape()) : ""));
  }
  if (x.size(0) < 1) throw std::invalid_argument(std::string(who) + ": empty batch");
}

struct Pass {
  Tensor grad;                   // [B,C,H,W]
  Tensor logits;                 // [B,K], cut from the graph
  std::vector<int64_t> classes;  // [B]
};

// One forward and one backward of x [B,C,H,W]: the gradient of
// sum_i weight[i] * logits[i, class_i] w.r.t. x (weight 1 when `weights` is null).
Pass grad_pass(Module& model, const Tensor& x, const Target& target,
               const std::vector<double>* weights) {
  // The pass runs on the model's device; the gradient and logits come back to the host.
  Tensor xin = x.to(model.device()).detach();
  xin.set_requires_grad(true);
  Tensor logits = model(xin);
  if (logits.dim() != 2) {
    throw std::invalid_argument("interp: the model must return logits [N,classes], got " +
                                shape_str(logits.shape()));
  }
  Pass p;
  p.classes = resolve_target(target, logits);
  Tensor select = target_one_hot(p.classes, logits.size(1));
  if (weights != nullptr) {
    float* ps = select.f32();
    const int64_t K = logits.size(1);
    for (size_t i = 0; i < p.classes.size(); ++i) {
      ps[static_cast<int64_t>(i) * K + p.classes[i]] = static_cast<float>((*weights)[i]);
    }
  }
  p.grad = grad(ops::sum(ops::mul(logits, select.to(logits.device()))), {xin})[0].to(Device{});
  p.logits = logits.detach().to(Device{});
  return p;
}

Attribution gradient_with_rule(Module& model, const Tensor& x, const Target& target, ReluRule rule,
                               const char* who) {
  check_images(x, who);
  EvalModeScope eval(model);
  ReluRuleGuard guard(rule);
  Pass p = grad_pass(model, x, target, nullptr);
  return {p.grad, p.classes};
}

// P_n(z) and P_n'(z) by the three-term recurrence.
std::pair<double, double> legendre(int64_t n, double z) {
  double p0 = 1.0, p1 = z;  // P_{k-2}, P_{k-1}
  for (int64_t k = 2; k <= n; ++k) {
    const auto kd = static_cast<double>(k);
    const double p2 = ((2.0 * kd - 1.0) * z * p1 - (kd - 1.0) * p0) / kd;
    p0 = p1;
    p1 = p2;
  }
  return {p1, static_cast<double>(n) * (z * p1 - p0) / (z * z - 1.0)};
}

// Legendre nodes (ascending) and weights on [-1, 1]: Newton's method from the initial guesses
// cos(pi (i + 3/4) / (n + 1/2)), using the symmetry of the roots.
void gauss_legendre(int64_t n, std::vector<double>& x, std::vector<double>& w) {
  x.assign(static_cast<size_t>(n), 0.0);
  w.assign(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < (n + 1) / 2; ++i) {
    double z = std::cos(std::numbers::pi * (static_cast<double>(i) + 0.75) /
                        (static_cast<double>(n) + 0.5));
    for (int iter = 0; iter < 100; ++iter) {
      const auto [p, dp] = legendre(n, z);
      const double step = p / dp;
      z -= step;
      if (std::abs(step) < 1e-15) break;
    }
    const double dp = legendre(n, z).second;
    const double wi = 2.0 / ((1.0 - z * z) * dp * dp);
    x[static_cast<size_t>(i)] = -z;
    x[static_cast<size_t>(n - 1 - i)] = z;
    w[static_cast<size_t>(i)] = wi;
    w[static_cast<size_t>(n - 1 - i)] = wi;
  }
  if (n % 2 == 1) x[static_cast<size_t>(n / 2)] = 0.0;
}

std::vector<float> channel_values(const std::vector<float>& v, int64_t C, float fallback,
                                  const char* what) {
  if (v.empty()) return std::vector<float>(static_cast<size_t>(C), fallback);
  if (static_cast<int64_t>(v.size()) != C) {
    throw std::invalid_argument(std::string("baseline: ") + what + " has " +
                                std::to_string(v.size()) + " values for " + std::to_string(C) +
                                " channels");
  }
  return v;
}

}  // namespace

Attribution gradient(Module& model, const Tensor& x, const Target& target) {
  return gradient_with_rule(model, x, target, ReluRule::Standard, "gradient");
}

Tensor saliency_reduce(const Tensor& g) {
  if (!g.defined() || g.dim() != 4) throw std::invalid_argument("saliency_reduce: need [N,C,H,W]");
  const int64_t N = g.size(0), C = g.size(1), HW = g.size(2) * g.size(3);
  const std::vector<float> v = g.to_vector();
  Tensor out = Tensor::zeros({N, 1, g.size(2), g.size(3)});
  float* po = out.f32();
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const float* src = v.data() + (n * C + c) * HW;
      for (int64_t p = 0; p < HW; ++p) po[n * HW + p] = std::max(po[n * HW + p], std::abs(src[p]));
    }
  }
  return out;
}

Attribution saliency(Module& model, const Tensor& x, const Target& target) {
  Attribution a = gradient(model, x, target);
  a.attr = saliency_reduce(a.attr);
  return a;
}

Attribution input_x_gradient(Module& model, const Tensor& x, const Target& target) {
  Attribution a = gradient(model, x, target);
  NoGradGuard no_grad;
  a.attr = ops::mul(x.detach(), a.attr);
  return a;
}

Attribution guided_backprop(Module& model, const Tensor& x, const Target& target) {
  return gradient_with_rule(model, x, target, ReluRule::Guided, "guided_backprop");
}

Attribution deconvnet(Module& model, const Tensor& x, const Target& target) {
  return gradient_with_rule(model, x, target, ReluRule::Deconv, "deconvnet");
}

Attribution smooth_grad(Module& model, const Tensor& x, const SmoothGradOptions& opt) {
  check_images(x, "smooth_grad");
  if (opt.samples < 1) throw std::invalid_argument("smooth_grad: samples must be >= 1");
  if (!(opt.noise >= 0.0f)) throw std::invalid_argument("smooth_grad: noise must be >= 0");
  EvalModeScope eval(model);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), CHW = C * H * W;
  const int64_t S = opt.samples, B = std::max<int64_t>(opt.max_batch, 1);
  const std::vector<int64_t> classes = resolve_target(opt.target, forward_batched(model, x));
  const std::vector<float> xv = x.to_vector();
  std::vector<float> sigma(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    const auto [lo, hi] = std::minmax_element(xv.begin() + n * CHW, xv.begin() + (n + 1) * CHW);
    sigma[static_cast<size_t>(n)] = opt.noise * (*hi - *lo);
  }
  std::vector<double> acc(static_cast<size_t>(N * CHW), 0.0);
  for (int64_t begin = 0; begin < N * S; begin += B) {
    const int64_t count = std::min(B, N * S - begin);
    Tensor batch = Tensor::empty({count, C, H, W});
    float* pb = batch.f32();
    std::vector<int64_t> cls(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      const int64_t n = (begin + i) / S, s = (begin + i) % S;
      cls[static_cast<size_t>(i)] = classes[static_cast<size_t>(n)];
      const float* src = xv.data() + n * CHW;
      float* dst = pb + i * CHW;
      const float sg = sigma[static_cast<size_t>(n)];
      if (sg == 0.0f) {
        std::copy(src, src + CHW, dst);
        continue;
      }
      const Philox rng(opt.seed, static_cast<uint64_t>(n));
      const auto base = static_cast<uint64_t>(s * CHW);
      for (int64_t j = 0; j < CHW; ++j) {
        dst[j] = src[j] + sg * rng.normal(base + static_cast<uint64_t>(j));
      }
    }
    Pass p = grad_pass(model, batch, Target::per_input(cls), nullptr);
    const std::vector<float> g = p.grad.to_vector();
    for (int64_t i = 0; i < count; ++i) {
      double* a = acc.data() + ((begin + i) / S) * CHW;
      const float* gi = g.data() + i * CHW;
      for (int64_t j = 0; j < CHW; ++j) {
        a[j] += opt.squared ? static_cast<double>(gi[j]) * gi[j] : static_cast<double>(gi[j]);
      }
    }
  }
  Tensor out = Tensor::empty(x.shape());
  float* po = out.f32();
  for (int64_t i = 0; i < N * CHW; ++i) {
    po[i] = static_cast<float>(acc[static_cast<size_t>(i)] / static_cast<double>(S));
  }
  return {out, classes};
}

const char* quadrature_name(Quadrature q) {
  switch (q) {
    case Quadrature::RiemannLeft:
      return "left";
    case Quadrature::RiemannRight:
      return "right";
    case Quadrature::RiemannMidpoint:
      return "midpoint";
    case Quadrature::RiemannTrapezoid:
      return "trapezoid";
    case Quadrature::GaussLegendre:
      return "gauss-legendre";
  }
  return "?";
}

Quadrature parse_quadrature(const std::string& name) {
  if (name == "left") return Quadrature::RiemannLeft;
  if (name == "right") return Quadrature::RiemannRight;
  if (name == "midpoint") return Quadrature::RiemannMidpoint;
  if (name == "trapezoid") return Quadrature::RiemannTrapezoid;
  if (name == "gauss-legendre" || name == "gl") return Quadrature::GaussLegendre;
  throw std::invalid_argument("unknown quadrature '" + name +
                              "'; known: left, right, midpoint, trapezoid, gauss-legendre");
}

QuadratureRule quadrature_rule(Quadrature q, int64_t steps) {
  if (steps < 1 || (q == Quadrature::RiemannTrapezoid && steps < 2)) {
    throw std::invalid_argument(std::string("quadrature ") + quadrature_name(q) +
                                ": too few steps (" + std::to_string(steps) + ")");
  }
  QuadratureRule r;
  const auto n = static_cast<double>(steps);
  const auto sz = static_cast<size_t>(steps);
  switch (q) {
    case Quadrature::RiemannLeft:
    case Quadrature::RiemannRight:
    case Quadrature::RiemannMidpoint: {
      const double shift = q == Quadrature::RiemannLeft    ? 0.0
                           : q == Quadrature::RiemannRight ? 1.0
                                                           : 0.5;
      for (int64_t k = 0; k < steps; ++k) r.alpha.push_back((static_cast<double>(k) + shift) / n);
      r.weight.assign(sz, 1.0 / n);
      break;
    }
    case Quadrature::RiemannTrapezoid:
      for (int64_t k = 0; k < steps; ++k) r.alpha.push_back(static_cast<double>(k) / (n - 1.0));
      r.weight.assign(sz, 1.0 / (n - 1.0));
      r.weight.front() *= 0.5;
      r.weight.back() *= 0.5;
      break;
    case Quadrature::GaussLegendre: {
      std::vector<double> x, w;
      gauss_legendre(steps, x, w);
      for (size_t k = 0; k < sz; ++k) {
        r.alpha.push_back(0.5 * (x[k] + 1.0));
        r.weight.push_back(0.5 * w[k]);
      }
      break;
    }
  }
  return r;
}

float IgResult::max_completeness_error() const {
  float m = 0.0f;
  for (float e : completeness_error) m = std::max(m, e);
  return m;
}

IgResult integrated_gradients(Module& model, const Tensor& x, const Tensor& baseline,
                              const IgOptions& opt) {
  check_images(x, "integrated_gradients");
  check_images(baseline, "integrated_gradients (baseline)");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), CHW = C * H * W;
  if (baseline.size(1) != C || baseline.size(2) != H || baseline.size(3) != W ||
      (baseline.size(0) != N && baseline.size(0) != 1)) {
    throw std::invalid_argument("integrated_gradients: baseline " + shape_str(baseline.shape()) +
                                " does not fit input " + shape_str(x.shape()));
  }
  const QuadratureRule rule = quadrature_rule(opt.method, opt.steps);
  EvalModeScope eval(model);
  const std::vector<float> xv = x.to_vector();
  std::vector<float> bv = baseline.to_vector();
  if (baseline.size(0) == 1 && N > 1) {
    std::vector<float> full(static_cast<size_t>(N * CHW));
    for (int64_t n = 0; n < N; ++n) std::copy(bv.begin(), bv.end(), full.begin() + n * CHW);
    bv = std::move(full);
  }
  // f(x) and f(baseline) in one no-grad batch; the classes are chosen on x.
  Tensor ends = Tensor::empty({2 * N, C, H, W});
  std::copy(xv.begin(), xv.end(), ends.f32());
  std::copy(bv.begin(), bv.end(), ends.f32() + N * CHW);
  const Tensor end_logits = forward_batched(model, ends);
  Tensor x_logits, b_logits;
  {
    NoGradGuard no_grad;
    x_logits = ops::contiguous(ops::slice(end_logits, 0, 0, N));
    b_logits = ops::contiguous(ops::slice(end_logits, 0, N, 2 * N));
  }
  IgResult r;
  r.classes = resolve_target(opt.target, x_logits);
  const std::vector<float> fx = target_values(x_logits, r.classes);
  const std::vector<float> fb = target_values(b_logits, r.classes);

  const int64_t S = opt.steps, B = std::max<int64_t>(opt.max_batch, 1);
  std::vector<double> acc(static_cast<size_t>(N * CHW), 0.0);
  for (int64_t begin = 0; begin < N * S; begin += B) {
    const int64_t count = std::min(B, N * S - begin);
    Tensor batch = Tensor::empty({count, C, H, W});
    float* pb = batch.f32();
    std::vector<int64_t> cls(static_cast<size_t>(count));
    std::vector<double> wts(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      const int64_t n = (begin + i) / S, k = (begin + i) % S;
      cls[static_cast<size_t>(i)] = r.classes[static_cast<size_t>(n)];
      wts[static_cast<size_t>(i)] = rule.weight[static_cast<size_t>(k)];
      const double a = rule.alpha[static_cast<size_t>(k)];
      const float* xs = xv.data() + n * CHW;
      const float* bs = bv.data() + n * CHW;
      float* dst = pb + i * CHW;
      for (int64_t j = 0; j < CHW; ++j) {
        dst[j] = static_cast<float>(bs[j] + a * (static_cast<double>(xs[j]) - bs[j]));
      }
    }
    Pass p = grad_pass(model, batch, Target::per_input(cls), &wts);
    const std::vector<float> g = p.grad.to_vector();
    for (int64_t i = 0; i < count; ++i) {
      double* a = acc.data() + ((begin + i) / S) * CHW;
      const float* gi = g.data() + i * CHW;
      for (int64_t j = 0; j < CHW; ++j) a[j] += gi[j];
    }
  }
  r.attr = Tensor::empty(x.shape());
  float* pa = r.attr.f32();
  for (int64_t n = 0; n < N; ++n) {
    double total = 0.0;
    for (int64_t j = 0; j < CHW; ++j) {
      const size_t i = static_cast<size_t>(n * CHW + j);
      const double v = (static_cast<double>(xv[i]) - bv[i]) * acc[i];
      pa[i] = static_cast<float>(v);
      total += v;
    }
    const double delta =
        static_cast<double>(fx[static_cast<size_t>(n)]) - fb[static_cast<size_t>(n)];
    r.attr_sum.push_back(static_cast<float>(total));
    r.delta.push_back(static_cast<float>(delta));
    r.completeness_error.push_back(static_cast<float>(std::abs(total - delta)));
  }
  return r;
}

Tensor black_baseline(const Tensor& x, const std::vector<float>& mean,
                      const std::vector<float>& std) {
  check_images(x, "black_baseline");
  const int64_t C = x.size(1);
  const std::vector<float> m = channel_values(mean, C, 0.0f, "mean");
  const std::vector<float> s = channel_values(std, C, 1.0f, "std");
  Tensor out = Tensor::empty(x.shape());
  float* po = out.f32();
  const int64_t HW = x.size(2) * x.size(3);
  for (int64_t n = 0; n < x.size(0); ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const float v = (0.0f - m[static_cast<size_t>(c)]) / s[static_cast<size_t>(c)];
      std::fill(po + (n * C + c) * HW, po + (n * C + c + 1) * HW, v);
    }
  }
  return out;
}

Tensor blurred_baseline(const Tensor& x, float sigma) {
  check_images(x, "blurred_baseline");
  if (!(sigma > 0.0f)) throw std::invalid_argument("blurred_baseline: sigma must be > 0");
  const int64_t NC = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const auto radius = static_cast<int64_t>(std::ceil(3.0f * sigma));
  std::vector<double> k(static_cast<size_t>(2 * radius + 1));
  double ksum = 0.0;
  for (int64_t i = -radius; i <= radius; ++i) {
    const double v =
        std::exp(-0.5 * static_cast<double>(i * i) / (static_cast<double>(sigma) * sigma));
    k[static_cast<size_t>(i + radius)] = v;
    ksum += v;
  }
  for (double& v : k) v /= ksum;
  const std::vector<float> xv = x.to_vector();
  std::vector<float> tmp(xv.size());
  Tensor out = Tensor::empty(x.shape());
  float* po = out.f32();
  auto clampi = [](int64_t v, int64_t hi) { return std::clamp<int64_t>(v, 0, hi - 1); };
  for (int64_t p = 0; p < NC; ++p) {
    const float* src = xv.data() + p * H * W;
    float* t = tmp.data() + p * H * W;
    for (int64_t y = 0; y < H; ++y) {
      for (int64_t xx = 0; xx < W; ++xx) {
        double s = 0.0;
        for (int64_t i = -radius; i <= radius; ++i) {
          s += k[static_cast<size_t>(i + radius)] * src[y * W + clampi(xx + i, W)];
        }
        t[y * W + xx] = static_cast<float>(s);
      }
    }
    for (int64_t y = 0; y < H; ++y) {
      for (int64_t xx = 0; xx < W; ++xx) {
        double s = 0.0;
        for (int64_t i = -radius; i <= radius; ++i) {
          s += k[static_cast<size_t>(i + radius)] * t[clampi(y + i, H) * W + xx];
        }
        po[p * H * W + y * W + xx] = static_cast<float>(s);
      }
    }
  }
  return out;
}

Tensor mean_baseline(const Tensor& x) {
  check_images(x, "mean_baseline");
  const int64_t NC = x.size(0) * x.size(1), HW = x.size(2) * x.size(3);
  const std::vector<float> xv = x.to_vector();
  Tensor out = Tensor::empty(x.shape());
  float* po = out.f32();
  for (int64_t p = 0; p < NC; ++p) {
    double s = 0.0;
    for (int64_t i = 0; i < HW; ++i) s += xv[static_cast<size_t>(p * HW + i)];
    std::fill(po + p * HW, po + (p + 1) * HW, static_cast<float>(s / static_cast<double>(HW)));
  }
  return out;
}

Tensor uniform_noise_baseline(const Tensor& x, uint64_t seed, const std::vector<float>& mean,
                              const std::vector<float>& std) {
  check_images(x, "uniform_noise_baseline");
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const std::vector<float> m = channel_values(mean, C, 0.0f, "mean");
  const std::vector<float> s = channel_values(std, C, 1.0f, "std");
  Tensor out = Tensor::empty(x.shape());
  float* po = out.f32();
  for (int64_t n = 0; n < N; ++n) {
    const Philox rng(seed, static_cast<uint64_t>(n));
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t i = 0; i < HW; ++i) {
        const float u = rng.uniform(static_cast<uint64_t>(c * HW + i));
        po[(n * C + c) * HW + i] = (u - m[static_cast<size_t>(c)]) / s[static_cast<size_t>(c)];
      }
    }
  }
  return out;
}

}  // namespace gb::interp
