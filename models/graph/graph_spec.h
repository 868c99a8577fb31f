// GraphSpec: a model as a graph of runtime ops, the form ONNX import produces and the "graph"
// model of the registry rebuilds (models/graph/graph_module.h). A spec is plain data: nodes in
// topological order, each naming an op of the op table (runtime/op_table.h) by its table name
// ("conv2d", "batch_norm2d", "linear", "relu", "add", "max_pool2d", "reshape", ...), the values it
// reads and the one value it writes, and its numeric attributes. The weights are not part of it:
// they are the module's parameters (a checkpoint's tensors), named "<node path>.weight" etc.
// A spec is stored in a checkpoint's model config (JSON), so an imported model is an ordinary
// checkpoint. Shape letters: N batch, C channels, H/W height/width.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace gb::models {

// Numeric attributes of a node, by name; integers are stored exactly (|x| < 2^53). The ones each
// op takes are listed in graph_module.cpp (node_ops) and checked when the module is built.
using GraphAttrs = std::map<std::string, std::vector<double>>;

struct GraphNode {
  std::string path;                 // module path of the node ("layer1.0.conv1", "relu_3")
  std::string op;                   // op-table name, or "identity"
  std::vector<std::string> inputs;  // values read: the graph input, node outputs or constants
  std::string output;               // the value written
  GraphAttrs attrs;
  bool operator==(const GraphNode&) const = default;
};

struct GraphSpec {
  std::string input = "input";    // name of the one graph input, [N, C, H, W]
  std::vector<int64_t> input_chw;  // [C, H, W]
  std::string output;             // the value returned (logits [N, K])
  std::vector<GraphNode> nodes;   // topological order
  // Constant tensors the nodes read (not parameters of a layer), by value name, with their shape:
  // buffers of the graph module, stored in the checkpoint as "<value name>" under "constants.".
  std::map<std::string, std::vector<int64_t>> constants;
  // Where a parameter came from: graph parameter name -> name of the ONNX initializer (kept so
  // that export can write the original names back).
  std::map<std::string, std::string> source_names;
  bool operator==(const GraphSpec&) const = default;
};

// Whether `op` is a layer with weights (conv2d, conv_transpose2d, batch_norm2d, linear): a
// standard module, which cannot also be the container of other nodes' paths.
bool graph_layer_op(const std::string& op);

// Checks that every node reads values defined before it (the input, a constant or an earlier
// node's output), that outputs and paths are unique and non-empty, that no layer with weights has
// a path that prefixes another node's ("a.b" under GraphOp "a" is fine), and that the output
// exists.
// throws std::invalid_argument naming the node.
void validate(const GraphSpec& spec);

void to_json(nlohmann::json& j, const GraphSpec& spec);
// throws std::invalid_argument for a missing or mistyped field, then validate()'s errors.
void from_json(const nlohmann::json& j, GraphSpec& spec);

}  // namespace gb::models
