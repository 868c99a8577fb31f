// Internal to models/onnx: the table of ONNX operator converters, filled by one function per
// group (onnx_layers.cpp: the layers; onnx_shape_ops.cpp: elementwise, shape and constant ops),
// and the subgraphs converted as one op (onnx_patterns.cpp).
#pragma once
#include <functional>
#include <map>
#include <set>
#include <string>

#include "models/onnx/onnx_context.h"

namespace gb::models::onnx_import {

using Converter = std::function<void(ImportContext&, const onnx::NodeProto&)>;
using ConverterTable = std::map<std::string, Converter>;

void add_layer_converters(ConverterTable& table);
void add_shape_converters(ConverterTable& table);
void add_activation_converters(ConverterTable& table);  // onnx_activations.cpp
void add_pattern_converters(ConverterTable& table);     // onnx_patterns.cpp: Erf (an error)

// A linear node from `node` (onnx_layers.cpp): a Gemm, or a MatMul with a constant right side and
// an optional constant bias [O] as a third input.
void add_linear(ImportContext& ctx, const onnx::NodeProto& node);

// What the driver does instead of converting node by node where a pattern matched: the nodes
// (by index in the graph) it skips, and the ones it replaces with a call that adds the fused op.
struct PatternPlan {
  std::set<int> skip;
  std::map<int, std::function<void(ImportContext&)>> replace;
};
// The patterns of g (onnx_patterns.cpp: the exact GELU), found from the initializers already in
// ctx and the Constant nodes of g. requires: g outlives the plan's calls.
PatternPlan find_patterns(const ImportContext& ctx, const onnx::GraphProto& g);

// All converters by ONNX op_type.
const ConverterTable& converters();

}  // namespace gb::models::onnx_import
