// Evaluation of a model on a data set (`glassbox eval`, the test pass after each training epoch,
// the accuracies of prune / distill / compress): loss, accuracy, per-class accuracy and the
// confusion matrix, optionally with flip test-time augmentation; and the text report.
// Shape letters: N batch, C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/normalize.h"
#include "runtime/module.h"
#include "runtime/process_group.h"

namespace gb::training {

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t samples = 0;
  std::vector<std::string> classes;
  std::vector<double> per_class_accuracy;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  double seconds = 0;
};

// Evaluates `model` (switched to eval mode, on its own device) on `ds` with normalisation `norm`
// in batches of `batch_size`, with a progress bar labelled `label` unless `quiet`. Test-time
// augmentation by `tta_level`: 0 none; 1 the logits are the mean of the image's and its
// horizontal mirror's; 2 half of that plus half the same mean over the image translated by one
// pixel up-left and down-right (borders reflected), airbench's level 2. Throws
// std::invalid_argument for another level or a batch size below 1.
// Sharded over `group` (collective; every rank passes the same data set and model): each rank
// evaluates a contiguous run of whole batches (shard_range over the batches), and the per-batch
// losses and the confusion counts are gathered and added in batch order, so every rank gets the
// result one process would compute from the same batches. seconds is the slowest rank's.
EvalResult evaluate(Module& model, const data::Dataset& ds, const data::Normalization& norm,
                    int64_t batch_size, bool quiet, const std::string& label = "eval",
                    int64_t tta_level = 0, ProcessGroup* group = nullptr);

// Accuracy, per-class accuracy and the confusion matrix as text.
std::string format_eval_report(const EvalResult& r);

}  // namespace gb::training
