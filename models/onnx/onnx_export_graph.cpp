// ExportGraph: value names, initializers and module-named nodes of an ONNX graph being exported.
#include "models/onnx/onnx_export_graph.h"

#include <cstring>
#include <stdexcept>

namespace gb::models::onnx_export {

std::string ExportGraph::bound(const Tensor& t) const {
  const auto it = values_.find(t.impl());
  return it == values_.end() ? std::string() : it->second;
}

std::string ExportGraph::unique(const std::string& base) {
  const int n = taken_[base]++;
  return n == 0 ? base : base + "_" + std::to_string(n);
}

void ExportGraph::bind_parameter(const Tensor& t, const std::string& name) {
  bind(t, name);
  parameters_.push_back({name, t, t.shape()});
  taken_[name]++;
}

void ExportGraph::reshape_parameter(const std::string& name, const std::vector<int64_t>& dims) {
  for (Parameter& p : parameters_) {
    if (p.name == name) p.dims = dims;
  }
}

void ExportGraph::finish() {
  for (const Parameter& p : parameters_) add_initializer(p.name, p.tensor, p.dims);
  parameters_.clear();
}

void ExportGraph::add_initializer(const std::string& name, const Tensor& t,
                                  std::vector<int64_t> dims) {
  int64_t numel = 1;
  for (int64_t d : dims) numel *= d;
  if (t.dtype() != DType::F32 || numel != t.numel()) {
    throw std::logic_error("onnx export: initializer '" + name + "' must be F32 with " +
                           std::to_string(numel) + " values");
  }
  Tensor host = t.to(Device{});
  if (!host.is_contiguous()) host = host.clone();
  onnx::TensorProto* init = graph_.add_initializer();
  init->set_name(name);
  init->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) init->add_dims(d);
  init->set_raw_data(std::string(reinterpret_cast<const char*>(host.f32()),
                                 static_cast<size_t>(numel) * sizeof(float)));
}

std::string ExportGraph::constant(const std::string& base, int data_type, const void* data,
                                  size_t bytes, const std::vector<int64_t>& dims) {
  const std::string name = unique(base);
  onnx::TensorProto* init = graph_.add_initializer();
  init->set_name(name);
  init->set_data_type(data_type);
  for (int64_t d : dims) init->add_dims(d);
  init->set_raw_data(std::string(static_cast<const char*>(data), bytes));
  return name;
}

std::string ExportGraph::float_constant(const std::string& base, const std::vector<float>& values,
                                        const std::vector<int64_t>& dims) {
  return constant(base, onnx::TensorProto::FLOAT, values.data(), values.size() * sizeof(float),
                  dims);
}

std::string ExportGraph::int_constant(const std::string& base, const std::vector<int64_t>& values,
                                      const std::vector<int64_t>& dims) {
  return constant(base, onnx::TensorProto::INT64, values.data(), values.size() * sizeof(int64_t),
                  dims);
}

onnx::NodeProto& ExportGraph::node(const std::string& module, const std::string& op_type,
                                   const std::vector<std::string>& inputs, std::string output) {
  onnx::NodeProto* n = graph_.add_node();
  n->set_name(unique(module.empty() ? "/" + op_type : "/" + module + "/" + op_type));
  n->set_op_type(op_type);
  for (const std::string& in : inputs) n->add_input(in);
  if (output.empty()) output = n->name() + "_output_0";
  n->add_output(output);
  return *n;
}

void set_ints(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& v) {
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void set_int(onnx::NodeProto& node, const std::string& name, int64_t v) {
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void set_float(onnx::NodeProto& node, const std::string& name, float v) {
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

std::vector<int64_t> ExportStep::ints(const std::string& name) const {
  const auto it = op.attrs.find(name);
  if (it == op.attrs.end()) {
    throw std::logic_error("onnx export: " + describe(op) + " has no attribute " + name);
  }
  return std::vector<int64_t>(it->second.begin(), it->second.end());
}

double ExportStep::number(const std::string& name) const {
  const auto it = op.attrs.find(name);
  if (it == op.attrs.end() || it->second.size() != 1) {
    throw std::logic_error("onnx export: " + describe(op) + " has no attribute " + name);
  }
  return it->second[0];
}

std::string describe(const TracedOp& op) {
  return std::string("op '") + op.label + "' (module '" + op.module + "')";
}

}  // namespace gb::models::onnx_export
