// Test helpers shared by the ONNX suites: a one-input ModelProto built node by node, and an
// imported model rebuilt as a graph module with its tensors loaded, in eval mode, and the largest
// elementwise difference of two tensors.
#pragma once
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/graph/graph_module.h"
#include "models/onnx/onnx_import.h"

namespace gb {

// Builds a one-input ModelProto.
class ProtoBuilder {
 public:
  explicit ProtoBuilder(std::vector<int64_t> input_shape, int64_t opset = 13) {
    model_.set_ir_version(8);
    model_.set_producer_name("test");
    auto* o = model_.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    auto* in = graph()->add_input();
    in->set_name("x");
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : input_shape) {
      auto* dim = tt->mutable_shape()->add_dim();
      if (d < 0) {
        dim->set_dim_param("N");
      } else {
        dim->set_dim_value(d);
      }
    }
  }
  onnx::GraphProto* graph() { return model_.mutable_graph(); }

  // A float initializer from a tensor.
  Tensor weight(const std::string& name, const Tensor& t) {
    auto* init = graph()->add_initializer();
    init->set_name(name);
    init->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : t.shape()) init->add_dims(d);
    for (float v : t.to_vector()) init->add_float_data(v);
    return t;
  }
  void ints(const std::string& name, const std::vector<int64_t>& v) {
    auto* init = graph()->add_initializer();
    init->set_name(name);
    init->set_data_type(onnx::TensorProto::INT64);
    init->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) init->add_int64_data(x);
  }
  onnx::NodeProto* node(const std::string& op, std::vector<std::string> in, std::string out,
                        const std::string& name = "") {
    auto* n = graph()->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? "/" + out + "/" + op : name);
    for (auto& i : in) n->add_input(i);
    n->add_output(out);
    return n;
  }
  static void attr_ints(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void attr_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  // A Constant node holding a float scalar (as torch.onnx writes them: a 0-d "value" tensor).
  void scalar(const std::string& name, float v) {
    auto* n = node("Constant", {}, name);
    auto* a = n->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
    a->mutable_t()->add_float_data(v);
  }
  std::string bytes(const std::string& output) {
    graph()->add_output()->set_name(output);
    return model_.SerializeAsString();
  }

 private:
  onnx::ModelProto model_;
};

inline std::shared_ptr<models::GraphModule> build_graph_module(const models::ImportedModel& m) {
  auto g = std::make_shared<models::GraphModule>(m.graph);
  std::map<std::string, Tensor> dst;
  for (auto& [n, t] : g->named_parameters()) dst[n] = t;
  for (auto& [n, t] : g->named_buffers()) dst[n] = t;
  for (const auto& [n, t] : m.tensors) {
    EXPECT_TRUE(dst.count(n)) << n;
    if (dst.count(n)) dst[n].copy_(t);
  }
  g->eval();
  return g;
}

// The largest |a - b| over all elements (the shapes must match; checked with EXPECT_EQ).
inline float max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  float d = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) d = std::max(d, std::abs(x[i] - y[i]));
  return d;
}

}  // namespace gb
