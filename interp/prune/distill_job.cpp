// `glassbox distill`: teacher checkpoint in, student trained with the distillation loss (and
// optionally alone), student checkpoint out, table and JSON (see distill_job.h).
// Shape letters: N images, C channels, H/W image size, K classes.
#include "interp/prune/distill_job.h"

#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <stdexcept>

#include "models/registry.h"
#include "models/training/losses.h"
#include "runtime/autograd.h"
#include "runtime/output_path.h"
#include "runtime/rng.h"

namespace gb::prune {
using json = nlohmann::json;

namespace {

void check_distill_config(const DistillConfig& cfg) {
  if (!(cfg.temperature > 0)) throw std::invalid_argument("--temperature must be > 0");
  if (!(cfg.alpha >= 0 && cfg.alpha <= 1)) throw std::invalid_argument("--alpha must be in [0,1]");
  check_job_outputs(cfg.out, cfg.json, cfg.teacher, cfg.overwrite);
  if (!models::has_model(cfg.student)) models::build_model(cfg.student);  // names the known ones
}

models::ModelConfig student_config(const DistillConfig& cfg, const training::CheckpointMeta& t) {
  models::ModelConfig scfg;
  scfg.num_classes = static_cast<int64_t>(t.classes.size());
  scfg.in_channels = t.input_shape.at(0);
  scfg.image_size = t.input_shape.at(1);
  scfg.width = cfg.student_width;
  return scfg;
}

// The distillation loss against the teacher's logits on the same images (the labels alone when
// alpha is 0, so the teacher is not run).
training::LossFn distillation_loss_fn(const DistillConfig& cfg, Module& teacher) {
  return
      [&cfg, &teacher](const Tensor& x, const Tensor& logits, const std::vector<int64_t>& labels) {
        Tensor t;
        if (cfg.alpha > 0) {
          NoGradGuard no_grad;
          EvalModeScope eval(teacher);
          t = teacher(x);
        } else {
          t = logits.detach();
        }
        return training::distillation_loss(logits, t, Tensor::from_labels(labels), cfg.temperature,
                                           cfg.alpha);
      };
}

// Trains `student` with the recipe cfg.train and `hooks`; returns the mean training loss.
double train_student(Module& student, const DistillConfig& cfg,
                     const std::shared_ptr<const data::Dataset>& train,
                     const data::Normalization& norm, const training::FinetuneHooks& hooks,
                     const std::string& label) {
  return finetune_with_progress(student, train, norm, cfg.train, hooks, cfg.quiet, label,
                                FinetuneSummary::Loss)
      .loss;
}

void save_student(const DistillConfig& cfg, const SourceCheckpoint& teacher, const Module& student,
                  const models::ModelConfig& scfg, const DistillReport& r) {
  training::DistilledStudent s;
  s.model_name = cfg.student;
  s.model_config = scfg;
  s.width = cfg.student_width;
  s.data = teacher.data;
  s.recipe = cfg.train;
  s.limit_train = cfg.limit_train;
  s.limit_test = cfg.limit_test;
  s.train_loss = r.student_train_loss;
  s.test_accuracy = r.student_accuracy;
  const json distillation{{"teacher", cfg.teacher},
                          {"teacher_model", r.teacher_name},
                          {"temperature", cfg.temperature},
                          {"alpha", cfg.alpha},
                          {"teacher_accuracy", r.teacher_accuracy},
                          {"student_accuracy", r.student_accuracy},
                          {"student_alone_accuracy", acc_json(r.baseline_accuracy)}};
  training::save_model(cfg.out, student,
                       training::distilled_meta(teacher.loaded.meta, s, distillation));
  if (!cfg.json.empty()) write_json_file(cfg.json, distill_report_json(r, cfg), cfg.overwrite);
}

}  // namespace

DistillReport run_distill(const DistillConfig& cfg) {
  check_distill_config(cfg);
  const auto log = open_training_log(cfg.tensorboard, cfg.train.epochs);
  const SourceCheckpoint teacher = load_source(cfg.teacher, cfg.data);
  const training::CheckpointMeta& tmeta = teacher.loaded.meta;
  const Shape& chw = tmeta.input_shape;
  const data::Dataset test = teacher.split(data::Split::Test, cfg.limit_test);
  const auto train =
      std::make_shared<const data::Dataset>(teacher.split(data::Split::Train, cfg.limit_train));
  const models::ModelConfig scfg = student_config(cfg, tmeta);
  Module& tm = *teacher.loaded.model;

  DistillReport r;
  r.teacher_name = tmeta.model_name;
  r.student_name = cfg.student;
  r.out = cfg.out.string();
  r.test_images = static_cast<int64_t>(test.size());
  r.teacher =
      measure_model(tm, tmeta.model_name, tmeta.model_config, chw, cfg.timing, cfg.timing_options);
  r.teacher_accuracy = accuracy(tm, test, tmeta.norm, cfg.quiet, "teacher");

  manual_seed(cfg.train.seed);
  auto student = models::build_model(cfg.student, scfg);
  if (!cfg.quiet) {
    fmt::print("distilling {} ({} parameters) into {} ({} parameters): T {}, alpha {}, {} epochs\n",
               tmeta.model_name, tm.parameter_count(), cfg.student, student->parameter_count(),
               cfg.temperature, cfg.alpha, cfg.train.epochs);
  }
  const auto t0 = std::chrono::steady_clock::now();
  training::FinetuneHooks hooks;
  hooks.loss = distillation_loss_fn(cfg, tm);
  hooks.log = log.get();
  if (log) log->set_test_data(&test, tmeta.norm);
  r.student_train_loss =
      train_student(*student, cfg, train, tmeta.norm, hooks, "student (distilled)");
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.student = measure_model(*student, cfg.student, scfg, chw, cfg.timing, cfg.timing_options);
  r.student_accuracy = accuracy(*student, test, tmeta.norm, cfg.quiet, "student");
  if (cfg.baseline) {
    manual_seed(cfg.train.seed);
    auto alone = models::build_model(cfg.student, scfg);
    r.baseline_train_loss = train_student(*alone, cfg, train, tmeta.norm, {}, "student alone");
    r.baseline_accuracy = accuracy(*alone, test, tmeta.norm, cfg.quiet, "student alone");
  }
  save_student(cfg, teacher, *student, scfg, r);
  return r;
}

std::string format_distill_report(const DistillReport& r) {
  std::string out =
      fmt::format("\ndistillation: teacher {} -> student {}\n\n", r.teacher_name, r.student_name);
  out += table_row("", "teacher", "distilled", "alone", "");
  out += table_row("parameters", count_str(r.teacher.params), count_str(r.student.params),
                   r.baseline_accuracy >= 0 ? count_str(r.student.params) : "-", "");
  out += table_row("MACs per image", macs_str(r.teacher.macs), macs_str(r.student.macs),
                   r.baseline_accuracy >= 0 ? macs_str(r.student.macs) : "-",
                   ratio(static_cast<double>(r.student.macs), static_cast<double>(r.teacher.macs)));
  out += table_row("inference img/s", ips(r.teacher.inference_ips), ips(r.student.inference_ips),
                   "-", ratio(r.student.inference_ips, r.teacher.inference_ips));
  out += table_row(
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

}  // namespace gb::prune
