// `glassbox global-explain` and `glassbox tcav`: checks, data, the per-image loops, pictures and
// JSON (see global_job.h). Shape letters: N images, C channels, H/W image size, K classes,
// D flattened layer size, R random runs.
#include "interp/explain/global_job.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <stdexcept>

#include "data/dataset.h"
#include "interp/cam.h"
#include "interp/explain/output_dir.h"
#include "interp/global/concept_sets.h"
#include "interp/global/influential_segments.h"
#include "interp/global/tcav.h"
#include "interp/job_pictures.h"
#include "interp/map_archive.h"
#include "interp/target.h"
#include "interp/visualize.h"
#include "models/training/checkpoint_meta.h"
#include "models/training/datasets.h"
#include "runtime/output_path.h"
#include "runtime/rng.h"

namespace gb::interp {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::string_view kGlobalFiles = "the files global-explain writes there";

// Image i of ds, normalised, as [1,C,H,W].
Tensor image_tensor(const data::Dataset& ds, size_t i, const data::Normalization& norm) {
  std::vector<float> v(ds.image_size());
  data::normalize_image(ds.image(i), ds.channels, ds.height, ds.width, norm, v.data());
  return Tensor::from_vector({1, ds.channels, ds.height, ds.width}, v);
}

// Images `indices` of ds, normalised, as [n,C,H,W].
Tensor image_batch(const data::Dataset& ds, const std::vector<size_t>& indices,
                   const data::Normalization& norm) {
  const size_t per = ds.image_size();
  std::vector<float> v(indices.size() * per);
  for (size_t j = 0; j < indices.size(); ++j) {
    data::normalize_image(ds.image(indices[j]), ds.channels, ds.height, ds.width, norm,
                          v.data() + j * per);
  }
  return Tensor::from_vector(
      {static_cast<int64_t>(indices.size()), ds.channels, ds.height, ds.width}, v);
}

std::string data_path(const std::string& data, const training::LoadedModel& lm,
                      const fs::path& checkpoint) {
  return data.empty() ? training::existing_training_data(lm.meta, checkpoint) : data;
}

json mean_std_json(const MeanStd& m) { return {{"mean", m.mean}, {"std", m.std}}; }

// ---- global-explain ----

void check_global_config(const GlobalExplainConfig& cfg) {
  if (parse_method_list(cfg.method).size() != 1) {
    throw std::invalid_argument("--method: global-explain takes one method, got '" + cfg.method +
                                "'");
  }
  check_method_options(cfg.method_options);
  if (cfg.count < 1) throw std::invalid_argument("--count must be at least 1");
  if (cfg.segment_images < 0) throw std::invalid_argument("--segment-images must be >= 0");
  if (cfg.segments < 1 || cfg.shap_samples < 1 || cfg.top_segments < 1) {
    throw std::invalid_argument("--segments, --shap-samples and --top-segments must be >= 1");
  }
  check_out_dir(cfg.out, cfg.overwrite, kGlobalFiles);
}

struct GlobalPass {
  std::unique_ptr<ClassMapAccumulator> maps;
  std::unique_ptr<TopSegments> top;
  std::vector<int64_t> correct;  // per class: images predicted right
  bool is_signed = false;
  double max_efficiency_gap = 0;
  int64_t segment_images = 0;
};

// Runs the method (and the superpixels on the first images) over every image of ds.
GlobalPass explain_all(Module& model, const data::Dataset& ds, const GlobalExplainConfig& cfg,
                       const data::Normalization& norm) {
  const auto K = static_cast<int64_t>(ds.num_classes());
  GlobalPass p;
  p.maps =
      std::make_unique<ClassMapAccumulator>(K, ds.channels, ds.height, ds.width, cfg.normalisation);
  p.top = std::make_unique<TopSegments>(K, cfg.top_segments);
  p.correct.assign(static_cast<size_t>(K), 0);
  MethodOptions mo = cfg.method_options;
  mo.norm = norm;
  SegmentShapOptions so;
  so.segments = cfg.segments;
  so.samples = cfg.shap_samples;
  so.seed = mo.seed;
  so.batch = mo.batch;
  so.norm = norm;
  for (size_t i = 0; i < ds.size(); ++i) {
    const Tensor x = image_tensor(ds, i, norm);
    const int64_t k = ds.labels[i];
    const std::vector<float> prob = class_probabilities(model, x);
    if (std::max_element(prob.begin(), prob.end()) - prob.begin() == k) {
      ++p.correct[static_cast<size_t>(k)];
    }
    const MethodOutput m = run_method(model, cfg.method, x, k, mo);
    p.is_signed = m.is_signed;
    p.maps->add(k, m.map, x);
    if (static_cast<int64_t>(i) < cfg.segment_images) {
      const ImageSegmentValues v = segment_values(model, x, k, so);
      p.max_efficiency_gap = std::max(p.max_efficiency_gap, std::fabs(v.efficiency_gap));
      p.top->add(k, static_cast<int64_t>(i), x, norm, v);
      ++p.segment_images;
    }
  }
  return p;
}

// class_maps.png (mean input, mean map over it, per class) and the JSON entries per class.
void class_pictures(const GlobalPass& p, const training::LoadedModel& lm,
                    const GlobalExplainConfig& cfg,
                    std::vector<std::pair<std::string, Image>>& pngs, json& classes,
                    MapArchive& archive) {
  const data::Normalization& norm = lm.meta.norm;
  std::vector<Image> tiles;
  std::vector<std::string> labels;
  for (int64_t k = 0; k < p.maps->classes(); ++k) {
    const int64_t n = p.maps->count(k);
    const std::string name = class_name(lm.meta.classes, k);
    classes.push_back({{"class", k},
                       {"name", name},
                       {"images", n},
                       {"correct", p.correct[static_cast<size_t>(k)]}});
    if (n == 0) continue;
    const Tensor input = p.maps->mean_input(k);
    const Tensor map = p.maps->mean_map(k);
    archive.add_f32("map." + std::to_string(k), {map.size(0), map.size(1)}, map.to_vector(),
                    {{"class", k}, {"name", name}, {"images", n}});
    archive.add_f32("input." + std::to_string(k), {input.size(0), input.size(1), input.size(2)},
                    input.to_vector(), {{"class", k}, {"name", name}, {"images", n}});
    const int64_t factor = display_factor(input.size(1), input.size(2), 128);
    const Image base = upscale_nearest(image_from_tensor(input, norm.mean, norm.std), factor);
    MethodOutput m;
    m.map = map;
    m.is_signed = p.is_signed;
    tiles.push_back(base);
    labels.push_back(fmt::format("{} n={}", name, n));
    tiles.push_back(heat_overlay(base, m, factor));
    labels.push_back(fmt::format("mean {}", cfg.method));
  }
  SheetOptions so;
  so.columns = 4;
  pngs.emplace_back("class_maps.png", make_sheet(tiles, labels, so));
}

// segments.png (one row per class, its top superpixels) and their JSON.
json segment_pictures(const GlobalPass& p, const training::LoadedModel& lm,
                      const GlobalExplainConfig& cfg, const data::Dataset& ds,
                      std::vector<std::pair<std::string, Image>>& pngs) {
  json per_class = json::array();
  std::vector<Image> tiles;
  std::vector<std::string> labels;
  const int64_t factor = display_factor(ds.height, ds.width, 192);
  for (int64_t k = 0; k < p.maps->classes(); ++k) {
    json top = json::array();
    for (const InfluentialSegment& s : p.top->of(k)) {
      top.push_back({{"image", s.image},
                     {"segment", s.segment},
                     {"value", s.value},
                     {"pixels", s.pixels},
                     {"box", {s.y0, s.x0, s.y1, s.x1}}});
      tiles.push_back(upscale_nearest(s.crop, factor));
      labels.push_back(
          fmt::format("{} #{} {:.2f}", class_name(lm.meta.classes, k), s.image, s.value));
    }
    per_class.push_back({{"class", k}, {"name", class_name(lm.meta.classes, k)}, {"top", top}});
  }
  if (!tiles.empty()) {
    SheetOptions so;
    so.columns = cfg.top_segments;
    pngs.emplace_back("segments.png", make_sheet(tiles, labels, so));
  }
  return {
      {"method", "kernelshap"},
      {"citation", "Lundberg & Lee, NeurIPS 2017 (KernelSHAP); Achanta et al., TPAMI 2012 (SLIC)"},
      {"images", p.segment_images},
      {"segments_requested", cfg.segments},
      {"samples", cfg.shap_samples},
      {"seed", cfg.method_options.seed},
      {"fill", "the image's per-channel mean"},
      {"value", "target logit"},
      {"max_efficiency_gap", p.max_efficiency_gap},
      {"top_per_class", cfg.top_segments},
      {"classes", per_class}};
}

}  // namespace

GlobalResult global_explain(const GlobalExplainConfig& cfg) {
  check_global_config(cfg);
  training::LoadedModel lm = training::load_model(cfg.checkpoint);
  Module& model = *lm.model;
  model.to(parse_device(cfg.device));
  model.eval();
  const std::string data = data_path(cfg.data, lm, cfg.checkpoint);
  const data::Dataset ds = training::load_split(data, data::Split::Test, cfg.count);
  training::check_dataset_fits(ds, lm.meta, cfg.checkpoint);
  const GlobalPass p = explain_all(model, ds, cfg, lm.meta.norm);

  std::vector<std::pair<std::string, Image>> pngs;
  json classes = json::array();
  MapArchive archive;
  class_pictures(p, lm, cfg, pngs, classes, archive);
  GlobalResult r;
  r.json = {
      {"checkpoint", cfg.checkpoint.string()},
      {"model", lm.meta.model_name},
      {"data", ds.source},
      {"images", ds.size()},
      {"class_maps",
       {{"method", cfg.method},
        {"layer", cfg.method_options.layer},
        {"target", "each image's true class"},
        {"normalisation", map_normalisation_name(cfg.normalisation)},
        {"normalisation_text", cfg.normalisation == MapNormalisation::MaxAbs
                                   ? "each map divided by its max |value| before averaging"
                                   : "each map divided by its sum of |values| before averaging"},
        {"classes", classes}}}};
  if (cfg.segment_images > 0) r.json["segments"] = segment_pictures(p, lm, cfg, ds, pngs);
  r.files = write_output_directory(
      cfg.out, cfg.overwrite, pngs, "global.json", r.json,
      [&](const fs::path& dir) {
        archive.write_safetensors_file(dir / "class_maps.safetensors");
        return std::vector<std::string>{"class_maps.safetensors"};
      },
      kGlobalFiles);
  return r;
}

std::string format_global_summary(const GlobalResult& r) {
  const json& cm = r.json["class_maps"];
  std::string s =
      fmt::format("{} maps of {} images, normalised {}\n", cm["method"].get<std::string>(),
                  r.json["images"].get<int64_t>(), cm["normalisation"].get<std::string>());
  s += fmt::format("{:<16} {:>7} {:>8}  {}\n", "class", "images", "correct", "top superpixel");
  for (size_t k = 0; k < cm["classes"].size(); ++k) {
    const json& c = cm["classes"][k];
    std::string best = "-";
    if (r.json.contains("segments")) {
      const json& top = r.json["segments"]["classes"][k]["top"];
      if (!top.empty()) {
        best = fmt::format("image {} value {:.3f}", top[0]["image"].get<int64_t>(),
                           top[0]["value"].get<double>());
      }
    }
    s += fmt::format("{:<16} {:>7} {:>8}  {}\n", c["name"].get<std::string>(),
                     c["images"].get<int64_t>(), c["correct"].get<int64_t>(), best);
  }
  if (!r.files.empty()) {
    s += fmt::format("wrote {} files to {}\n", r.files.size(),
                     r.files.front().parent_path().string());
  }
  return s;
}

// ---- tcav ----

namespace {

void check_tcav_config(const TcavConfig& cfg) {
  if (cfg.concepts.empty()) throw std::invalid_argument("--concept NAME=DIR is required");
  std::set<std::string> names;
  for (const ConceptFolder& c : cfg.concepts) {
    if (c.name.empty()) throw std::invalid_argument("--concept: empty name in NAME=DIR");
    if (!names.insert(c.name).second) {
      throw std::invalid_argument("--concept: '" + c.name + "' is given twice");
    }
    image_files(c.dir, "--concept " + c.name);
  }
  if (cfg.random_dirs.empty() == (cfg.random_from_data <= 0)) {
    throw std::invalid_argument("give exactly one of --random DIR... and --random-from-data K");
  }
  for (const fs::path& d : cfg.random_dirs) image_files(d, "--random");
  if (cfg.target_class.empty()) throw std::invalid_argument("--target-class is required");
  if (cfg.count < 1) throw std::invalid_argument("--count must be at least 1");
  if (!(cfg.alpha > 0 && cfg.alpha < 1)) throw std::invalid_argument("--alpha must be in (0,1)");
  if (!(cfg.cav.l2 > 0)) throw std::invalid_argument("--l2 must be > 0");
  if (!(cfg.cav.test_fraction > 0 && cfg.cav.test_fraction < 1)) {
    throw std::invalid_argument("--test-fraction must be in (0,1)");
  }
  check_output_file(cfg.out, cfg.overwrite, "--out");
}

// R: --runs, or the number of random folders, or 10 from data.
int64_t resolve_runs(const TcavConfig& cfg) {
  const auto folders = static_cast<int64_t>(cfg.random_dirs.size());
  const int64_t runs = cfg.runs > 0 ? cfg.runs : (folders > 0 ? folders : 10);
  if (runs < 2) {
    throw std::invalid_argument(
        "--runs: at least 2 random sets are needed (each random set is also scored against "
        "another for the random baseline)");
  }
  if (folders > 0 && runs > folders) {
    throw std::invalid_argument(fmt::format("--runs {}: only {} --random folders", runs, folders));
  }
  return runs;
}

int64_t resolve_class(const std::string& text, const std::vector<std::string>& classes) {
  const auto it = std::find(classes.begin(), classes.end(), text);
  if (it != classes.end()) return it - classes.begin();
  int64_t k = -1;
  try {
    size_t used = 0;
    k = std::stoll(text, &used);
    if (used != text.size()) k = -1;
  } catch (const std::exception&) {
    k = -1;
  }
  if (k < 0 || k >= static_cast<int64_t>(classes.size())) {
    std::string names;
    for (size_t i = 0; i < classes.size(); ++i) names += (i ? ", " : "") + classes[i];
    throw std::invalid_argument("--target-class '" + text + "': expected a class index 0.." +
                                std::to_string(classes.size() - 1) + " or a name (" + names + ")");
  }
  return k;
}

struct TcavInputs {
  std::vector<Tensor> concepts;  // [n_c,C,H,W] per concept
  std::vector<Tensor> randoms;   // R sets
  Tensor class_inputs;           // [n,C,H,W] test images of the class
  json random_source;
};

// R disjoint sets of K training images, drawn by a Philox shuffle of a balanced subset.
std::vector<Tensor> random_sets_from_data(const std::string& data, int64_t R, int64_t K,
                                          uint64_t seed, const training::LoadedModel& lm,
                                          const fs::path& checkpoint) {
  const data::Dataset ds = training::load_split(data, data::Split::Train, 2 * R * K);
  training::check_images_fit(ds, lm.meta.input_shape, checkpoint);
  if (static_cast<int64_t>(ds.size()) < R * K) {
    throw std::invalid_argument(
        fmt::format("--random-from-data {} x --runs {}: {} has only {} "
                    "training images",
                    K, R, ds.source, ds.size()));
  }
  std::vector<size_t> order(ds.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Generator g(seed, 0x7CA5);
  for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[g.below(i + 1)]);
  std::vector<Tensor> sets;
  for (int64_t r = 0; r < R; ++r) {
    const std::vector<size_t> idx(order.begin() + r * K, order.begin() + (r + 1) * K);
    sets.push_back(image_batch(ds, idx, lm.meta.norm));
  }
  return sets;
}

TcavInputs load_tcav_inputs(const TcavConfig& cfg, const training::LoadedModel& lm, int64_t R,
                            int64_t k) {
  TcavInputs in;
  const Shape& chw = lm.meta.input_shape;
  for (const ConceptFolder& c : cfg.concepts) {
    in.concepts.push_back(load_image_folder(c.dir, chw, lm.meta.norm, "--concept " + c.name));
  }
  const std::string data = data_path(cfg.data, lm, cfg.checkpoint);
  if (!cfg.random_dirs.empty()) {
    json dirs = json::array();
    for (int64_t r = 0; r < R; ++r) {
      const fs::path& d = cfg.random_dirs[static_cast<size_t>(r)];
      in.randoms.push_back(load_image_folder(d, chw, lm.meta.norm, "--random"));
      dirs.push_back(d.string());
    }
    in.random_source = {{"kind", "folders"}, {"folders", dirs}};
  } else {
    in.randoms =
        random_sets_from_data(data, R, cfg.random_from_data, cfg.cav.seed, lm, cfg.checkpoint);
    in.random_source = {{"kind", "training images"},
                        {"data", data.empty() ? data::default_fashion_mnist_dir() : data},
                        {"per_set", cfg.random_from_data},
                        {"disjoint", true}};
  }
  const data::Dataset test = training::load_split(data, data::Split::Test, 0);
  training::check_dataset_fits(test, lm.meta, cfg.checkpoint);
  std::vector<size_t> idx;
  for (size_t i = 0; i < test.size() && static_cast<int64_t>(idx.size()) < cfg.count; ++i) {
    if (test.labels[i] == k) idx.push_back(i);
  }
  if (idx.empty()) {
    throw std::invalid_argument(
        fmt::format("--target-class {}: {} has no test image of it", k, test.source));
  }
  in.class_inputs = image_batch(test, idx, lm.meta.norm);
  return in;
}

// The mean cosine between each input's gradient row and the mean gradient: 1 when every input
// has the same gradient direction (as for a layer followed only by pooling and a linear head),
// where a TCAV score can only be 0 or 1.
double gradient_mean_cosine(const ActivationRows& g) {
  std::vector<double> mean(static_cast<size_t>(g.d));
  for (int64_t i = 0; i < g.n; ++i) {
    for (int64_t j = 0; j < g.d; ++j) mean[static_cast<size_t>(j)] += g.values[i * g.d + j];
  }
  double mean_norm = 0;
  for (double v : mean) mean_norm += v * v;
  mean_norm = std::sqrt(mean_norm);
  const std::vector<double> dots = project_rows(g, mean);
  double sum = 0;
  for (int64_t i = 0; i < g.n; ++i) {
    double norm = 0;
    for (int64_t j = 0; j < g.d; ++j) {
      const double v = g.values[i * g.d + j];
      norm += v * v;
    }
    norm = std::sqrt(norm);
    if (norm > 0 && mean_norm > 0) sum += dots[static_cast<size_t>(i)] / (norm * mean_norm);
  }
  return sum / static_cast<double>(g.n);
}

// Every layer resolves and gives 4-D (or token) outputs, checked on one blank input before the
// images are loaded.
void check_layers(Module& model, const Shape& chw, const std::vector<std::string>& layers) {
  const Tensor blank = Tensor::zeros({1, chw[0], chw[1], chw[2]});
  for (const std::string& layer : layers) {
    try {
      capture_layer(model, blank, layer, Target::pred(), false);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("--layer " + layer + ": " + e.what());
    }
  }
}

json runs_json(const std::vector<TcavRun>& runs) {
  json a = json::array();
  for (const TcavRun& r : runs) {
    a.push_back({{"score", r.score.score},
                 {"magnitude", r.score.magnitude},
                 {"probe_test_accuracy", r.cav.test_accuracy},
                 {"probe_train_accuracy", r.cav.train_accuracy},
                 {"probe_test_count", r.cav.test_count},
                 {"newton_steps", r.cav.iterations}});
  }
  return a;
}

json concept_json(const std::string& concept_name, int64_t images, const std::string& layer,
                  const TcavConcept& t) {
  return {{"concept", concept_name},
          {"concept_images", images},
          {"layer", layer},
          {"score", mean_std_json(t.score)},
          {"magnitude", mean_std_json(t.magnitude)},
          {"random_score", mean_std_json(t.random_score)},
          {"random_magnitude", mean_std_json(t.random_magnitude)},
          {"probe_accuracy", mean_std_json(t.test_accuracy)},
          {"random_probe_accuracy", mean_std_json(t.random_test_accuracy)},
          {"t", t.test.t},
          {"df", t.test.df},
          {"p_value", t.test.p},
          {"runs", runs_json(t.concept_runs)},
          {"random_runs", runs_json(t.random_runs)}};
}

}  // namespace

TcavResult tcav(const TcavConfig& cfg) {
  check_tcav_config(cfg);
  const int64_t R = resolve_runs(cfg);
  training::LoadedModel lm = training::load_model(cfg.checkpoint);
  Module& model = *lm.model;
  model.to(parse_device(cfg.device));
  model.eval();
  const int64_t k = resolve_class(cfg.target_class, lm.meta.classes);
  const std::vector<std::string> layers =
      cfg.layers.empty() ? std::vector<std::string>{""} : cfg.layers;
  check_layers(model, lm.meta.input_shape, layers);
  const TcavInputs in = load_tcav_inputs(cfg, lm, R, k);
  json results = json::array();
  std::vector<double> p_values;
  for (const std::string& layer : layers) {
    std::string resolved;
    std::vector<ActivationRows> randoms;
    for (const Tensor& x : in.randoms)
      randoms.push_back(layer_rows(model, x, layer, cfg.batch, &resolved));
    const ActivationRows grads = layer_gradient_rows(model, in.class_inputs, layer, k, cfg.batch);
    const double cosine = gradient_mean_cosine(grads);
    for (size_t c = 0; c < cfg.concepts.size(); ++c) {
      const ActivationRows acts = layer_rows(model, in.concepts[c], layer, cfg.batch);
      const TcavConcept t = tcav_concept(acts, randoms, grads, cfg.cav);
      results.push_back(concept_json(cfg.concepts[c].name, acts.n, resolved, t));
      results.back()["class_gradient_mean_cosine"] = cosine;
      p_values.push_back(t.test.p);
    }
  }
  const std::vector<double> corrected = bonferroni(p_values);
  for (size_t i = 0; i < results.size(); ++i) {
    json& e = results[i];
    const bool probe_ok = e["probe_accuracy"]["mean"].get<double>() >= cfg.min_accuracy;
    e["p_value_bonferroni"] = corrected[i];
    e["probe_ok"] = probe_ok;
    e["significant"] = probe_ok && corrected[i] < cfg.alpha;
  }
  TcavResult r;
  r.json = {
      {"checkpoint", cfg.checkpoint.string()},
      {"model", lm.meta.model_name},
      {"citation", "Kim et al., ICML 2018 (TCAV)"},
      {"target_class", {{"class", k}, {"name", class_name(lm.meta.classes, k)}}},
      {"class_inputs", in.class_inputs.size(0)},
      {"runs", R},
      {"random", in.random_source},
      {"probe",
       {{"kind", "L2 logistic regression (dual Newton), unit normal towards the concept"},
        {"l2", cfg.cav.l2},
        {"test_fraction", cfg.cav.test_fraction},
        {"seed", cfg.cav.seed},
        {"min_accuracy", cfg.min_accuracy}}},
      {"test", "two-sided Student t (pooled variance), concept scores vs random-vs-random scores"},
      {"correction", "bonferroni"},
      {"hypotheses", p_values.size()},
      {"alpha", cfg.alpha},
      {"results", results}};
  write_json_file(cfg.out, r.json, cfg.overwrite);
  return r;
}

std::string format_tcav_table(const TcavResult& r) {
  const json& j = r.json;
  std::string s = fmt::format(
      "TCAV for class {} ({}), {} inputs, {} runs, {} hypotheses\n",
      j["target_class"]["class"].get<int64_t>(), j["target_class"]["name"].get<std::string>(),
      j["class_inputs"].get<int64_t>(), j["runs"].get<int64_t>(), j["hypotheses"].get<size_t>());
  s += fmt::format("{:<14} {:<12} {:>15} {:>15} {:>10} {:>10} {:>10}  {}\n", "concept", "layer",
                   "score", "random", "probe acc", "p", "p (bonf.)", "significant");
  for (const json& e : j["results"]) {
    s += fmt::format(
        "{:<14} {:<12} {:>6.3f} +- {:<5.3f} {:>6.3f} +- {:<5.3f} {:>10.3f} {:>10.3g} {:>10.3g}  "
        "{}{}{}\n",
        e["concept"].get<std::string>(), e["layer"].get<std::string>(),
        e["score"]["mean"].get<double>(), e["score"]["std"].get<double>(),
        e["random_score"]["mean"].get<double>(), e["random_score"]["std"].get<double>(),
        e["probe_accuracy"]["mean"].get<double>(), e["p_value"].get<double>(),
        e["p_value_bonferroni"].get<double>(), e["significant"].get<bool>() ? "yes" : "no",
        e["probe_ok"].get<bool>() ? "" : " (probe below min accuracy: no CAV)",
        e["class_gradient_mean_cosine"].get<double>() > 0.999
            ? " (all class gradients alike: the score can only be 0 or 1)"
            : "");
  }
  return s;
}

}  // namespace gb::interp
