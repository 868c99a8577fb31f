// Autograd: a dynamic tape. Every differentiable op creates a Node that records its OpId (the op
// table's row), the module that was running, the producers of its inputs (`next`) and a backward
// closure. Each Node has exactly one output tensor. Backward walks the graph in reverse topological
// order, accumulating gradients where a tensor fans out. Leaves that require grad get an
// AccumulateGrad node. The recorded graph can be walked (ops, inputs, producing module): pruning,
// the model graph and the summary are built on that.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/op_table.h"
#include "runtime/tensor.h"

namespace gb {

// Backward closure: given the gradient of the node's output, returns one gradient per input
// (undefined where an input needs none).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::optional<OpId> op;                   // the op table row that recorded it
  const char* label = nullptr;              // otherwise: "accumulate_grad" or a custom node's name
  std::string module;                       // module path that created it, e.g. "layer1.0.conv1"
  std::vector<std::shared_ptr<Node>> next;  // producer of each input; nullptr if none needs grad
  std::vector<Shape> input_shapes;
  Shape output_shape;
  std::vector<std::string> input_names;  // parameter names of leaf inputs ("" otherwise)
  BackwardFn backward;                   // released after use unless the graph is retained
  std::vector<GradHook> hooks;           // hooks on the output tensor's gradient
  std::shared_ptr<TensorImpl> leaf;      // AccumulateGrad: the leaf it writes into
  std::weak_ptr<TensorImpl> retained;    // non-leaf tensor whose grad is kept (retain_grad)
  bool is_accumulator() const { return leaf != nullptr; }
  // The op's table name ("conv2d"), or the label of a node that is not a table op.
  const char* name() const { return op ? op_name(*op) : label; }
};

// True when ops record the graph (not inside a NoGradGuard).
bool grad_mode_enabled();

// Disables graph recording in its scope (inference, perturbation batches).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// The module path ops are attributed to while a module's forward runs.
class ModuleScope {
 public:
  explicit ModuleScope(const std::string& path);
  ~ModuleScope();
  ModuleScope(const ModuleScope&) = delete;
  ModuleScope& operator=(const ModuleScope&) = delete;
  static const std::string& current();

 private:
  std::string prev_;
};

// The node through which gradient reaches tensor `t`: its grad_fn, or for a leaf that requires
// grad its (created on demand) AccumulateGrad node; nullptr if `t` does not require grad.
std::shared_ptr<Node> gradient_edge(const Tensor& t);

// Records `out` as produced by op `op` from `inputs`, when grad mode is on and any input requires
// grad. `backward` gets the output gradient and returns one gradient per input.
void record(OpId op, const std::vector<Tensor>& inputs, Tensor& out, BackwardFn backward);
// The same for a differentiable function that is not an op of the table (tests, extensions):
// the node carries `label` (a string with static lifetime) instead of an OpId, so pruning and the
// summary treat it as an op they do not understand.
void record_custom(const char* label, const std::vector<Tensor>& inputs, Tensor& out,
                   BackwardFn backward);

// Inside a backward closure: whether the gradient of the node's input i is used by this backward
// pass (its producer takes part: it leads to a leaf or, for grad(), to a requested tensor). A
// closure may skip the work for an unneeded input and return an undefined tensor there (conv2d
// skips dW when only input gradients are wanted, as in saliency maps). Outside a closure: true.
bool input_grad_needed(size_t i);

// Backpropagates `seed` (default: ones for a scalar) from `root`, accumulating into leaf grads.
// retain_graph keeps backward closures so a second backward is possible.
void backward(const Tensor& root, const Tensor& seed = {}, bool retain_graph = false);

// Gradients of `root` with respect to `inputs` (leaves or intermediate tensors), returned in
// order, without touching any .grad. Only the part of the graph that leads to the inputs runs.
// An input that `root` does not depend on gets a zero tensor.
std::vector<Tensor> grad(const Tensor& root, const std::vector<Tensor>& inputs,
                         const Tensor& seed = {}, bool retain_graph = false);

// The nodes reachable from `root`, inputs before the ops that consume them (topological order).
std::vector<std::shared_ptr<Node>> walk_graph(const Tensor& root);

}  // namespace gb
