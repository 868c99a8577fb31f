// `glassbox evaluate-explanations`: explanation methods over N test images, summarised as mean and
// spread of deletion/insertion AUC, time per image and each method's own check, against a random
// baseline; plus the cascading randomisation sanity check of Grad-CAM.
#include "tools/lib/evaluate_explanations.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "data/dataset.h"
#include "interp/cam.h"
#include "interp/metrics.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "models/training/trainer.h"

namespace gb::app {
using namespace gb::training;  // transitional: the jobs move out of tools/lib
using json = nlohmann::json;

Stats stats_of(const std::vector<double>& v) {
  Stats s;
  s.n = static_cast<int64_t>(v.size());
  if (v.empty()) return s;
  double sum = 0;
  for (double e : v) sum += e;
  s.mean = sum / static_cast<double>(v.size());
  if (v.size() >= 2) {
    double ss = 0;
    for (double e : v) ss += (e - s.mean) * (e - s.mean);
    s.std = std::sqrt(ss / static_cast<double>(v.size() - 1));
  }
  return s;
}

namespace {

struct Series {
  std::vector<double> deletion, insertion, time_ms;
  std::map<std::string, std::vector<double>> scores;
};

// Image i of ds, normalised, as [1,C,H,W].
Tensor image_tensor(const data::Dataset& ds, size_t i, const data::Normalization& norm) {
  std::vector<float> v(ds.image_size());
  data::normalize_image(ds.image(i), ds.channels, ds.height, ds.width, norm, v.data());
  return Tensor::from_vector({1, ds.channels, ds.height, ds.width}, v);
}

// Spearman rho of image n's map in two [N,1,H,W] batches of maps.
double image_spearman(const Tensor& a, const Tensor& b, int64_t n) {
  const int64_t P = a.numel() / a.size(0);
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  const auto off = static_cast<ptrdiff_t>(n * P);
  const std::vector<float> sa(va.begin() + off, va.begin() + off + P);
  const std::vector<float> sb(vb.begin() + off, vb.begin() + off + P);
  return interp::spearman(sa, sb);
}

std::string stats_cell(const Stats& s, int precision) {
  return fmt::format("{:.{}f} +- {:.{}f}", s.mean, precision, s.std, precision);
}

}  // namespace

EvaluateResult evaluate_explanations(const EvaluateConfig& cfg) {
  if (cfg.count < 1) throw std::invalid_argument("--count must be at least 1");
  check_method_options(cfg.method);
  std::vector<std::string> methods;
  for (const auto& m : cfg.methods) {
    for (const auto& p : parse_method_list(m)) {
      if (std::find(methods.begin(), methods.end(), p) == methods.end()) methods.push_back(p);
    }
  }
  for (const char* baseline : {"random", "random-smooth"}) {
    if (std::find(methods.begin(), methods.end(), baseline) == methods.end()) {
      methods.push_back(baseline);
    }
  }

  LoadedModel lm = load_model(cfg.checkpoint);
  Module& model = *lm.model;
  model.to(parse_device(cfg.device));  // inputs and maps stay on the host
  model.eval();
  std::string data = cfg.data;
  if (data.empty()) data = training_data(lm, cfg.checkpoint);
  const data::Dataset ds = load_split(data, data::Split::kTest, cfg.count);
  const auto chw = lm.meta.at("input_shape").get<std::vector<int64_t>>();
  if (ds.channels != chw[0] || ds.height != chw[1] || ds.width != chw[2]) {
    throw std::runtime_error(
        fmt::format("{}: images are {}x{}x{} but the model in {} expects "
                    "{}x{}x{}",
                    ds.source, ds.channels, ds.height, ds.width, cfg.checkpoint.string(), chw[0],
                    chw[1], chw[2]));
  }
  if (ds.num_classes() != lm.classes.size()) {
    throw std::runtime_error(fmt::format("{}: has {} classes, the checkpoint's model has {}",
                                         ds.source, ds.num_classes(), lm.classes.size()));
  }

  MethodOptions mo = cfg.method;
  mo.norm = lm.norm;
  const auto N = static_cast<int64_t>(ds.size());

  // Inputs and their predicted classes (the class each image is explained for).
  std::vector<Tensor> xs;
  std::vector<int64_t> targets;
  for (int64_t i = 0; i < N; ++i) {
    xs.push_back(image_tensor(ds, static_cast<size_t>(i), lm.norm));
    NoGradGuard no_grad;
    const std::vector<float> logits = model(xs.back().to(model.device())).to_vector();
    targets.push_back(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }

  EvaluateResult r;
  r.checkpoint = cfg.checkpoint.string();
  r.data = ds.source;
  r.model = lm.model_name;
  r.images = N;
  r.seed = mo.seed;
  for (const auto& name : methods) {
    Series s;
    if (cfg.warmup) run_method(model, name, xs[0], targets[0], mo);
    interp::Stopwatch sw;
    for (int64_t i = 0; i < N; ++i) {
      MethodOptions o = mo;
      o.stream = static_cast<uint64_t>(i);
      const auto k = static_cast<size_t>(i);
      const MethodOutput m = run_method(model, name, xs[k], targets[k], o);
      const MapAucs auc = map_aucs(model, xs[k], m.map, targets[k], mo.batch);
      s.deletion.push_back(auc.deletion);
      s.insertion.push_back(auc.insertion);
      s.time_ms.push_back(m.ms);
      for (const auto& [key, v] : m.scores) s.scores[key].push_back(v);
    }
    MethodSummary row;
    row.method = name;
    row.deletion_auc = stats_of(s.deletion);
    row.insertion_auc = stats_of(s.insertion);
    row.time_ms = stats_of(s.time_ms);
    for (const auto& [key, v] : s.scores) row.scores[key] = stats_of(v);
    if (!cfg.quiet) {
      fmt::print(stderr, "  {:<16} {} images in {:.1f}s\n", name, N, sw.elapsed_ms() / 1000.0);
    }
    r.rows.push_back(std::move(row));
  }

  if (cfg.sanity_check) {
    const int64_t n = std::clamp<int64_t>(cfg.sanity_images, 1, N);
    std::vector<Tensor> batch(xs.begin(), xs.begin() + n);
    const Tensor x = ops::concat(batch, 0).detach();
    interp::CamOptions co;
    co.layer = mo.layer.empty() ? interp::default_cam_layer(model, x) : mo.layer;
    co.target =
        interp::Target::per_input(std::vector<int64_t>(targets.begin(), targets.begin() + n));
    co.batch = mo.batch;
    r.sanity_layer = co.layer;
    interp::RandomizationOptions ro;
    ro.seed = mo.seed;
    const interp::RandomizationReport rep = interp::cascading_randomization(
        model, [&](Module& m) { return interp::grad_cam(m, x, co).map; }, ro);
    for (const auto& step : rep.steps) {
      SanityStep ss;
      ss.layer = step.layer;
      for (int64_t i = 0; i < n; ++i)
        ss.per_image.push_back(image_spearman(rep.original, step.map, i));
      ss.spearman = stats_of(ss.per_image);
      r.sanity.push_back(std::move(ss));
    }
  }
  return r;
}

std::string format_evaluation(const EvaluateResult& r) {
  std::string s = fmt::format(
      "{} on {} test images of {} (each explained for its predicted "
      "class; seed {})\n",
      r.model, r.images, r.data, r.seed);
  s += fmt::format("{:<17} {:>18} {:>18} {:>16}  {}\n", "method", "deletion AUC (lo)",
                   "insertion AUC (hi)", "ms / image", "check");
  for (const auto& row : r.rows) {
    std::string check;
    for (const auto& [key, st] : row.scores) {
      const std::string label = key == "completeness_error" ? "completeness err"
                                : key == "efficiency_error" ? "efficiency err"
                                : key == "r2"               ? "R^2"
                                                            : key;
      check += fmt::format("{} {:.4g} +- {:.2g}  ", label, st.mean, st.std);
    }
    s += fmt::format("{:<17} {:>18} {:>18} {:>16}  {}\n", row.method,
                     stats_cell(row.deletion_auc, 3), stats_cell(row.insertion_auc, 3),
                     stats_cell(row.time_ms, row.time_ms.mean < 10 ? 2 : 1), check);
  }
  if (!r.sanity.empty()) {
    s += fmt::format(
        "\nsanity check: cascading randomisation of Grad-CAM at {} ({} images); "
        "Spearman rho of each map with the trained model's map\n",
        r.sanity_layer, r.sanity.front().per_image.size());
    s += fmt::format("{:>4}  {:<28} {:>16} {:>8} {:>8}\n", "step", "randomised down to",
                     "rho mean +- std", "min", "max");
    for (size_t i = 0; i < r.sanity.size(); ++i) {
      const auto& st = r.sanity[i];
      const auto [mn, mx] = std::minmax_element(st.per_image.begin(), st.per_image.end());
      s += fmt::format("{:>4}  {:<28} {:>16} {:>8.3f} {:>8.3f}\n", i + 1, st.layer,
                       stats_cell(st.spearman, 3), *mn, *mx);
    }
  }
  return s;
}

json evaluation_to_json(const EvaluateResult& r) {
  auto st = [](const Stats& s) { return json{{"mean", s.mean}, {"std", s.std}, {"n", s.n}}; };
  json rows = json::array();
  for (const auto& row : r.rows) {
    json j = {{"method", row.method},
              {"deletion_auc", st(row.deletion_auc)},
              {"insertion_auc", st(row.insertion_auc)},
              {"time_ms", st(row.time_ms)}};
    for (const auto& [key, s] : row.scores) j[key] = st(s);
    rows.push_back(j);
  }
  json out = {{"checkpoint", r.checkpoint}, {"data", r.data}, {"model", r.model},
              {"images", r.images},         {"seed", r.seed}, {"methods", rows}};
  if (!r.sanity.empty()) {
    json steps = json::array();
    for (const auto& s : r.sanity) {
      steps.push_back(
          {{"layer", s.layer}, {"spearman", st(s.spearman)}, {"per_image", s.per_image}});
    }
    out["sanity_check"] = {{"method", "gradcam"}, {"layer", r.sanity_layer}, {"steps", steps}};
  }
  return out;
}

}  // namespace gb::app
