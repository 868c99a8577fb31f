// The job behind `glassbox probe`: a checkpoint run on raw input tensors (already normalised,
// read from a .safetensors file) with its raw results written to another one, for comparing
// glassbox number for number with another framework and for users who want the maps themselves:
//   "logits" [N,K]; with backward, "grad.input" [N,C,H,W] (and with param_grads
//   "grad.<parameter>" for every parameter): the gradients of sum(logits * grad_output); with a
//   CAM layer, "cam.map" [N,1,H,W]
//   and "cam.low_res" [N,1,h,w] (Grad-CAM of that layer for the given target).
// Shape letters: N inputs, C channels, H/W image size, K classes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace gb::interp {

struct ProbeJob {
  std::filesystem::path checkpoint;
  std::filesystem::path input;  // tensor "input" [N,C,H,W]; "grad_output" [N,K] for backward
  std::filesystem::path out;
  bool overwrite = false;
  bool train_mode = false;  // batch statistics in BatchNorm (running stats are not written back)
  bool backward = false;
  bool param_grads = false;         // with backward: also every parameter's gradient
  std::string cam_layer;            // "": no Grad-CAM
  std::string cam_target = "pred";  // "pred" or a class index
};

// throws std::runtime_error naming the file: an unreadable checkpoint or input, a missing
// "input" (or "grad_output" with backward) of the wrong dtype or shape, an existing `out` without
// `overwrite`, an unknown CAM layer.
void run_probe(const ProbeJob& job);

}  // namespace gb::interp
