// The job behind `glassbox explain`: one image (test image K of the checkpoint's data set, or an
// image file) explained by any methods of the registry (interp/registry.h). Each map is written
// as a heat-map PNG over the upscaled input, next to input.png, a labelled sheet.png of all
// methods and explanation.json (prediction, target, per-method time, top features, method checks
// such as the IG completeness error, LIME's R^2 and KernelSHAP's efficiency error, and each map's
// deletion/insertion AUC). Shape letters: C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "interp/map_archive.h"
#include "interp/registry.h"

namespace gb::interp {

struct ExplainConfig {
  std::filesystem::path checkpoint;
  std::filesystem::path image;  // an image file, or
  int64_t index = -1;           // test image `index` of `data` (>= 0 selects this source)
  std::string data;             // with index: data set; "": the one the checkpoint was trained on
  std::vector<std::string> methods;
  std::string target = "pred";  // "pred", a class index or a class name
  MethodOptions method;         // layer, seed, samples, segments, mem budget (norm is filled in)
  std::string device = "cpu";   // where the model runs: cpu | cuda | cuda:N
  bool resize = false;          // resize/convert a file of the wrong size or channel count
  std::filesystem::path out;    // output directory
  bool overwrite = false;       // allow a non-empty `out`: the files written here are replaced
  // Also the raw maps: maps.safetensors (tensors "input" [C,H,W], normalised as the model sees
  // it, and one [H,W] float32 map per method, with metadata per map: method, target, options,
  // checks) and/or <method>.npy + input.npy + maps.json.
  bool save_maps = false;
  MapFormat maps_format = MapFormat::Safetensors;
};

struct ExplainResult {
  nlohmann::json json;                       // what explanation.json holds
  std::vector<std::filesystem::path> files;  // written, in order
};

// Explains one image with every method of cfg.methods and writes into cfg.out: input.png,
// <method>.png per method, sheet.png and explanation.json (and the raw maps with save_maps).
// Everything is computed before the
// first file is written, and the files are written into a staging directory next to cfg.out and
// moved into place, so an error leaves no partial output.
// requires: exactly one of cfg.image / cfg.index >= 0; cfg.methods non-empty.
// throws: std::invalid_argument / std::runtime_error with a message naming the file or option:
// out not empty without overwrite, image of the wrong size or channel count without resize
// (naming the file and the expected CxHxW), index out of range, unknown method, layer or class.
ExplainResult explain(const ExplainConfig& cfg);

// Throws std::invalid_argument, naming the data set, when cfg's test set (the checkpoint's by
// default) has no image `index`; std::runtime_error when the checkpoint or data cannot be read.
void check_test_index(const ExplainConfig& cfg, int64_t index);

// One line per method (time, AUCs, checks) for the terminal.
std::string format_explain_summary(const ExplainResult& r);

}  // namespace gb::interp
