// export_onnx: traces the model at two batch sizes, checks that the traces agree, names every
// tensor the ops read (the input, op outputs, parameters and buffers, constants) and writes the
// ONNX nodes op by op (onnx_export_ops.cpp), then runs onnx's checker on the result.
// Shape letters: N batch, C channels, H/W height/width, K outputs.
#include "models/onnx/onnx_export.h"

#include <onnx/checker.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "models/onnx/onnx_export_graph.h"
#include "runtime/autograd.h"
#include "runtime/trace.h"

namespace gb::models {
namespace {
using onnx_export::ExportGraph;
using onnx_export::ExportStep;

constexpr int64_t kBatchA = 2, kBatchB = 3;

void check_options(const OnnxExportOptions& o) {
  if (o.input_chw.size() != 3 || o.input_chw[0] < 1 || o.input_chw[1] < 1 || o.input_chw[2] < 1) {
    throw std::invalid_argument("onnx export: the input size must be three positive sizes C,H,W");
  }
  if (o.opset < 14 || o.opset > 18) {
    throw std::invalid_argument("onnx export: opset " + std::to_string(o.opset) +
                                " is not supported (14 to 18)");
  }
  if (o.batch < 0) throw std::invalid_argument("onnx export: the batch must be >= 0");
}

// A deterministic input of `batch` images, different for each seed.
Tensor sample_input(const std::vector<int64_t>& chw, int64_t batch, int seed) {
  Tensor x = Tensor::empty({batch, chw[0], chw[1], chw[2]});
  float* p = x.f32();
  for (int64_t i = 0; i < x.numel(); ++i) {
    p[i] = static_cast<float>(std::sin(0.7311 * static_cast<double>(i) + seed) * 1.5);
  }
  return x;
}

struct Traced {
  OpTrace trace;
  Tensor input, output;
};

Traced trace_forward(Module& model, const OnnxExportOptions& o, int64_t batch, int seed) {
  Traced t;
  t.input = sample_input(o.input_chw, batch, seed);
  TraceScope scope(t.trace);
  t.output = model(t.input);
  return t;
}

bool same_values(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ha = a.to(Device{}).clone(), hb = b.to(Device{}).clone();
  return std::memcmp(ha.data<char>(), hb.data<char>(), static_cast<size_t>(ha.numel()) * 4) == 0;
}

// The two traces must run the same ops with the same attributes (slice ends and reshape targets
// may follow the batch; their writers check how).
void check_traces_agree(const OpTrace& a, const OpTrace& b) {
  if (a.ops.size() != b.ops.size()) {
    throw std::runtime_error("onnx export: the model runs " + std::to_string(a.ops.size()) +
                             " ops at batch 2 but " + std::to_string(b.ops.size()) +
                             " at batch 3; its graph depends on the batch size");
  }
  for (size_t i = 0; i < a.ops.size(); ++i) {
    const TracedOp &x = a.ops[i], &y = b.ops[i];
    const bool attrs_ok = x.attrs == y.attrs || x.op == OpId::Slice;
    if (x.op != y.op || x.module != y.module || !attrs_ok || x.inputs.size() != y.inputs.size()) {
      throw std::runtime_error("onnx export: " + onnx_export::describe(x) +
                               " differs between batch sizes 2 and 3");
    }
  }
}

// Names the tensors ops read: known values first; any other tensor is a constant that must have
// the same value in the other trace.
class ValueNames {
 public:
  ValueNames(ExportGraph& graph, const std::unordered_map<const TensorImpl*, std::string>& params)
      : graph_(graph), params_(params) {}

  std::string name(const TracedOp& op, size_t i, const TracedOp& op_b) {
    const Tensor& t = op.inputs[i];
    if (!t.defined()) return "";
    if (std::string known = graph_.bound(t); !known.empty()) return known;
    if (const auto it = params_.find(t.impl()); it != params_.end()) {
      graph_.bind_parameter(t, it->second);
      return it->second;
    }
    if (!op_b.inputs[i].defined() || !same_values(t, op_b.inputs[i]) || t.dtype() != DType::F32) {
      throw std::runtime_error("onnx export: input " + std::to_string(i) + " of " +
                               onnx_export::describe(op) +
                               " is computed outside the op API (it changes with the input), so "
                               "it cannot be written as a constant");
    }
    const std::string name = "const_" + std::to_string(constants_++);
    graph_.bind_parameter(t, name);
    return name;
  }

 private:
  ExportGraph& graph_;
  const std::unordered_map<const TensorImpl*, std::string>& params_;
  int constants_ = 0;
};

std::unordered_map<const TensorImpl*, std::string> parameter_names(const Module& model,
                                                                   const OnnxExportOptions& o) {
  std::unordered_map<const TensorImpl*, std::string> names;
  const auto add = [&](const std::vector<std::pair<std::string, Tensor>>& tensors) {
    for (const auto& [name, t] : tensors) {
      const auto renamed = o.tensor_names.find(name);
      names[t.impl()] = renamed == o.tensor_names.end() ? name : renamed->second;
    }
  };
  add(model.named_parameters());
  add(model.named_buffers());
  return names;
}

void set_value_info(onnx::ValueInfoProto* info, const std::string& name, const Shape& shape,
                    int64_t batch) {
  info->set_name(name);
  auto* type = info->mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  auto* dims = type->mutable_shape();
  for (size_t i = 0; i < shape.size(); ++i) {
    auto* d = dims->add_dim();
    if (i == 0 && batch == 0) {
      d->set_dim_param("N");
    } else {
      d->set_dim_value(i == 0 ? batch : shape[i]);
    }
  }
}

void write_graph(const Traced& a, const Traced& b,
                 const std::unordered_map<const TensorImpl*, std::string>& params,
                 ExportGraph& graph) {
  graph.bind(a.input, "input");
  ValueNames names(graph, params);
  for (size_t i = 0; i < a.trace.ops.size(); ++i) {
    const TracedOp &op = a.trace.ops[i], &op_b = b.trace.ops[i];
    std::vector<std::string> inputs;
    for (size_t j = 0; j < op.inputs.size(); ++j) inputs.push_back(names.name(op, j, op_b));
    if (!graph.bound(op.output).empty()) continue;  // an op returning its input: nothing to add
    const std::string output = op.output.same(a.output) ? "logits" : "";
    ExportStep step{op, op_b, inputs, output, graph};
    onnx_export::write_op(step);
    graph.bind(op.output, output.empty() ? graph.last_output() : output);
  }
  if (graph.bound(a.output) != "logits") {
    throw std::runtime_error("onnx export: the model's output is not computed by an op");
  }
  graph.finish();
}

}  // namespace

OnnxExport export_onnx(Module& model, const OnnxExportOptions& options) {
  check_options(options);
  EvalModeScope eval(model);
  NoGradGuard no_grad;
  const Traced a = trace_forward(model, options, kBatchA, 1);
  const Traced b = trace_forward(model, options, kBatchB, 2);
  check_traces_agree(a.trace, b.trace);

  onnx::ModelProto proto;
  proto.set_ir_version(8);
  proto.set_producer_name("glassbox");
  auto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(options.opset);
  for (const auto& [key, value] : options.metadata) {
    auto* prop = proto.add_metadata_props();
    prop->set_key(key);
    prop->set_value(value);
  }
  onnx::GraphProto* g = proto.mutable_graph();
  g->set_name(options.graph_name);
  ExportGraph graph(*g, options.opset);
  write_graph(a, b, parameter_names(model, options), graph);
  set_value_info(g->add_input(), "input", a.input.shape(), options.batch);
  set_value_info(g->add_output(), "logits", a.output.shape(), options.batch);
  try {
    onnx::checker::check_model(proto);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("onnx export: onnx's checker rejects the graph: ") +
                             e.what());
  }
  OnnxExport out;
  out.nodes = g->node_size();
  out.initializers = g->initializer_size();
  for (const auto& n : g->node()) out.op_types[n.op_type()]++;
  if (!proto.SerializeToString(&out.bytes)) {
    throw std::runtime_error("onnx export: the model could not be serialized");
  }
  return out;
}

}  // namespace gb::models
