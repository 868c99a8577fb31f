// ONNX import: an .onnx file (opset 11 to 18, the operators torch.onnx and tf2onnx emit for image
// classifiers that glassbox supports so far) into a GraphSpec of runtime ops with its weights, so
// that `glassbox import` can write an ordinary checkpoint of model "graph".
// Supported now: Conv (square kernel, equal strides, symmetric pads, dilation 1, groups),
// BatchNormalization (inference), Relu, MaxPool / AveragePool (square, symmetric, ceil_mode only
// where it changes nothing, AveragePool counting padding unless the pads are 0),
// GlobalAveragePool, Gemm, MatMul with a constant right side, Flatten, Reshape, Transpose (batch
// kept first), Squeeze, Add / Sub / Mul, Concat, Softmax / LogSoftmax over the last dim,
// ReduceMean, Dropout / Identity (dropped), and the constant chains exporters build shapes from
// (Constant, Shape, Gather, Unsqueeze, Concat, Cast, folded at import).
// Half precision: float16 and bfloat16 initializers are widened to float32 exactly (so a model
// that stores its weights in 16 bits and casts them to float computes as in onnxruntime); a
// model that computes in 16 bits (a float16 input, Cast to float16 of graph values) is imported
// to compute in float32, with a note in ImportedModel::notes saying so.
// Everything else is an error naming the operator and the node: never a silent approximation.
// Shape letters: N batch, C channels, H/W height/width, K classes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/graph/graph_spec.h"
#include "runtime/tensor.h"

namespace gb::models {

struct OnnxImportOptions {
  // [C, H, W] of the input, required when the file leaves one of them symbolic (the batch may
  // always be symbolic); when the file fixes them, they must agree.
  std::optional<std::vector<int64_t>> input_chw;
};

struct ImportedModel {
  GraphSpec graph;
  // Parameters and buffers of the graph module ("layer1.0.conv1.weight", "const_0", ...).
  std::vector<std::pair<std::string, Tensor>> tensors;
  int64_t num_classes = 0;  // K of the [N, K] output
  int64_t opset = 0;
  std::string producer;  // "pytorch 1.13.0", from the file
  std::map<std::string, std::string> metadata;  // the file's metadata_props
  // What the import changed that its user should know (a float16 model computed in float32),
  // one sentence each, in the order first met.
  std::vector<std::string> notes;
};

// throws std::runtime_error "<path>: ..." naming the cause: unreadable, truncated or not ONNX, an
// opset outside 11..18, an unsupported operator or attribute (with the node's name), a symbolic
// input dimension without input_chw, a tensor stored in external data, a tensor of more than 2^31
// elements or with a negative dimension, an input of more than 4096 channels, more than
// data::kMaxImageSide pixels per side or data::kMaxImagePixels values (data/image.h), a model
// whose batch-1 values need more than 1 GiB of memory (runtime/allocation_limit.h), all refused
// before anything of that size is allocated.
ImportedModel import_onnx(const std::filesystem::path& path, const OnnxImportOptions& options = {});

// The same from the bytes of an .onnx file; `label` names it in errors.
ImportedModel import_onnx_bytes(const std::string& bytes, const std::string& label,
                                const OnnxImportOptions& options = {});

}  // namespace gb::models
