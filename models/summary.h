// The layer table behind `glassbox summary`: each module's type, output shape, own parameters and
// multiply-accumulates, from one forward pass of a single image. Output shapes come from forward
// hooks; MACs come from walking the autograd graph that pass recorded (conv2d and linear nodes).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/module.h"

namespace gb::models {

struct LayerRow {
  std::string name, type, detail;
  Shape output_shape;
  int64_t params = 0;  // the module's own parameters (not its children's)
  int64_t macs = 0;    // per image, in ops recorded while this module (not a child) ran
  int depth = 0;
};

struct ModelSummary {
  std::vector<LayerRow> rows;  // in module-tree order
  int64_t total_params = 0;
  int64_t total_macs = 0;
  Shape input_shape;
};

// requires: input_shape is [C,H,W] accepted by the model.
ModelSummary summarize(Module& model, const Shape& input_shape);
std::string format_summary(const ModelSummary& s, const std::string& title);

}  // namespace gb::models
