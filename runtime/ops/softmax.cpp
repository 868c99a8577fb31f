// softmax and log_softmax over the last dimension, and cross-entropy with label smoothing,
// dispatched through the op table. Kernels: kernels/softmax.h. Shape letters: N rows, D classes
// or features (the last dimension).
#include "runtime/ops.h"
#include "runtime/ops/common.h"

namespace gb::ops {
using namespace detail;
namespace {
Tensor softmax_like(OpId op, const kernels::SoftmaxKernels& k, const Tensor& x) {
  check_input(op, x, "input");
  if (x.dim() < 1) fail(op, "input needs at least one dimension");
  const int64_t D = x.size(-1), N = x.numel() / D;
  Tensor xc = dense(x);
  Tensor y = empty_like_device(x.shape(), x);
  k.forward(N, D, xc.f32(), y.f32());
  Tensor ys = y.detach();
  record(op, {x}, y, [=, &k](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device(ys.shape(), ys);
    k.backward(N, D, ys.f32(), g.f32(), dx.f32());
    return std::vector<Tensor>{dx};
  });
  return y;
}

// Targets are checked on the host (a GPU kernel must never read out of range).
void check_targets(const Tensor& targets, int64_t N, int64_t D) {
  const OpId op = OpId::CrossEntropy;
  if (!targets.defined() || targets.dtype() != DType::I64 || targets.dim() != 1 ||
      targets.size(0) != N) {
    fail(op, "targets must be I64 [N] with N=" + std::to_string(N));
  }
  const Tensor t_host = dense(targets).to(Device{});
  const int64_t* t = t_host.i64();
  for (int64_t i = 0; i < N; ++i) {
    if (t[i] < 0 || t[i] >= D) {
      fail(op, "target " + std::to_string(t[i]) + " out of range for " + std::to_string(D) +
                   " classes");
    }
  }
}
}  // namespace

Tensor softmax(const Tensor& x) {
  return softmax_like(OpId::Softmax, kernels_for<OpId::Softmax>(x.device()), x);
}
Tensor log_softmax(const Tensor& x) {
  return softmax_like(OpId::LogSoftmax, kernels_for<OpId::LogSoftmax>(x.device()), x);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, float label_smoothing) {
  const OpId op = OpId::CrossEntropy;
  check_input(op, logits, "logits");
  check_dim(op, logits, 2, "logits");
  const int64_t N = logits.size(0), D = logits.size(1);
  check_targets(targets, N, D);
  if (label_smoothing < 0.0f || label_smoothing >= 1.0f)
    fail(op, "label_smoothing must be in [0,1)");
  check_same_device(op, logits, {&targets});
  const auto& k = kernels_for<OpId::CrossEntropy>(logits.device());
  Tensor lc = dense(logits), tc = dense(targets);
  Tensor probs = empty_like_device({N, D}, logits);
  Tensor y = empty_like_device({}, logits);
  k.forward(N, D, lc.f32(), tc.i64(), label_smoothing, probs.f32(), y.f32());
  record(op, {logits}, y, [=, &k](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dl = empty_like_device({N, D}, probs);
    k.backward(N, D, probs.f32(), tc.i64(), label_smoothing, g.f32(), dl.f32());
    return std::vector<Tensor>{dl};
  });
  return y;
}

}  // namespace gb::ops
