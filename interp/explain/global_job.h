// The jobs behind `glassbox global-explain` and `glassbox tcav`: explanations of a model as a
// whole rather than of one image.
// global-explain: over `count` test images, the per-class average of one registry method's maps
// (each map normalised before averaging, class_maps.h) next to the class's mean input, and the
// most influential superpixels per class (SLIC + KernelSHAP per image, influential_segments.h),
// written as class_maps.png, segments.png, class_maps.safetensors and global.json.
// tcav: TCAV scores of concepts (folders of images) for one class at one or more layers, with
// R random counterparts, the random-vs-random baseline, Student t-tests and Bonferroni
// (interp/global/tcav.h), written as one JSON file.
// Shape letters: C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "interp/global/cav.h"
#include "interp/global/class_maps.h"
#include "interp/registry.h"

namespace gb::interp {

struct GlobalExplainConfig {
  std::filesystem::path checkpoint;
  std::string data;                // test split; "": the data set it was trained on
  int64_t count = 200;             // test images, balanced over the classes
  std::string method = "gradcam";  // any registry method (interp/registry.h)
  MethodOptions method_options;    // layer, seed, samples, ... (norm is filled in)
  MapNormalisation normalisation = MapNormalisation::MaxAbs;
  int64_t segment_images = 32;  // the first of the `count` images get superpixels; 0: none
  int64_t segments = 16;        // SLIC superpixels requested per image
  int64_t shap_samples = 256;   // KernelSHAP coalitions per image
  int64_t top_segments = 8;     // kept per class
  std::string device = "cpu";
  std::filesystem::path out;  // output directory
  bool overwrite = false;
};

struct GlobalResult {
  nlohmann::json json;
  std::vector<std::filesystem::path> files;
};

// Maps explain each image's true class. throws: std::invalid_argument / std::runtime_error
// naming the option or file before long work: out not empty without overwrite, an unknown
// method, count < 1, segment_images < 0, segments/shap_samples/top_segments < 1.
GlobalResult global_explain(const GlobalExplainConfig& cfg);
std::string format_global_summary(const GlobalResult& r);

struct ConceptFolder {
  std::string name;
  std::filesystem::path dir;
};

struct TcavConfig {
  std::filesystem::path checkpoint;
  std::string data;  // class inputs (test split) and --random-from-data (train split)
  std::vector<ConceptFolder> concepts;
  std::vector<std::filesystem::path> random_dirs;  // one random set per folder, or
  int64_t random_from_data = 0;     // R sets of this many training images, drawn by Philox(seed)
  int64_t runs = 0;                 // R; 0: the number of random folders, or 10 from data
  std::vector<std::string> layers;  // empty: Grad-CAM's default layer
  std::string target_class;         // index or class name (required)
  int64_t count = 100;              // class inputs: the first `count` test images of the class
  CavOptions cav;                   // l2, test_fraction, seed
  double alpha = 0.05;              // significance level after Bonferroni
  double min_accuracy = 0.7;        // mean held-out probe accuracy below it: no CAV, never
                                    // significant
  int64_t batch = 64;
  std::string device = "cpu";
  std::filesystem::path out;  // the JSON file
  bool overwrite = false;
};

struct TcavResult {
  nlohmann::json json;
};

// throws: std::invalid_argument / std::runtime_error naming the option or file before long
// work: no concept, a concept or random folder missing or empty, both or neither of random
// folders and random_from_data, runs < 2 or more than the folders, an unknown class or layer,
// an existing out without overwrite.
TcavResult tcav(const TcavConfig& cfg);
// The table: concept, layer, class, score mean +- std, random, probe accuracy, p, significant.
std::string format_tcav_table(const TcavResult& r);

}  // namespace gb::interp
