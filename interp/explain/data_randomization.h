// The data-randomisation test of Adebayo et al. ("Sanity Checks for Saliency Maps", NeurIPS 2018,
// section 5): a copy of the checkpoint's model, freshly initialised, is trained on a subset of the
// training set whose labels are permuted until it memorises them; an explanation method that
// depends on the relation between images and labels must then give maps unlike the real model's.
// Both models explain the same test images for the same class (the real model's prediction), and
// each pair of maps is compared by Spearman rank correlation (signed and of |map|), SSIM of the
// max-normalised maps and the Pearson correlation of their HOG features (interp/eval/
// map_similarity.h). Peers cannot run this test from one call because they do not train.
// Shape letters: C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "interp/explain/evaluate_job.h"
#include "interp/registry.h"

namespace gb::interp {

struct DataRandomizationConfig {
  std::filesystem::path checkpoint;
  std::string data;                  // "": the data set the checkpoint was trained on
  std::vector<std::string> methods;  // registry names (each may be a comma-separated list)
  int64_t count = 20;                // test images whose maps are compared (class-balanced)
  MethodOptions method;              // as evaluate-explanations
  // Training on permuted labels: `train_images` class-balanced training images, their labels
  // permuted by a seeded shuffle; no augmentation and no weight decay (memorisation is the aim),
  // constant learning rate, in rounds of `epochs_per_round` epochs until the accuracy on the
  // permuted labels reaches `min_accuracy` or `max_epochs` have run.
  int64_t train_images = 2000;
  double max_epochs = 60;
  double epochs_per_round = 5;
  double min_accuracy = 0.95;
  bool allow_underfit = false;  // compare maps even when min_accuracy was not reached
  int64_t batch_size = 128;
  float lr = 0.05f;
  uint64_t seed = 0;                 // initialisation, label permutation, loader order
  std::filesystem::path save_model;  // "": not written; else the random-label model
  bool overwrite = false;            // replace an existing save_model file
  bool quiet = false;                // no progress lines on stderr
};

// One method's maps of the two models, compared image by image.
struct MapAgreement {
  std::string method;
  Stats spearman;      // signed maps
  Stats spearman_abs;  // |maps|
  Stats ssim;          // of normalise_abs_max (or normalise_signed_max for signed maps)
  Stats hog;           // Pearson correlation of HOG features of the normalised |maps|
  std::vector<double> per_image_spearman_abs;
};

struct DataRandomizationResult {
  std::string checkpoint, data, model;
  uint64_t seed = 0;
  int64_t train_images = 0, test_images = 0;
  double epochs = 0, train_seconds = 0;
  double memorisation_accuracy = 0;   // random-label model on the permuted training labels
  double random_test_accuracy = 0;    // random-label model on the true test labels (~ chance)
  double trained_test_accuracy = 0;   // the checkpoint's model on the same test images
  double trained_train_accuracy = 0;  // the checkpoint's model on the training subset's true labels
  bool memorised = false;             // memorisation_accuracy >= min_accuracy
  double min_accuracy = 0;
  std::vector<MapAgreement> methods;  // empty when not memorised and not allow_underfit
};

// Runs the test. requires: cfg.methods non-empty and known, count >= 1, train_images >= 1,
// 0 < epochs_per_round <= max_epochs, 0 < min_accuracy <= 1.
// throws: std::invalid_argument naming the option for a bad value; std::runtime_error naming the
// file for an unreadable checkpoint or data set, or a save_model path that exists without
// overwrite or cannot be created (all checked before training starts).
DataRandomizationResult data_randomization(const DataRandomizationConfig& cfg);

std::string format_data_randomization(const DataRandomizationResult& r);
nlohmann::json data_randomization_to_json(const DataRandomizationResult& r,
                                          const DataRandomizationConfig& cfg);

}  // namespace gb::interp
