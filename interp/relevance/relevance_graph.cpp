// Trace -> relevance graph (relevance_graph.h): activation inputs, op families, batch-norm
// folding (Zennit's MergeBatchNorm, Anders et al., "Software for dataset-wide XAI", 2021) and the
// refusal of ops without a rule. Shape letters: N batch, K output channels, C input channels.
#include "interp/relevance/relevance_graph.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "runtime/autograd.h"
#include "runtime/ops.h"

namespace gb::interp::relevance {
namespace {

const char* kSupported =
    "conv2d, conv_transpose2d, linear, batch_norm2d, relu, clamp, leaky_relu, prelu, gelu, "
    "sigmoid, tanh, hardsigmoid, hardswish, scale, dropout, add, sub, mul/div by a constant, "
    "matmul with a constant, max_pool2d, avg_pool2d, global_avg_pool, mean, sum, reshape, "
    "permute, slice, copy, pad2d, concat, and a final softmax/log_softmax";

[[noreturn]] void refuse(const char* method, const TracedOp& t, const std::string& why) {
  throw std::invalid_argument(fmt::format(
      "{}: op '{}' in module '{}' has no relevance rule{} (supported: {})", method, t.label,
      t.module.empty() ? "<root>" : t.module, why.empty() ? "" : " (" + why + ")", kSupported));
}

// The family of a table op; refuses those without a rule. `acts` = activation inputs.
OpFamily family_of(const char* method, const TracedOp& t, size_t acts) {
  switch (*t.op) {
    case OpId::Conv2d:
    case OpId::ConvTranspose2d:
    case OpId::Linear:
      return OpFamily::Parameter;
    case OpId::Add:
    case OpId::Sub:
    case OpId::AvgPool2d:
    case OpId::GlobalAvgPool:
    case OpId::MaxPool2d:
    case OpId::Sum:
    case OpId::Mean:
      return OpFamily::Norm;
    case OpId::MatMul:
      if (acts > 1) refuse(method, t, "product of two activations");
      return OpFamily::Norm;
    case OpId::Mul:
    case OpId::Div:
      if (acts > 1) refuse(method, t, "product or quotient of two activations");
      return OpFamily::Pass;
    case OpId::Relu:
    case OpId::Gelu:
    case OpId::Clamp:
    case OpId::LeakyRelu:
    case OpId::Sigmoid:
    case OpId::Tanh:
    case OpId::HardSigmoid:
    case OpId::HardSwish:
    case OpId::PRelu:
    case OpId::Scale:
    case OpId::Dropout:
    case OpId::BatchNorm2d:
      return OpFamily::Pass;
    case OpId::Reshape:
    case OpId::Permute:
    case OpId::Slice:
    case OpId::Copy:
    case OpId::Pad2d:
    case OpId::Concat:
      return OpFamily::Map;
    default:
      refuse(method, t, "");
  }
}

// s = gamma / sqrt(var + eps) of a traced eval batch norm (inputs x, gamma, beta, mean, var).
std::vector<float> bn_scale(const TracedOp& bn) {
  const std::vector<float> var = bn.inputs.at(4).to_vector();
  const double eps = bn.attrs.at("epsilon").at(0);
  std::vector<float> g =
      bn.inputs[1].defined() ? bn.inputs[1].to_vector() : std::vector<float>(var.size(), 1.0f);
  for (size_t k = 0; k < var.size(); ++k) {
    g[k] = static_cast<float>(g[k] / std::sqrt(static_cast<double>(var[k]) + eps));
  }
  return g;
}

// w' = w * s[k] (row k = output channel k), b' = (b - mean) * s + beta.
void fold_batch_norm(GraphOp& op, const TracedOp& bn) {
  const std::vector<float> s = bn_scale(bn);
  const std::vector<float> mean = bn.inputs.at(3).to_vector();
  const int64_t K = static_cast<int64_t>(s.size());
  std::vector<float> w = op.weight.to_vector();
  const int64_t per = static_cast<int64_t>(w.size()) / K;
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t i = 0; i < per; ++i) w[static_cast<size_t>(k * per + i)] *= s[k];
  }
  std::vector<float> b = op.bias.defined() ? op.bias.to_vector() : std::vector<float>(s.size());
  const std::vector<float> beta =
      bn.inputs[2].defined() ? bn.inputs[2].to_vector() : std::vector<float>(s.size(), 0.0f);
  for (size_t k = 0; k < s.size(); ++k) b[k] = (b[k] - mean[k]) * s[k] + beta[k];
  op.weight = Tensor::from_vector(op.weight.shape(), w);
  op.bias = Tensor::from_vector({K}, b);
  op.output = bn.output;
  op.folded_bn = bn.module;
}

}  // namespace

RelevanceGraph build_relevance_graph(Module& model, const Tensor& x, const GraphOptions& opt) {
  if (x.dim() != 4) {
    throw std::invalid_argument(
        fmt::format("{}: input must be [N,C,H,W], got {}", opt.method, shape_str(x.shape())));
  }
  if (x.device().type != DeviceType::Cpu || model.device().type != DeviceType::Cpu) {
    throw std::invalid_argument(fmt::format(
        "{}: runs on the CPU only (v1); move the model and input to the CPU (--device cpu)",
        opt.method));
  }
  RelevanceGraph g;
  g.input = x;
  model.eval();
  {
    NoGradGuard ng;
    TraceScope scope(g.trace);
    g.logits = model(x);
  }
  // Tensors that depend on x, and the op writing each.
  std::unordered_set<const TensorImpl*> depends{x.impl()};
  std::unordered_map<const TensorImpl*, size_t> producer;
  std::unordered_map<const TensorImpl*, int> readers;
  std::vector<std::vector<size_t>> acts(g.trace.ops.size());
  for (size_t i = 0; i < g.trace.ops.size(); ++i) {
    const TracedOp& t = g.trace.ops[i];
    for (size_t j = 0; j < t.inputs.size(); ++j) {
      if (t.inputs[j].defined() && depends.count(t.inputs[j].impl())) acts[i].push_back(j);
    }
    if (acts[i].empty()) continue;
    bool identity = false;
    for (const auto& in : t.inputs) identity = identity || (in.defined() && in.same(t.output));
    if (identity) continue;
    depends.insert(t.output.impl());
    producer[t.output.impl()] = i;
    for (size_t j : acts[i]) ++readers[t.inputs[j].impl()];
  }
  // A final softmax / log_softmax: explain its input.
  g.output = g.logits;
  auto last = producer.find(g.logits.impl());
  if (last == producer.end()) {
    throw std::invalid_argument(
        fmt::format("{}: the model output does not depend on its input", opt.method));
  }
  std::optional<size_t> skip_last;
  const TracedOp& tl = g.trace.ops[last->second];
  if (tl.op && (*tl.op == OpId::Softmax || *tl.op == OpId::LogSoftmax)) {
    g.output = tl.inputs.at(0);
    skip_last = last->second;
    g.notes.push_back(
        fmt::format("final {} skipped: the scores explained are its input", tl.label));
  }
  std::map<size_t, size_t> folded_into;  // batch-norm trace index -> graph op index
  for (size_t i = 0; i < g.trace.ops.size(); ++i) {
    const TracedOp& t = g.trace.ops[i];
    if (acts[i].empty() || !producer.count(t.output.impl()) || producer[t.output.impl()] != i)
      continue;
    if (skip_last && *skip_last == i) continue;
    if (!t.op) refuse(opt.method, t, "custom node");
    const OpFamily fam = family_of(opt.method, t, acts[i].size());
    if (*t.op == OpId::BatchNorm2d && folded_into.count(i)) continue;
    GraphOp op;
    op.trace_index = i;
    op.op = *t.op;
    op.module = t.module;
    op.family = fam;
    op.act_inputs = acts[i];
    op.output = t.output;
    if (fam == OpFamily::Parameter) {
      if (acts[i] != std::vector<size_t>{0}) refuse(opt.method, t, "parameters computed from x");
      op.weight = t.inputs.at(1);
      op.bias = t.inputs.size() > 2 ? t.inputs[2] : Tensor();
      op.first_layer = t.inputs[0].same(x);
    }
    if (*t.op == OpId::BatchNorm2d) {
      g.notes.push_back(
          fmt::format("batch norm '{}' not after a foldable conv/linear: passed", t.module));
    }
    g.ops.push_back(std::move(op));
    // Fold a batch norm that alone reads this conv2d / linear's output.
    if (opt.fold_batch_norm && (*t.op == OpId::Conv2d || *t.op == OpId::Linear) &&
        readers[t.output.impl()] == 1) {
      for (size_t b = i + 1; b < g.trace.ops.size(); ++b) {
        const TracedOp& bn = g.trace.ops[b];
        if (!bn.op || *bn.op != OpId::BatchNorm2d || !bn.inputs.at(0).same(t.output)) continue;
        if (bn.inputs.size() < 5) break;  // training-mode trace: no running statistics
        fold_batch_norm(g.ops.back(), bn);
        folded_into[b] = g.ops.size() - 1;
        break;
      }
    }
  }
  return g;
}

}  // namespace gb::interp::relevance
