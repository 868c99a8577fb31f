// ROAD curves (see road.h). Shape letters: C channels, H/W image size, P = H*W, F fractions.
#include "interp/eval/road.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "interp/eval/image_space.h"
#include "interp/eval/imputation.h"
#include "interp/metrics.h"
#include "interp/perturb.h"

namespace gb::interp::eval {
namespace {

// Pixels by decreasing rescaled map value plus the 1e-4 tie-breaker (reference ImputedDataset).
std::vector<int64_t> road_order(const Tensor& map, const Philox& rng) {
  std::vector<float> a = map.to_vector();
  const auto [lo, hi] = std::minmax_element(a.begin(), a.end());
  const float mn = *lo, range = *hi - *lo + 1e-5f;
  for (size_t p = 0; p < a.size(); ++p) a[p] = (a[p] - mn) / range + 1e-4f * rng.normal(p);
  return pixel_order(Tensor::from_vector({1, static_cast<int64_t>(a.size())}, a));
}

}  // namespace

void check_road_options(const RoadOptions& opt) {
  if (opt.fractions.empty()) throw std::invalid_argument("--road-percentages: empty list");
  for (const double f : opt.fractions) {
    if (!(f >= 0.0 && f < 1.0)) {
      throw std::invalid_argument(
          "--road-percentages: each must be in [0, 100) percent; removing every pixel leaves "
          "nothing to impute from");
    }
  }
  if (!(opt.noise >= 0.0)) throw std::invalid_argument("--road-noise must be >= 0");
}

RoadResult road(Module& model, const Tensor& x, const Tensor& map, int64_t predicted, int64_t label,
                const RoadOptions& opt) {
  check_road_options(opt);
  const Tensor img = as_image(x);
  const int64_t C = img.size(0), H = img.size(1), W = img.size(2), P = H * W;
  if (map.numel() != P) throw std::invalid_argument("road: map does not match the image");
  const PixelSpace space(opt.norm, C);
  const auto F = static_cast<int64_t>(opt.fractions.size());
  const Philox rng(opt.seed, opt.stream);
  const std::vector<int64_t> order = road_order(map, rng);
  std::vector<float> pixels = img.to_vector();
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t p = 0; p < P; ++p) pixels[c * P + p] = space.to_pixel(pixels[c * P + p], c);
  }
  RoadResult r;
  for (const double f : opt.fractions) r.fraction.push_back(f);
  std::vector<float> prob(static_cast<size_t>(2 * F));
  std::vector<double> correct(static_cast<size_t>(2 * F));
  forward_streamed(
      model, 2 * F, img.shape(),
      [&](int64_t begin, int64_t count) {
        Tensor batch = Tensor::empty({count, C, H, W});
        for (int64_t i = 0; i < count; ++i) {
          const int64_t k = begin + i, f = k % F;
          const bool morf = k < F;
          const auto n = static_cast<int64_t>(static_cast<double>(P) * opt.fractions[f]);
          std::vector<uint8_t> removed(static_cast<size_t>(P), 0);
          for (int64_t j = 0; j < n; ++j) removed[order[morf ? j : P - 1 - j]] = 1;
          std::vector<float> v = pixels;
          // Image k's noise: values (k+1)*C*P .. of the stream (0 .. P-1 broke the ties).
          noisy_linear_impute(v, C, H, W, removed, opt.noise, rng,
                              static_cast<uint64_t>((k + 1) * C * P));
          float* o = batch.f32() + i * C * P;
          for (int64_t c = 0; c < C; ++c) {
            for (int64_t p = 0; p < P; ++p) o[c * P + p] = space.to_model(v[c * P + p], c);
          }
        }
        return batch;
      },
      [&](int64_t begin, const Tensor& logits) {
        target_scores(logits, predicted, Score::Probability, prob.data() + begin);
        const std::vector<int64_t> am = argmax_rows(logits);
        for (size_t i = 0; i < am.size(); ++i) correct[begin + i] = am[i] == label ? 1.0 : 0.0;
      },
      opt.batch);
  for (int64_t k = 0; k < 2 * F; ++k) {
    RoadOrder& o = k < F ? r.morf : r.lerf;
    o.probability.push_back(prob[k]);
    o.correct.push_back(correct[k]);
  }
  for (RoadOrder* o : {&r.morf, &r.lerf}) {
    o->probability_auc = trapezoid_auc(r.fraction, o->probability);
    o->accuracy_auc = trapezoid_auc(r.fraction, o->correct);
  }
  return r;
}

}  // namespace gb::interp::eval
