// The data-randomisation test (Adebayo et al., NeurIPS 2018, section 5): train a fresh copy of a
// checkpoint's model on permuted labels, then compare both models' maps (see
// data_randomization.h). Shape letters: N images, C channels, H/W image size.
#include "interp/explain/data_randomization.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>

#include "data/augment.h"
#include "data/normalize.h"
#include "interp/eval/map_similarity.h"
#include "interp/metrics.h"
#include "models/registry.h"
#include "models/training/checkpoint_meta.h"
#include "models/training/datasets.h"
#include "models/training/evaluate.h"
#include "models/training/finetune.h"
#include "runtime/autograd.h"
#include "runtime/output_path.h"

namespace gb::interp {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The Philox epoch that permutes the labels: far from the loader's epochs 0, 1, 2, ...
constexpr uint64_t kPermutationEpoch = uint64_t{1} << 40;

void check_config(const DataRandomizationConfig& cfg) {
  if (cfg.methods.empty()) throw std::invalid_argument("--method: no method given");
  if (cfg.count < 1) throw std::invalid_argument("--count must be at least 1");
  if (cfg.train_images < 1) throw std::invalid_argument("--dr-train-images must be at least 1");
  if (!(cfg.epochs_per_round > 0) || !(cfg.max_epochs >= cfg.epochs_per_round)) {
    throw std::invalid_argument(fmt::format(
        "--dr-max-epochs ({}) must be at least the epochs per round ({}), both positive",
        cfg.max_epochs, cfg.epochs_per_round));
  }
  if (!(cfg.min_accuracy > 0 && cfg.min_accuracy <= 1)) {
    throw std::invalid_argument(
        fmt::format("--dr-min-accuracy must be in (0, 1], got {}", cfg.min_accuracy));
  }
  if (cfg.batch_size < 1) throw std::invalid_argument("--batch-size must be at least 1");
  if (!(cfg.lr > 0)) throw std::invalid_argument("--lr must be positive");
  check_method_options(cfg.method);
  if (!cfg.save_model.empty()) check_output_file(cfg.save_model, cfg.overwrite, "--dr-save-model");
}

// The methods of cfg (comma-separated lists expanded, duplicates dropped).
std::vector<std::string> method_list(const DataRandomizationConfig& cfg) {
  std::vector<std::string> out;
  for (const auto& m : cfg.methods) {
    for (const auto& p : parse_method_list(m)) {
      if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
    }
  }
  return out;
}

// `ds` with its labels permuted by a seeded Fisher-Yates shuffle (class frequencies kept).
data::Dataset permuted_labels(data::Dataset ds, uint64_t seed) {
  const std::vector<size_t> order = data::epoch_order(ds.size(), seed, kPermutationEpoch, true);
  std::vector<int64_t> labels(ds.size());
  for (size_t i = 0; i < ds.size(); ++i) labels[i] = ds.labels[order[i]];
  ds.labels = std::move(labels);
  return ds;
}

double accuracy_on(Module& model, const data::Dataset& ds, const data::Normalization& norm) {
  return training::evaluate(model, ds, norm, 256, true).accuracy;
}

// Trains `model` on `train` in rounds until it memorises the labels or max_epochs have run.
void memorise(Module& model, const std::shared_ptr<const data::Dataset>& train,
              const data::Normalization& norm, const DataRandomizationConfig& cfg,
              DataRandomizationResult& r) {
  training::FinetuneConfig fc;
  fc.batch_size = cfg.batch_size;
  fc.lr = cfg.lr;
  fc.weight_decay = 0;
  fc.schedule = "constant";
  fc.augment = false;
  Stopwatch sw;
  int64_t round = 0;
  while (r.epochs + 1e-9 < cfg.max_epochs) {
    fc.epochs = std::min(cfg.epochs_per_round, cfg.max_epochs - r.epochs);
    fc.seed = cfg.seed + static_cast<uint64_t>(round++);  // a new loader order every round
    training::finetune(model, train, norm, fc);
    r.epochs += fc.epochs;
    r.memorisation_accuracy = accuracy_on(model, *train, norm);
    if (!cfg.quiet) {
      fmt::print(stderr,
                 "  data randomisation: {:.1f} epochs, accuracy on permuted labels {:.3f}\n",
                 r.epochs, r.memorisation_accuracy);
    }
    if (r.memorisation_accuracy >= cfg.min_accuracy) break;
  }
  r.train_seconds = sw.elapsed_ms() / 1000.0;
  r.memorised = r.memorisation_accuracy >= cfg.min_accuracy;
}

Tensor test_image(const data::Dataset& ds, size_t i, const data::Normalization& norm) {
  std::vector<float> v(ds.image_size());
  data::normalize_image(ds.image(i), ds.channels, ds.height, ds.width, norm, v.data());
  return Tensor::from_vector({1, ds.channels, ds.height, ds.width}, v);
}

int64_t predicted_class(Module& model, const Tensor& x) {
  NoGradGuard no_grad;
  const std::vector<float> logits = model(x.to(model.device())).to_vector();
  return std::max_element(logits.begin(), logits.end()) - logits.begin();
}

std::vector<float> absolute(std::vector<float> v) {
  for (float& e : v) e = std::fabs(e);
  return v;
}

struct Similarities {
  std::vector<double> spearman, spearman_abs, ssim, hog;
};

// Adds the four measures of one image's pair of maps.
void compare_maps(const MethodOutput& real, const MethodOutput& random, Similarities& s) {
  const std::vector<float> a = real.map.to_vector(), b = random.map.to_vector();
  s.spearman.push_back(spearman(a, b));
  s.spearman_abs.push_back(spearman(absolute(a), absolute(b)));
  const eval::Map2d ma = eval::to_map2d(real.map), mb = eval::to_map2d(random.map);
  const bool is_signed = real.is_signed;
  s.ssim.push_back(is_signed
                       ? eval::ssim(eval::normalise_signed_max(ma), eval::normalise_signed_max(mb))
                       : eval::ssim(eval::normalise_abs_max(ma), eval::normalise_abs_max(mb)));
  s.hog.push_back(eval::hog_similarity(eval::normalise_abs_max(ma), eval::normalise_abs_max(mb)));
}

MapAgreement agreement_of(Module& real, Module& random, const std::string& method,
                          const std::vector<Tensor>& xs, const std::vector<int64_t>& targets,
                          const MethodOptions& mo) {
  Similarities s;
  for (size_t k = 0; k < xs.size(); ++k) {
    MethodOptions o = mo;
    o.stream = static_cast<uint64_t>(k);
    const MethodOutput a = run_method(real, method, xs[k], targets[k], o);
    const MethodOutput b = run_method(random, method, xs[k], targets[k], o);
    compare_maps(a, b, s);
  }
  MapAgreement m;
  m.method = method;
  m.spearman = stats_of(s.spearman);
  m.spearman_abs = stats_of(s.spearman_abs);
  m.ssim = stats_of(s.ssim);
  m.hog = stats_of(s.hog);
  m.per_image_spearman_abs = s.spearman_abs;
  return m;
}

// The random-label model's checkpoint: the source's metadata with what made it.
void save_random_model(const DataRandomizationConfig& cfg, const training::CheckpointMeta& meta,
                       const Module& model, const DataRandomizationResult& r) {
  json m = meta.json;
  m.erase("history");
  m["data_randomization"] = {{"source", cfg.checkpoint.string()},
                             {"train_images", r.train_images},
                             {"epochs", r.epochs},
                             {"seed", cfg.seed},
                             {"memorisation_accuracy", r.memorisation_accuracy},
                             {"what", "trained on permuted labels (Adebayo et al. 2018)"}};
  training::save_model(cfg.save_model, model, m);
}

}  // namespace

DataRandomizationResult data_randomization(const DataRandomizationConfig& cfg) {
  check_config(cfg);
  const std::vector<std::string> methods = method_list(cfg);
  training::LoadedModel real = training::load_model(cfg.checkpoint);
  const std::string data =
      cfg.data.empty() ? training::existing_training_data(real.meta, cfg.checkpoint) : cfg.data;
  const data::Dataset test = training::load_split(data, data::Split::Test, cfg.count);
  training::check_dataset_fits(test, real.meta, cfg.checkpoint);
  const data::Dataset train_true = training::load_split(data, data::Split::Train, cfg.train_images);
  training::check_dataset_fits(train_true, real.meta, cfg.checkpoint);
  const data::Normalization& norm = real.meta.norm;

  DataRandomizationResult r;
  r.checkpoint = cfg.checkpoint.string();
  r.data = test.source;
  r.model = real.meta.model_name;
  r.seed = cfg.seed;
  r.min_accuracy = cfg.min_accuracy;
  r.train_images = static_cast<int64_t>(train_true.size());
  r.test_images = static_cast<int64_t>(test.size());
  r.trained_test_accuracy = accuracy_on(*real.model, test, norm);
  r.trained_train_accuracy = accuracy_on(*real.model, train_true, norm);

  manual_seed(cfg.seed);
  std::shared_ptr<Module> random =
      models::build_model(real.meta.model_name, real.meta.model_config);
  const auto train = std::make_shared<const data::Dataset>(permuted_labels(train_true, cfg.seed));
  memorise(*random, train, norm, cfg, r);
  r.random_test_accuracy = accuracy_on(*random, test, norm);
  real.model->eval();
  random->eval();
  if (!cfg.save_model.empty()) save_random_model(cfg, real.meta, *random, r);
  if (!r.memorised && !cfg.allow_underfit) return r;

  std::vector<Tensor> xs;
  std::vector<int64_t> targets;
  for (size_t i = 0; i < test.size(); ++i) {
    xs.push_back(test_image(test, i, norm));
    targets.push_back(predicted_class(*real.model, xs.back()));
  }
  MethodOptions mo = cfg.method;
  mo.norm = norm;
  for (const auto& m : methods) {
    Stopwatch sw;
    r.methods.push_back(agreement_of(*real.model, *random, m, xs, targets, mo));
    if (!cfg.quiet) {
      fmt::print(stderr, "  {:<16} {} image pairs in {:.1f}s\n", m, xs.size(),
                 sw.elapsed_ms() / 1000.0);
    }
  }
  return r;
}

std::string format_data_randomization(const DataRandomizationResult& r) {
  std::string s = fmt::format(
      "data randomisation (Adebayo et al. 2018): {} retrained from scratch on {} training images "
      "of {} with permuted labels (seed {})\n",
      r.model, r.train_images, r.data, r.seed);
  s += fmt::format(
      "  {:.1f} epochs in {:.1f}s; accuracy on the permuted labels {:.3f} (required {:.2f}); "
      "on the true test labels {:.3f} (the checkpoint's model: {:.3f})\n",
      r.epochs, r.train_seconds, r.memorisation_accuracy, r.min_accuracy, r.random_test_accuracy,
      r.trained_test_accuracy);
  if (r.methods.empty()) {
    s += "  not memorised: maps not compared (train longer: --dr-max-epochs, fewer images: "
         "--dr-train-images, or compare anyway: --dr-allow-underfit)\n";
    return s;
  }
  if (!r.memorised) s += "  WARNING: compared although the labels were not memorised\n";
  s += fmt::format("similarity of the maps of the two models on {} test images (low passes):\n",
                   r.test_images);
  s += fmt::format("{:<17} {:>16} {:>16} {:>16} {:>16}\n", "method", "Spearman", "Spearman |.|",
                   "SSIM", "HOG");
  auto cell = [](const Stats& st) { return fmt::format("{:.3f} +- {:.3f}", st.mean, st.std); };
  for (const auto& m : r.methods) {
    s += fmt::format("{:<17} {:>16} {:>16} {:>16} {:>16}\n", m.method, cell(m.spearman),
                     cell(m.spearman_abs), cell(m.ssim), cell(m.hog));
  }
  return s;
}

json data_randomization_to_json(const DataRandomizationResult& r,
                                const DataRandomizationConfig& cfg) {
  auto st = [](const Stats& s) { return json{{"mean", s.mean}, {"std", s.std}, {"n", s.n}}; };
  json methods = json::object();
  for (const auto& m : r.methods) {
    methods[m.method] = {{"spearman", st(m.spearman)},
                         {"spearman_abs", st(m.spearman_abs)},
                         {"ssim", st(m.ssim)},
                         {"hog", st(m.hog)},
                         {"per_image_spearman_abs", m.per_image_spearman_abs}};
  }
  return {{"citation", "Adebayo et al., Sanity Checks for Saliency Maps, NeurIPS 2018, sec. 5"},
          {"direction", "lower similarity passes: the maps depend on the labels the model learnt"},
          {"target", "the checkpoint's predicted class, for both models"},
          {"parameters",
           {{"train_images", r.train_images},
            {"max_epochs", cfg.max_epochs},
            {"epochs_per_round", cfg.epochs_per_round},
            {"min_accuracy", cfg.min_accuracy},
            {"batch_size", cfg.batch_size},
            {"lr", cfg.lr},
            {"schedule", "constant"},
            {"augment", false},
            {"weight_decay", 0.0},
            {"seed", cfg.seed},
            {"allow_underfit", cfg.allow_underfit}}},
          {"epochs", r.epochs},
          {"train_seconds", r.train_seconds},
          {"memorisation_accuracy", r.memorisation_accuracy},
          {"memorised", r.memorised},
          {"random_label_test_accuracy", r.random_test_accuracy},
          {"trained_test_accuracy", r.trained_test_accuracy},
          {"trained_train_subset_accuracy", r.trained_train_accuracy},
          {"test_images", r.test_images},
          {"methods", methods}};
}

}  // namespace gb::interp
