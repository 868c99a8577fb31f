// GraphModule: the node modules built from a spec (the layers with weights here, every other op a
// GraphOp: models/graph/graph_op.cpp lists their attributes), the nested containers of their
// paths, and the interpreter that runs the nodes in order. The layers' attributes:
//   conv2d        in_channels out_channels kernel stride padding groups bias   (nn::Conv2d);
//                 kernel, stride, padding and the optional dilation (default 1) one value for
//                 both axes or [h, w]
//   conv_transpose2d  in_channels out_channels groups bias, and kernel stride padding
//                 output_padding as [h, w] (or one value for both)          (nn::ConvTranspose2d)
//   batch_norm2d  channels eps momentum                                       (nn::BatchNorm2d)
//   linear        in_features out_features bias                               (nn::Linear)
//   layer_norm    features eps (weight and bias [features], over the last dim)  (nn::LayerNorm)
// Shape letters: N batch, C channels, H/W height/width.
#include "models/graph/graph_module.h"

#include <functional>
#include <set>
#include <stdexcept>
#include <tuple>
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

// [h, w] from an attribute of one value (both) or two.
std::pair<int64_t, int64_t> attr_hw(const GraphAttrs& attrs, const std::string& op,
                                    const std::string& name) {
  const std::vector<double>& v = attr(attrs, op, name);
  if (v.size() > 2) bad_node(op, "attribute '" + name + "' takes one or two values");
  return {static_cast<int64_t>(v[0]), static_cast<int64_t>(v.size() == 2 ? v[1] : v[0])};
}

// The square constructor where one value serves both axes and there is no dilation (the zoo's
// layers), the general one otherwise.
ModulePtr make_conv(const GraphAttrs& a, const std::string& op) {
  ops::Conv2dOptions opt;
  std::tie(opt.stride_h, opt.stride_w) = attr_hw(a, op, "stride");
  std::tie(opt.pad_h, opt.pad_w) = attr_hw(a, op, "padding");
  if (a.count("dilation")) std::tie(opt.dilation_h, opt.dilation_w) = attr_hw(a, op, "dilation");
  opt.groups = attr_int(a, op, "groups");
  const auto [kh, kw] = attr_hw(a, op, "kernel");
  const int64_t in = attr_int(a, op, "in_channels"), out = attr_int(a, op, "out_channels");
  const bool bias = attr_int(a, op, "bias") != 0;
  const bool square = kh == kw && opt.stride_h == opt.stride_w && opt.pad_h == opt.pad_w &&
                      opt.dilation_h == 1 && opt.dilation_w == 1;
  if (!square) return std::make_shared<nn::Conv2d>(in, out, kh, kw, opt, bias);
  return std::make_shared<nn::Conv2d>(in, out, kh, opt.stride_h, opt.pad_h, opt.groups, bias);
}

ModulePtr make_conv_transpose(const GraphAttrs& a, const std::string& op) {
  ops::ConvTranspose2dOptions opt;
  std::tie(opt.stride_h, opt.stride_w) = attr_hw(a, op, "stride");
  std::tie(opt.pad_h, opt.pad_w) = attr_hw(a, op, "padding");
  std::tie(opt.output_padding_h, opt.output_padding_w) = attr_hw(a, op, "output_padding");
  opt.groups = attr_int(a, op, "groups");
  const auto [kh, kw] = attr_hw(a, op, "kernel");
  return std::make_shared<nn::ConvTranspose2d>(attr_int(a, op, "in_channels"),
                                               attr_int(a, op, "out_channels"), kh, kw, opt,
                                               attr_int(a, op, "bias") != 0);
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
  if (n.op == "conv2d") return make_conv(a, n.op);
  if (n.op == "conv_transpose2d") return make_conv_transpose(a, n.op);
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
  if (n.op == "layer_norm") {
    return std::make_shared<nn::LayerNorm>(attr_int(a, n.op, "features"),
                                           static_cast<float>(attr(a, n.op, "eps")[0]));
  }
  return std::make_shared<GraphOp>(n.op, a);
}

}  // namespace

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
  for (const GraphNode& n : spec_.nodes) {
    uses_.try_emplace(n.output, 0);
    for (const std::string& in : n.inputs) ++uses_[in];
  }
  ++uses_[spec_.output];
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
  const bool fuse = fusion_allowed();
  for (size_t i = 0; i < spec_.nodes.size();) {
    if (fuse && spec_.nodes[i].op == "conv2d") {
      const size_t ran = run_fused(i, values);
      if (ran > 0) {
        i += ran;
        continue;
      }
    }
    const GraphNode& node = spec_.nodes[i++];
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

GraphSpec with_channels(const GraphSpec& spec, const ModelConfig& cfg) {
  if (cfg.width != 1.0f) throw std::invalid_argument("model 'graph': width must be 1");
  if (cfg.channels.empty()) return spec;
  ChannelPlan plan(cfg);
  GraphSpec out = spec;
  std::map<std::string, Tensor> samples{
      {out.input, Tensor::zeros({1, out.input_chw[0], out.input_chw[1], out.input_chw[2]})}};
  for (const auto& [name, shape] : out.constants) samples[name] = Tensor::zeros(shape);
  NoGradGuard no_grad;
  for (GraphNode& n : out.nodes) {
    std::vector<Tensor> in;
    for (const std::string& v : n.inputs) in.push_back(samples.at(v));
    const int64_t c = in[0].size(1);
    GraphAttrs& a = n.attrs;
    auto set = [&a](const char* key, int64_t v) { a[key] = {static_cast<double>(v)}; };
    if (n.op == "conv2d") {
      const int64_t old_in = attr_int(a, n.op, "in_channels"), groups = attr_int(a, n.op, "groups");
      int64_t k = attr_int(a, n.op, "out_channels");
      if (groups > 1 && groups == old_in) {  // depthwise: one group per channel, multiplier kept
        k = k / old_in * c;
        set("groups", c);
      } else if (groups > 1 && c != old_in) {
        throw std::invalid_argument("model 'graph': grouped conv '" + n.path +
                                    "' cannot follow a narrower input");
      }
      set("in_channels", c);
      set("out_channels", plan.out(n.path, k));
    } else if (n.op == "conv_transpose2d" && attr_int(a, n.op, "in_channels") != c) {
      throw std::invalid_argument("model 'graph': transposed conv '" + n.path +
                                  "' cannot follow a narrower input");
    } else if (n.op == "batch_norm2d") {
      set("channels", c);
    } else if (n.op == "linear") {
      set("in_features", c);
    } else if (n.op == "prelu" && attr_int(a, n.op, "channels") != 1) {
      set("channels", c);
    }
    const ModulePtr m = make_node_module(n);
    auto* op = dynamic_cast<GraphOp*>(m.get());
    samples[n.output] = op ? op->run(in) : (*m)(in[0]);
  }
  plan.check_all_used("graph");
  return out;
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
  return std::make_shared<GraphModule>(with_channels(*cfg.graph, cfg));
}

}  // namespace gb::models
