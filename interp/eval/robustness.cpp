// Infidelity and max-sensitivity (see robustness.h).
// Shape letters: C channels, H/W image size, P = H*W pixels, S samples.
#include "interp/eval/robustness.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "interp/eval/image_space.h"
#include "runtime/rng.h"

namespace gb::interp::eval {

void check_infidelity_options(const InfidelityOptions& opt) {
  if (opt.samples < 1) throw std::invalid_argument("--infidelity-samples must be >= 1");
  if (opt.square_max < 1) throw std::invalid_argument("--infidelity-square-max must be >= 1");
  if (!(opt.sigma > 0)) throw std::invalid_argument("--infidelity-sigma must be > 0");
}

void check_sensitivity_options(const SensitivityOptions& opt) {
  if (opt.samples < 1) throw std::invalid_argument("--sensitivity-samples must be >= 1");
  if (!(opt.radius > 0)) throw std::invalid_argument("--sensitivity-radius must be > 0");
}

InfidelityResult infidelity(Module& model, const Tensor& x, const Tensor& map, int64_t target,
                            const InfidelityOptions& opt) {
  check_infidelity_options(opt);
  const Tensor img = as_image(x);
  const int64_t C = img.size(0), H = img.size(1), W = img.size(2), P = H * W, S = opt.samples;
  if (map.numel() != P) throw std::invalid_argument("infidelity: map does not match the image");
  const PixelSpace space(opt.norm, C);
  const Philox rng(opt.seed, opt.stream);
  const std::vector<float> base = img.to_vector(), a = map.to_vector();
  std::vector<double> dot(static_cast<size_t>(S));  // I_k^T a
  // Perturbed image k (1-based; 0 is x itself) written to o; dot[k-1] filled on the way.
  const auto make = [&](int64_t k, float* o) {
    std::memcpy(o, base.data(), base.size() * sizeof(float));
    if (k == 0) return;
    const auto n = static_cast<uint64_t>(k - 1);
    double d = 0;
    if (opt.perturbation == InfidelityPerturbation::Square) {
      const int64_t side = std::min<int64_t>(
          {1 + static_cast<int64_t>(rng.below(4 * n, static_cast<uint64_t>(opt.square_max))), H,
           W});
      const auto y0 =
          static_cast<int64_t>(rng.below(4 * n + 1, static_cast<uint64_t>(H - side + 1)));
      const auto x0 =
          static_cast<int64_t>(rng.below(4 * n + 2, static_cast<uint64_t>(W - side + 1)));
      for (int64_t y = y0; y < y0 + side; ++y) {
        for (int64_t xx = x0; xx < x0 + side; ++xx) {
          const int64_t p = y * W + xx;
          d += a[p];
          for (int64_t c = 0; c < C; ++c) o[c * P + p] = space.to_model(0.0f, c);
        }
      }
    } else {
      const uint64_t first = n * static_cast<uint64_t>(C * P);
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t p = 0; p < P; ++p) {
          const float z = rng.normal(first + static_cast<uint64_t>(c * P + p));
          const float px = std::clamp(static_cast<float>(opt.sigma) * z, 0.0f, 1.0f);
          o[c * P + p] = space.to_model(px, c);
          d += static_cast<double>(a[p]) * (base[c * P + p] - o[c * P + p]);
        }
      }
    }
    dot[n] = d;
  };
  std::vector<float> f(static_cast<size_t>(S + 1));
  forward_streamed(
      model, S + 1, img.shape(),
      [&](int64_t begin, int64_t count) {
        Tensor b = Tensor::empty({count, C, H, W});
        for (int64_t i = 0; i < count; ++i) make(begin + i, b.f32() + i * C * P);
        return b;
      },
      [&](int64_t begin, const Tensor& logits) {
        target_scores(logits, target, opt.score, f.data() + begin);
      },
      opt.batch);
  InfidelityResult r;
  double sd = 0, ss = 0;
  for (int64_t k = 0; k < S; ++k) {
    const double diff = static_cast<double>(f[0]) - f[k + 1];
    sd += dot[k] * diff;
    ss += dot[k] * dot[k];
  }
  if (opt.normalize) r.beta = ss > 0 ? sd / ss : 0.0;
  double mse = 0;
  for (int64_t k = 0; k < S; ++k) {
    const double diff = static_cast<double>(f[0]) - f[k + 1];
    mse += (r.beta * dot[k] - diff) * (r.beta * dot[k] - diff);
  }
  r.infidelity = mse / static_cast<double>(S);
  return r;
}

double max_sensitivity(const MapFn& explain, const Tensor& x, const Tensor& map, int64_t target,
                       const SensitivityOptions& opt) {
  check_sensitivity_options(opt);
  const Tensor img = as_image(x);
  const int64_t C = img.size(0), H = img.size(1), W = img.size(2), P = H * W;
  const PixelSpace space(opt.norm, C);
  const Philox rng(opt.seed, opt.stream);
  const std::vector<float> base = img.to_vector(), a = map.to_vector();
  double norm = 0;
  for (const float v : a) norm += static_cast<double>(v) * v;
  norm = norm > 0 ? std::sqrt(norm) : 1.0;
  double worst = 0;
  for (int64_t k = 0; k < opt.samples; ++k) {
    std::vector<float> y = base;
    const auto first = static_cast<uint64_t>(k * C * P);
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t p = 0; p < P; ++p) {
        const double u = (2.0 * rng.uniform(first + static_cast<uint64_t>(c * P + p)) - 1.0);
        y[c * P + p] += static_cast<float>(u * opt.radius / space.std(c));
      }
    }
    const std::vector<float> ay = explain(Tensor::from_vector({1, C, H, W}, y), target).to_vector();
    if (ay.size() != a.size()) throw std::runtime_error("max_sensitivity: map sizes differ");
    double diff = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      diff += (static_cast<double>(ay[i]) - a[i]) * (static_cast<double>(ay[i]) - a[i]);
    }
    worst = std::max(worst, std::sqrt(diff) / norm);
  }
  return worst;
}

}  // namespace gb::interp::eval
