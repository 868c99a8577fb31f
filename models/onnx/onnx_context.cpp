// ImportContext: the values of one import (constants and batch-1 samples), the graph nodes it
// adds, and the naming of their modules: a node whose weight initializer is "<path>.weight" gets
// that path (parameter names stay the initializer names); otherwise the path comes from the
// node's scoped name ("/layer1/layer1.0/relu/Relu" -> "layer1.0.relu"), else "<op>_<k>".
#include <algorithm>
#include <cctype>
#include <set>

#include "models/onnx/onnx_context.h"
#include "runtime/autograd.h"

namespace gb::models::onnx_import {
namespace {
// Letters, digits and '_' only (a path segment).
std::string clean_segment(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out.empty() ? std::string("_") : out;
}

std::string clean_path(const std::string& dotted) {
  std::string out, seg;
  for (char c : dotted + ".") {
    if (c != '.') {
      seg += c;
      continue;
    }
    if (!seg.empty()) {
      if (!out.empty()) out += '.';
      out += clean_segment(seg);
    }
    seg.clear();
  }
  return out;
}

// "/layer1/layer1.0/conv1/Conv" -> "layer1.0.conv1": scope components, the op type dropped; a
// component that extends the path so far ("layer1" then "layer1.0") replaces it.
std::string path_from_scope(const std::string& name) {
  std::vector<std::string> parts;
  std::string part;
  for (char c : name + "/") {
    if (c != '/') {
      part += c;
      continue;
    }
    if (!part.empty()) parts.push_back(part);
    part.clear();
  }
  if (parts.size() < 2) return "";
  parts.pop_back();  // the op type ("Conv", "Relu_1")
  std::string path;
  for (const std::string& p : parts) {
    path = (!path.empty() && p.rfind(path + ".", 0) != 0) ? path + "." + p : p;
  }
  return path;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

void ImportContext::fail(const onnx::NodeProto& node, const std::string& what) const {
  throw std::runtime_error(label_ + ": node '" + node.name() + "' (" + node.op_type() + "): " +
                           what);
}

void ImportContext::fail(const std::string& what) const {
  throw std::runtime_error(label_ + ": " + what);
}

const ConstValue& ImportContext::constant(const onnx::NodeProto& node, int input) const {
  if (input >= node.input_size()) fail(node, "missing input " + std::to_string(input));
  const auto it = consts_.find(node.input(input));
  if (it == consts_.end()) {
    fail(node, "input '" + node.input(input) +
                   "' must be a constant (an initializer or a folded shape), not a computed value");
  }
  return it->second;
}

const Tensor& ImportContext::sample(const onnx::NodeProto& node, int input) const {
  if (input >= node.input_size()) fail(node, "missing input " + std::to_string(input));
  std::string name = node.input(input);
  for (auto a = aliases_.find(name); a != aliases_.end(); a = aliases_.find(name)) name = a->second;
  const auto it = samples_.find(name);
  if (it == samples_.end()) fail(node, "input '" + node.input(input) + "' is not computed");
  return it->second;
}

void ImportContext::alias(const std::string& out, const std::string& in) {
  if (consts_.count(in)) consts_[out] = consts_.at(in);
  if (samples_.count(in) || aliases_.count(in)) aliases_[out] = in;
}

void ImportContext::set_input(const std::string& name, const Tensor& sample) {
  samples_[name] = sample;
}

namespace {
// Letters, digits and underscores, not starting with a digit, and not a generated "const_<k>".
bool plain_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])) || s.rfind("const_", 0) == 0) {
    return false;
  }
  for (char ch : s) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') return false;
  }
  return true;
}
}  // namespace

std::string ImportContext::value_name(const onnx::NodeProto& node, int input) {
  if (input >= node.input_size()) fail(node, "missing input " + std::to_string(input));
  std::string name = node.input(input);
  for (auto a = aliases_.find(name); a != aliases_.end(); a = aliases_.find(name)) name = a->second;
  if (samples_.count(name)) return name;
  const auto c = consts_.find(name);
  if (c == consts_.end()) fail(node, "input '" + name + "' is not defined before the node");
  auto& buffer = const_buffers_[name];
  if (buffer.empty()) {
    buffer = std::string("const_") + std::to_string(const_buffers_.size() - 1);
    if (initializers_.count(name) && plain_identifier(name) && !samples_.count(name)) buffer = name;
    const Tensor t = c->second.as_tensor();
    buffer_tensors_.emplace_back(buffer, t);
    samples_[buffer] = t;
  }
  return buffer;
}

std::string ImportContext::path_for(const onnx::NodeProto& node,
                                    const std::string& weight_source) const {
  const std::string suffix = ".weight";
  if (weight_source.size() > suffix.size() &&
      weight_source.compare(weight_source.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return clean_path(weight_source.substr(0, weight_source.size() - suffix.size()));
  }
  const std::string scoped = path_from_scope(node.name());
  if (!scoped.empty()) return clean_path(scoped);
  if (!node.name().empty() && node.name().find('/') == std::string::npos) {
    return clean_segment(node.name());
  }
  return lower(node.op_type()) + "_" + std::to_string(nodes_.size());
}

void ImportContext::add_node(const onnx::NodeProto& node, const std::string& op, GraphAttrs attrs,
                             const std::vector<std::string>& inputs,
                             std::vector<std::pair<std::string, Tensor>> weights,
                             const std::function<Tensor(const std::vector<Tensor>&)>& sample_fn,
                             const std::string& weight_source) {
  std::vector<Tensor> in;
  for (const std::string& name : inputs) in.push_back(samples_.at(name));
  Tensor y;
  try {
    NoGradGuard no_grad;
    y = sample_fn(in);
  } catch (const std::invalid_argument& e) {
    fail(node, std::string("cannot run on its inputs: ") + e.what());
  } catch (const std::runtime_error& e) {  // e.g. the import's AllocationLimit
    fail(node, std::string("cannot run on its inputs: ") + e.what());
  }
  PendingNode p;
  p.node = {path_for(node, weight_source), op, inputs, node.output(0), std::move(attrs)};
  p.weights = std::move(weights);
  nodes_.push_back(std::move(p));
  samples_[node.output(0)] = y;
}

void ImportContext::set_sources(std::map<std::string, std::string> sources) {
  nodes_.back().sources = std::move(sources);
}

void ImportContext::note(const std::string& text) {
  if (std::find(notes_.begin(), notes_.end(), text) == notes_.end()) notes_.push_back(text);
}

ImportedModel ImportContext::finish(const std::string& input, const std::string& output) {
  // Unique paths, then no layer with weights whose path is the prefix of another ("a", "a.b").
  std::map<std::string, int> seen;
  for (auto& p : nodes_) {
    const int n = seen[p.node.path]++;
    if (n > 0) {
      p.node.path += '_';
      p.node.path += std::to_string(n + 1);
    }
  }
  std::set<std::string> paths;
  for (const auto& p : nodes_) paths.insert(p.node.path);
  for (auto& p : nodes_) {
    const auto next = paths.upper_bound(p.node.path);
    if (graph_layer_op(p.node.op) && next != paths.end() &&
        next->rfind(p.node.path + ".", 0) == 0) {
      p.node.path += "_op";
    }
  }
  ImportedModel m;
  m.notes = notes_;
  m.graph.input = input;
  std::string out = output;
  for (auto a = aliases_.find(out); a != aliases_.end(); a = aliases_.find(out)) out = a->second;
  if (!samples_.count(out) || consts_.count(out)) fail("the graph output '" + output +
                                                       "' is a constant, not computed");
  m.graph.output = out;
  for (const auto& [name, t] : buffer_tensors_) {
    m.graph.constants[name] = t.shape();
    m.tensors.emplace_back(name, t);
  }
  for (auto& p : nodes_) {
    for (auto& [local, t] : p.weights) {
      const std::string full = p.node.path + "." + local;
      m.tensors.emplace_back(full, t);
      const auto src = p.sources.find(local);
      if (src != p.sources.end()) m.graph.source_names[full] = src->second;
    }
    m.graph.nodes.push_back(std::move(p.node));
  }
  const Tensor& y = samples_.at(out);
  if (y.dim() != 2) fail("the graph output has shape " + shape_str(y.shape()) + "; want [N, K]");
  m.num_classes = y.size(1);
  return m;
}

}  // namespace gb::models::onnx_import
