// Internal to models/onnx: the table of ONNX operator converters, filled by one function per
// group (onnx_layers.cpp: the layers; onnx_shape_ops.cpp: elementwise, shape and constant ops).
#pragma once
#include <functional>
#include <map>
#include <string>

#include "models/onnx/onnx_context.h"

namespace gb::models::onnx_import {

using Converter = std::function<void(ImportContext&, const onnx::NodeProto&)>;
using ConverterTable = std::map<std::string, Converter>;

void add_layer_converters(ConverterTable& table);
void add_shape_converters(ConverterTable& table);
void add_activation_converters(ConverterTable& table);  // onnx_activations.cpp

// All converters by ONNX op_type.
const ConverterTable& converters();

}  // namespace gb::models::onnx_import
