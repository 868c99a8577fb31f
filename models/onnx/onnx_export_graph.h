// The graph under construction during ONNX export (models/onnx/onnx_export.h): value names of
// traced tensors, initializers (parameters, buffers and constants), and nodes named after the
// module that ran them. The per-op writers (onnx_export_ops.cpp) use it through ExportStep.
// Shape letters: N batch, C channels.
#pragma once
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/tensor.h"
#include "runtime/trace.h"

namespace gb::models::onnx_export {

class ExportGraph {
 public:
  ExportGraph(onnx::GraphProto& graph, int64_t opset) : graph_(graph), opset_(opset) {}

  int64_t opset() const { return opset_; }

  // Binds tensor `t` to the value `name` (the graph input, an op's output).
  void bind(const Tensor& t, const std::string& name) { values_[t.impl()] = name; }
  // The value bound to `t`, or "" if none.
  std::string bound(const Tensor& t) const;

  // Binds parameter or buffer `t` to the initializer `name`, written by finish() with t's shape
  // unless reshape_parameter() changes it.
  void bind_parameter(const Tensor& t, const std::string& name);
  // Writes the parameter bound to value `name` with `dims` instead (same number of values).
  void reshape_parameter(const std::string& name, const std::vector<int64_t>& dims);
  // Adds `t`'s float values as an initializer `name` with `dims` (t's shape when empty).
  // requires: t F32, numel matching dims.
  void add_initializer(const std::string& name, const Tensor& t, std::vector<int64_t> dims = {});
  // Writes the bound parameters' initializers, in binding order.
  void finish();
  // Constant initializers made for one node; the name is derived from `base` and made unique.
  std::string float_constant(const std::string& base, const std::vector<float>& values,
                             const std::vector<int64_t>& dims);
  std::string int_constant(const std::string& base, const std::vector<int64_t>& values,
                           const std::vector<int64_t>& dims);

  // A node of `op_type` under `module` ("/<module>/<op_type>", "_k" added when taken) reading
  // `inputs` and writing `output` ("" for a fresh name "<node name>_output_0"); returns it so
  // attributes can be added. The output name is node.output(0).
  onnx::NodeProto& node(const std::string& module, const std::string& op_type,
                        const std::vector<std::string>& inputs, std::string output = "");

  // The output of the node added last. requires: a node was added.
  std::string last_output() const { return graph_.node(graph_.node_size() - 1).output(0); }
  int64_t node_count() const { return graph_.node_size(); }
  int64_t initializer_count() const { return graph_.initializer_size(); }

 private:
  std::string unique(const std::string& base);
  // An initializer of `bytes` raw little-endian bytes of `data_type`, named after `base`.
  std::string constant(const std::string& base, int data_type, const void* data, size_t bytes,
                       const std::vector<int64_t>& dims);

  onnx::GraphProto& graph_;
  int64_t opset_;
  std::unordered_map<const TensorImpl*, std::string> values_;
  struct Parameter {
    std::string name;
    Tensor tensor;
    std::vector<int64_t> dims;
  };
  std::vector<Parameter> parameters_;
  std::unordered_map<std::string, int> taken_;
};

void set_ints(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& v);
void set_int(onnx::NodeProto& node, const std::string& name, int64_t v);
void set_float(onnx::NodeProto& node, const std::string& name, float v);

// One traced op to write: its two traces (batch 2 and 3), its inputs' value names ("" for an
// absent optional input) and the name its output must get.
struct ExportStep {
  const TracedOp& op;    // from the batch-2 trace
  const TracedOp& op_b;  // the same op in the batch-3 trace
  std::vector<std::string> inputs;
  std::string output;
  ExportGraph& graph;
  // A node under this op's module.
  onnx::NodeProto& node(const std::string& op_type, const std::vector<std::string>& in,
                        const std::string& out = "") {
    return graph.node(op.module, op_type, in, out);
  }
  // The attribute `name` of the op as integers. throws std::logic_error when it is missing.
  std::vector<int64_t> ints(const std::string& name) const;
  double number(const std::string& name) const;
};

// Writes the ONNX nodes of one traced op. throws std::runtime_error naming the op and its module
// when ONNX export does not support it.
void write_op(ExportStep& step);

// "op 'x' (module 'm')" for error messages.
std::string describe(const TracedOp& op);

}  // namespace gb::models::onnx_export
