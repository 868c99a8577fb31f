// The job behind `glassbox probe`: a checkpoint run on raw input tensors (already normalised,
// read from a .safetensors file) with its raw results written to another one, for comparing
// glassbox number for number with another framework and for users who want the maps themselves:
//   "logits" [N,K]; with backward, "grad.input" [N,C,H,W] (and with param_grads
//   "grad.<parameter>" for every parameter): the gradients of sum(logits * grad_output); with a
//   CAM layer, "cam.map" [N,1,H,W]
//   and "cam.low_res" [N,1,h,w] (Grad-CAM of that layer for the given target).
// With methods (the registry's names, registry.h, plus "feature-ablation"): "targets" I64 [N]
//   (the explained class of each input); "map.<m>" [N,H,W], run_method's map of each input;
//   for the gradient methods also "attr.<m>", the attribution before the channel reduction
//   ([N,C,H,W]; saliency [N,1,H,W], already max |.| over channels), "baseline.ig" [N,C,H,W] (IG's
//   black baseline); with a segment method or feature-ablation on a grid, "segments" I64 [N,H,W]
//   and "fill" [N,C,H,W] (what hidden segments show: each image's per-channel mean).
//   With game: "game" [N,2^S], the segment game's value (the target logit with the segments
//   outside the coalition filled) of every coalition m (player j in m when bit j is set).
//   With timing_reps R: metadata "ms.<m>" = JSON list of R timings (ms, summed over the inputs)
//   after the untimed run that writes the map, and "ms.cam" for Grad-CAM on the whole batch.
// With similarity: input "map_a", "map_b" [N,H,W] -> "ssim", "pearson", "spearman",
//   "hog_similarity" [N] and "hog.a", "hog.b" [N,F] (interp/eval/map_similarity.h defaults).
// Shape letters: N inputs, C channels, H/W image size, K classes, S segments, F HOG features.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "interp/registry.h"

namespace gb::interp {

struct ProbeJob {
  std::filesystem::path checkpoint;  // may be empty with similarity alone (no model is run)
  std::filesystem::path input;       // tensor "input" [N,C,H,W]; "grad_output" [N,K] for backward
  std::filesystem::path out;
  bool overwrite = false;
  bool train_mode = false;  // batch statistics in BatchNorm (running stats are not written back)
  bool backward = false;
  bool param_grads = false;          // with backward: also every parameter's gradient
  std::string cam_layer;             // "": no Grad-CAM
  std::string cam_target = "pred";   // "pred" or a class index
  std::vector<std::string> methods;  // explanation methods; empty: none
  std::string target = "pred";       // the methods' class: "pred" or a class index
  MethodOptions method_options;      // ig_steps, samples, seed, segments, segmentation
  bool game = false;                 // the segment game's values (grid segmentation, S <= 16)
  int64_t timing_reps = 0;           // timed repetitions of each method (and of Grad-CAM)
  bool similarity = false;           // SSIM/HOG/Pearson/Spearman of "map_a" vs "map_b"
};

// The names `methods` accepts: method_names() and "feature-ablation" (perturb.h
// feature_ablation on the segments of the segment methods, with their fill).
bool is_probe_method(const std::string& name);

// throws std::runtime_error naming the file: an unreadable checkpoint or input, a missing
// "input" (or "grad_output" with backward, "map_a"/"map_b" with similarity) of the wrong dtype or
// shape, an existing `out` without `overwrite`, an unknown CAM layer; std::invalid_argument for
// an unknown method, bad method options, timing_reps < 0, or game with a segmentation other than
// "grid" or more than 16 segments, or no checkpoint without similarity (or with model options).
void run_probe(const ProbeJob& job);

}  // namespace gb::interp
