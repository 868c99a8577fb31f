// GraphSpec validation and its JSON form:
//   {"input": "input", "input_chw": [3, 224, 224], "output": "logits",
//    "nodes": [{"path": "conv1", "op": "conv2d", "inputs": ["input"], "output": "conv1",
//               "attrs": {"kernel": [7], "stride": [2], ...}}, ...],
//    "constants": {"const_0": [1, 3, 1, 1]}, "source_names": {"conv1.weight": "onnx::Conv_1"}}
#include "models/graph/graph_spec.h"

#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

namespace gb::models {

bool graph_layer_op(const std::string& op) {
  return op == "conv2d" || op == "conv_transpose2d" || op == "batch_norm2d" || op == "linear";
}

void validate(const GraphSpec& spec) {
  if (spec.input.empty()) throw std::invalid_argument("graph: the input has no name");
  if (spec.input_chw.size() != 3) throw std::invalid_argument("graph: input_chw must be [C,H,W]");
  std::set<std::string> defined{spec.input};
  for (const auto& [name, shape] : spec.constants) {
    if (name.empty() || name.find('.') != std::string::npos) {
      throw std::invalid_argument("graph: constant '" + name + "' needs a name without dots");
    }
    defined.insert(name);
  }
  std::set<std::string> paths;
  for (const GraphNode& n : spec.nodes) {
    const std::string where = "graph: node '" + n.path + "' (" + n.op + ")";
    if (n.path.empty() || n.op.empty() || n.output.empty()) {
      throw std::invalid_argument(where + ": empty path, op or output");
    }
    if (!paths.insert(n.path).second) throw std::invalid_argument(where + ": duplicate path");
    for (const std::string& in : n.inputs) {
      if (!defined.count(in)) {
        throw std::invalid_argument(where + " reads '" + in + "', which no earlier node writes");
      }
    }
    if (!defined.insert(n.output).second) {
      throw std::invalid_argument(where + " writes '" + n.output + "', which already exists");
    }
  }
  std::map<std::string, std::string> op_at;
  for (const GraphNode& n : spec.nodes) op_at[n.path] = n.op;
  for (const auto& [p, op] : op_at) {  // a layer with weights cannot hold other nodes
    const auto next = op_at.upper_bound(p);
    if (next != op_at.end() && next->first.rfind(p + ".", 0) == 0 && graph_layer_op(op)) {
      throw std::invalid_argument("graph: node '" + p + "' (" + op +
                                  ") is a layer with weights and cannot hold node '" +
                                  next->first + "'");
    }
  }
  if (!defined.count(spec.output)) {
    throw std::invalid_argument("graph: the output '" + spec.output + "' is never written");
  }
}

void to_json(nlohmann::json& j, const GraphSpec& spec) {
  j = nlohmann::json::object();
  j["input"] = spec.input;
  j["input_chw"] = spec.input_chw;
  j["output"] = spec.output;
  nlohmann::json nodes = nlohmann::json::array();
  for (const GraphNode& n : spec.nodes) {
    nodes.push_back({{"path", n.path},
                     {"op", n.op},
                     {"inputs", n.inputs},
                     {"output", n.output},
                     {"attrs", n.attrs}});
  }
  j["nodes"] = std::move(nodes);
  j["constants"] = spec.constants;
  j["source_names"] = spec.source_names;
}

namespace {
template <class T>
T field(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) {
    throw std::invalid_argument(where + ": missing \"" + key + "\"");
  }
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw std::invalid_argument(where + ": \"" + key + "\" has the wrong type");
  }
}
}  // namespace

void from_json(const nlohmann::json& j, GraphSpec& spec) {
  spec = GraphSpec{};
  spec.input = field<std::string>(j, "input", "graph");
  spec.input_chw = field<std::vector<int64_t>>(j, "input_chw", "graph");
  spec.output = field<std::string>(j, "output", "graph");
  for (const auto& n : field<nlohmann::json>(j, "nodes", "graph")) {
    GraphNode node;
    node.path = field<std::string>(n, "path", "graph node");
    const std::string where = "graph node '" + node.path + "'";
    node.op = field<std::string>(n, "op", where);
    node.inputs = field<std::vector<std::string>>(n, "inputs", where);
    node.output = field<std::string>(n, "output", where);
    node.attrs = field<GraphAttrs>(n, "attrs", where);
    spec.nodes.push_back(std::move(node));
  }
  if (j.contains("constants")) {
    spec.constants = field<std::map<std::string, std::vector<int64_t>>>(j, "constants", "graph");
  }
  if (j.contains("source_names")) {
    spec.source_names = field<std::map<std::string, std::string>>(j, "source_names", "graph");
  }
  validate(spec);
}

}  // namespace gb::models
