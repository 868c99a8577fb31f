// layer_output (a forward hook), channel scores, top-activating images (a bounded best-first list
// per channel over batches), and activation maximisation (Adam on the input through
// autograd, with rolled inputs, periodic Gaussian blur, total variation and L2).
// Shape letters: N images, C input channels, H/W image size, K channels of the layer.
#include "interp/activations.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "interp/perturb.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/rng.h"

namespace gb::interp {
namespace {

Module& module_named(Module& model, const std::string& layer) {
  Module* m = model.find(layer);
  if (!m) throw std::invalid_argument("--layer '" + layer + "': the model has no such module");
  return *m;
}

// Runs the model with a hook that keeps `layer`'s last output (in the graph when grad is on).
Tensor run_capturing(Module& model, const Tensor& x, Module& target, const std::string& layer,
                     Tensor* logits) {
  Tensor captured;
  const int id = target.add_forward_hook([&](Module&, const Tensor&, const Tensor& out) {
    captured = out;
    return Tensor();
  });
  Tensor y;
  try {
    y = model(x);
  } catch (...) {
    target.remove_hook(id);
    throw;
  }
  target.remove_hook(id);
  if (!captured.defined()) {
    throw std::invalid_argument("--layer '" + layer + "': the module did not run");
  }
  if (captured.dim() < 2) {
    throw std::invalid_argument("--layer '" + layer + "': its output has no channel dimension");
  }
  if (logits) *logits = y;
  return captured;
}

}  // namespace

Tensor layer_output(Module& model, const Tensor& x, const std::string& layer) {
  EvalModeScope eval(model);
  NoGradGuard no_grad;
  return run_capturing(model, x.to(model.device()), module_named(model, layer), layer, nullptr)
      .to(Device{})
      .detach();
}

std::vector<std::vector<float>> channel_scores(const Tensor& act) {
  const Tensor a = act.dim() == 3 ? ops::permute(act, {0, 2, 1}) : act;  // tokens: [N,D,T]
  const int64_t N = a.size(0), K = a.size(1), P = a.numel() / (N * K);
  const std::vector<float> v = a.to(Device{}).to_vector();
  std::vector<std::vector<float>> out(static_cast<size_t>(N), std::vector<float>(K));
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      double s = 0;
      const float* p = v.data() + (n * K + k) * P;
      for (int64_t i = 0; i < P; ++i) s += p[i];
      out[n][k] = static_cast<float>(s / static_cast<double>(P));
    }
  }
  return out;
}

std::vector<ChannelTop> top_activating(Module& model, const std::string& layer, int64_t count,
                                       const std::function<Tensor(int64_t, int64_t)>& batch_of,
                                       int64_t top, int64_t batch) {
  if (count < 1 || top < 1 || batch < 1) {
    throw std::invalid_argument("top_activating: count, top and batch must be at least 1");
  }
  std::vector<ChannelTop> tops;
  const auto better = [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  };
  for (int64_t begin = 0; begin < count; begin += batch) {
    const int64_t end = std::min(count, begin + batch);
    const auto scores = channel_scores(layer_output(model, batch_of(begin, end), layer));
    if (tops.empty()) {
      tops.resize(scores.front().size());
      for (size_t k = 0; k < tops.size(); ++k) tops[k].channel = static_cast<int64_t>(k);
    }
    for (size_t k = 0; k < tops.size(); ++k) {
      auto& list = tops[k].images;
      for (size_t n = 0; n < scores.size(); ++n) list.emplace_back(begin + n, scores[n][k]);
      std::sort(list.begin(), list.end(), better);
      if (static_cast<int64_t>(list.size()) > top) list.resize(static_cast<size_t>(top));
    }
  }
  return tops;
}

namespace {

// x rolled by (dy, dx) pixels (wrapping), through slice and concat so gradients flow.
Tensor roll(const Tensor& x, int64_t dy, int64_t dx) {
  Tensor r = x;
  const int64_t H = x.size(2), W = x.size(3);
  if (dy != 0) {
    const int64_t s = ((dy % H) + H) % H;
    r = ops::concat({ops::slice(r, 2, H - s, H), ops::slice(r, 2, 0, H - s)}, 2);
  }
  if (dx != 0) {
    const int64_t s = ((dx % W) + W) % W;
    r = ops::concat({ops::slice(r, 3, W - s, W), ops::slice(r, 3, 0, W - s)}, 3);
  }
  return r;
}

// Mean squared difference of vertically and horizontally neighbouring pixels.
Tensor total_variation(const Tensor& x) {
  const int64_t H = x.size(2), W = x.size(3);
  const Tensor dv = ops::sub(ops::slice(x, 2, 1, H), ops::slice(x, 2, 0, H - 1));
  const Tensor dh = ops::sub(ops::slice(x, 3, 1, W), ops::slice(x, 3, 0, W - 1));
  return ops::add(ops::mean(ops::mul(dv, dv)), ops::mean(ops::mul(dh, dh)));
}

// The sum over images u of unit u's score: its mean activation, or its logit (a one-hot mask
// per image, so each image's gradient is its own unit's).
Tensor unit_scores(Module& model, const Tensor& x, const FeatureVisOptions& opt, Module* layer) {
  Tensor out;
  if (!layer) {
    out = model(x);
  } else {
    out = run_capturing(model, x, *layer, opt.layer, nullptr);
    if (out.dim() == 3) out = ops::permute(out, {0, 2, 1});  // tokens: [U,D,T]
  }
  const int64_t U = out.size(0), K = out.size(1), P = out.numel() / (U * K);
  Shape mask_shape(out.shape().size(), 1);
  mask_shape[0] = U;
  mask_shape[1] = K;
  std::vector<float> mask(static_cast<size_t>(U * K), 0.0f);
  for (int64_t u = 0; u < U; ++u) {
    mask[u * K + opt.units[u]] = 1.0f / static_cast<float>(P);
  }
  const Tensor m = Tensor::from_vector(mask_shape, mask).to(out.device());
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < out.dim(); ++d) dims.push_back(d);
  return ops::sum(ops::mul(out, m), dims, false);  // [U]
}

// The number of units opt.units choose from: the layer's channels (token width), or classes.
int64_t unit_count(Module& model, const Shape& chw, const FeatureVisOptions& opt) {
  const Tensor probe = Tensor::zeros({1, chw[0], chw[1], chw[2]});
  if (!opt.layer.empty()) {
    const Tensor act = layer_output(model, probe, opt.layer);
    return act.size(act.dim() == 3 ? 2 : 1);
  }
  EvalModeScope eval(model);
  NoGradGuard no_grad;
  return model(probe.to(model.device())).size(1);
}

}  // namespace

void check_feature_units(Module& model, const Shape& chw, const FeatureVisOptions& opt) {
  if (opt.steps < 1) throw std::invalid_argument("--steps must be at least 1");
  if (opt.units.empty()) return;
  const int64_t units = unit_count(model, chw, opt);
  for (int64_t u : opt.units) {
    if (u < 0 || u >= units) {
      throw std::invalid_argument(fmt::format("unit {} is out of range: {} has {} {}", u,
                                              opt.layer.empty() ? "the model" : opt.layer, units,
                                              opt.layer.empty() ? "classes" : "channels"));
    }
  }
}

namespace {

// One Adam step on x with gradient g (moments m, v; step counts from 1).
void adam_step(std::vector<float>& x, const std::vector<float>& g, std::vector<float>& m,
               std::vector<float>& v, int64_t step, float lr) {
  const float b1 = 0.9f, b2 = 0.999f;
  const float c1 = 1.0f - std::pow(b1, static_cast<float>(step));
  const float c2 = 1.0f - std::pow(b2, static_cast<float>(step));
  for (size_t i = 0; i < x.size(); ++i) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    x[i] -= lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + 1e-8f);
  }
}

// Blurs every image of x [U,C,H,W] and clamps it to the pixel range of `norm`.
void blur_and_clamp(std::vector<float>& x, const Shape& chw, int64_t U,
                    const data::Normalization& norm, float sigma) {
  const int64_t C = chw[0], plane = chw[1] * chw[2], per = C * plane;
  for (int64_t u = 0; u < U; ++u) {
    float* img = x.data() + u * per;
    if (sigma > 0) {
      const std::vector<float> one(img, img + per);
      const std::vector<float> b =
          gaussian_blur(Tensor::from_vector({C, chw[1], chw[2]}, one), sigma).to_vector();
      std::copy(b.begin(), b.end(), img);
    }
    for (int64_t c = 0; c < C; ++c) {
      const float lo = (0.0f - norm.mean[c]) / norm.std[c],
                  hi = (1.0f - norm.mean[c]) / norm.std[c];
      for (int64_t i = c * plane; i < (c + 1) * plane; ++i) img[i] = std::clamp(img[i], lo, hi);
    }
  }
}

}  // namespace

std::vector<FeatureVis> maximise_activation(Module& model, const Shape& chw,
                                            const data::Normalization& norm,
                                            const FeatureVisOptions& opt) {
  Module* layer = opt.layer.empty() ? nullptr : &module_named(model, opt.layer);
  check_feature_units(model, chw, opt);
  std::vector<FeatureVis> out(opt.units.size());
  if (opt.units.empty()) return out;
  EvalModeScope eval(model);
  const auto U = static_cast<int64_t>(opt.units.size());
  const int64_t per = chw[0] * chw[1] * chw[2];
  std::vector<float> x(static_cast<size_t>(U * per)), m(x.size(), 0.0f), v(x.size(), 0.0f);
  for (int64_t u = 0; u < U; ++u) {
    const Philox noise(opt.seed, static_cast<uint64_t>(u));
    for (int64_t i = 0; i < per; ++i)
      x[u * per + i] = 0.1f * noise.normal(static_cast<uint64_t>(i));
  }
  const Philox shifts(opt.seed, 0x6a6974746572ull);  // "jitter"
  for (int64_t step = 1; step <= opt.steps; ++step) {
    Tensor xt = Tensor::from_vector({U, chw[0], chw[1], chw[2]}, x).to(model.device());
    xt.set_requires_grad(true);
    const auto shift = [&](uint64_t k) {
      if (opt.jitter <= 0) return int64_t{0};
      const uint64_t i = 2 * static_cast<uint64_t>(step) + k;
      return static_cast<int64_t>(shifts.below(i, 2 * opt.jitter + 1)) - opt.jitter;
    };
    const Tensor scores = unit_scores(model, roll(xt, shift(0), shift(1)), opt, layer);
    const Tensor loss =
        ops::add(ops::scale(ops::sum(scores), -1.0f),
                 ops::scale(ops::add(ops::scale(total_variation(xt), opt.tv_weight),
                                     ops::scale(ops::mean(ops::mul(xt, xt)), opt.l2_weight)),
                            static_cast<float>(U)));
    const std::vector<float> g = grad(loss, {xt}).at(0).to(Device{}).to_vector();
    const std::vector<float> s = scores.to(Device{}).to_vector();
    for (int64_t u = 0; u < U; ++u) out[u].objective.push_back(s[u]);
    adam_step(x, g, m, v, step, opt.lr);
    const bool blur = opt.blur_sigma > 0 && opt.blur_every > 0 && step % opt.blur_every == 0;
    blur_and_clamp(x, chw, U, norm, blur ? opt.blur_sigma : 0.0f);
  }
  for (int64_t u = 0; u < U; ++u) {
    out[u].unit = opt.units[u];
    const std::vector<float> img(x.begin() + u * per, x.begin() + (u + 1) * per);
    out[u].image = Tensor::from_vector({1, chw[0], chw[1], chw[2]}, img);
  }
  return out;
}

}  // namespace gb::interp
