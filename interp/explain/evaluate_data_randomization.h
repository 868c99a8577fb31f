// The data-randomisation test (Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim, "Sanity Checks for
// Saliency Maps", NeurIPS 2018) for `evaluate-explanations --metrics data-randomization`: a fresh
// copy of the checkpoint's model is trained on a subset of the training set whose labels are
// permuted (Philox), until it memorises them or the epochs run out; each method's maps of the
// test images from this model are then compared with the trained model's (Spearman, SSIM, HOG).
// Shape letters: N images, C channels, H/W image size.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "interp/eval/metric_registry.h"
#include "runtime/module.h"

namespace gb::training {
struct CheckpointMeta;
}

namespace gb::interp {

struct PermutedModel {
  std::shared_ptr<Module> model;  // eval mode, on the CPU
  int64_t epochs = 0;
  double memorisation_accuracy = 0;  // on the permuted training labels, eval mode
  double test_accuracy = 0;          // on the first test images given, against the true labels
  bool compared = false;             // memorised, or allow_underfit
  nlohmann::json info;               // everything above plus the options, for the report
};

// Builds the model of `meta` afresh (manual_seed(seed)), permutes the labels of the first
// train_limit training images of `data` with Philox(seed) and trains (SGD, no augmentation,
// constant lr, no weight decay, in rounds of check_every epochs) until the accuracy on the permuted
// labels reaches min_accuracy or max_epochs. `test_accuracy_of` returns the model's accuracy on the
// test images.
PermutedModel train_on_permuted_labels(const training::CheckpointMeta& meta,
                                       const std::string& data,
                                       const eval::DataRandomizationParams& o, uint64_t seed,
                                       const std::function<double(Module&)>& test_accuracy_of,
                                       bool quiet);

}  // namespace gb::interp
