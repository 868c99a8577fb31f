// The job behind `glassbox activations`: what one layer of a checkpoint's model sees and what it
// looks for. For test image K: the layer's channel maps (channels.png) and each channel's score
// (mean activation); across the first `count` test images: the images that activate each chosen
// channel most (top.png); and feature visualisations by activation maximisation of the chosen
// channels and of any classes asked for (features.png). activations.json has the numbers. Indices
// are test-set indices in file order, the ones `glassbox explain --index` takes.
// Written through a staging directory, so an error leaves no partial output.
// Shape letters: C channels, H/W image size, K channels of the layer.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "interp/activations.h"

namespace gb::interp {

struct ActivationsConfig {
  std::filesystem::path checkpoint;
  std::string data;               // "": the data set the checkpoint was trained on
  int64_t index = 0;              // the test image shown
  std::string layer;              // module path; "": the layer Grad-CAM uses by default
  int64_t count = 1000;           // test images scanned for the top-activating ones
  int64_t top = 8;                // top images per channel
  std::vector<int64_t> channels;  // channels shown; empty: the `show` most active on image K
  int64_t show = 8;
  bool features = true;          // activation maximisation of the shown channels
  std::vector<int64_t> classes;  // also maximise these class logits
  FeatureVisOptions vis;         // steps, lr, jitter, blur, tv, l2, seed (layer/unit are set)
  std::string device = "cpu";
  std::filesystem::path out;
  bool overwrite = false;
};

struct ActivationsResult {
  nlohmann::json json;  // what activations.json holds
  std::vector<std::filesystem::path> files;
};

// throws: std::invalid_argument / std::runtime_error naming the option or file, before any long
// work where it can be checked: a non-empty out without overwrite, an unknown layer, a channel
// or class out of range, an index beyond the test set, count/top/show < 1.
ActivationsResult activations(const ActivationsConfig& cfg);

std::string format_activations_summary(const ActivationsResult& r);

}  // namespace gb::interp
