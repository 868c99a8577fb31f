// TensorBoard logging of training runs (see tensorboard.h): histograms, the GraphDef of a traced
// model graph, the event-file writer and the per-step / per-epoch training log.
// Shape letters: C channels, H/W image size.
#include "models/training/tensorboard.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

#include "models/model_graph.h"

namespace gb::training {

using tfevents::ProtoMessage;

tfevents::Histogram make_histogram(const float* values, size_t n, int64_t bins) {
  if (bins < 1) throw std::invalid_argument("make_histogram: bins must be >= 1");
  tfevents::Histogram h;
  h.min = std::numeric_limits<double>::infinity();
  h.max = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < n; ++i) {
    const double v = values[i];
    if (!std::isfinite(v)) continue;
    h.min = std::min(h.min, v);
    h.max = std::max(h.max, v);
    h.num += 1;
    h.sum += v;
    h.sum_squares += v * v;
  }
  if (h.num == 0) {
    h.min = h.max = 0;
    return h;
  }
  const int64_t count = h.max > h.min ? bins : 1;
  const double width = (h.max - h.min) / static_cast<double>(count);
  h.bucket.assign(static_cast<size_t>(count), 0.0);
  for (int64_t b = 0; b < count; ++b) {
    h.bucket_limit.push_back(b + 1 == count ? h.max : h.min + width * static_cast<double>(b + 1));
  }
  for (size_t i = 0; i < n; ++i) {
    const double v = values[i];
    if (!std::isfinite(v)) continue;
    // The first limit >= v: buckets are closed on the right.
    const auto it = std::lower_bound(h.bucket_limit.begin(), h.bucket_limit.end(), v);
    const auto b = std::min<ptrdiff_t>(it - h.bucket_limit.begin(), count - 1);
    h.bucket[static_cast<size_t>(b)] += 1;
  }
  return h;
}

namespace {

// NodeDef fields and GraphDef's (graph.proto, node_def.proto, attr_value.proto,
// tensor_shape.proto, versions.proto).
constexpr int kGraphNode = 1, kGraphVersions = 4, kVersionProducer = 1;
constexpr int kNodeName = 1, kNodeOp = 2, kNodeInput = 3, kNodeAttr = 5;
constexpr int kMapKey = 1, kMapValue = 2;
constexpr int kAttrList = 1, kAttrString = 2, kListShape = 7;
constexpr int kShapeDim = 2, kDimSize = 1;

ProtoMessage shape_proto(const Shape& shape) {
  ProtoMessage s;
  for (const int64_t d : shape) {
    ProtoMessage dim;
    dim.add_varint(kDimSize, d);
    s.add_message(kShapeDim, dim);
  }
  return s;
}

void add_attr(ProtoMessage& node, const std::string& key, const ProtoMessage& value) {
  ProtoMessage entry;
  entry.add_bytes(kMapKey, key);
  entry.add_message(kMapValue, value);
  node.add_message(kNodeAttr, entry);
}

void add_string_attr(ProtoMessage& node, const std::string& key, const std::string& value) {
  ProtoMessage v;
  v.add_bytes(kAttrString, value);
  add_attr(node, key, v);
}

void add_shape_attr(ProtoMessage& node, const Shape& shape) {
  ProtoMessage list;
  list.add_message(kListShape, shape_proto(shape));
  ProtoMessage v;
  v.add_message(kAttrList, list);
  add_attr(node, "_output_shapes", v);
}

ProtoMessage node_def(const std::string& name, const std::string& op,
                      const std::vector<std::string>& inputs) {
  ProtoMessage n;
  n.add_bytes(kNodeName, name);
  n.add_bytes(kNodeOp, op);
  for (const std::string& in : inputs) n.add_bytes(kNodeInput, in);
  return n;
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// The NodeDef of node `i`, and before it (into `graph`) the Const nodes of its constant inputs.
ProtoMessage graph_node(const models::ModelGraph& g, size_t i, ProtoMessage& graph) {
  const auto& node = g.nodes[i];
  std::vector<std::string> inputs;
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    const int p = node.inputs[k];
    if (p == models::ModelGraph::kModelInput) {
      inputs.push_back("input");
    } else if (p == models::ModelGraph::kConstant) {
      const std::string name = node.name + "_const" + std::to_string(k);
      graph.add_message(kGraphNode, node_def(name, "Const", {}));
      inputs.push_back(name);
    } else if (p >= 0 && static_cast<size_t>(p) < i) {
      inputs.push_back(g.nodes[static_cast<size_t>(p)].name);
    } else {
      throw std::invalid_argument("graph_def_bytes: node " + node.name + " reads node " +
                                  std::to_string(p) + ", which does not precede it");
    }
  }
  ProtoMessage n = node_def(node.name, node.op, inputs);
  add_shape_attr(n, node.output_shape);
  if (!node.module.empty()) add_string_attr(n, "module", node.module);
  if (!node.params.empty()) add_string_attr(n, "params", join(node.params, ","));
  for (const auto& [key, value] : node.attrs) add_string_attr(n, key, value);
  return n;
}

}  // namespace

std::string graph_def_bytes(const models::ModelGraph& g) {
  ProtoMessage graph;
  ProtoMessage input = node_def("input", "Placeholder", {});
  add_shape_attr(input, g.input_shape);
  graph.add_message(kGraphNode, input);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    graph.add_message(kGraphNode, graph_node(g, i, graph));
  }
  if (g.output >= 0 && static_cast<size_t>(g.output) < g.nodes.size()) {
    const auto& out = g.nodes[static_cast<size_t>(g.output)];
    ProtoMessage output = node_def("output", "Identity", {out.name});
    add_shape_attr(output, out.output_shape);
    graph.add_message(kGraphNode, output);
  }
  ProtoMessage versions;
  versions.add_varint(kVersionProducer, 22);
  graph.add_message(kGraphVersions, versions);
  return graph.bytes();
}

TensorBoardWriter::TensorBoardWriter(const std::filesystem::path& dir) : file_(dir) {}

void TensorBoardWriter::scalar(const std::string& tag, int64_t step, double value) {
  file_.write_event(tfevents::summary_event(
      tfevents::wall_time_now(), step, {tfevents::scalar_value(tag, static_cast<float>(value))}));
}

void TensorBoardWriter::histogram(const std::string& tag, int64_t step,
                                  const std::vector<float>& values) {
  const tfevents::Histogram h = make_histogram(values.data(), values.size());
  file_.write_event(tfevents::summary_event(tfevents::wall_time_now(), step,
                                            {tfevents::histogram_value(tag, h)}));
}

void TensorBoardWriter::image(const std::string& tag, int64_t step, int64_t width, int64_t height,
                              int channels, const std::vector<uint8_t>& png) {
  file_.write_event(tfevents::summary_event(
      tfevents::wall_time_now(), step, {tfevents::image_value(tag, width, height, channels, png)}));
}

void TensorBoardWriter::graph(const models::ModelGraph& g) {
  file_.write_event(tfevents::graph_event(tfevents::wall_time_now(), graph_def_bytes(g)));
}

void TensorBoardWriter::flush() { file_.flush(); }

namespace {

TensorBoardSettings checked(TensorBoardSettings s) {
  if (s.image_every < 1) {
    throw std::invalid_argument("--tensorboard-every must be >= 1, got " +
                                std::to_string(s.image_every));
  }
  return s;
}

}  // namespace

TrainingLog::TrainingLog(TensorBoardSettings settings)
    : settings_(checked(std::move(settings))), writer_(settings_.dir) {}

void TrainingLog::set_test_data(const data::Dataset* test, const data::Normalization& norm) {
  test_ = test;
  norm_ = norm;
}

void TrainingLog::set_progress(int64_t steps, int64_t epochs) {
  steps_ = steps;
  epochs_ = epochs;
}

void TrainingLog::graph_once(Module& model, const Shape& chw) {
  if (graph_written_) return;
  writer_.graph(models::trace_model_graph(model, chw));
  writer_.flush();
  graph_written_ = true;
}

void TrainingLog::step(const RunningMetrics& running, double lr) {
  ++steps_;
  writer_.scalar("train/loss", steps_, running.batch_loss);
  writer_.scalar("train/accuracy", steps_, running.batch_accuracy);
  writer_.scalar("train/lr", steps_, lr);
}

void TrainingLog::parameter_histograms(int64_t epoch, Module& model) {
  for (const auto& [name, param] : model.named_parameters()) {
    writer_.histogram("weights/" + name, epoch, param.to_vector());
    const Tensor grad = param.grad();
    if (grad.defined()) writer_.histogram("gradients/" + name, epoch, grad.to_vector());
  }
}

void TrainingLog::epoch(const EpochMetrics& m, Module& model, bool last) {
  epochs_ = m.epoch;
  writer_.scalar("epoch/train_loss", m.epoch, m.train_loss);
  writer_.scalar("epoch/train_accuracy", m.epoch, m.train_accuracy);
  writer_.scalar("epoch/images_per_second", m.epoch, m.images_per_second);
  writer_.scalar("epoch/seconds", m.epoch, m.seconds);
  writer_.scalar("epoch/lr", m.epoch, m.lr_end);
  writer_.scalar("epoch/rss_mb", m.epoch, m.rss_mb);
  if (m.test_accuracy >= 0) {
    writer_.scalar("epoch/test_loss", m.epoch, m.test_loss);
    writer_.scalar("epoch/test_accuracy", m.epoch, m.test_accuracy);
  }
  parameter_histograms(m.epoch, model);
  writer_.flush();
  const bool due = last || m.epoch % settings_.image_every == 0;
  if (due && settings_.views && test_ != nullptr && test_->size() > 0) {
    try {
      settings_.views(writer_, m.epoch, model, *test_, norm_);
    } catch (const std::exception& e) {
      // The pictures are a view of the run, not part of it: a model the views cannot explain
      // (no 4-D activation for Grad-CAM, say) must not end hours of training.
      fmt::print(stderr, "tensorboard: no more pictures this run: {}\n", e.what());
      settings_.views = nullptr;
    }
    writer_.flush();
  }
}

}  // namespace gb::training
