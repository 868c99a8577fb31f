// ONNX export: any glassbox model (a zoo architecture, an imported graph, a pruned or weight-shared
// checkpoint) to an ONNX model, by tracing forward passes in eval mode (runtime/trace.h) and
// writing one or a few ONNX nodes per traced op. The model is traced twice, at batch 2 and 3:
// the two traces must agree op for op, which finds the batch dimension of every reshape, and
// every tensor that is neither the input, an op's output nor a parameter or buffer must have the
// same value in both (it becomes a constant; a value computed outside the op API would differ
// and is an error). Node names are "/<module path>/<OpType>", so that import gives the nodes
// back their module paths; parameters and buffers keep their names (or the given ones).
// The file is checked with onnx's own checker before it is returned.
// Shape letters: N batch, C channels, H/W height/width, K outputs.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/module.h"

namespace gb::models {

struct OnnxExportOptions {
  std::vector<int64_t> input_chw;  // [C, H, W] of the input
  int64_t opset = 17;              // 14 to 18
  int64_t batch = 0;               // 0: a symbolic batch dimension "N"; else this fixed batch
  // Initializer name for a parameter or buffer ("layer1.0.conv1.weight" -> "onnx::Conv_193");
  // unnamed ones keep their glassbox name.
  std::map<std::string, std::string> tensor_names;
  std::vector<std::pair<std::string, std::string>> metadata;  // the model's metadata_props
  std::string graph_name = "glassbox";
};

struct OnnxExport {
  std::string bytes;  // the serialized ModelProto
  int64_t nodes = 0, initializers = 0;
  std::map<std::string, int64_t> op_types;  // ONNX op type -> count of nodes
};

// The model in eval mode (restored after), no graph recorded, the unfused ops.
// throws std::runtime_error naming the op and its module for an op ONNX export does not support,
// a traced graph that depends on the batch size other than through its batch dimension, a tensor
// computed outside the op API, or a file onnx's checker rejects; std::invalid_argument for bad
// options (input_chw not three positive sizes, opset outside 14..18, negative batch).
OnnxExport export_onnx(Module& model, const OnnxExportOptions& options);

}  // namespace gb::models
