// Inference fusion of Conv2d -> BatchNorm2d [-> residual add] [-> ReLU] (see fusion.h).
// Shape letters: K output channels.
#include "runtime/fusion.h"

#include <atomic>
#include <cmath>
#include <optional>

#include "runtime/autograd.h"
#include "runtime/layers.h"
#include "runtime/op_table.h"
#include "runtime/ops.h"
#include "runtime/profiler.h"
#include "runtime/trace.h"

namespace gb::nn {
namespace {
std::atomic<bool> g_fusion{true};
}  // namespace

bool op_fusion_enabled() { return g_fusion.load(std::memory_order_relaxed); }
void set_op_fusion(bool on) { g_fusion.store(on, std::memory_order_relaxed); }

bool can_fuse_conv_bn(const Module& conv, const Module& bn) {
  if (!op_fusion_enabled() || grad_mode_enabled() || tracing()) return false;
  if (cpu_kernel_mode() != CpuKernelMode::Fast) return false;
  const auto* c = dynamic_cast<const Conv2d*>(&conv);
  const auto* b = dynamic_cast<const BatchNorm2d*>(&bn);
  if (!c || !b || b->is_training() || conv.has_hooks() || bn.has_hooks()) return false;
  if (b->channels != c->out_channels) return false;
  // Only where conv2d_fused has a kernel for the weights' device (CPU today).
  const Tensor w = conv.local_tensor("weight");
  if (!w.defined() || !supports(OpId::Conv2dFused, w.device().type)) return false;
  return bn.local_tensor("running_mean").defined() && bn.local_tensor("running_var").defined();
}

Tensor fused_conv_bn(const Module& conv, const Module& bn, const Tensor& x, const Tensor& residual,
                     bool relu, float relu_cap) {
  const auto& c = dynamic_cast<const Conv2d&>(conv);
  const auto& b = dynamic_cast<const BatchNorm2d&>(bn);
  const int64_t K = c.out_channels;
  // scale = gamma / sqrt(var + eps); shift = beta + (conv_bias - mean) * scale.
  const Tensor gamma = bn.local_tensor("weight"), beta = bn.local_tensor("bias");
  const Tensor mean = bn.local_tensor("running_mean"), var = bn.local_tensor("running_var");
  const Tensor conv_bias = conv.local_tensor("bias");
  Tensor scale = Tensor::empty({K}), shift = Tensor::empty({K});
  float* sc = scale.f32();
  float* sh = shift.f32();
  for (int64_t k = 0; k < K; ++k) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(var.f32()[k]) + b.eps);
    const double g = gamma.defined() ? gamma.f32()[k] : 1.0;
    const double s = g * invstd;
    const double bias = conv_bias.defined() ? conv_bias.f32()[k] : 0.0;
    sc[k] = static_cast<float>(s);
    sh[k] = static_cast<float>((beta.defined() ? beta.f32()[k] : 0.0) + (bias - mean.f32()[k]) * s);
  }
  // Attributed to the conv module (graph nodes, profiler rows), as its own call would be.
  ModuleScope scope(conv.path());
  std::optional<profile::Span> span;
  if (profile::enabled()) {
    span.emplace(profile::Pass::Forward, conv.path(),
                 std::string("Conv2d+BatchNorm2d") + (residual.defined() ? "+add" : "") +
                     (!relu                  ? ""
                      : std::isinf(relu_cap) ? "+ReLU"
                                             : "+clamp"));
  }
  return ops::conv2d_fused(x, conv.local_tensor("weight"), scale, shift, residual, relu, c.options,
                           relu_cap);
}

bool can_fuse_bn_act(const Module& bn) {
  if (!op_fusion_enabled() || tracing() || cpu_kernel_mode() != CpuKernelMode::Fast) return false;
  const auto* b = dynamic_cast<const BatchNorm2d*>(&bn);
  return b && b->is_training() && !bn.has_hooks();
}

Tensor fused_bn_act(const Module& bn, const Tensor& x, const Tensor& residual, bool relu) {
  const auto& b = dynamic_cast<const BatchNorm2d&>(bn);
  Tensor nbt = bn.local_tensor("num_batches_tracked");
  if (nbt.defined()) nbt.data<int64_t>()[0] += 1;
  // Attributed to the batch norm module (graph nodes, profiler rows), as its own call would be.
  ModuleScope scope(bn.path());
  std::optional<profile::Span> span;
  if (profile::enabled()) {
    span.emplace(
        profile::Pass::Forward, bn.path(),
        std::string("BatchNorm2d") + (residual.defined() ? "+add" : "") + (relu ? "+ReLU" : ""));
  }
  const BatchNormSync& sync = batch_norm_sync();
  if (sync.group) {  // synced statistics: the batch norm, then the tail as separate ops
    Tensor y = ops::batch_norm_synced(
        x, bn.local_tensor("weight"), bn.local_tensor("bias"), bn.local_tensor("running_mean"),
        bn.local_tensor("running_var"), b.momentum, b.eps, *sync.group, sync.local_weight);
    if (residual.defined()) y = ops::add(y, residual);
    return relu ? ops::relu(y) : y;
  }
  return ops::batch_norm_act(x, bn.local_tensor("weight"), bn.local_tensor("bias"),
                             bn.local_tensor("running_mean"), bn.local_tensor("running_var"),
                             residual, relu, b.momentum, b.eps);
}

namespace {
bool is_unhooked_relu(const Module& m) {
  return dynamic_cast<const ReLU*>(&m) != nullptr && !m.has_hooks();
}
}  // namespace

Tensor forward_children_fused(Module& parent, const Tensor& x) {
  const auto& kids = parent.children();
  Tensor h = x;
  for (size_t i = 0; i < kids.size(); ++i) {
    Module& m = *kids[i].second;
    if (i + 1 < kids.size() && can_fuse_conv_bn(m, *kids[i + 1].second)) {
      const bool relu = i + 2 < kids.size() && is_unhooked_relu(*kids[i + 2].second);
      h = fused_conv_bn(m, *kids[i + 1].second, h, Tensor(), relu);
      i += relu ? 2 : 1;
      continue;
    }
    if (i + 1 < kids.size() && can_fuse_bn_act(m) && is_unhooked_relu(*kids[i + 1].second)) {
      h = fused_bn_act(m, h, Tensor(), true);
      ++i;
      continue;
    }
    h = m(h);
  }
  return h;
}

}  // namespace gb::nn
