// prune / distill / compress jobs: checkpoint in, measurements, the prune/ library, fine-tuning,
// measurements, checkpoint out (see compress.h). Shape letters: N images, C channels, H/W size.
#include "tools/lib/compress.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <span>
#include <stdexcept>

#include "data/loader.h"
#include "interp/cam.h"
#include "interp/metrics.h"
#include "models/registry.h"
#include "prune/channel_graph.h"
#include "runtime/checkpoint.h"
#include "runtime/output_path.h"
#include "models/training/progress.h"
#include "models/training/trainer.h"

namespace gb::app {
using namespace gb::training;  // transitional: the jobs move out of tools/lib
using json = nlohmann::json;
namespace {

// Refuses an existing output without overwrite and a missing directory, before any work.
void check_output(const std::filesystem::path& p, bool overwrite, const char* flag) {
  if (p.empty()) return;
  refuse_directory(p);
  refuse_existing(p, overwrite);
  require_parent_directory(p, flag);
}

void check_outputs(const std::filesystem::path& out, const std::filesystem::path& js,
                   const std::string& input, bool overwrite) {
  if (out.empty()) throw std::runtime_error("no output checkpoint given (--out)");
  check_output(out, overwrite, "--out");
  check_output(js, overwrite, "--json");
  if (!js.empty() && js == out)
    throw std::runtime_error(js.string() + ": --json must not be --out");
  if (std::filesystem::exists(out) && std::filesystem::exists(input) &&
      std::filesystem::equivalent(out, input)) {
    throw std::runtime_error(out.string() + ": --out must not be the input checkpoint");
  }
}

Shape input_shape_of(const LoadedModel& lm, const std::string& ck) {
  try {
    return lm.meta.at("input_shape").get<std::vector<int64_t>>();
  } catch (const json::exception& e) {
    throw std::runtime_error(ck + ": bad glassbox metadata: " + e.what());
  }
}

std::string data_of(const LoadedModel& lm, const std::string& given) {
  if (!given.empty()) return given;
  if (lm.meta.contains("train_config")) return lm.meta["train_config"].value("data", std::string());
  return "";
}

models::ModelConfig config_of(const LoadedModel& lm, const std::string& ck) {
  try {
    return lm.meta.at("model_config").get<models::ModelConfig>();
  } catch (const std::exception& e) {
    throw std::runtime_error(ck + ": bad glassbox metadata: " + e.what());
  }
}

// A split of `data` checked against the model's classes and input shape.
data::Dataset load_checked(const std::string& data, data::Split split, int64_t limit,
                           const LoadedModel& lm, const Shape& chw, const std::string& ck) {
  data::Dataset ds = load_split(data, split, limit);
  if (ds.classes.size() != lm.classes.size()) {
    throw std::runtime_error(ds.source + ": has " + std::to_string(ds.classes.size()) +
                             " classes, the model in " + ck + " has " +
                             std::to_string(lm.classes.size()));
  }
  if (ds.channels != chw[0] || ds.height != chw[1] || ds.width != chw[2]) {
    throw std::runtime_error(
        fmt::format("{}: images are {}x{}x{} but the model in {} expects "
                    "{}x{}x{}",
                    ds.source, ds.channels, ds.height, ds.width, ck, chw[0], chw[1], chw[2]));
  }
  return ds;
}

// `count` images of ds, class-balanced, normalised, in batches of at most `batch`.
std::vector<interp::CalibrationBatch> image_batches(const data::Dataset& ds,
                                                    const data::Normalization& norm, int64_t count,
                                                    int64_t batch) {
  if (count <= 0) return {};  // (a limit of 0 would mean every image)
  data::LoadOptions lo;
  lo.limit = static_cast<size_t>(count);
  lo.balanced = true;
  const std::vector<size_t> idx = data::select_samples(ds.labels, ds.num_classes(), lo);
  data::LoaderConfig lc;
  lc.norm = norm;
  std::vector<interp::CalibrationBatch> out;
  for (size_t b = 0; b < idx.size(); b += static_cast<size_t>(batch)) {
    const size_t e = std::min(idx.size(), b + static_cast<size_t>(batch));
    data::Batch db;
    data::fill_batch(ds, lc, 0, std::span<const size_t>(idx.data() + b, e - b), db);
    Tensor x = Tensor::from_vector({static_cast<int64_t>(e - b), db.channels, db.height, db.width},
                                   db.images);
    out.push_back({x, db.labels});
  }
  return out;
}

int64_t nonzero(const Module& m) {
  int64_t n = 0;
  for (const auto& [name, t] : m.named_parameters()) {
    for (float v : t.to_vector()) n += v != 0.0f ? 1 : 0;
  }
  return n;
}

// Parameters, MACs (dense and with zero weights skipped) and, optionally, measured speed on a
// freshly built model of the same architecture.
ModelStats stats_of(Module& model, const std::string& name, const models::ModelConfig& cfg,
                    const Shape& chw, bool timing, const training::ThroughputOptions& topt) {
  ModelStats s;
  s.params = model.parameter_count();
  s.nonzero_params = nonzero(model);
  const prune::MacCount mc = prune::count_macs(model, chw);
  s.macs = mc.total;
  double eff = 0;
  for (const auto& [path, macs] : mc.per_module) {
    Module* m = model.find(path);
    Tensor w = m != nullptr ? m->local_tensor("weight") : Tensor();
    double density = 1.0;
    if (w.defined() && w.numel() > 0) {
      int64_t nz = 0;
      for (float v : w.to_vector()) nz += v != 0.0f ? 1 : 0;
      density = static_cast<double>(nz) / static_cast<double>(w.numel());
    }
    eff += static_cast<double>(macs) * density;
  }
  s.effective_macs = static_cast<int64_t>(std::llround(eff));
  if (timing) {
    auto copy = models::build_model(name, cfg);
    const auto t = training::measure_throughput(*copy, chw, cfg.num_classes, topt);
    s.inference_ips = t.inference_ips;
    s.train_ips = t.train_ips;
  }
  return s;
}

double accuracy(Module& model, const data::Dataset& ds, const data::Normalization& norm, bool quiet,
                const std::string& label) {
  return evaluate(model, ds, norm, 256, quiet, label).accuracy;
}

struct CamCompare {
  double mean = -2, std = 0;  // -2: no images
};

// Grad-CAM maps (default layer) of `a` and `b` for the class `a` predicts, compared per image by
// Spearman rank correlation.
CamCompare cam_correlation(Module& a, Module& b, const std::vector<interp::CalibrationBatch>& xs) {
  std::vector<double> rho;
  for (const auto& batch : xs) {
    interp::CamOptions oa;
    const interp::CamResult ra = interp::grad_cam(a, batch.images, oa);
    interp::CamOptions ob;
    ob.target = interp::Target::per_input(ra.classes);
    const interp::CamResult rb = interp::grad_cam(b, batch.images, ob);
    const int64_t N = ra.map.size(0), P = ra.map.numel() / N;
    const std::vector<float> va = ra.map.to_vector(), vb = rb.map.to_vector();
    for (int64_t n = 0; n < N; ++n) {
      const auto off = static_cast<ptrdiff_t>(n * P);
      rho.push_back(interp::spearman(std::vector<float>(va.begin() + off, va.begin() + off + P),
                                     std::vector<float>(vb.begin() + off, vb.begin() + off + P)));
    }
  }
  CamCompare c;
  if (rho.empty()) return c;
  double s = 0;
  for (double v : rho) s += v;
  c.mean = s / static_cast<double>(rho.size());
  double ss = 0;
  for (double v : rho) ss += (v - c.mean) * (v - c.mean);
  c.std = rho.size() > 1 ? std::sqrt(ss / static_cast<double>(rho.size() - 1)) : 0.0;
  return c;
}

// Fine-tunes with a progress bar; returns the seconds spent.
double run_finetune(Module& model, std::shared_ptr<const data::Dataset> train,
                    const data::Normalization& norm, const training::FinetuneConfig& fc,
                    training::FinetuneHooks hooks, bool quiet, const std::string& label) {
  std::unique_ptr<ProgressBar> bar;
  hooks.on_step = [&](int64_t step, int64_t total, double loss, double acc) {
    if (!bar) bar = std::make_unique<ProgressBar>(label, total, quiet);
    bar->update(step, loss, acc, step * fc.batch_size);
  };
  const auto r = training::finetune(model, std::move(train), norm, fc, hooks);
  if (bar) {
    bar->finish(fmt::format("train loss {:.4f}  acc {:.2f}%  {:.1f} img/s  {}", r.loss,
                            100.0 * r.accuracy, r.images_per_second, format_duration(r.seconds)));
  }
  return r.seconds;
}

void save_model(const std::filesystem::path& out, Module& model, json meta) {
  save_checkpoint(out, model, nullptr, {{"glassbox", meta.dump()}});
}

std::string count_str(int64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}
std::string macs_str(int64_t v) { return fmt::format("{:.2f} M", static_cast<double>(v) / 1e6); }
std::string pct(double a) { return a < 0 ? "-" : fmt::format("{:.2f}%", 100.0 * a); }
std::string ips(double v) { return v <= 0 ? "-" : fmt::format("{:.1f}", v); }
std::string ratio(double after, double before) {
  return before > 0 && after > 0 ? fmt::format("{:.2f}x", after / before) : "";
}
std::string row(const std::string& name, const std::string& a, const std::string& b,
                const std::string& c, const std::string& note) {
  return fmt::format("{:<24} {:>12} {:>12} {:>12}   {}\n", name, a, b, c, note);
}

json stats_json(const ModelStats& s) {
  return json{{"params", s.params},
              {"nonzero_params", s.nonzero_params},
              {"macs", s.macs},
              {"effective_macs", s.effective_macs},
              {"inference_images_per_second", s.inference_ips},
              {"train_images_per_second", s.train_ips}};
}

json acc_json(double a) { return a < 0 ? json(nullptr) : json(a); }
json corr_json(double c) { return c < -1.5 ? json(nullptr) : json(c); }

}  // namespace

PruneReport run_prune(const PruneConfig& cfg) {
  if (cfg.structured) {
    if (!(cfg.target_macs > 0 && cfg.target_macs <= 1)) {
      throw std::invalid_argument("--target-macs must be in (0,1], got " +
                                  std::to_string(cfg.target_macs));
    }
    if (cfg.iterative < 1) throw std::invalid_argument("--iterative must be >= 1");
    if (prune::needs_calibration(cfg.criterion) && cfg.calib_images < 1) {
      throw std::invalid_argument("--calib-images must be >= 1 for criterion " +
                                  std::string(prune::criterion_name(cfg.criterion)));
    }
  }
  if (cfg.finetune.epochs < 0) throw std::invalid_argument("--finetune-epochs must be >= 0");
  check_outputs(cfg.out, cfg.json, cfg.checkpoint, cfg.overwrite);

  LoadedModel lm = load_model(cfg.checkpoint);
  LoadedModel original = load_model(cfg.checkpoint);  // stays untouched, for Grad-CAM
  const Shape chw = input_shape_of(lm, cfg.checkpoint);
  const models::ModelConfig cfg0 = config_of(lm, cfg.checkpoint);
  const std::string data = data_of(lm, cfg.data);
  const data::Dataset test =
      load_checked(data, data::Split::kTest, cfg.limit_test, lm, chw, cfg.checkpoint);
  const bool need_train =
      cfg.finetune.epochs > 0 || (cfg.structured && prune::needs_calibration(cfg.criterion));
  std::shared_ptr<const data::Dataset> train;
  if (need_train) {
    train = std::make_shared<const data::Dataset>(
        load_checked(data, data::Split::kTrain, cfg.limit_train, lm, chw, cfg.checkpoint));
  }
  const auto cam_set = image_batches(test, lm.norm, cfg.cam_images, 50);

  PruneReport r;
  r.model_name = lm.model_name;
  r.checkpoint = cfg.checkpoint;
  r.out = cfg.out.string();
  r.mode = cfg.structured ? "structured" : "unstructured";
  r.test_images = static_cast<int64_t>(test.size());
  r.cam_images = cfg.cam_images > 0 ? std::min<int64_t>(cfg.cam_images, r.test_images) : 0;
  if (!cfg.quiet) fmt::print("measuring {} from {}\n", lm.model_name, cfg.checkpoint);
  r.before = stats_of(*lm.model, lm.model_name, cfg0, chw, cfg.timing, cfg.timing_options);
  r.accuracy_before = accuracy(*lm.model, test, lm.norm, cfg.quiet, "original");

  std::shared_ptr<Module> model = lm.model;
  models::ModelConfig mcfg = cfg0;
  json pruning;
  if (cfg.structured) {
    r.description = fmt::format(
        "criterion {}, {}, {} ranking, target {:.3g} of the MACs, channels rounded to {}",
        prune::criterion_name(cfg.criterion),
        cfg.iterative > 1 ? fmt::format("iterative ({} steps)", cfg.iterative) : "one-shot",
        cfg.global ? "global" : "per-group", cfg.target_macs, cfg.round_to);
    std::vector<interp::CalibrationBatch> calib;
    if (prune::needs_calibration(cfg.criterion)) {
      calib = image_batches(*train, lm.norm, cfg.calib_images, 64);
    }
    training::FinetuneConfig step_ft = cfg.finetune;
    step_ft.epochs = cfg.finetune.epochs / static_cast<double>(cfg.iterative);
    std::map<std::string, int64_t> original_width;  // per group name, at step 1
    for (int64_t step = 1; step <= cfg.iterative; ++step) {
      PruneStep ps;
      ps.target = 1.0 - (1.0 - cfg.target_macs) * static_cast<double>(step) /
                            static_cast<double>(cfg.iterative);
      prune::AnalyzeOptions ao;
      ao.protect_first = !cfg.prune_first;
      ao.protect_last = !cfg.prune_last;
      const prune::ChannelGraph g = prune::analyze_channels(*model, chw, ao);
      prune::ScoreOptions so;
      so.criterion = cfg.criterion;
      so.seed = cfg.seed + static_cast<uint64_t>(step - 1);
      so.calibration = &calib;
      so.attribution_use_labels = cfg.attribution_labels;
      const auto scores = prune::channel_importance(*model, g, so);
      prune::SelectOptions sel_opt;
      sel_opt.max_macs = static_cast<int64_t>(ps.target * static_cast<double>(r.before.macs));
      sel_opt.global = cfg.global;
      sel_opt.round_to = cfg.round_to;
      sel_opt.min_keep = cfg.min_keep;
      const prune::Selection sel = prune::select_channels(g, scores, sel_opt);
      prune::PrunedModel pm = prune::prune_model(*model, lm.model_name, mcfg, g, sel.keep);
      model = pm.model;
      mcfg = pm.config;
      r.groups.clear();
      for (size_t i = 0; i < g.groups.size(); ++i) {
        const auto n = static_cast<int64_t>(g.groups[i].ids.size());
        if (step == 1) original_width[g.groups[i].name] = n;  // "before" is the original width
        const auto it = original_width.find(g.groups[i].name);
        r.groups.push_back({g.groups[i].name, it != original_width.end() ? it->second : n,
                            sel.kept_per_group[i], g.groups[i].reason});
      }
      ps.macs = prune::count_macs(*model, chw).total;
      ps.params = model->parameter_count();
      if (!cfg.quiet) {
        fmt::print("step {}/{}: {} MACs ({:.3f} of the original, target {:.3f}), {} parameters\n",
                   step, cfg.iterative, count_str(ps.macs),
                   static_cast<double>(ps.macs) / static_cast<double>(r.before.macs), ps.target,
                   count_str(ps.params));
      }
      ps.accuracy_pruned = accuracy(*model, test, lm.norm, cfg.quiet, "  pruned");
      if (step == cfg.iterative) {
        r.accuracy_pruned = ps.accuracy_pruned;
        if (!cam_set.empty()) {
          const auto c = cam_correlation(*original.model, *model, cam_set);
          r.cam_corr_pruned = c.mean;
          r.cam_corr_pruned_std = c.std;
        }
      }
      if (cfg.finetune.epochs > 0) {
        step_ft.seed = cfg.finetune.seed + static_cast<uint64_t>(step - 1);
        r.finetune_seconds += run_finetune(*model, train, lm.norm, step_ft, {}, cfg.quiet,
                                           fmt::format("  fine-tune {}/{}", step, cfg.iterative));
        ps.accuracy_finetuned = accuracy(*model, test, lm.norm, cfg.quiet, "  fine-tuned");
      }
      r.steps.push_back(ps);
    }
    r.channels = mcfg.channels;
    pruning = json{{"mode", "structured"},
                   {"criterion", prune::criterion_name(cfg.criterion)},
                   {"target_macs", cfg.target_macs},
                   {"iterative", cfg.iterative},
                   {"global", cfg.global},
                   {"round_to", cfg.round_to},
                   {"min_keep", cfg.min_keep},
                   {"protect_first", !cfg.prune_first},
                   {"protect_last", !cfg.prune_last},
                   {"finetune_epochs", cfg.finetune.epochs},
                   {"source", cfg.checkpoint},
                   {"source_model_config", cfg0}};
  } else {
    r.description = fmt::format("unstructured magnitude, sparsity {:.3g} {}", cfg.sparsity,
                                cfg.global ? "(global threshold)" : "(per layer)");
    prune::MagnitudeOptions mo;
    mo.sparsity = cfg.sparsity;
    mo.global = cfg.global;
    mo.protect_first = !cfg.prune_first;
    mo.protect_last = !cfg.prune_last;
    const prune::MaskSet masks = prune::magnitude_masks(*model, chw, mo);
    masks.apply();
    PruneStep ps;
    ps.target = 1.0;
    ps.accuracy_pruned = accuracy(*model, test, lm.norm, cfg.quiet, "pruned");
    r.accuracy_pruned = ps.accuracy_pruned;
    if (!cam_set.empty()) {
      const auto c = cam_correlation(*original.model, *model, cam_set);
      r.cam_corr_pruned = c.mean;
      r.cam_corr_pruned_std = c.std;
    }
    if (cfg.finetune.epochs > 0) {
      training::FinetuneHooks hooks;
      hooks.after_step = [&masks] { masks.apply(); };
      r.finetune_seconds +=
          run_finetune(*model, train, lm.norm, cfg.finetune, hooks, cfg.quiet, "fine-tune");
      ps.accuracy_finetuned = accuracy(*model, test, lm.norm, cfg.quiet, "fine-tuned");
    }
    r.steps.push_back(ps);
    r.sparsity = prune::weight_sparsity(*model);
    json layers = json::array();
    for (const auto& s : r.sparsity) {
      layers.push_back({{"param", s.param}, {"numel", s.numel}, {"zeros", s.zeros}});
    }
    pruning = json{{"mode", "unstructured"},
                   {"sparsity", cfg.sparsity},
                   {"global", cfg.global},
                   {"protect_first", !cfg.prune_first},
                   {"protect_last", !cfg.prune_last},
                   {"finetune_epochs", cfg.finetune.epochs},
                   {"source", cfg.checkpoint},
                   {"layers", layers}};
  }
  if (cfg.finetune.epochs > 0) {
    r.accuracy_finetuned = r.steps.back().accuracy_finetuned;
    if (!cam_set.empty()) {
      const auto c = cam_correlation(*original.model, *model, cam_set);
      r.cam_corr_finetuned = c.mean;
      r.cam_corr_finetuned_std = c.std;
    }
  }
  r.after =
      stats_of(*model, lm.model_name, mcfg, chw, cfg.timing && cfg.structured, cfg.timing_options);
  if (!cfg.structured) {  // dense kernels: the speed is the original's
    r.after.inference_ips = r.before.inference_ips;
    r.after.train_ips = r.before.train_ips;
  }

  json meta = lm.meta;
  meta["model_config"] = mcfg;
  pruning["accuracy_before"] = r.accuracy_before;
  pruning["accuracy_pruned"] = r.accuracy_pruned;
  pruning["accuracy_finetuned"] = acc_json(r.accuracy_finetuned);
  meta["pruning"] = pruning;
  save_model(cfg.out, *model, meta);
  if (!cfg.json.empty()) write_json_file(cfg.json, prune_report_json(r), cfg.overwrite);
  return r;
}

std::string format_prune_report(const PruneReport& r) {
  std::string out = fmt::format("\npruned {} ({}): {}\n\n", r.model_name, r.mode, r.description);
  out += row("", "original", "pruned", "fine-tuned", "");
  const bool ft = r.accuracy_finetuned >= 0;
  const auto same = [&](const std::string& v) { return ft ? v : std::string("-"); };
  out += row("parameters", count_str(r.before.params), count_str(r.after.params),
             same(count_str(r.after.params)),
             ratio(static_cast<double>(r.after.params), static_cast<double>(r.before.params)));
  if (r.mode == "unstructured") {
    out += row("nonzero parameters", count_str(r.before.nonzero_params),
               count_str(r.after.nonzero_params), same(count_str(r.after.nonzero_params)),
               ratio(static_cast<double>(r.after.nonzero_params),
                     static_cast<double>(r.before.nonzero_params)));
    out += row("MACs (dense kernels)", macs_str(r.before.macs), macs_str(r.after.macs),
               same(macs_str(r.after.macs)), "zeros are still multiplied");
    out +=
        row("MACs (nonzero weights)", macs_str(r.before.effective_macs),
            macs_str(r.after.effective_macs), same(macs_str(r.after.effective_macs)),
            ratio(static_cast<double>(r.after.effective_macs), static_cast<double>(r.before.macs)));
  } else {
    out += row("MACs per image", macs_str(r.before.macs), macs_str(r.after.macs),
               same(macs_str(r.after.macs)),
               ratio(static_cast<double>(r.after.macs), static_cast<double>(r.before.macs)));
  }
  const std::string speed_note =
      r.mode == "unstructured" ? "same dense kernels: not re-measured" : "";
  out +=
      row("inference img/s", ips(r.before.inference_ips), ips(r.after.inference_ips),
          same(ips(r.after.inference_ips)),
          speed_note.empty() ? ratio(r.after.inference_ips, r.before.inference_ips) : speed_note);
  out += row("training img/s", ips(r.before.train_ips), ips(r.after.train_ips),
             same(ips(r.after.train_ips)),
             speed_note.empty() ? ratio(r.after.train_ips, r.before.train_ips) : speed_note);
  out += row("test accuracy", pct(r.accuracy_before), pct(r.accuracy_pruned),
             pct(r.accuracy_finetuned),
             fmt::format("{} test images{}", r.test_images,
                         ft ? fmt::format(", {:+.2f} points after fine-tuning",
                                          100.0 * (r.accuracy_finetuned - r.accuracy_before))
                            : ""));
  if (r.cam_images > 0) {
    const auto corr = [](double m) {
      return m < -1.5 ? std::string("-") : fmt::format("{:.3f}", m);
    };
    out += row("Grad-CAM rank corr.", "1", corr(r.cam_corr_pruned),
               ft ? corr(r.cam_corr_finetuned) : "-",
               fmt::format("Spearman vs the original's map, mean of {} test images (std {:.3f})",
                           r.cam_images, ft ? r.cam_corr_finetuned_std : r.cam_corr_pruned_std));
  }
  if (r.steps.size() > 1) {
    out += fmt::format("\n{:<6} {:>8} {:>14} {:>12} {:>12} {:>12}\n", "step", "target", "MACs",
                       "params", "acc pruned", "acc tuned");
    for (size_t i = 0; i < r.steps.size(); ++i) {
      const auto& s = r.steps[i];
      out += fmt::format("{:<6} {:>8.3f} {:>14} {:>12} {:>12} {:>12}\n", i + 1, s.target,
                         count_str(s.macs), count_str(s.params), pct(s.accuracy_pruned),
                         pct(s.accuracy_finetuned));
    }
  }
  if (!r.groups.empty()) {
    size_t w = 5;
    for (const auto& g : r.groups) w = std::max(w, g.name.size());
    out += fmt::format("\n{:<{}} {:>7} {:>7}\n", "channel group", w, "before", "after");
    for (const auto& g : r.groups) {
      out += fmt::format("{:<{}} {:>7} {:>7}{}\n", g.name, w, g.before, g.after,
                         g.note.empty() ? "" : "   protected: " + g.note);
    }
  }
  if (!r.sparsity.empty()) {
    size_t w = 5;
    for (const auto& s : r.sparsity) w = std::max(w, s.param.size());
    out += fmt::format("\n{:<{}} {:>10} {:>10} {:>9}\n", "weight", w, "numel", "zeros", "sparsity");
    for (const auto& s : r.sparsity) {
      out += fmt::format("{:<{}} {:>10} {:>10} {:>8.1f}%\n", s.param, w, s.numel, s.zeros,
                         100.0 * s.sparsity());
    }
  }
  out += fmt::format("\nwrote {}\n", r.out);
  return out;
}

json prune_report_json(const PruneReport& r) {
  json steps = json::array();
  for (const auto& s : r.steps) {
    steps.push_back({{"target", s.target},
                     {"macs", s.macs},
                     {"params", s.params},
                     {"accuracy_pruned", acc_json(s.accuracy_pruned)},
                     {"accuracy_finetuned", acc_json(s.accuracy_finetuned)}});
  }
  json groups = json::array();
  for (const auto& g : r.groups) {
    groups.push_back(
        {{"name", g.name}, {"before", g.before}, {"after", g.after}, {"protected", g.note}});
  }
  json sparsity = json::array();
  for (const auto& s : r.sparsity) {
    sparsity.push_back({{"param", s.param}, {"numel", s.numel}, {"zeros", s.zeros}});
  }
  return json{{"model", r.model_name},
              {"checkpoint", r.checkpoint},
              {"out", r.out},
              {"mode", r.mode},
              {"description", r.description},
              {"before", stats_json(r.before)},
              {"after", stats_json(r.after)},
              {"accuracy_before", acc_json(r.accuracy_before)},
              {"accuracy_pruned", acc_json(r.accuracy_pruned)},
              {"accuracy_finetuned", acc_json(r.accuracy_finetuned)},
              {"test_images", r.test_images},
              {"gradcam_rank_correlation",
               {{"images", r.cam_images},
                {"pruned_mean", corr_json(r.cam_corr_pruned)},
                {"pruned_std", r.cam_corr_pruned_std},
                {"finetuned_mean", corr_json(r.cam_corr_finetuned)},
                {"finetuned_std", r.cam_corr_finetuned_std}}},
              {"steps", steps},
              {"groups", groups},
              {"channels", r.channels},
              {"sparsity", sparsity},
              {"finetune_seconds", r.finetune_seconds}};
}

DistillReport run_distill(const DistillConfig& cfg) {
  if (!(cfg.temperature > 0)) throw std::invalid_argument("--temperature must be > 0");
  if (!(cfg.alpha >= 0 && cfg.alpha <= 1)) throw std::invalid_argument("--alpha must be in [0,1]");
  check_outputs(cfg.out, cfg.json, cfg.teacher, cfg.overwrite);
  if (!models::has_model(cfg.student)) models::build_model(cfg.student);  // names the known ones
  LoadedModel teacher = load_model(cfg.teacher);
  const Shape chw = input_shape_of(teacher, cfg.teacher);
  const std::string data = data_of(teacher, cfg.data);
  const data::Dataset test =
      load_checked(data, data::Split::kTest, cfg.limit_test, teacher, chw, cfg.teacher);
  auto train = std::make_shared<const data::Dataset>(
      load_checked(data, data::Split::kTrain, cfg.limit_train, teacher, chw, cfg.teacher));
  models::ModelConfig scfg;
  scfg.num_classes = static_cast<int64_t>(teacher.classes.size());
  scfg.in_channels = chw[0];
  scfg.image_size = chw[1];
  scfg.width = cfg.student_width;

  DistillReport r;
  r.teacher_name = teacher.model_name;
  r.student_name = cfg.student;
  r.out = cfg.out.string();
  r.test_images = static_cast<int64_t>(test.size());
  r.teacher = stats_of(*teacher.model, teacher.model_name, config_of(teacher, cfg.teacher), chw,
                       cfg.timing, cfg.timing_options);
  r.teacher_accuracy = accuracy(*teacher.model, test, teacher.norm, cfg.quiet, "teacher");

  Module& tm = *teacher.model;
  training::FinetuneHooks hooks;
  hooks.loss = [&](const Tensor& x, const Tensor& logits, const std::vector<int64_t>& labels) {
    Tensor t;
    if (cfg.alpha > 0) {
      NoGradGuard no_grad;
      EvalModeScope eval(tm);
      t = tm(x);
    } else {
      t = logits.detach();
    }
    return training::distillation_loss(logits, t, Tensor::from_labels(labels), cfg.temperature,
                                    cfg.alpha);
  };
  manual_seed(cfg.train.seed);
  auto student = models::build_model(cfg.student, scfg);
  if (!cfg.quiet) {
    fmt::print("distilling {} ({} parameters) into {} ({} parameters): T {}, alpha {}, {} epochs\n",
               teacher.model_name, teacher.model->parameter_count(), cfg.student,
               student->parameter_count(), cfg.temperature, cfg.alpha, cfg.train.epochs);
  }
  const auto t0 = std::chrono::steady_clock::now();
  {
    std::unique_ptr<ProgressBar> bar;
    training::FinetuneHooks h = hooks;
    h.on_step = [&](int64_t step, int64_t total, double loss, double acc) {
      if (!bar) bar = std::make_unique<ProgressBar>("student (distilled)", total, cfg.quiet);
      bar->update(step, loss, acc, step * cfg.train.batch_size);
    };
    const auto res = training::finetune(*student, train, teacher.norm, cfg.train, h);
    if (bar) bar->finish(fmt::format("loss {:.4f}  {}", res.loss, format_duration(res.seconds)));
    r.student_train_loss = res.loss;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.student = stats_of(*student, cfg.student, scfg, chw, cfg.timing, cfg.timing_options);
  r.student_accuracy = accuracy(*student, test, teacher.norm, cfg.quiet, "student");
  if (cfg.baseline) {
    manual_seed(cfg.train.seed);
    auto alone = models::build_model(cfg.student, scfg);
    std::unique_ptr<ProgressBar> bar;
    training::FinetuneHooks h;
    h.on_step = [&](int64_t step, int64_t total, double loss, double acc) {
      if (!bar) bar = std::make_unique<ProgressBar>("student alone", total, cfg.quiet);
      bar->update(step, loss, acc, step * cfg.train.batch_size);
    };
    const auto res = training::finetune(*alone, train, teacher.norm, cfg.train, h);
    if (bar) bar->finish(fmt::format("loss {:.4f}  {}", res.loss, format_duration(res.seconds)));
    r.baseline_train_loss = res.loss;
    r.baseline_accuracy = accuracy(*alone, test, teacher.norm, cfg.quiet, "student alone");
  }

  json meta = teacher.meta;
  meta["model"] = cfg.student;
  meta["model_config"] = scfg;
  const auto epochs = static_cast<int64_t>(std::ceil(cfg.train.epochs));
  meta["epoch"] = epochs;
  meta["seed"] = cfg.train.seed;
  if (meta.contains("train_config") && meta["train_config"].is_object()) {
    json& tc = meta["train_config"];
    tc["model"] = cfg.student;
    tc["width"] = cfg.student_width;
    tc["data"] = data;
    tc["epochs"] = epochs;
    tc["batch_size"] = cfg.train.batch_size;
    tc["lr"] = cfg.train.lr;
    tc["momentum"] = cfg.train.momentum;
    tc["nesterov"] = cfg.train.nesterov;
    tc["weight_decay"] = cfg.train.weight_decay;
    tc["schedule"] = cfg.train.schedule;
    tc["warmup_fraction"] = cfg.train.warmup_fraction;
    tc["seed"] = cfg.train.seed;
    tc["limit_train"] = cfg.limit_train;
    tc["limit_test"] = cfg.limit_test;
  }
  meta["history"] = json::array({{{"epoch", epochs},
                                  {"train_loss", r.student_train_loss},
                                  {"test_accuracy", r.student_accuracy}}});
  meta["distillation"] = json{{"teacher", cfg.teacher},
                              {"teacher_model", teacher.model_name},
                              {"temperature", cfg.temperature},
                              {"alpha", cfg.alpha},
                              {"teacher_accuracy", r.teacher_accuracy},
                              {"student_accuracy", r.student_accuracy},
                              {"student_alone_accuracy", acc_json(r.baseline_accuracy)}};
  save_model(cfg.out, *student, meta);
  if (!cfg.json.empty()) write_json_file(cfg.json, distill_report_json(r, cfg), cfg.overwrite);
  return r;
}

std::string format_distill_report(const DistillReport& r) {
  std::string out =
      fmt::format("\ndistillation: teacher {} -> student {}\n\n", r.teacher_name, r.student_name);
  out += row("", "teacher", "distilled", "alone", "");
  out += row("parameters", count_str(r.teacher.params), count_str(r.student.params),
             r.baseline_accuracy >= 0 ? count_str(r.student.params) : "-", "");
  out += row("MACs per image", macs_str(r.teacher.macs), macs_str(r.student.macs),
             r.baseline_accuracy >= 0 ? macs_str(r.student.macs) : "-",
             ratio(static_cast<double>(r.student.macs), static_cast<double>(r.teacher.macs)));
  out += row("inference img/s", ips(r.teacher.inference_ips), ips(r.student.inference_ips), "-",
             ratio(r.student.inference_ips, r.teacher.inference_ips));
  out += row(
      "test accuracy", pct(r.teacher_accuracy), pct(r.student_accuracy), pct(r.baseline_accuracy),
      r.baseline_accuracy >= 0 ? fmt::format("distilled {:+.2f} points vs alone",
                                             100.0 * (r.student_accuracy - r.baseline_accuracy))
                               : "alone: run with --baseline");
  out += fmt::format("\nwrote {}\n", r.out);
  return out;
}

json distill_report_json(const DistillReport& r, const DistillConfig& cfg) {
  return json{{"teacher", r.teacher_name},
              {"teacher_checkpoint", cfg.teacher},
              {"student", r.student_name},
              {"student_width", cfg.student_width},
              {"temperature", cfg.temperature},
              {"alpha", cfg.alpha},
              {"epochs", cfg.train.epochs},
              {"teacher_stats", stats_json(r.teacher)},
              {"student_stats", stats_json(r.student)},
              {"teacher_accuracy", acc_json(r.teacher_accuracy)},
              {"student_accuracy", acc_json(r.student_accuracy)},
              {"student_alone_accuracy", acc_json(r.baseline_accuracy)},
              {"student_train_loss", r.student_train_loss},
              {"student_alone_train_loss", r.baseline_train_loss},
              {"test_images", r.test_images},
              {"seconds", r.seconds},
              {"out", r.out}};
}

CompressReport run_compress(const CompressConfig& cfg) {
  if (cfg.kmeans.k < 1 || cfg.kmeans.k > 65536) {
    throw std::invalid_argument("--weight-sharing must be in [1, 65536], got " +
                                std::to_string(cfg.kmeans.k));
  }
  if (cfg.finetune.epochs < 0) throw std::invalid_argument("--finetune-epochs must be >= 0");
  check_outputs(cfg.out, cfg.json, cfg.checkpoint, cfg.overwrite);
  LoadedModel lm = load_model(cfg.checkpoint);
  const Shape chw = input_shape_of(lm, cfg.checkpoint);
  const std::string data = data_of(lm, cfg.data);
  const data::Dataset test =
      load_checked(data, data::Split::kTest, cfg.limit_test, lm, chw, cfg.checkpoint);
  CompressReport r;
  r.model_name = lm.model_name;
  r.checkpoint = cfg.checkpoint;
  r.out = cfg.out.string();
  r.k = cfg.kmeans.k;
  r.test_images = static_cast<int64_t>(test.size());
  r.accuracy_before = accuracy(*lm.model, test, lm.norm, cfg.quiet, "original");
  prune::SharingResult shared = prune::share_weights(*lm.model, cfg.kmeans);
  r.accuracy_shared = accuracy(*lm.model, test, lm.norm, cfg.quiet, "shared");
  if (cfg.finetune.epochs > 0) {
    auto train = std::make_shared<const data::Dataset>(
        load_checked(data, data::Split::kTrain, cfg.limit_train, lm, chw, cfg.checkpoint));
    training::FinetuneHooks hooks;
    hooks.after_step = [&shared] { prune::retie(shared); };
    run_finetune(*lm.model, train, lm.norm, cfg.finetune, hooks, cfg.quiet, "fine-tune");
    r.accuracy_finetuned = accuracy(*lm.model, test, lm.norm, cfg.quiet, "fine-tuned");
  }
  r.bits_dense = shared.bits_dense;
  r.bits_shared = shared.bits_shared;
  json layers = json::array();
  for (const auto& L : shared.layers) {
    SharedRow sr{L.param, L.weight.numel(), static_cast<int64_t>(L.book.centroids.size()),
                 prune::distinct_values(L.weight), L.rel_error};
    r.layers.push_back(sr);
    layers.push_back({{"param", sr.param}, {"clusters", sr.clusters}, {"rel_error", sr.rel_error}});
  }
  json meta = lm.meta;
  meta["compression"] = json{{"weight_sharing", cfg.kmeans.k},
                             {"init", cfg.kmeans.kmeans_pp ? "kmeans++" : "linear"},
                             {"seed", cfg.kmeans.seed},
                             {"finetune_epochs", cfg.finetune.epochs},
                             {"bits_dense", r.bits_dense},
                             {"bits_shared", r.bits_shared},
                             {"accuracy_before", r.accuracy_before},
                             {"accuracy_shared", r.accuracy_shared},
                             {"accuracy_finetuned", acc_json(r.accuracy_finetuned)},
                             {"source", cfg.checkpoint},
                             {"layers", layers}};
  save_model(cfg.out, *lm.model, meta);
  if (!cfg.json.empty()) write_json_file(cfg.json, compress_report_json(r), cfg.overwrite);
  return r;
}

std::string format_compress_report(const CompressReport& r) {
  std::string out = fmt::format(
      "\nweight sharing of {}: at most {} values per conv/linear weight\n\n", r.model_name, r.k);
  size_t w = 5;
  for (const auto& L : r.layers) w = std::max(w, L.param.size());
  out += fmt::format("{:<{}} {:>10} {:>9} {:>9} {:>10}\n", "weight", w, "numel", "clusters",
                     "distinct", "rel. error");
  for (const auto& L : r.layers) {
    out += fmt::format("{:<{}} {:>10} {:>9} {:>9} {:>10.4f}\n", L.param, w, L.numel, L.clusters,
                       L.distinct, L.rel_error);
  }
  out += fmt::format(
      "\nshared weights: {:.1f} KiB dense -> {:.1f} KiB as codebooks + indices ({:.1f}x smaller)\n",
      static_cast<double>(r.bits_dense) / 8192.0, static_cast<double>(r.bits_shared) / 8192.0,
      r.bits_shared > 0 ? static_cast<double>(r.bits_dense) / static_cast<double>(r.bits_shared)
                        : 0.0);
  out += fmt::format("test accuracy ({} images): original {}, shared {}, fine-tuned {}\n",
                     r.test_images, pct(r.accuracy_before), pct(r.accuracy_shared),
                     pct(r.accuracy_finetuned));
  out += fmt::format("wrote {} (dense safetensors holding the shared values)\n", r.out);
  return out;
}

json compress_report_json(const CompressReport& r) {
  json layers = json::array();
  for (const auto& L : r.layers) {
    layers.push_back({{"param", L.param},
                      {"numel", L.numel},
                      {"clusters", L.clusters},
                      {"distinct", L.distinct},
                      {"rel_error", L.rel_error}});
  }
  return json{{"model", r.model_name},
              {"checkpoint", r.checkpoint},
              {"out", r.out},
              {"weight_sharing", r.k},
              {"accuracy_before", acc_json(r.accuracy_before)},
              {"accuracy_shared", acc_json(r.accuracy_shared)},
              {"accuracy_finetuned", acc_json(r.accuracy_finetuned)},
              {"test_images", r.test_images},
              {"bits_dense", r.bits_dense},
              {"bits_shared", r.bits_shared},
              {"layers", layers}};
}

}  // namespace gb::app
