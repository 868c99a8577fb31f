// GraphModule and GraphOp: the node modules built from a spec, the nested containers of their
// paths, and the interpreter that runs the nodes in order. The attributes each op takes:
//   conv2d        in_channels out_channels kernel stride padding groups bias   (nn::Conv2d)
//   batch_norm2d  channels eps momentum                                       (nn::BatchNorm2d)
//   linear        in_features out_features bias                               (nn::Linear)
//   max_pool2d, avg_pool2d  kernel stride padding
//   global_avg_pool  keepdims (1: [N,C,1,1] as ONNX; 0: [N,C])
//   reshape       shape (the dims after the batch dim, one may be -1)
//   slice         dim start end (a range of one non-batch dim)
//   permute       perm (all dims; perm[0] = 0, the batch stays first)
//   concat        axis
//   mean          dims keepdim
//   scale         factor
//   relu gelu softmax log_softmax add sub mul   (none; softmax family over the last dim)
// Shape letters: N batch, C channels, H/W height/width.
#include "models/graph/graph_module.h"

#include <functional>
#include <set>
#include <stdexcept>
#include <utility>

#include "runtime/autograd.h"
#include "runtime/layers.h"
#include "runtime/ops.h"

namespace gb::models {
namespace {

[[noreturn]] void bad_node(const std::string& op, const std::string& what) {
  throw std::invalid_argument("graph op '" + op + "': " + what);
}

const std::vector<double>& attr(const GraphAttrs& attrs, const std::string& op,
                                const std::string& name) {
  const auto it = attrs.find(name);
  if (it == attrs.end() || it->second.empty()) bad_node(op, "missing attribute '" + name + "'");
  return it->second;
}

int64_t attr_int(const GraphAttrs& attrs, const std::string& op, const std::string& name) {
  return static_cast<int64_t>(attr(attrs, op, name)[0]);
}

std::vector<int64_t> attr_ints(const GraphAttrs& attrs, const std::string& op,
                               const std::string& name) {
  std::vector<int64_t> out;
  for (double v : attr(attrs, op, name)) out.push_back(static_cast<int64_t>(v));
  return out;
}

// The ops a GraphOp runs (everything but the layers with weights) and whether they take one input.
const std::map<std::string, bool>& graph_ops() {
  static const std::map<std::string, bool> ops = {
      {"relu", true},        {"gelu", true},       {"max_pool2d", true}, {"avg_pool2d", true},
      {"global_avg_pool", true}, {"reshape", true}, {"permute", true},   {"softmax", true},
      {"log_softmax", true}, {"mean", true},       {"scale", true},      {"add", false},
      {"sub", false},        {"mul", false},       {"concat", false},    {"slice", true}};
  return ops;
}

// A module with children only: the dotted prefix of node paths. Never called.
class GraphScope : public Module {
 public:
  Tensor forward(const Tensor&) override {
    throw std::logic_error("graph: a path prefix is not a node and cannot be called");
  }
  std::string type_name() const override { return "GraphScope"; }
  void add_child(const std::string& name, ModulePtr m) { register_module(name, std::move(m)); }
};

// Registers `child` under `parent`, a GraphScope or a GraphOp (a node that is also a prefix).
void attach(Module& parent, const std::string& name, ModulePtr child) {
  if (auto* scope = dynamic_cast<GraphScope*>(&parent)) return scope->add_child(name, child);
  if (auto* op = dynamic_cast<GraphOp*>(&parent)) return op->add_child(name, child);
  throw std::invalid_argument("graph: node '" + parent.path() + "' cannot hold '" + name + "'");
}

ModulePtr make_node_module(const GraphNode& n) {
  const GraphAttrs& a = n.attrs;
  if (n.op == "conv2d") {
    return std::make_shared<nn::Conv2d>(
        attr_int(a, n.op, "in_channels"), attr_int(a, n.op, "out_channels"),
        attr_int(a, n.op, "kernel"), attr_int(a, n.op, "stride"), attr_int(a, n.op, "padding"),
        attr_int(a, n.op, "groups"), attr_int(a, n.op, "bias") != 0);
  }
  if (n.op == "batch_norm2d") {
    return std::make_shared<nn::BatchNorm2d>(attr_int(a, n.op, "channels"),
                                             static_cast<float>(attr(a, n.op, "momentum")[0]),
                                             static_cast<float>(attr(a, n.op, "eps")[0]));
  }
  if (n.op == "linear") {
    return std::make_shared<nn::Linear>(attr_int(a, n.op, "in_features"),
                                        attr_int(a, n.op, "out_features"),
                                        attr_int(a, n.op, "bias") != 0);
  }
  if (!graph_ops().count(n.op)) bad_node(n.op, "not an op a graph node can run");
  return std::make_shared<GraphOp>(n.op, a);
}

}  // namespace

GraphOp::GraphOp(std::string op, GraphAttrs attrs) : op_(std::move(op)), attrs_(std::move(attrs)) {
  if (!graph_ops().count(op_)) bad_node(op_, "not an op a graph node can run");
  // Check the attributes now, so a bad spec fails when the model is built.
  if (op_ == "max_pool2d" || op_ == "avg_pool2d") {
    for (const char* k : {"kernel", "stride", "padding"}) attr_int(attrs_, op_, k);
  } else if (op_ == "reshape") {
    attr(attrs_, op_, "shape");
  } else if (op_ == "permute") {
    if (attr_ints(attrs_, op_, "perm")[0] != 0) bad_node(op_, "perm must keep the batch first");
  } else if (op_ == "concat") {
    attr_int(attrs_, op_, "axis");
  } else if (op_ == "slice") {
    if (attr_int(attrs_, op_, "dim") < 1) bad_node(op_, "dim must not be the batch dim");
    for (const char* k : {"start", "end"}) attr_int(attrs_, op_, k);
  } else if (op_ == "mean") {
    attr(attrs_, op_, "dims");
    attr_int(attrs_, op_, "keepdim");
  } else if (op_ == "scale") {
    attr(attrs_, op_, "factor");
  }
}

bool GraphOp::single_input() const { return graph_ops().at(op_); }

Tensor GraphOp::forward(const Tensor& x) {
  if (!single_input()) throw std::logic_error("graph op '" + op_ + "' takes several inputs");
  return run({x});
}

Tensor GraphOp::run(const std::vector<Tensor>& in) {
  const size_t want = single_input() ? 1 : (op_ == "concat" ? in.size() : 2);
  if (in.size() != want || in.empty()) bad_node(op_, "wrong number of inputs");
  const Tensor& x = in[0];
  if (op_ == "relu") return ops::relu(x);
  if (op_ == "gelu") return ops::gelu(x);
  if (op_ == "max_pool2d" || op_ == "avg_pool2d") {
    const int64_t k = attr_int(attrs_, op_, "kernel"), s = attr_int(attrs_, op_, "stride"),
                  p = attr_int(attrs_, op_, "padding");
    return op_ == "max_pool2d" ? ops::max_pool2d(x, k, s, p) : ops::avg_pool2d(x, k, s, p);
  }
  if (op_ == "global_avg_pool") {
    const Tensor y = ops::global_avg_pool(x);
    const auto keep = attrs_.find("keepdims");
    return keep != attrs_.end() && !keep->second.empty() && keep->second[0] != 0
               ? ops::reshape(y, {y.size(0), y.size(1), 1, 1})
               : y;
  }
  if (op_ == "reshape") {
    Shape shape{x.size(0)};
    for (int64_t d : attr_ints(attrs_, op_, "shape")) shape.push_back(d);
    return ops::reshape(x, shape);
  }
  if (op_ == "permute") return ops::permute(x, attr_ints(attrs_, op_, "perm"));
  if (op_ == "slice") {
    return ops::slice(x, attr_int(attrs_, op_, "dim"), attr_int(attrs_, op_, "start"),
                      attr_int(attrs_, op_, "end"));
  }
  if (op_ == "softmax") return ops::softmax(x);
  if (op_ == "log_softmax") return ops::log_softmax(x);
  if (op_ == "mean") {
    return ops::mean(x, attr_ints(attrs_, op_, "dims"), attr_int(attrs_, op_, "keepdim") != 0);
  }
  if (op_ == "scale") return ops::scale(x, static_cast<float>(attr(attrs_, op_, "factor")[0]));
  if (op_ == "add") return ops::add(x, in[1]);
  if (op_ == "sub") return ops::sub(x, in[1]);
  if (op_ == "mul") return ops::mul(x, in[1]);
  if (op_ == "concat") return ops::concat(in, attr_int(attrs_, op_, "axis"));
  bad_node(op_, "not an op a graph node can run");
}

GraphModule::GraphModule(GraphSpec spec) : spec_(std::move(spec)) {
  validate(spec_);
  for (const auto& [name, shape] : spec_.constants) {
    register_buffer(name, Tensor::zeros(shape));
  }
  std::map<std::string, ModulePtr> modules;  // by path: the nodes', then scopes for prefixes
  for (const GraphNode& n : spec_.nodes) {
    try {
      modules[n.path] = make_node_module(n);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("graph node '" + n.path + "': " + e.what());
    }
  }
  std::set<std::string> attached;
  // Attaches the module at `path` (a node or a new scope) to its parent, parents first.
  std::function<Module&(const std::string&)> place = [&](const std::string& path) -> Module& {
    ModulePtr& m = modules[path];
    if (!m) m = std::make_shared<GraphScope>();
    if (attached.insert(path).second) {
      const size_t dot = path.rfind('.');
      if (dot == std::string::npos) {
        register_module(path, m);
      } else {
        attach(place(path.substr(0, dot)), path.substr(dot + 1), m);
      }
    }
    return *m;
  };
  for (const GraphNode& n : spec_.nodes) place(n.path);
}

Tensor GraphModule::run_node(const GraphNode& node, const std::vector<Tensor>& inputs) {
  Module* m = find(node.path);
  if (!m) throw std::logic_error("graph: node '" + node.path + "' has no module");
  auto* op = dynamic_cast<GraphOp*>(m);
  if (op && !op->single_input()) return m->call(inputs[0], [&] { return op->run(inputs); });
  if (inputs.size() != 1) {
    throw std::invalid_argument("graph node '" + node.path + "' takes one input");
  }
  return (*m)(inputs[0]);
}

Tensor GraphModule::forward(const Tensor& x) {
  const auto& chw = spec_.input_chw;
  if (x.dim() != 4 || x.size(1) != chw[0] || x.size(2) != chw[1] || x.size(3) != chw[2]) {
    throw std::invalid_argument("graph: input " + shape_str(x.shape()) + " must be [N," +
                                std::to_string(chw[0]) + "," + std::to_string(chw[1]) + "," +
                                std::to_string(chw[2]) + "]");
  }
  std::map<std::string, Tensor> values{{spec_.input, x}};
  for (const auto& [name, shape] : spec_.constants) values[name] = local_tensor(name);
  for (const GraphNode& node : spec_.nodes) {
    std::vector<Tensor> inputs;
    for (const std::string& in : node.inputs) inputs.push_back(values.at(in));
    values[node.output] = run_node(node, inputs);
  }
  return values.at(spec_.output);
}

std::string GraphModule::describe() const {
  const auto& chw = spec_.input_chw;
  return std::to_string(spec_.nodes.size()) + " nodes, input " + std::to_string(chw[0]) + "x" +
         std::to_string(chw[1]) + "x" + std::to_string(chw[2]);
}

ModulePtr build_graph_model(const ModelConfig& cfg) {
  cfg.validate();
  if (!cfg.graph) throw std::invalid_argument("model 'graph': the model config holds no graph");
  const auto& chw = cfg.graph->input_chw;
  if (chw.size() != 3 || chw[0] != cfg.in_channels || chw[1] != cfg.image_size ||
      chw[2] != cfg.image_size) {
    throw std::invalid_argument("model 'graph': its input does not match in_channels " +
                                std::to_string(cfg.in_channels) + " and image_size " +
                                std::to_string(cfg.image_size));
  }
  return std::make_shared<GraphModule>(*cfg.graph);
}

}  // namespace gb::models
