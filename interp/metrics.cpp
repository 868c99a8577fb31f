// Deletion/insertion curves, Spearman correlation, cascading randomisation, completeness, timing.
// Shape letters: C channels, H/W image size, P = H*W pixels.
#include "interp/metrics.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <utility>

#include "interp/eval/param_restore.h"

namespace gb::interp {
namespace {

// The curve whose step k shows `base` with its first n_k pixels in `order` taken from `src`.
Curve pixel_curve(Module& model, const Tensor& base, const Tensor& src,
                  const std::vector<int64_t>& order, int64_t target, const CurveOptions& opt) {
  if (opt.steps < 1) throw std::invalid_argument("deletion/insertion: steps must be >= 1");
  const int64_t C = base.size(0), H = base.size(1), W = base.size(2), P = H * W;
  const int64_t steps = opt.steps;
  const auto changed = [&](int64_t k) {
    return static_cast<int64_t>(
        std::llround(static_cast<double>(k) * static_cast<double>(P) / static_cast<double>(steps)));
  };
  std::vector<float> scores(static_cast<size_t>(steps + 1));
  forward_streamed(
      model, steps + 1, base.shape(),
      [&](int64_t begin, int64_t count) {
        Tensor batch = Tensor::empty({count, C, H, W});
        for (int64_t i = 0; i < count; ++i) {
          float* o = batch.f32() + i * C * P;
          std::memcpy(o, base.f32(), static_cast<size_t>(C * P) * sizeof(float));
          const int64_t n = changed(begin + i);
          for (int64_t j = 0; j < n; ++j) {
            const int64_t p = order[static_cast<size_t>(j)];
            for (int64_t c = 0; c < C; ++c) o[c * P + p] = src.f32()[c * P + p];
          }
        }
        return batch;
      },
      [&](int64_t begin, const Tensor& logits) {
        target_scores(logits, target, opt.score, scores.data() + begin);
      },
      opt.batch);
  Curve curve;
  for (int64_t k = 0; k <= steps; ++k) {
    curve.fraction.push_back(static_cast<double>(changed(k)) / static_cast<double>(P));
    curve.score.push_back(scores[static_cast<size_t>(k)]);
  }
  curve.auc = trapezoid_auc(curve.fraction, curve.score);
  return curve;
}

std::vector<int64_t> checked_order(const Tensor& image, const Tensor& attribution) {
  if (attribution.numel() != image.size(1) * image.size(2)) {
    throw std::invalid_argument("deletion/insertion: attribution " +
                                shape_str(attribution.shape()) + " does not match image " +
                                shape_str(image.shape()));
  }
  return pixel_order(attribution);
}

Tensor map_for_comparison(const Tensor& map, bool absolute) {
  if (!map.defined()) throw std::invalid_argument("cascading_randomization: explain() gave no map");
  if (!absolute) return map;
  std::vector<float> v = map.to_vector();
  for (float& e : v) e = std::fabs(e);
  return Tensor::from_vector(map.shape(), v);
}

}  // namespace

std::vector<int64_t> pixel_order(const Tensor& attribution) {
  const int64_t d = attribution.dim();
  const bool ok = d == 2 || (d == 3 && attribution.size(0) == 1) ||
                  (d == 4 && attribution.size(0) == 1 && attribution.size(1) == 1);
  if (!ok) {
    throw std::invalid_argument("pixel_order: attribution must be [H,W], got " +
                                shape_str(attribution.shape()));
  }
  const std::vector<float> a = attribution.to_vector();
  std::vector<int64_t> order(a.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) {
    return a[static_cast<size_t>(i)] > a[static_cast<size_t>(j)];
  });
  return order;
}

Curve deletion_curve(Module& model, const Tensor& image, const Tensor& attribution, int64_t target,
                     const CurveOptions& opt) {
  Tensor img = as_image(image);
  const std::vector<int64_t> order = checked_order(img, attribution);
  return pixel_curve(model, img, make_fill(img, opt.deletion_fill), order, target, opt);
}

Curve insertion_curve(Module& model, const Tensor& image, const Tensor& attribution, int64_t target,
                      const CurveOptions& opt) {
  Tensor img = as_image(image);
  const std::vector<int64_t> order = checked_order(img, attribution);
  return pixel_curve(model, make_fill(img, opt.insertion_start), img, order, target, opt);
}

double trapezoid_auc(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw std::invalid_argument("trapezoid_auc: x and y sizes differ");
  double area = 0.0;
  for (size_t i = 1; i < x.size(); ++i) area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) * 0.5;
  return area;
}

std::vector<double> average_ranks(const std::vector<float>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
  std::vector<double> rank(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double r = 0.5 * static_cast<double>(i + j) + 1.0;  // mean of ranks i+1 .. j+1
    for (size_t k = i; k <= j; ++k) rank[idx[k]] = r;
    i = j + 1;
  }
  return rank;
}

double spearman(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.size() < 2) {
    throw std::invalid_argument("spearman: need two equally long inputs of at least 2 values");
  }
  const std::vector<double> ra = average_ranks(a), rb = average_ranks(b);
  const double mean = 0.5 * static_cast<double>(a.size() + 1);  // mean rank, ties or not
  double sab = 0.0, saa = 0.0, sbb = 0.0;
  for (size_t i = 0; i < ra.size(); ++i) {
    const double da = ra[i] - mean, db = rb[i] - mean;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa == 0.0 || sbb == 0.0) return 0.0;
  return sab / std::sqrt(saa * sbb);
}

double spearman(const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel()) {
    throw std::invalid_argument("spearman: " + shape_str(a.shape()) + " and " +
                                shape_str(b.shape()) + " differ in size");
  }
  return spearman(a.to_vector(), b.to_vector());
}

std::vector<std::string> randomization_layers(Module& model) {
  const std::string& root = model.path();
  std::vector<std::string> layers;
  for (auto& [path, m] : model.named_modules()) {
    size_t child_params = 0;
    for (const auto& [name, c] : m->children()) child_params += c->named_parameters().size();
    if (m->named_parameters().size() == child_params) continue;
    layers.push_back(root.empty() || path.size() <= root.size() ? path
                                                                : path.substr(root.size() + 1));
  }
  std::reverse(layers.begin(), layers.end());
  return layers;
}

RandomizationReport cascading_randomization(Module& model, const ExplainFn& explain,
                                            const RandomizationOptions& opt) {
  const std::vector<std::string> layers =
      opt.layers.empty() ? randomization_layers(model) : opt.layers;
  std::vector<Module*> modules;
  for (const std::string& name : layers) {
    Module* m = model.find(name);
    if (!m) throw std::invalid_argument("cascading_randomization: no module named '" + name + "'");
    modules.push_back(m);
  }
  RandomizationReport report;
  report.original = explain(model);
  const Tensor reference = map_for_comparison(report.original, opt.absolute);
  ParameterRestorer restore;
  uint64_t stream = kRandomizeStream;
  for (size_t l = 0; l < layers.size(); ++l) {
    for (const auto& [name, t] : modules[l]->named_parameters()) {
      if (restore.save(t)) randomize_like(t, opt.seed, stream++);
    }
    RandomizationStep step;
    step.layer = layers[l];
    step.map = explain(model);
    step.spearman = spearman(reference, map_for_comparison(step.map, opt.absolute));
    report.steps.push_back(std::move(step));
  }
  return report;
}

CompletenessError completeness_error(const std::vector<double>& attributions, double f_input,
                                     double f_baseline) {
  CompletenessError e;
  for (const double a : attributions) e.sum += a;
  e.expected = f_input - f_baseline;
  e.abs_error = std::fabs(e.sum - e.expected);
  e.rel_error = e.abs_error / std::max(std::fabs(e.expected), 1e-12);
  return e;
}

CompletenessError completeness_error(const Tensor& attributions, double f_input,
                                     double f_baseline) {
  const std::vector<float> v = attributions.to_vector();
  return completeness_error(std::vector<double>(v.begin(), v.end()), f_input, f_baseline);
}

Timing time_repeated(const std::function<void()>& fn, int repetitions, int warmup) {
  if (repetitions < 1 || warmup < 0) {
    throw std::invalid_argument("time_repeated: need repetitions >= 1 and warmup >= 0");
  }
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < repetitions; ++i) {
    Stopwatch sw;
    fn();
    ms.push_back(sw.elapsed_ms());
  }
  std::sort(ms.begin(), ms.end());
  Timing t;
  t.repetitions = repetitions;
  t.min_ms = ms.front();
  t.max_ms = ms.back();
  const size_t h = ms.size() / 2;
  t.median_ms = ms.size() % 2 ? ms[h] : 0.5 * (ms[h - 1] + ms[h]);
  return t;
}

namespace {
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Stopwatch::Stopwatch() : start_ns_(now_ns()) {}
void Stopwatch::restart() { start_ns_ = now_ns(); }
double Stopwatch::elapsed_ms() const { return static_cast<double>(now_ns() - start_ns_) * 1e-6; }

}  // namespace gb::interp
