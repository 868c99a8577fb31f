// A model's dataflow graph, from one traced forward pass of a single image in eval mode
// (runtime/trace.h): one node per op, with its op name, the module that ran it, its output
// shape, the nodes it reads and the parameters and buffers it reads. `glassbox graph` writes it
// as Graphviz DOT (graph_to_dot); TensorBoard's graph tab gets it as a GraphDef
// (models/training/tensorboard.h). Works for every model, zoo or imported, because it reads the
// op trace, not the architecture. Shape letters: C channels, H/W image size.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/module.h"

namespace gb::models {

struct ModelGraphNode {
  // Unique, slash-scoped by the module path: "layer1/0/conv1/conv2d" ("_2", "_3" appended when
  // a module runs the same op again). Scopes are what TensorBoard folds nodes by.
  std::string name;
  std::string op;      // op-table name ("conv2d"), or a custom node's label
  std::string module;  // dotted module path, "" at the root
  Shape output_shape;  // with the batch dimension (1)
  // Producers of the op's tensor inputs, in order: a node index, kModelInput for the image, or
  // kConstant for a tensor computed outside the op API (a constant).
  std::vector<int> inputs;
  std::vector<std::string> params;                         // parameter/buffer names read
  std::vector<std::pair<std::string, std::string>> attrs;  // "stride" -> "1,1"
};

struct ModelGraph {
  static constexpr int kModelInput = -1;
  static constexpr int kConstant = -2;
  Shape input_shape;                  // [1,C,H,W]
  std::vector<ModelGraphNode> nodes;  // in execution order (a topological order)
  int output = -1;                    // the node whose output is the model's output
};

// Traces `model` (put in eval mode) on one zero image of `input_shape` [C,H,W].
// throws: what the forward pass throws (a wrong input shape names the module).
ModelGraph trace_model_graph(Module& model, const Shape& input_shape);

// Graphviz DOT of `g`: a box per node ("module\nop\noutput shape"), parameters listed in the
// box, one cluster per top-level module, edges along the data flow. `title` labels the graph.
std::string graph_to_dot(const ModelGraph& g, const std::string& title);

// `dot` rendered to SVG by Graphviz's `dot` program when it is on the PATH; nullopt when it is
// not installed. throws: std::runtime_error with dot's exit status when it fails on the input.
std::optional<std::string> render_svg(const std::string& dot);

}  // namespace gb::models
