// The job behind `glassbox distill`: train a fresh student from the zoo on a teacher checkpoint's
// data set with the distillation loss (alpha T^2 KL + (1 - alpha) CE, training/losses.h) through
// the one training loop, optionally the same student alone (labels only, same seed) to compare,
// and write the student as a checkpoint. Also its table and JSON report.
// Shape letters: N images, C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "interp/prune/job_common.h"

namespace gb::prune {

struct DistillConfig {
  std::string teacher;               // teacher checkpoint
  std::string student = "resnet20";  // zoo name
  float student_width = 1.0f;
  float temperature = 4.0f;
  float alpha = 0.9f;     // weight of the distillation term; 1 - alpha on the labels
  bool baseline = false;  // also train the student alone (alpha 0, same seed) to compare
  std::string data;       // default: the teacher's data set
  int64_t limit_train = 0, limit_test = 0;
  training::FinetuneConfig train;  // the student's training recipe (train.epochs epochs)
  std::filesystem::path out;
  bool overwrite = false;
  std::filesystem::path json;
  bool timing = true;
  training::ThroughputOptions timing_options;
  bool quiet = false;
  training::TensorBoardSettings tensorboard;  // of the distilled student (dir empty: none)
};

struct DistillReport {
  std::string teacher_name, student_name, out;
  ModelStats teacher, student;
  double teacher_accuracy = -1, student_accuracy = -1, baseline_accuracy = -1;
  double student_train_loss = 0, baseline_train_loss = 0;
  int64_t test_images = 0;
  double seconds = 0;
};

// Runs the distill job, writing cfg.out and (when given) cfg.json.
// throws: std::runtime_error / std::invalid_argument naming the file or option.
DistillReport run_distill(const DistillConfig& cfg);
std::string format_distill_report(const DistillReport& r);
nlohmann::json distill_report_json(const DistillReport& r, const DistillConfig& cfg);

}  // namespace gb::prune
