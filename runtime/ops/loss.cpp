// softmax, log_softmax over the last dimension, and cross-entropy with label smoothing.
// Shape letters: N rows, D classes/features (the last dimension).
#include "kernels/cpu/softmax.h"
#include "runtime/ops.h"
#include "runtime/ops/common.h"

namespace gb::ops {
using namespace detail;
namespace {
Tensor softmax_like(OpId op, const Tensor& x, bool log) {
  check_input(op, x, "input");
  if (x.dim() < 1) fail(op, "input needs at least one dimension");
  const int64_t D = x.size(-1), N = x.numel() / D;
  Tensor xc = dense(x);
  Tensor y = Tensor::empty(x.shape());
  if (log) {
    kernels::ref::log_softmax_forward(N, D, xc.f32(), y.f32());
  } else {
    kernels::ref::softmax_forward(N, D, xc.f32(), y.f32());
  }
  Tensor ys = y.detach();
  record(op_info(op).name, {x}, y, [=](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = Tensor::empty(ys.shape());
    if (log) {
      kernels::ref::log_softmax_backward(N, D, ys.f32(), g.f32(), dx.f32());
    } else {
      kernels::ref::softmax_backward(N, D, ys.f32(), g.f32(), dx.f32());
    }
    return std::vector<Tensor>{dx};
  });
  return y;
}
}  // namespace

Tensor softmax(const Tensor& x) { return softmax_like(OpId::Softmax, x, false); }
Tensor log_softmax(const Tensor& x) { return softmax_like(OpId::LogSoftmax, x, true); }

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, float label_smoothing) {
  const OpId op = OpId::CrossEntropy;
  check_input(op, logits, "logits");
  check_dim(op, logits, 2, "logits");
  const int64_t N = logits.size(0), D = logits.size(1);
  if (!targets.defined() || targets.dtype() != DType::I64 || targets.dim() != 1 ||
      targets.size(0) != N) {
    fail(op, "targets must be I64 [N] with N=" + std::to_string(N));
  }
  if (label_smoothing < 0.0f || label_smoothing >= 1.0f) fail(op, "label_smoothing must be in [0,1)");
  Tensor tc = dense(targets);
  const int64_t* t = tc.i64();
  for (int64_t i = 0; i < N; ++i) {
    if (t[i] < 0 || t[i] >= D) {
      fail(op, "target " + std::to_string(t[i]) + " out of range for " + std::to_string(D) + " classes");
    }
  }
  Tensor lc = dense(logits);
  Tensor probs = Tensor::empty({N, D});
  const float loss = kernels::ref::cross_entropy_forward(N, D, lc.f32(), t, label_smoothing, probs.f32());
  Tensor y = Tensor::scalar(loss);
  record("cross_entropy", {logits}, y, [=](const Tensor& gy) {
    Tensor dl = Tensor::empty({N, D});
    kernels::ref::cross_entropy_backward(N, D, probs.f32(), tc.i64(), label_smoothing, gy.item(),
                                         dl.f32());
    return std::vector<Tensor>{dl};
  });
  return y;
}

}  // namespace gb::ops
