// `glassbox evaluate-explanations`: registry methods over N test images, summarised as mean and
// spread of deletion/insertion AUC, time per image and each method's own check, against random
// baselines; plus the cascading randomisation sanity check of Grad-CAM (see evaluate_job.h).
// Shape letters: N images, C channels, H/W image size.
#include "interp/explain/evaluate_job.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "data/dataset.h"
#include "interp/cam.h"
#include "interp/explain/evaluate_data_randomization.h"
#include "interp/explain/image_records.h"
#include "interp/explain/output_dir.h"
#include "interp/metrics.h"
#include "interp/target.h"
#include "models/registry.h"
#include "models/training/checkpoint_meta.h"
#include "models/training/datasets.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/output_path.h"

namespace gb::interp {
namespace fs = std::filesystem;
using json = nlohmann::json;

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
  return spearman(sa, sb);
}

std::string stats_cell(const Stats& s, int precision) {
  return fmt::format("{:.{}f} +- {:.{}f}", s.mean, precision, s.std, precision);
}

// cfg.methods (each may be a comma-separated list), then the random baselines not listed.
std::vector<std::string> methods_with_baselines(const EvaluateConfig& cfg) {
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
  return methods;
}

// The test images, normalised, the class the model predicts for each (the one explained) and
// the true labels.
struct Images {
  std::vector<Tensor> xs;  // [1,C,H,W] each
  std::vector<int64_t> targets, labels;
  int64_t classes = 0;  // K
};

Images predicted_images(Module& model, const data::Dataset& ds, const data::Normalization& norm) {
  Images im;
  for (size_t i = 0; i < ds.size(); ++i) {
    im.xs.push_back(image_tensor(ds, i, norm));
    NoGradGuard no_grad;
    const std::vector<float> logits = model(im.xs.back().to(model.device())).to_vector();
    im.targets.push_back(std::max_element(logits.begin(), logits.end()) - logits.begin());
    im.labels.push_back(ds.labels[i]);
    im.classes = static_cast<int64_t>(logits.size());
  }
  return im;
}

// What the metrics run with: the resolved parameters (MPRT layers, localisation set counts,
// data-randomisation result), MPRT's re-draw, the localisation samples, the permuted-label model.
struct MetricSetup {
  eval::MetricParams params;
  eval::Reinitialise init;             // empty: spread
  eval::LocalisationSet localisation;  // the kept samples (localisation metrics)
  std::shared_ptr<Module> permuted;    // data-randomization: trained on permuted labels
  int channels = 0, height = 0, width = 0;
};

// Localisation metrics of one method: each kept sample explained for its object's class.
void localisation_metrics(Module& model, const std::string& name, const MethodOptions& mo,
                          const EvaluateConfig& cfg, const MetricSetup& setup,
                          MetricCollector& collector) {
  eval::MetricContext ctx;
  ctx.model = &model;
  for (const eval::LocalisationSample& smp : setup.localisation.samples) {
    MethodOptions o = mo;
    o.stream = (uint64_t{2} << 32) + static_cast<uint64_t>(smp.id);
    const Tensor x =
        eval::localisation_input(smp, mo.norm, setup.channels, setup.height, setup.width);
    const Tensor map = run_method(model, name, x, smp.target, o).map;
    const eval::ImageCase c{x, map, smp.target, smp.target, smp.id, &smp.mask};
    for (const std::string& metric : cfg.metrics) {
      if (eval::is_localisation_metric(metric)) {
        collector.add(metric, eval::run_image_metric(metric, ctx, c, setup.params));
      }
    }
  }
}

// Model metrics (MPRT) of one method: re-explains the first images per randomised layer.
void model_metrics(Module& model, const std::string& name, const Images& im,
                   const MethodOptions& mo, const EvaluateConfig& cfg, const MetricSetup& setup,
                   MetricCollector& collector) {
  const auto N = static_cast<int64_t>(im.xs.size());
  const int64_t n = setup.params.mprt.images == 0 ? N : std::min(N, setup.params.mprt.images);
  const eval::ExplainAll explain = [&](Module& m) {
    std::vector<Tensor> maps;
    for (int64_t k = 0; k < n; ++k) {
      MethodOptions o = mo;
      o.stream = static_cast<uint64_t>(k);  // as the trained model's maps
      maps.push_back(run_method(m, name, im.xs[k], im.targets[k], o).map);
    }
    return maps;
  };
  for (const std::string& metric : cfg.metrics) {
    if (!eval::is_model_metric(metric)) continue;
    for (const eval::MetricValues& v :
         eval::run_model_metric(metric, model, explain, setup.params, mo.seed, setup.init)) {
      collector.add(metric, v);
    }
  }
}

// What a method's per-image loop needs besides the image: the metric context (whose re-explain
// callback reads `image_stream`, the image's own method stream).
struct ImageLoop {
  Module& model;
  const std::string& name;
  const Images& im;
  const MethodOptions& mo;
  const EvaluateConfig& cfg;
  const MetricSetup& setup;
  eval::MetricContext ctx;
  uint64_t image_stream = 0;

  bool wants(const std::string& metric) const {
    return std::find(cfg.metrics.begin(), cfg.metrics.end(), metric) != cfg.metrics.end();
  }

  // Image k: the method's map, its AUCs, checks and per-image metrics (in the order a
  // collector takes them), and the map itself when `keep_map`.
  ImageRecord run(size_t k, bool keep_map) {
    MethodOptions o = mo;
    o.stream = static_cast<uint64_t>(k);
    image_stream = o.stream;
    const MethodOutput m = run_method(model, name, im.xs[k], im.targets[k], o);
    const eval::ImageCase c{im.xs[k], m.map, im.targets[k], im.labels[k], static_cast<int64_t>(k)};
    ImageRecord rec;
    // The rows' deletion/insertion AUCs (map_aucs' settings), kept as metrics when asked for.
    for (const char* curve : {"deletion", "insertion"}) {
      const eval::MetricValues v = eval::run_image_metric(curve, ctx, c, setup.params);
      (curve[0] == 'd' ? rec.deletion_auc : rec.insertion_auc) = v.scalars.at("auc");
      if (wants(curve)) rec.metrics.emplace_back(curve, v);
    }
    if (setup.permuted) {  // the same class, seed stream and method on the permuted model
      const Tensor other = run_method(*setup.permuted, name, im.xs[k], im.targets[k], o).map;
      const eval::MapComparison cmp = eval::compare_maps(m.map, other);
      eval::MetricValues v;
      v.scalars = {
          {"spearman", cmp.spearman}, {"spearman_abs", cmp.spearman_abs}, {"ssim", cmp.ssim}};
      if (cmp.has_hog) v.scalars["hog"] = cmp.hog;
      rec.metrics.emplace_back("data-randomization", v);
    }
    for (const std::string& metric : cfg.metrics) {
      if (metric != "deletion" && metric != "insertion" && metric != "data-randomization" &&
          !eval::is_model_metric(metric) && !eval::is_localisation_metric(metric)) {
        rec.metrics.emplace_back(metric, eval::run_image_metric(metric, ctx, c, setup.params));
      }
    }
    rec.time_ms = m.ms;
    if (keep_map) rec.map = m.map.to_vector();
    rec.scores = m.scores;
    return rec;
  }
};

// The images this process explains: all, or its contiguous share of them in an MPI job.
ShardRange my_images(const EvaluateConfig& cfg, size_t count) {
  const auto n = static_cast<int64_t>(count);
  if (!cfg.group || cfg.group->size() == 1) return {0, n};
  return shard_range(n, cfg.group->rank(), cfg.group->size());
}

// One method over every image: mean and spread of its AUCs, time, checks and --metrics.
// Appends every image's map to `maps` when given. In an MPI job each rank explains its share of
// the images and the records are gathered in image order; the metrics that re-explain on other
// models (MPRT, localisation) then run on rank 0 alone, which reports.
MethodSummary evaluate_method(Module& model, const std::string& name, const Images& im,
                              const MethodOptions& mo, const EvaluateConfig& cfg,
                              const MetricSetup& setup, std::vector<float>* maps) {
  ImageLoop loop{model, name, im, mo, cfg, setup, {}, 0};
  loop.ctx.model = &model;
  loop.ctx.norm = mo.norm;
  loop.ctx.seed = mo.seed;
  loop.ctx.batch = exact_forwards(mo.batch);  // metrics score with the exact model
  loop.ctx.classes = im.classes;
  // Re-explanations (max-sensitivity, random-logit) keep the image's own method stream, so a
  // sampling method's noise is held fixed and only the input or the class changes.
  loop.ctx.explain = [&loop](const Tensor& x, int64_t target) {
    MethodOptions o = loop.mo;
    o.stream = loop.image_stream;
    return run_method(loop.model, loop.name, x, target, o).map;
  };
  const ShardRange mine = my_images(cfg, im.xs.size());
  if (cfg.warmup && mine.size() > 0) {
    run_method(model, name, im.xs[static_cast<size_t>(mine.begin)],
               im.targets[static_cast<size_t>(mine.begin)], mo);
  }
  Stopwatch sw;
  std::vector<ImageRecord> records;
  for (int64_t k = mine.begin; k < mine.end; ++k) {
    records.push_back(loop.run(static_cast<size_t>(k), maps != nullptr));
  }
  const bool sharded = cfg.group && cfg.group->size() > 1;
  if (sharded) records = gather_image_records(*cfg.group, records);
  Series s;
  MetricCollector collector;
  for (const ImageRecord& rec : records) {
    s.deletion.push_back(rec.deletion_auc);
    s.insertion.push_back(rec.insertion_auc);
    for (const auto& [metric, v] : rec.metrics) collector.add(metric, v);
    s.time_ms.push_back(rec.time_ms);
    if (maps) maps->insert(maps->end(), rec.map.begin(), rec.map.end());
    for (const auto& [key, v] : rec.scores) s.scores[key].push_back(v);
  }
  MethodSummary row;
  row.method = name;
  row.deletion_auc = stats_of(s.deletion);
  row.insertion_auc = stats_of(s.insertion);
  row.time_ms = stats_of(s.time_ms);
  for (const auto& [key, v] : s.scores) row.scores[key] = stats_of(v);
  if (!sharded || cfg.group->is_root()) {
    model_metrics(model, name, im, mo, cfg, setup, collector);
    localisation_metrics(model, name, mo, cfg, setup, collector);
  }
  row.metrics = collector.summarise();
  if (!cfg.quiet) {
    fmt::print(stderr, "  {:<16} {} images in {:.1f}s{}\n", name, im.xs.size(),
               sw.elapsed_ms() / 1000.0,
               sharded ? fmt::format(" on {} processes", cfg.group->size()) : "");
  }
  return row;
}

// Cascading randomisation of Grad-CAM on the first cfg.sanity_images images.
void sanity_check(Module& model, const Images& im, const MethodOptions& mo,
                  const EvaluateConfig& cfg, EvaluateResult& r) {
  const auto N = static_cast<int64_t>(im.xs.size());
  const int64_t n = std::clamp<int64_t>(cfg.sanity_images, 1, N);
  const std::vector<Tensor> batch(im.xs.begin(), im.xs.begin() + n);
  const Tensor x = ops::concat(batch, 0).detach();
  CamOptions co;
  co.layer = mo.layer.empty() ? default_cam_layer(model, x) : mo.layer;
  co.target = Target::per_input(std::vector<int64_t>(im.targets.begin(), im.targets.begin() + n));
  co.batch = mo.batch;
  r.sanity_layer = co.layer;
  RandomizationOptions ro;
  ro.seed = mo.seed;
  const RandomizationReport rep = cascading_randomization(
      model, [&](Module& m) { return grad_cam(m, x, co).map; }, ro);
  for (const auto& step : rep.steps) {
    SanityStep ss;
    ss.layer = step.layer;
    for (int64_t i = 0; i < n; ++i)
      ss.per_image.push_back(image_spearman(rep.original, step.map, i));
    ss.spearman = stats_of(ss.per_image);
    r.sanity.push_back(std::move(ss));
  }
}

constexpr std::string_view kNpyFiles = "the .npy files written there";

// The directory of the .npy files of save_maps.
fs::path npy_dir(const EvaluateConfig& cfg) {
  return cfg.maps_format == MapFormat::Both ? fs::path(cfg.save_maps).replace_extension()
                                            : cfg.save_maps;
}

void check_maps_output(const EvaluateConfig& cfg) {
  if (cfg.save_maps.empty()) return;
  if (cfg.maps_format != MapFormat::Npy) {
    if (cfg.save_maps.extension() != ".safetensors") {
      throw std::invalid_argument(cfg.save_maps.string() +
                                  ": --save-maps must end in .safetensors (or pass --maps-format "
                                  "npy to write a directory of .npy files)");
    }
    refuse_directory(cfg.save_maps);
    refuse_existing(cfg.save_maps, cfg.overwrite);
    require_parent_directory(cfg.save_maps, "--save-maps");
  }
  if (cfg.maps_format != MapFormat::Safetensors) {
    check_out_dir(npy_dir(cfg), cfg.overwrite, kNpyFiles);
    require_parent_directory(npy_dir(cfg), "--save-maps");
  }
}

// The archive of save_maps: inputs, labels, targets and one [N,H,W] array per method.
void write_maps(const EvaluateConfig& cfg, const EvaluateResult& r, const Images& im,
                const std::vector<int64_t>& labels,
                const std::vector<std::pair<std::string, std::vector<float>>>& maps,
                const MethodOptions& mo) {
  MapArchive archive({{"checkpoint", r.checkpoint},
                      {"data", r.data},
                      {"model", r.model},
                      {"images", r.images},
                      {"seed", r.seed},
                      {"subset", "the first images of the test set, class-balanced"}});
  const Tensor inputs = ops::concat(im.xs, 0).detach();
  archive.add_f32("inputs", inputs.shape(), inputs.to_vector(),
                  {{"normalisation", {{"mean", mo.norm.mean}, {"std", mo.norm.std}}}});
  const auto N = static_cast<int64_t>(im.xs.size());
  archive.add_i64("labels", {N}, labels);
  archive.add_i64("targets", {N}, im.targets, {{"what", "the predicted class, explained"}});
  const int64_t H = inputs.size(2), W = inputs.size(3);
  for (size_t i = 0; i < maps.size(); ++i) {
    const MethodSummary& row = r.rows[i];
    archive.add_f32(maps[i].first, {N, H, W}, maps[i].second,
                    {{"method", row.method},
                     {"target", "per image: targets"},
                     {"time_ms_mean", row.time_ms.mean},
                     {"options",
                      {{"layer", mo.layer},
                       {"seed", mo.seed},
                       {"samples", mo.samples},
                       {"segments", mo.segments},
                       {"segmentation", mo.segmentation},
                       {"ig_steps", mo.ig_steps}}}});
  }
  if (cfg.maps_format != MapFormat::Safetensors) {  // staged, then moved into place
    write_output_directory(
        npy_dir(cfg), cfg.overwrite, {}, "maps.json", archive.npy_sidecar(),
        [&](const fs::path& dir) { return archive.write_npy_arrays(dir); }, kNpyFiles);
  }
  if (cfg.maps_format != MapFormat::Npy) archive.write_safetensors_file(cfg.save_maps);
}

// The metric parameters with MPRT's layers resolved on the first image, and MPRT's re-draw:
// fresh copies the parameters of a newly built model (manual_seed(seed)); a model the zoo cannot
// rebuild (imported graph) falls back to spread, recorded in init_used.
MetricSetup metric_setup(Module& model, const Images& im, const training::CheckpointMeta& meta,
                         const std::string& data, const EvaluateConfig& cfg) {
  MetricSetup setup;
  setup.params = cfg.metric_params;
  if (std::find(cfg.metrics.begin(), cfg.metrics.end(), "data-randomization") !=
      cfg.metrics.end()) {
    const auto test_accuracy = [&](Module& m) {
      int64_t right = 0;
      for (size_t k = 0; k < im.xs.size(); ++k) {
        NoGradGuard no_grad;
        const std::vector<float> logits = m(im.xs[k]).to_vector();
        right += std::max_element(logits.begin(), logits.end()) - logits.begin() == im.labels[k];
      }
      return static_cast<double>(right) / static_cast<double>(im.xs.size());
    };
    PermutedModel pm = train_on_permuted_labels(meta, data, cfg.metric_params.data_randomization,
                                                cfg.method.seed, test_accuracy, cfg.quiet);
    setup.params.data_randomization.result = pm.info;
    if (pm.compared) setup.permuted = pm.model;
  }
  if (std::any_of(cfg.metrics.begin(), cfg.metrics.end(), eval::is_localisation_metric)) {
    eval::LocalisationParams& lp = setup.params.localisation;
    const data::Dataset src = training::load_split(data, data::Split::Test, lp.source);
    eval::LocalisationOptions lo = lp.set;
    lo.seed = cfg.method.seed;
    setup.localisation = eval::make_localisation_set(src, lo);
    setup.channels = src.channels;
    setup.height = src.height;
    setup.width = src.width;
    if (lo.require_correct) {
      eval::keep_recognised(setup.localisation, model, meta.norm, src.channels, src.height,
                            src.width, exact_forwards(cfg.method.batch));
    }
    lp.generated = setup.localisation.generated;
    lp.kept = static_cast<int64_t>(setup.localisation.samples.size());
  }
  const bool wants_mprt =
      std::any_of(cfg.metrics.begin(), cfg.metrics.end(),
                  [](const std::string& m) { return eval::is_model_metric(m); });
  if (!wants_mprt) return setup;
  eval::MprtParams& mp = setup.params.mprt;
  mp.layers = eval::resolve_mprt_layers(model, im.xs[0], mp);
  mp.init_used = mp.init;
  if (mp.init == "fresh") {
    std::shared_ptr<Module> fresh;
    try {
      manual_seed(cfg.method.seed);
      fresh = models::build_model(meta.model_name, meta.model_config);
    } catch (const std::exception& e) {
      mp.init_used = std::string("spread (fresh unavailable: ") + e.what() + ")";
    }
    if (fresh) {
      std::map<std::string, Tensor> params;
      for (const auto& [n, t] : fresh->named_parameters()) params[n] = t;
      setup.init = [params](const std::string& name, const Tensor& t, uint64_t) {
        const auto it = params.find(name);
        if (it == params.end() || it->second.shape() != t.shape()) {
          throw std::runtime_error("--mprt-init fresh: the new model has no parameter '" + name +
                                   "' of shape " + shape_str(t.shape()));
        }
        t.detach().copy_(it->second.to(t.device()));
      };
    }
  }
  return setup;
}

// (method, its metric summaries) per row.
std::vector<std::pair<std::string, std::map<std::string, MetricSummary>>> metric_summaries(
    const EvaluateResult& r) {
  std::vector<std::pair<std::string, std::map<std::string, MetricSummary>>> out;
  for (const auto& row : r.rows) out.emplace_back(row.method, row.metrics);
  return out;
}

}  // namespace

EvaluateResult evaluate_explanations(const EvaluateConfig& cfg,
                                     const EvaluateProgressFn& on_method_done) {
  if (cfg.count < 1) throw std::invalid_argument("--count must be at least 1");
  check_method_options(cfg.method);
  for (const std::string& m : cfg.metrics) eval::metric_info(m);  // unknown names: refused here
  eval::check_metric_params(cfg.metric_params);
  // The rank that reports: it writes the maps and runs the sanity check.
  const bool reports = !cfg.group || cfg.group->is_root();
  if (reports) check_maps_output(cfg);
  const std::vector<std::string> methods = methods_with_baselines(cfg);
  training::LoadedModel lm = training::load_model(cfg.checkpoint);
  Module& model = *lm.model;
  model.to(parse_device(cfg.device));  // inputs and maps stay on the host
  model.eval();
  const std::string data =
      cfg.data.empty() ? training::existing_training_data(lm.meta, cfg.checkpoint) : cfg.data;
  const data::Dataset ds = training::load_split(data, data::Split::Test, cfg.count);
  training::check_dataset_fits(ds, lm.meta, cfg.checkpoint);
  const int64_t pixels = int64_t{ds.height} * ds.width;
  if (std::find(cfg.metrics.begin(), cfg.metrics.end(), "faithfulness-correlation") !=
          cfg.metrics.end() &&
      cfg.metric_params.faithfulness.subset > pixels) {
    throw std::invalid_argument("--fc-subset " +
                                std::to_string(cfg.metric_params.faithfulness.subset) +
                                " exceeds the " + std::to_string(pixels) + " pixels of an image");
  }
  MethodOptions mo = cfg.method;
  mo.norm = lm.meta.norm;
  const Images im = predicted_images(model, ds, lm.meta.norm);

  EvaluateResult r;
  r.checkpoint = cfg.checkpoint.string();
  r.data = ds.source;
  r.model = lm.meta.model_name;
  r.images = static_cast<int64_t>(ds.size());
  r.seed = mo.seed;
  const MetricSetup setup = metric_setup(model, im, lm.meta, data, cfg);
  r.metrics = cfg.metrics;
  r.metric_params = setup.params;
  std::vector<std::pair<std::string, std::vector<float>>> maps;
  for (const auto& name : methods) {
    std::vector<float>* keep = nullptr;
    if (!cfg.save_maps.empty()) keep = &maps.emplace_back(name, std::vector<float>()).second;
    r.rows.push_back(evaluate_method(model, name, im, mo, cfg, setup, keep));
    if (on_method_done && reports) on_method_done(r);
  }
  if (!reports) return r;
  if (cfg.sanity_check) sanity_check(model, im, mo, cfg, r);
  if (!cfg.save_maps.empty()) write_maps(cfg, r, im, ds.labels, maps, mo);
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
  s += format_metrics(r.metrics, metric_summaries(r));
  const nlohmann::json& dr = r.metric_params.data_randomization.result;
  if (dr.contains("memorisation_accuracy")) {
    s += fmt::format(
        "  (permuted-label model: {} epochs, memorised {:.1f}%, test accuracy {:.1f}%{})\n",
        dr["epochs"].get<int64_t>(), 100.0 * dr["memorisation_accuracy"].get<double>(),
        100.0 * dr["test_accuracy"].get<double>(),
        dr.contains("withheld") ? "; " + dr["withheld"].get<std::string>() : "");
  }
  return s;
}

json evaluation_to_json(const EvaluateResult& r, bool complete) {
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
              {"images", r.images},         {"seed", r.seed}, {"methods", rows},
              {"complete", complete}};
  if (!r.sanity.empty()) {
    json steps = json::array();
    for (const auto& s : r.sanity) {
      steps.push_back(
          {{"layer", s.layer}, {"spearman", st(s.spearman)}, {"per_image", s.per_image}});
    }
    out["sanity_check"] = {{"method", "gradcam"}, {"layer", r.sanity_layer}, {"steps", steps}};
  }
  if (!r.metrics.empty()) {
    out["metrics"] = metrics_to_json(r.metrics, r.metric_params, metric_summaries(r));
  }
  return out;
}

}  // namespace gb::interp
