// Inference fusion for graph models: a conv2d node and what directly follows it in node order
// (a batch_norm2d, then an add of another computed value, then a relu or a clamp(0, hi) with
// hi > 0 such as ReLU6), each reading only the previous one's output and nothing else reading
// those intermediates, run as one conv2d_fused op.
// The rules of runtime/fusion.h apply (no graph recorded, fast CPU kernels, fusion on, no hooks
// on any module involved), so Grad-CAM, gradients and the profiler see every node as before.
// Exporters fold batch norms into the conv's bias (torch.onnx in eval mode): then the bias is the
// fused op's shift. Shape letters: N batch, K output channels, P/Q output size.
#include <cmath>
#include <limits>
#include <optional>

#include "models/graph/graph_module.h"
#include "runtime/autograd.h"
#include "runtime/fusion.h"
#include "runtime/layers.h"
#include "runtime/op_table.h"
#include "runtime/ops.h"
#include "runtime/profiler.h"
#include "runtime/trace.h"

namespace gb::models {
namespace {

bool plain(const Module* m) { return m != nullptr && !m->has_hooks(); }

}  // namespace

bool GraphModule::fusion_allowed() const {
  return nn::op_fusion_enabled() && !grad_mode_enabled() && !tracing() &&
         cpu_kernel_mode() == CpuKernelMode::Fast;
}

size_t GraphModule::run_fused(size_t i, std::map<std::string, Tensor>& values) {
  const GraphNode& node = spec_.nodes[i];
  auto* conv = dynamic_cast<nn::Conv2d*>(find(node.path));
  if (!plain(conv) || node.inputs.size() != 1) return 0;
  const Tensor w = conv->local_tensor("weight");
  if (!w.defined() || !supports(OpId::Conv2dFused, w.device().type)) return 0;
  // The run of nodes that may join: each reads the previous output, which nothing else reads.
  size_t j = i + 1;
  std::string current = node.output;
  auto next_reads_current = [&](const char* op) -> const GraphNode* {
    if (j >= spec_.nodes.size() || uses_.at(current) != 1) return nullptr;
    const GraphNode& n = spec_.nodes[j];
    if (n.op != op || !plain(find(n.path))) return nullptr;
    for (const std::string& in : n.inputs) {
      if (in == current) return &n;
    }
    return nullptr;
  };
  const Module* bn = nullptr;
  if (const GraphNode* n = next_reads_current("batch_norm2d")) {
    if (!nn::can_fuse_conv_bn(*conv, *find(n->path))) return 0;
    bn = find(n->path);
    current = n->output;
    ++j;
  }
  Tensor residual;
  if (const GraphNode* n = next_reads_current("add"); n && n->inputs.size() == 2) {
    const std::string& other = n->inputs[0] == current ? n->inputs[1] : n->inputs[0];
    if (other != current && values.count(other)) {
      residual = values.at(other);
      current = n->output;
      ++j;
    }
  }
  bool relu = false;
  float relu_cap = std::numeric_limits<float>::infinity();
  if (const GraphNode* n = next_reads_current("relu")) {
    relu = true;
    current = n->output;
    ++j;
  } else if (const GraphNode* c = next_reads_current("clamp")) {
    // clamp(v, 0, hi) with hi > 0 (ONNX Clip(0, 6) is ReLU6) is the capped ReLU of the epilogue;
    // the bounds as GraphOp passes them to ops::clamp.
    const float lo = static_cast<float>(c->attrs.at("lo").at(0));
    const float hi = static_cast<float>(c->attrs.at("hi").at(0));
    if (lo == 0.0f && hi > 0.0f) {
      relu = true;
      relu_cap = hi;
      current = c->output;
      ++j;
    }
  }
  if (j == i + 1) return 0;  // nothing to fuse with
  const Tensor& x = values.at(node.inputs[0]);
  Tensor y;
  {
    ModuleScope scope(conv->path());
    if (bn) {
      y = nn::fused_conv_bn(*conv, *bn, x, residual, relu, relu_cap);
    } else {
      if (residual.defined()) {
        const ops::Conv2dOptions& o = conv->options;
        const int64_t p =
            (x.size(2) + 2 * o.pad_h - (conv->kernel - 1) * o.dilation_h - 1) / o.stride_h + 1;
        const int64_t q =
            (x.size(3) + 2 * o.pad_w - (conv->kernel_w - 1) * o.dilation_w - 1) / o.stride_w + 1;
        const Shape want{x.size(0), conv->out_channels, p, q};
        if (residual.shape() != want) return 0;  // a broadcasting add: run it unfused
      }
      std::optional<profile::Span> span;  // the conv's row in the per-layer profile
      if (profile::enabled()) {
        span.emplace(profile::Pass::Forward, conv->path(),
                     std::string("Conv2d") + (residual.defined() ? "+add" : "") +
                         (!relu                  ? ""
                          : std::isinf(relu_cap) ? "+ReLU"
                                                 : "+clamp"));
      }
      y = ops::conv2d_fused(x, w, Tensor(), conv->local_tensor("bias"), residual, relu,
                            conv->options, relu_cap);
    }
  }
  values[current] = y;
  return j - i;
}

}  // namespace gb::models
