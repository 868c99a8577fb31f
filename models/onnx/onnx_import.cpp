// The ONNX import driver: parses the ModelProto, checks the opset and the one image input, reads
// the initializers as constants, finds the subgraphs converted as one op (onnx_patterns.cpp),
// converts the other nodes in order through the converter table (onnx_layers.cpp,
// onnx_shape_ops.cpp, onnx_activations.cpp) and returns the graph with its weights.
// Shape letters: N batch, C channels, H/W height/width.
#include "models/onnx/onnx_import.h"

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "data/image.h"
#include "models/onnx/onnx_converters.h"
#include "runtime/allocation_limit.h"

namespace gb::models {
namespace onnx_import {

const ConverterTable& converters() {
  static const ConverterTable table = [] {
    ConverterTable t;
    add_layer_converters(t);
    add_shape_converters(t);
    add_activation_converters(t);
    add_pattern_converters(t);
    return t;
  }();
  return table;
}

namespace {

// The inputs that every opset version of an op requires (the ONNX operator specs; 1 for the ops
// not listed). Converters read these with node.input(i) directly, so a node with fewer, or with
// an empty name in their place, is refused here.
int required_inputs(const std::string& op) {
  static const std::map<std::string, int, std::less<>> kRequired = {{"Add", 2},
                                                                    {"BatchNormalization", 5},
                                                                    {"Constant", 0},
                                                                    {"Conv", 2},
                                                                    {"ConvTranspose", 2},
                                                                    {"Div", 2},
                                                                    {"Gather", 2},
                                                                    {"Gemm", 2},
                                                                    {"LayerNormalization", 2},
                                                                    {"MatMul", 2},
                                                                    {"Mul", 2},
                                                                    {"PRelu", 2},
                                                                    {"Sub", 2}};
  const auto it = kRequired.find(op);
  return it == kRequired.end() ? 1 : it->second;
}

}  // namespace

bool convert_node(ImportContext& ctx, const onnx::NodeProto& node) {
  const auto it = converters().find(node.op_type());
  if (it == converters().end()) return false;
  const int required = required_inputs(node.op_type());
  if (node.input_size() < required) {
    ctx.fail(node, "has " + std::to_string(node.input_size()) + " input(s); the op requires " +
                       std::to_string(required));
  }
  for (int i = 0; i < required; ++i)
    if (node.input(i).empty()) ctx.fail(node, "required input " + std::to_string(i) + " is empty");
  it->second(ctx, node);
  return true;
}

namespace {

constexpr int64_t kMaxInputChannels = 4096;
// The host tensor memory the import may hold beyond what was live when it started: the weights
// and the batch-1 sample values of every node, kept until the import ends.
constexpr size_t kImportMemoryBytes = size_t{1} << 30;

std::string supported_list() {
  std::string out;
  for (const auto& [op, fn] : converters()) out += (out.empty() ? "" : ", ") + op;
  return out;
}

int64_t default_opset(const onnx::ModelProto& model) {
  for (const auto& o : model.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") return o.version();
  }
  return -1;
}

// `chw` if within the limits of an image input: at most kMaxInputChannels channels,
// data::kMaxImageSide (data/image.h) per side and data::kMaxImagePixels values in all; the import
// runs the model once on an input of this size.
std::vector<int64_t> checked_input(ImportContext& ctx, const std::string& name,
                                   const std::vector<int64_t>& chw) {
  if (chw[0] > kMaxInputChannels || chw[1] > data::kMaxImageSide || chw[2] > data::kMaxImageSide ||
      chw[1] * chw[2] > data::kMaxImagePixels) {
    ctx.fail("input '" + name + "' of size " + shape_str(chw) + " exceeds the limit (" +
             std::to_string(kMaxInputChannels) + " channels, " +
             std::to_string(data::kMaxImageSide) + " pixels per side, " +
             std::to_string(data::kMaxImagePixels) + " values in all)");
  }
  return chw;
}

// [C, H, W] of the image input from its declared type and the options.
std::vector<int64_t> input_chw(ImportContext& ctx, const onnx::ValueInfoProto& in,
                               const OnnxImportOptions& options) {
  const auto& type = in.type();
  const int elem = type.has_tensor_type() ? type.tensor_type().elem_type() : 0;
  if (elem == onnx::TensorProto::FLOAT16 || elem == onnx::TensorProto::BFLOAT16) {
    ctx.note(std::string("the model computes in ") + half_name(elem) + " (input '" + in.name() +
             "'); glassbox imports it to compute in float32, its weights widened exactly, so "
             "its outputs differ from a " +
             half_name(elem) + " run by that format's rounding");
  } else if (elem != onnx::TensorProto::FLOAT) {
    ctx.fail("input '" + in.name() + "' must be a float, float16 or bfloat16 tensor");
  }
  const auto& shape = type.tensor_type().shape();
  if (type.tensor_type().has_shape() && shape.dim_size() != 4) {
    ctx.fail("input '" + in.name() + "' has rank " + std::to_string(shape.dim_size()) +
             "; glassbox imports image models with one [N, C, H, W] input");
  }
  std::vector<int64_t> chw(3, -1);
  for (int i = 1; i < shape.dim_size(); ++i) {
    if (shape.dim(i).has_dim_value() && shape.dim(i).dim_value() > 0) {
      chw[static_cast<size_t>(i - 1)] = shape.dim(i).dim_value();
    }
  }
  if (options.input_chw) {
    const auto& want = *options.input_chw;
    if (want.size() != 3) ctx.fail("--input-size must be CxHxW");
    for (size_t i = 0; i < 3; ++i) {
      if (chw[i] > 0 && chw[i] != want[i]) {
        ctx.fail("--input-size " + shape_str(want) + " disagrees with the file's input '" +
                 in.name() + "' " + shape_str(chw) + " (-1: symbolic)");
      }
    }
    return checked_input(ctx, in.name(), want);
  }
  for (int64_t d : chw) {
    if (d <= 0) {
      ctx.fail("input '" + in.name() + "' has a symbolic size " + shape_str(chw) +
               " (-1: symbolic); give it with --input-size CxHxW");
    }
  }
  return checked_input(ctx, in.name(), chw);
}

}  // namespace
}  // namespace onnx_import

namespace {

ImportedModel import_model(const std::string& bytes, const std::string& label,
                           const OnnxImportOptions& options) {
  using namespace onnx_import;
  // Every value the import computes is held here; an absurd shape is refused, not allocated.
  const AllocationLimit memory_limit(Storage::live_bytes() + kImportMemoryBytes);
  onnx::ModelProto model;
  if (bytes.empty() || !model.ParseFromString(bytes) || !model.has_graph()) {
    throw std::runtime_error(label + ": not a readable ONNX model (truncated or corrupt file?)");
  }
  const int64_t opset = default_opset(model);
  ImportContext ctx(label, opset);
  if (opset < 11 || opset > 18) {
    ctx.fail("opset " + std::to_string(opset) + " (glassbox imports opsets 11 to 18; convert " +
             "with onnx.version_converter)");
  }
  const onnx::GraphProto& g = model.graph();
  for (const auto& node : g.node()) {
    if (node.output_size() == 0) ctx.fail(node, "operator " + node.op_type() + " has no output");
  }
  std::set<std::string> initializer_names;
  for (const auto& t : g.initializer()) {
    try {
      ctx.set_const(t.name(), read_tensor(t));
    } catch (const std::runtime_error& e) {
      ctx.fail(e.what());
    }
    initializer_names.insert(t.name());
    ctx.mark_initializer(t.name());
  }
  std::vector<const onnx::ValueInfoProto*> inputs;
  for (const auto& in : g.input()) {
    if (!initializer_names.count(in.name())) inputs.push_back(&in);
  }
  if (inputs.size() != 1) {
    ctx.fail("the graph has " + std::to_string(inputs.size()) +
             " inputs besides its initializers; glassbox imports models with one image input");
  }
  if (g.output_size() != 1) {
    ctx.fail("the graph has " + std::to_string(g.output_size()) + " outputs; want one (logits)");
  }
  const std::vector<int64_t> chw = input_chw(ctx, *inputs[0], options);
  ctx.set_input(inputs[0]->name(), Tensor::full({1, chw[0], chw[1], chw[2]}, 0.5f));
  const PatternPlan plan = find_patterns(ctx, g);
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& node = g.node(i);
    if (plan.skip.count(i)) continue;
    if (const auto r = plan.replace.find(i); r != plan.replace.end()) {
      r->second(ctx);
      continue;
    }
    if (!node.domain().empty() && node.domain() != "ai.onnx") {
      ctx.fail(node, "operator domain '" + node.domain() + "' is not supported");
    }
    if (!convert_node(ctx, node)) {
      ctx.fail(node, "operator " + node.op_type() + " is not supported; glassbox imports " +
                         supported_list());
    }
  }
  ImportedModel m = ctx.finish(inputs[0]->name(), g.output(0).name());
  m.graph.input_chw = chw;
  m.opset = opset;
  m.producer = model.producer_name() +
               (model.producer_version().empty() ? "" : " " + model.producer_version());
  for (const auto& prop : model.metadata_props()) m.metadata[prop.key()] = prop.value();
  validate(m.graph);
  return m;
}

}  // namespace

ImportedModel import_onnx_bytes(const std::string& bytes, const std::string& label,
                                const OnnxImportOptions& options) {
  // Every error names the file: those of the converters already do, the runtime's get the label.
  try {
    return import_model(bytes, label, options);
  } catch (const std::runtime_error& e) {
    if (std::string_view(e.what()).starts_with(label + ": ")) throw;
    throw std::runtime_error(label + ": " + e.what());
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(label + ": " + e.what());
  }
}

ImportedModel import_onnx(const std::filesystem::path& path, const OnnxImportOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot open the file");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return import_onnx_bytes(bytes.str(), path.string(), options);
}

}  // namespace gb::models
