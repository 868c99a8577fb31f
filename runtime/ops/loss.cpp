// softmax, log_softmax over the last dimension, and cross-entropy with label smoothing.
// Shape letters: N rows, D classes/features (the last dimension). On the CPU they run the fast
// cpu:: kernels or the ref:: loops (fast_cpu()); the backward uses the forward's choice.
#include "kernels/cpu/softmax.h"
#include "kernels/cuda/softmax.h"
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
  Tensor y = empty_like_device(x.shape(), x);
  const bool cuda = on_cuda(x);
  const bool fast = fast_cpu();  // backward uses the same kernels as forward
  auto forward = log ? kernels::ref::log_softmax_forward : kernels::ref::softmax_forward;
  if (fast) forward = log ? kernels::cpu::log_softmax_forward : kernels::cpu::softmax_forward;
  if (cuda) {
    GB_CUDA(forward = log ? kernels::cuda::log_softmax_forward : kernels::cuda::softmax_forward);
  }
  forward(N, D, xc.f32(), y.f32());
  Tensor ys = y.detach();
  record(op_info(op).name, {x}, y, [=](const Tensor& gy) {
    Tensor g = dense(gy);
    Tensor dx = empty_like_device(ys.shape(), ys);
    auto backward = log ? kernels::ref::log_softmax_backward : kernels::ref::softmax_backward;
    if (fast) backward = log ? kernels::cpu::log_softmax_backward : kernels::cpu::softmax_backward;
    if (cuda) {
      GB_CUDA(backward =
                  log ? kernels::cuda::log_softmax_backward : kernels::cuda::softmax_backward);
    }
    backward(N, D, ys.f32(), g.f32(), dx.f32());
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
  if (label_smoothing < 0.0f || label_smoothing >= 1.0f)
    fail(op, "label_smoothing must be in [0,1)");
  check_same_device(op, logits, {&targets});
  // Targets are checked on the host (a GPU kernel must never read out of range).
  Tensor tc = dense(targets);
  const Tensor t_host = tc.to(Device{});
  const int64_t* t = t_host.i64();
  for (int64_t i = 0; i < N; ++i) {
    if (t[i] < 0 || t[i] >= D) {
      fail(op, "target " + std::to_string(t[i]) + " out of range for " + std::to_string(D) +
                   " classes");
    }
  }
  Tensor lc = dense(logits);
  Tensor probs = empty_like_device({N, D}, logits);
  if (on_cuda(logits)) {
    Tensor y = empty_like_device({}, logits);
    GB_CUDA(kernels::cuda::cross_entropy_forward_device(N, D, lc.f32(), tc.i64(), label_smoothing,
                                                        probs.f32(), y.f32()));
    record("cross_entropy", {logits}, y, [=](const Tensor& gy) {
      Tensor dl = empty_like_device({N, D}, probs);
      Tensor g = dense(gy);
      GB_CUDA(kernels::cuda::cross_entropy_backward_device(N, D, probs.f32(), tc.i64(),
                                                           label_smoothing, g.f32(), dl.f32()));
      return std::vector<Tensor>{dl};
    });
    return y;
  }
  const bool fast = fast_cpu();  // backward uses the same kernels as forward
  const float loss =
      (fast ? kernels::cpu::cross_entropy_forward : kernels::ref::cross_entropy_forward)(
          N, D, lc.f32(), t, label_smoothing, probs.f32());
  Tensor y = Tensor::scalar(loss);
  record("cross_entropy", {logits}, y, [=](const Tensor& gy) {
    Tensor dl = Tensor::empty({N, D});
    (fast ? kernels::cpu::cross_entropy_backward : kernels::ref::cross_entropy_backward)(
        N, D, probs.f32(), tc.i64(), label_smoothing, gy.item(), dl.f32());
    return std::vector<Tensor>{dl};
  });
  return y;
}

}  // namespace gb::ops
