// Pixel flipping, AOPC and faithfulness correlation (see perturbation_curves.h).
// Shape letters: C channels, H/W image size, P = H*W pixels, L regions, R runs.
#include "interp/eval/perturbation_curves.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>

#include "interp/eval/image_space.h"
#include "interp/eval/map_similarity.h"
#include "interp/metrics.h"
#include "runtime/rng.h"

namespace gb::interp::eval {
namespace {

void check_map(const Tensor& img, const Tensor& map, const char* who) {
  if (map.numel() != img.size(1) * img.size(2)) {
    throw std::invalid_argument(std::string(who) + ": map " + shape_str(map.shape()) +
                                " does not match image " + shape_str(img.shape()));
  }
}

// Scores of the target for `total` images made by `make`.
std::vector<float> streamed_scores(Module& model, const Tensor& img, int64_t total, int64_t target,
                                   Score score, const BatchOptions& batch,
                                   const std::function<void(int64_t k, float* out)>& make) {
  const int64_t CP = img.numel();
  std::vector<float> scores(static_cast<size_t>(total));
  forward_streamed(
      model, total, img.shape(),
      [&](int64_t begin, int64_t count) {
        Shape s = img.shape();
        s.insert(s.begin(), count);
        Tensor b = Tensor::empty(s);
        for (int64_t i = 0; i < count; ++i) make(begin + i, b.f32() + i * CP);
        return b;
      },
      [&](int64_t begin, const Tensor& logits) {
        target_scores(logits, target, score, scores.data() + begin);
      },
      batch);
  return scores;
}

// The cells of the patch grid, each as its pixel indices, in row-major cell order.
std::vector<std::vector<int64_t>> patch_cells(int64_t H, int64_t W, int64_t patch) {
  std::vector<std::vector<int64_t>> cells;
  for (int64_t y0 = 0; y0 < H; y0 += patch) {
    for (int64_t x0 = 0; x0 < W; x0 += patch) {
      std::vector<int64_t>& c = cells.emplace_back();
      for (int64_t y = y0; y < std::min(H, y0 + patch); ++y) {
        for (int64_t x = x0; x < std::min(W, x0 + patch); ++x) c.push_back(y * W + x);
      }
    }
  }
  return cells;
}

}  // namespace

PerturbationCurve pixel_flipping(Module& model, const Tensor& x, const Tensor& map, int64_t target,
                                 const PixelFlippingOptions& opt) {
  if (opt.features_in_step < 1) throw std::invalid_argument("--pf-step must be >= 1");
  const Tensor img = as_image(x);
  check_map(img, map, "pixel_flipping");
  const int64_t P = img.size(1) * img.size(2);
  CurveOptions co;
  co.steps = (P + opt.features_in_step - 1) / opt.features_in_step;
  co.deletion_fill = constant_fill(image_min(img));  // Quantus "black"
  co.score = opt.score;
  co.batch = opt.batch;
  const Curve c = deletion_curve(model, img, map, target, co);
  return {c.fraction, c.score, c.auc};
}

AopcResult aopc(Module& model, const Tensor& x, const Tensor& map, int64_t target,
                const AopcOptions& opt) {
  if (opt.patch < 1) throw std::invalid_argument("--aopc-patch must be >= 1");
  if (opt.regions < 0) throw std::invalid_argument("--aopc-regions must be >= 0");
  const Tensor img = as_image(x);
  check_map(img, map, "aopc");
  const int64_t C = img.size(0), H = img.size(1), W = img.size(2), P = H * W;
  const std::vector<std::vector<int64_t>> cells = patch_cells(H, W, opt.patch);
  const std::vector<float> a = map.to_vector();
  std::vector<float> sums;
  for (const auto& cell : cells) {
    double s = 0;
    for (const int64_t p : cell) s += a[p];
    sums.push_back(static_cast<float>(s));
  }
  const std::vector<int64_t> order =
      pixel_order(Tensor::from_vector({1, static_cast<int64_t>(sums.size())}, sums));
  const auto n_cells = static_cast<int64_t>(cells.size());
  const int64_t L = opt.regions == 0 ? n_cells : std::min(opt.regions, n_cells);
  const PixelSpace space(opt.norm, C);
  const Philox rng(opt.seed, opt.stream);
  std::vector<float> noise(static_cast<size_t>(C * P));
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t p = 0; p < P; ++p) noise[c * P + p] = space.to_model(rng.uniform(c * P + p), c);
  }
  const std::vector<float> base = img.to_vector();
  const std::vector<float> f =
      streamed_scores(model, img, L + 1, target, opt.score, opt.batch, [&](int64_t k, float* o) {
        std::memcpy(o, base.data(), base.size() * sizeof(float));
        for (int64_t r = 0; r < k; ++r) {
          for (const int64_t p : cells[order[r]]) {
            for (int64_t c = 0; c < C; ++c) o[c * P + p] = noise[c * P + p];
          }
        }
      });
  AopcResult r;
  double sum = 0;
  for (const float v : f) {
    r.score.push_back(v);
    sum += f[0] - v;
  }
  r.aopc = sum / static_cast<double>(L + 1);
  return r;
}

FaithfulnessCorrelationResult faithfulness_correlation(Module& model, const Tensor& x,
                                                       const Tensor& map, int64_t target,
                                                       const FaithfulnessCorrelationOptions& opt) {
  const Tensor img = as_image(x);
  check_map(img, map, "faithfulness_correlation");
  const int64_t C = img.size(0), P = img.size(1) * img.size(2), R = opt.runs;
  if (R < 2) throw std::invalid_argument("--fc-runs must be >= 2");
  if (opt.subset < 1 || opt.subset > P) {
    throw std::invalid_argument("--fc-subset must be in [1, " + std::to_string(P) + "] pixels");
  }
  // Subset r: the first `subset` entries of a partial Fisher-Yates shuffle, Philox(seed, stream).
  const Philox rng(opt.seed, opt.stream);
  std::vector<std::vector<int64_t>> subsets(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) {
    std::vector<int64_t> idx(static_cast<size_t>(P));
    std::iota(idx.begin(), idx.end(), 0);
    for (int64_t j = 0; j < opt.subset; ++j) {
      const auto pick = j + static_cast<int64_t>(rng.below(static_cast<uint64_t>(r * P + j),
                                                           static_cast<uint64_t>(P - j)));
      std::swap(idx[j], idx[pick]);
    }
    subsets[r].assign(idx.begin(), idx.begin() + opt.subset);
  }
  const float black = image_min(img);
  const std::vector<float> base = img.to_vector();
  const std::vector<float> f =
      streamed_scores(model, img, R + 1, target, opt.score, opt.batch, [&](int64_t k, float* o) {
        std::memcpy(o, base.data(), base.size() * sizeof(float));
        if (k == 0) return;
        for (const int64_t p : subsets[k - 1]) {
          for (int64_t c = 0; c < C; ++c) o[c * P + p] = black;
        }
      });
  const std::vector<float> a = map.to_vector();
  FaithfulnessCorrelationResult res;
  for (int64_t r = 0; r < R; ++r) {
    double s = 0;
    for (const int64_t p : subsets[r]) s += a[p];
    res.attribution_sum.push_back(s);
    res.score_drop.push_back(static_cast<double>(f[0]) - f[r + 1]);
  }
  res.correlation = pearson(res.attribution_sum, res.score_drop);
  return res;
}

}  // namespace gb::interp::eval
