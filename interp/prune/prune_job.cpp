// `glassbox prune`: checkpoint in, measurements, structured or unstructured pruning, fine-tuning,
// measurements, checkpoint out, table and JSON (see prune_job.h).
// Shape letters: N images, C channels, H/W image size.
#include "interp/prune/prune_job.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>
#include <utility>

#include "interp/prune/channel_graph.h"
#include "runtime/output_path.h"

namespace gb::prune {
using json = nlohmann::json;

namespace {

void check_prune_config(const PruneConfig& cfg) {
  if (cfg.structured) {
    if (!(cfg.target_macs > 0 && cfg.target_macs <= 1)) {
      throw std::invalid_argument("--target-macs must be in (0,1], got " +
                                  std::to_string(cfg.target_macs));
    }
    if (cfg.iterative < 1) throw std::invalid_argument("--iterative must be >= 1");
    if (needs_calibration(cfg.criterion) && cfg.calib_images < 1) {
      throw std::invalid_argument("--calib-images must be >= 1 for criterion " +
                                  std::string(criterion_name(cfg.criterion)));
    }
  }
  if (cfg.finetune.epochs < 0) throw std::invalid_argument("--finetune-epochs must be >= 0");
}

// What a prune job reads, and the model it changes.
struct PruneJob {
  PruneJob(const PruneConfig& c, SourceCheckpoint s) : cfg(c), source(std::move(s)) {}

  const PruneConfig& cfg;
  SourceCheckpoint source;
  training::TrainingLog* log = nullptr;  // TensorBoard (--tensorboard), across every fine-tuning
  training::LoadedModel original;        // stays untouched, for Grad-CAM
  data::Dataset test;
  std::shared_ptr<const data::Dataset> train;  // null: neither fine-tuning nor calibration
  std::vector<interp::CalibrationBatch> cam_set;
  std::shared_ptr<Module> model;  // the model being pruned (the source's, then rebuilt ones)
  models::ModelConfig model_config;
  json pruning;  // the checkpoint's "pruning" section

  const data::Normalization& norm() const { return source.loaded.meta.norm; }
  const Shape& chw() const { return source.loaded.meta.input_shape; }
  const std::string& model_name() const { return source.loaded.meta.model_name; }
  double accuracy_of(Module& m, const std::string& label) const {
    return accuracy(m, test, norm(), cfg.quiet, label);
  }
};

PruneJob open_job(const PruneConfig& cfg) {
  PruneJob job{cfg, load_source(cfg.checkpoint, cfg.data)};
  job.original = training::load_model(cfg.checkpoint);
  job.test = job.source.split(data::Split::Test, cfg.limit_test);
  if (cfg.finetune.epochs > 0 || (cfg.structured && needs_calibration(cfg.criterion))) {
    job.train = std::make_shared<const data::Dataset>(
        job.source.split(data::Split::Train, cfg.limit_train));
  }
  job.cam_set = image_batches(job.test, job.norm(), cfg.cam_images, 50);
  job.model = job.source.loaded.model;
  job.model_config = job.source.loaded.meta.model_config;
  return job;
}

PruneReport start_report(const PruneJob& job) {
  const PruneConfig& cfg = job.cfg;
  PruneReport r;
  r.model_name = job.model_name();
  r.checkpoint = cfg.checkpoint;
  r.out = cfg.out.string();
  r.mode = cfg.structured ? "structured" : "unstructured";
  r.test_images = static_cast<int64_t>(job.test.size());
  r.cam_images = cfg.cam_images > 0 ? std::min<int64_t>(cfg.cam_images, r.test_images) : 0;
  return r;
}

// Grad-CAM agreement of the pruned model with the original, when asked for.
void compare_cams(PruneJob& job, double& mean, double& std) {
  if (job.cam_set.empty()) return;
  const CamAgreement c = cam_agreement(*job.original.model, *job.model, job.cam_set);
  mean = c.mean;
  std = c.std;
}

// The fine-tuning after a prune step and the accuracy it reaches, with their progress labels.
void finetune_step(PruneJob& job, PruneReport& r, PruneStep& ps, const training::FinetuneConfig& fc,
                   training::FinetuneHooks hooks, const std::string& label,
                   const std::string& accuracy_label) {
  hooks.log = job.log;
  r.finetune_seconds +=
      finetune_with_progress(*job.model, job.train, job.norm(), fc, hooks, job.cfg.quiet, label)
          .seconds;
  ps.accuracy_finetuned = job.accuracy_of(*job.model, accuracy_label);
}

// One structured step: analyse, score, select and rebuild the model at MAC target ps.target.
void prune_channels(PruneJob& job, PruneReport& r, PruneStep& ps, int64_t step,
                    const std::vector<interp::CalibrationBatch>& calib,
                    std::map<std::string, int64_t>& original_width) {
  const PruneConfig& cfg = job.cfg;
  AnalyzeOptions ao;
  ao.protect_first = !cfg.prune_first;
  ao.protect_last = !cfg.prune_last;
  const ChannelGraph g = analyze_channels(*job.model, job.chw(), ao);
  ScoreOptions so;
  so.criterion = cfg.criterion;
  so.seed = cfg.seed + static_cast<uint64_t>(step - 1);
  so.calibration = &calib;
  so.attribution_use_labels = cfg.attribution_labels;
  const auto scores = channel_importance(*job.model, g, so);
  SelectOptions sel_opt;
  sel_opt.max_macs = static_cast<int64_t>(ps.target * static_cast<double>(r.before.macs));
  sel_opt.global = cfg.global;
  sel_opt.round_to = cfg.round_to;
  sel_opt.min_keep = cfg.min_keep;
  const Selection sel = select_channels(g, scores, sel_opt);
  r.round_to = sel.round_to;
  PrunedModel pm = prune_model(*job.model, job.model_name(), job.model_config, g, sel.keep);
  job.model = pm.model;
  job.model_config = pm.config;
  r.groups.clear();
  for (size_t i = 0; i < g.groups.size(); ++i) {
    const auto n = static_cast<int64_t>(g.groups[i].ids.size());
    if (step == 1) original_width[g.groups[i].name] = n;  // "before" is the original width
    const auto it = original_width.find(g.groups[i].name);
    r.groups.push_back({g.groups[i].name, it != original_width.end() ? it->second : n,
                        sel.kept_per_group[i], g.groups[i].reason});
  }
}

void print_step(const PruneJob& job, const PruneReport& r, const PruneStep& ps, int64_t step) {
  if (job.cfg.quiet) return;
  fmt::print("step {}/{}: {} MACs ({:.3f} of the original, target {:.3f}), {} parameters\n", step,
             job.cfg.iterative, count_str(ps.macs),
             static_cast<double>(ps.macs) / static_cast<double>(r.before.macs), ps.target,
             count_str(ps.params));
}

void prune_structured(PruneJob& job, PruneReport& r) {
  const PruneConfig& cfg = job.cfg;
  std::vector<interp::CalibrationBatch> calib;
  if (needs_calibration(cfg.criterion))
    calib = image_batches(*job.train, job.norm(), cfg.calib_images, 64);
  training::FinetuneConfig step_ft = cfg.finetune;
  step_ft.epochs = cfg.finetune.epochs / static_cast<double>(cfg.iterative);
  std::map<std::string, int64_t> original_width;  // per group name, at step 1
  for (int64_t step = 1; step <= cfg.iterative; ++step) {
    PruneStep ps;
    ps.target = 1.0 - (1.0 - cfg.target_macs) * static_cast<double>(step) /
                          static_cast<double>(cfg.iterative);
    prune_channels(job, r, ps, step, calib, original_width);
    ps.macs = count_macs(*job.model, job.chw()).total;
    ps.params = job.model->parameter_count();
    print_step(job, r, ps, step);
    ps.accuracy_pruned = job.accuracy_of(*job.model, "  pruned");
    if (step == cfg.iterative) {
      r.accuracy_pruned = ps.accuracy_pruned;
      compare_cams(job, r.cam_corr_pruned, r.cam_corr_pruned_std);
    }
    if (cfg.finetune.epochs > 0) {
      step_ft.seed = cfg.finetune.seed + static_cast<uint64_t>(step - 1);
      finetune_step(job, r, ps, step_ft, {}, fmt::format("  fine-tune {}/{}", step, cfg.iterative),
                    "  fine-tuned");
    }
    r.steps.push_back(ps);
  }
  r.channels = job.model_config.channels;
  r.description = fmt::format(
      "criterion {}, {}, {} ranking, target {:.3g} of the MACs, channels rounded to {}{}",
      criterion_name(cfg.criterion),
      cfg.iterative > 1 ? fmt::format("iterative ({} steps)", cfg.iterative) : "one-shot",
      cfg.global ? "global" : "per-group", cfg.target_macs, r.round_to,
      cfg.round_to == 0 ? " (auto)" : "");
  job.pruning = json{{"mode", "structured"},
                     {"criterion", criterion_name(cfg.criterion)},
                     {"target_macs", cfg.target_macs},
                     {"iterative", cfg.iterative},
                     {"global", cfg.global},
                     {"round_to", r.round_to},
                     {"round_to_auto", cfg.round_to == 0},
                     {"min_keep", cfg.min_keep},
                     {"protect_first", !cfg.prune_first},
                     {"protect_last", !cfg.prune_last},
                     {"finetune_epochs", cfg.finetune.epochs},
                     {"source", cfg.checkpoint},
                     {"source_model_config", job.source.loaded.meta.model_config}};
}

void prune_unstructured(PruneJob& job, PruneReport& r) {
  const PruneConfig& cfg = job.cfg;
  r.description = fmt::format("unstructured magnitude, sparsity {:.3g} {}", cfg.sparsity,
                              cfg.global ? "(global threshold)" : "(per layer)");
  MagnitudeOptions mo;
  mo.sparsity = cfg.sparsity;
  mo.global = cfg.global;
  mo.protect_first = !cfg.prune_first;
  mo.protect_last = !cfg.prune_last;
  const MaskSet masks = magnitude_masks(*job.model, job.chw(), mo);
  masks.apply();
  PruneStep ps;
  ps.target = 1.0;
  ps.accuracy_pruned = job.accuracy_of(*job.model, "pruned");
  r.accuracy_pruned = ps.accuracy_pruned;
  compare_cams(job, r.cam_corr_pruned, r.cam_corr_pruned_std);
  if (cfg.finetune.epochs > 0) {
    training::FinetuneHooks hooks;
    hooks.after_step = [&masks] { masks.apply(); };
    finetune_step(job, r, ps, cfg.finetune, hooks, "fine-tune", "fine-tuned");
  }
  r.steps.push_back(ps);
  r.sparsity = weight_sparsity(*job.model);
  json layers = json::array();
  for (const auto& s : r.sparsity) {
    layers.push_back({{"param", s.param}, {"numel", s.numel}, {"zeros", s.zeros}});
  }
  job.pruning = json{{"mode", "unstructured"},
                     {"sparsity", cfg.sparsity},
                     {"global", cfg.global},
                     {"protect_first", !cfg.prune_first},
                     {"protect_last", !cfg.prune_last},
                     {"finetune_epochs", cfg.finetune.epochs},
                     {"source", cfg.checkpoint},
                     {"layers", layers}};
}

// After pruning (and fine-tuning): the final accuracy and Grad-CAM agreement, the pruned model's
// size and speed (unstructured: the dense kernels run as fast as before).
void finish_report(PruneJob& job, PruneReport& r) {
  const PruneConfig& cfg = job.cfg;
  if (cfg.finetune.epochs > 0) {
    r.accuracy_finetuned = r.steps.back().accuracy_finetuned;
    compare_cams(job, r.cam_corr_finetuned, r.cam_corr_finetuned_std);
  }
  r.after = measure_model(*job.model, job.model_name(), job.model_config, job.chw(),
                          cfg.timing && cfg.structured, cfg.timing_options);
  if (!cfg.structured) {
    r.after.inference_ips = r.before.inference_ips;
    r.after.train_ips = r.before.train_ips;
  }
}

void save_pruned(PruneJob& job, const PruneReport& r) {
  job.pruning["accuracy_before"] = r.accuracy_before;
  job.pruning["accuracy_pruned"] = r.accuracy_pruned;
  job.pruning["accuracy_finetuned"] = acc_json(r.accuracy_finetuned);
  training::save_model(
      job.cfg.out, *job.model,
      training::pruned_meta(job.source.loaded.meta, job.model_config, job.pruning));
  if (!job.cfg.json.empty()) {
    write_json_file(job.cfg.json, prune_report_json(r), job.cfg.overwrite);
  }
}

// The first rows of the table: size, speed, accuracy and Grad-CAM agreement.
std::string format_summary_rows(const PruneReport& r) {
  const bool ft = r.accuracy_finetuned >= 0;
  const auto same = [&](const std::string& v) { return ft ? v : std::string("-"); };
  const auto rel = [](int64_t after, int64_t before) {
    return ratio(static_cast<double>(after), static_cast<double>(before));
  };
  std::string out = table_row("", "original", "pruned", "fine-tuned", "");
  out += table_row("parameters", count_str(r.before.params), count_str(r.after.params),
                   same(count_str(r.after.params)), rel(r.after.params, r.before.params));
  if (r.mode == "unstructured") {
    out += table_row("nonzero parameters", count_str(r.before.nonzero_params),
                     count_str(r.after.nonzero_params), same(count_str(r.after.nonzero_params)),
                     rel(r.after.nonzero_params, r.before.nonzero_params));
    out += table_row("MACs (dense kernels)", macs_str(r.before.macs), macs_str(r.after.macs),
                     same(macs_str(r.after.macs)), "zeros are still multiplied");
    out += table_row("MACs (nonzero weights)", macs_str(r.before.effective_macs),
                     macs_str(r.after.effective_macs), same(macs_str(r.after.effective_macs)),
                     rel(r.after.effective_macs, r.before.macs));
  } else {
    out += table_row("MACs per image", macs_str(r.before.macs), macs_str(r.after.macs),
                     same(macs_str(r.after.macs)), rel(r.after.macs, r.before.macs));
  }
  const std::string speed_note =
      r.mode == "unstructured" ? "same dense kernels: not re-measured" : "";
  const auto speed_ratio = [&](double after, double before) {
    return speed_note.empty() ? ratio(after, before) : speed_note;
  };
  out += table_row("inference img/s", ips(r.before.inference_ips), ips(r.after.inference_ips),
                   same(ips(r.after.inference_ips)),
                   speed_ratio(r.after.inference_ips, r.before.inference_ips));
  out +=
      table_row("training img/s", ips(r.before.train_ips), ips(r.after.train_ips),
                same(ips(r.after.train_ips)), speed_ratio(r.after.train_ips, r.before.train_ips));
  out += table_row("test accuracy", pct(r.accuracy_before), pct(r.accuracy_pruned),
                   pct(r.accuracy_finetuned),
                   fmt::format("{} test images{}", r.test_images,
                               ft ? fmt::format(", {:+.2f} points after fine-tuning",
                                                100.0 * (r.accuracy_finetuned - r.accuracy_before))
                                  : ""));
  if (r.cam_images > 0) {
    const auto corr = [](double m) {
      return m < -1.5 ? std::string("-") : fmt::format("{:.3f}", m);
    };
    out += table_row(
        "Grad-CAM rank corr.", "1", corr(r.cam_corr_pruned), ft ? corr(r.cam_corr_finetuned) : "-",
        fmt::format("Spearman vs the original's map, mean of {} test images (std {:.3f})",
                    r.cam_images, ft ? r.cam_corr_finetuned_std : r.cam_corr_pruned_std));
  }
  return out;
}

// The per-step table (iterative pruning), the channel groups and the per-weight sparsity.
std::string format_detail_tables(const PruneReport& r) {
  std::string out;
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
  return out;
}

}  // namespace

PruneReport run_prune(const PruneConfig& cfg) {
  check_prune_config(cfg);
  check_job_outputs(cfg.out, cfg.json, cfg.checkpoint, cfg.overwrite);
  const auto log = open_training_log(cfg.tensorboard, cfg.finetune.epochs);
  PruneJob job = open_job(cfg);
  job.log = log.get();
  if (log) log->set_test_data(&job.test, job.norm());
  PruneReport r = start_report(job);
  if (!cfg.quiet) fmt::print("measuring {} from {}\n", job.model_name(), cfg.checkpoint);
  r.before = measure_model(*job.model, job.model_name(), job.model_config, job.chw(), cfg.timing,
                           cfg.timing_options);
  r.accuracy_before = job.accuracy_of(*job.model, "original");
  if (cfg.structured) {
    prune_structured(job, r);
  } else {
    prune_unstructured(job, r);
  }
  finish_report(job, r);
  save_pruned(job, r);
  return r;
}

std::string format_prune_report(const PruneReport& r) {
  std::string out = fmt::format("\npruned {} ({}): {}\n\n", r.model_name, r.mode, r.description);
  out += format_summary_rows(r);
  out += format_detail_tables(r);
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

}  // namespace gb::prune
