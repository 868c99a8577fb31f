// Internal to models/onnx: the state of one import. Every ONNX value is either a constant known at
// import (an initializer, a Constant, a folded shape chain) or a graph value with a batch-1 sample
// tensor computed as the nodes are converted (so every shape is known, and Shape nodes fold).
// Converters (onnx_ops.cpp) read node inputs through this context and add graph nodes to it.
// Shape letters: N batch, C channels, H/W height/width.
#pragma once
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "models/onnx/onnx_import.h"

namespace gb::models::onnx_import {

// Marks the batch dimension inside folded shape constants (Shape of a graph value gives [N, ...]).
inline constexpr int64_t kBatchDim = -(int64_t{1} << 40);

// A tensor known at import: floats (weights, constants) or integers (shapes, axes, indices).
struct ConstValue {
  Shape shape;
  std::vector<double> data;  // integers stored exactly; kBatchDim where a dim is the batch
  bool is_int = false;
  Tensor as_tensor() const;  // F32 of `shape`
};

class ImportContext {
 public:
  ImportContext(std::string label, int64_t opset) : label_(std::move(label)), opset_(opset) {}

  [[noreturn]] void fail(const onnx::NodeProto& node, const std::string& what) const;
  [[noreturn]] void fail(const std::string& what) const;
  int64_t opset() const { return opset_; }

  bool is_const(const std::string& name) const { return consts_.count(name) > 0; }
  // The constant named `name`, or nullptr when it is not (yet) known as one.
  const ConstValue* find_const(const std::string& name) const {
    const auto it = consts_.find(name);
    return it == consts_.end() ? nullptr : &it->second;
  }
  const ConstValue& constant(const onnx::NodeProto& node, int input) const;
  void set_const(const std::string& name, ConstValue v) { consts_[name] = std::move(v); }
  // `name` is an initializer of the file: a constant operand made into a buffer keeps its name
  // when it is a plain identifier (a position embedding "pos_embed"), else "const_<k>".
  void mark_initializer(const std::string& name) { initializers_.insert(name); }
  bool is_value(const std::string& name) const { return samples_.count(name) > 0; }
  // The batch-1 sample of a graph value read by `node`'s input `input`.
  const Tensor& sample(const onnx::NodeProto& node, int input) const;
  // `out` names the same value as `in` (Dropout, Identity).
  void alias(const std::string& out, const std::string& in);
  void set_input(const std::string& name, const Tensor& sample);

  // A graph value for input `input` of `node`: a graph value's name, or a constant made into a
  // buffer of the graph module ("const_<k>").
  std::string value_name(const onnx::NodeProto& node, int input);
  // Adds a node that writes node.output(0): runs `sample_fn` on the inputs' samples for its
  // output sample. `weights` are the node module's tensors by local name ("weight", "bias").
  // `weight_source` (the weight initializer's name, if any) names the node's module when it has
  // the form "<path>.weight".
  void add_node(const onnx::NodeProto& node, const std::string& op, GraphAttrs attrs,
                const std::vector<std::string>& inputs,
                std::vector<std::pair<std::string, Tensor>> weights,
                const std::function<Tensor(const std::vector<Tensor>&)>& sample_fn,
                const std::string& weight_source = "");

  // Initializer names of the last added node's tensors, by local name ("weight" ->
  // "layer1.0.conv1.weight"), for GraphSpec::source_names.
  void set_sources(std::map<std::string, std::string> sources);

  // Records a note for ImportedModel::notes (each distinct text once).
  void note(const std::string& text);

  // The finished spec and tensors, with paths made unique and free of container clashes.
  ImportedModel finish(const std::string& input, const std::string& output);

 private:
  struct PendingNode {
    GraphNode node;
    std::vector<std::pair<std::string, Tensor>> weights;  // local names
    std::map<std::string, std::string> sources;            // local name -> initializer name
  };
  std::string path_for(const onnx::NodeProto& node, const std::string& weight_source) const;

  std::string label_;
  int64_t opset_;
  std::map<std::string, ConstValue> consts_;
  std::map<std::string, Tensor> samples_;
  std::map<std::string, std::string> aliases_;
  std::map<std::string, std::string> const_buffers_;  // constant name -> buffer name
  std::set<std::string> initializers_;
  std::vector<std::pair<std::string, Tensor>> buffer_tensors_;
  std::vector<PendingNode> nodes_;
  std::vector<std::string> notes_;
};

// "float16" or "bfloat16" for TensorProto::FLOAT16 or BFLOAT16 (elem), "float" otherwise.
inline const char* half_name(int elem) {
  if (elem == onnx::TensorProto::FLOAT16) return "float16";
  return elem == onnx::TensorProto::BFLOAT16 ? "bfloat16" : "float";
}

// Attribute access with the ONNX defaults; throws through ctx.fail naming the node.
int64_t attr_int(const onnx::NodeProto& node, const char* name, int64_t fallback);
float attr_float(const onnx::NodeProto& node, const char* name, float fallback);
std::string attr_string(const onnx::NodeProto& node, const char* name, const std::string& fallback);
std::vector<int64_t> attr_ints(const onnx::NodeProto& node, const char* name);
bool has_attr(const onnx::NodeProto& node, const char* name);
const onnx::TensorProto* attr_tensor(const onnx::NodeProto& node, const char* name);

// The most elements of any tensor an import reads or makes (2^31): larger shapes are refused
// before anything is allocated.
inline constexpr int64_t kMaxImportElements = int64_t{1} << 31;

// The element count of `shape`; throws std::runtime_error naming `what` for a negative dimension
// or a count over kMaxImportElements (checked without overflow).
int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& what);

// A TensorProto's values; throws std::runtime_error naming the tensor for external data, an
// element type other than float / double / int32 / int64, or dims refused by checked_numel.
ConstValue read_tensor(const onnx::TensorProto& t);

// Converts one node; false when its op_type is not one this importer knows.
bool convert_node(ImportContext& ctx, const onnx::NodeProto& node);

}  // namespace gb::models::onnx_import
