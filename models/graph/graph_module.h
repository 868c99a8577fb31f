// GraphModule: runs a GraphSpec (models/graph/graph_spec.h). Every node is a child module at the
// node's path, nested under containers for its dotted prefix ("layer1.0.conv1" is child "conv1" of
// container "0" of container "layer1"), so parameter names are "<path>.weight" as in PyTorch and
// `--layer layer4.1.relu_1` finds a node for Grad-CAM. Layers with weights are the standard
// modules (nn::Conv2d, nn::BatchNorm2d, nn::Linear: pruning, fusion and the summary know them);
// every other node is a GraphOp running one op of the table. Every node is called as a module
// (forward hooks, backward hooks and the profiler see it); the hooks of a node with several
// inputs (add, sub, mul, concat, through Module::call) see its first input. Constant tensors are
// buffers of the root, named as in spec.constants. Shape letters: N batch, C channels, H/W size.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/graph/graph_spec.h"
#include "models/model_config.h"
#include "runtime/module.h"

namespace gb::models {

// Whether GraphOp runs `op` (every graph op but the layers with weights).
bool is_graph_op(const std::string& op);

// One node of a graph that is not a layer with weights: the op and its attributes
// (models/graph/graph_op.cpp lists them). "prelu" holds its slope as parameter "weight".
class GraphOp : public Module {
 public:
  GraphOp(std::string op, GraphAttrs attrs);
  // Single-input ops. throws std::logic_error for a multi-input op.
  Tensor forward(const Tensor& x) override;
  // Any op, inputs in the node's order.
  Tensor run(const std::vector<Tensor>& inputs);
  std::string type_name() const override { return "GraphOp"; }
  std::string describe() const override { return op_; }
  const std::string& op() const { return op_; }
  bool single_input() const;
  // A node whose path is also the prefix of other nodes' paths holds them as children.
  void add_child(const std::string& name, ModulePtr m) { register_module(name, std::move(m)); }

 private:
  std::string op_;
  GraphAttrs attrs_;
};

class GraphModule : public Module {
 public:
  // Builds the node modules with freshly initialised parameters (drawn from init_generator()).
  // requires: validate(spec) holds; throws std::invalid_argument naming the node for an op this
  // module cannot run or a missing or bad attribute.
  explicit GraphModule(GraphSpec spec);
  // x [N, C, H, W] with [C, H, W] = spec.input_chw -> the output value.
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Graph"; }
  std::string describe() const override;
  const GraphSpec& spec() const { return spec_; }

 private:
  Tensor run_node(const GraphNode& node, const std::vector<Tensor>& inputs);
  // Inference fusion (graph_fusion.cpp): whether it may apply now, and running node i with the
  // nodes after it that fuse into one conv2d_fused op; returns how many nodes ran (0: none).
  bool fusion_allowed() const;
  size_t run_fused(size_t i, std::map<std::string, Tensor>& values);
  GraphSpec spec_;
  std::map<std::string, int> uses_;  // how many node inputs (and the output) read each value
};

// `spec` with the channel overrides of cfg.channels (a pruned graph): the conv at each key gets
// that many outputs, and the layers after it (batch norm, depthwise convs, the next conv's
// inputs, linear inputs, PReLU slopes) follow, found by running the nodes on a batch-1 sample.
// throws std::invalid_argument for a key that names no conv, a grouped (not depthwise) conv
// whose input narrows, or a width other than 1.
GraphSpec with_channels(const GraphSpec& spec, const ModelConfig& cfg);

// The registry's builder for model "graph": requires cfg.graph, whose input must match
// cfg.in_channels and cfg.image_size (H = W). throws std::invalid_argument otherwise.
ModulePtr build_graph_model(const ModelConfig& cfg);

}  // namespace gb::models
