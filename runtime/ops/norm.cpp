// batch_norm: training (batch statistics, running-statistics update) and eval, with backward;
// batch_norm_act: training batch norm fused with a residual add and a ReLU.
// Shape letters: N batch, C channels, L = H*W positions per channel.
#include <algorithm>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/batchnorm.h"
#include "kernels/cuda/batchnorm.h"
#include "kernels/cuda/running_stats.h"
#include "runtime/ops.h"
#include "runtime/ops/common.h"

namespace gb::ops {
using namespace detail;
namespace {

struct NormDims {
  int64_t N, C, L;
};

// Checks the input [N,C,H,W] or [N,C] and the per-channel vectors (each may be undefined) of a
// batch-norm op; returns N, C and L = H*W (1 for [N,C]).
NormDims check_batch_norm_inputs(OpId op, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var) {
  check_input(op, x, "input");
  if (x.dim() != 4 && x.dim() != 2) {
    fail(op, "input must be [N,C,H,W] or [N,C], got " + shape_str(x.shape()));
  }
  const int64_t N = x.size(0), C = x.size(1), L = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  for (const auto& [t, what] :
       {std::pair{&gamma, "weight"}, std::pair{&beta, "bias"},
        std::pair{&running_mean, "running_mean"}, std::pair{&running_var, "running_var"}}) {
    if (!t->defined()) continue;
    check_input(op, *t, what);
    if (t->dim() != 1 || t->size(0) != C || !t->is_contiguous()) {
      fail(op, std::string(what) + " must be contiguous [C] with C=" + std::to_string(C));
    }
  }
  check_same_device(op, x, {&gamma, &beta, &running_mean, &running_var});
  return {N, C, L};
}

// running = (1 - momentum) * running + momentum * batch, on the statistics' device.
void update_running(Tensor& running, const Tensor& batch, float momentum) {
  const int64_t C = running.numel();
  float* r = running.f32();
  const float* b = batch.f32();
  if (on_cuda(running)) {
    GB_CUDA(kernels::cuda::update_running_stat(C, r, b, momentum));
    return;
  }
  for (int64_t c = 0; c < C; ++c) r[c] = (1.0f - momentum) * r[c] + momentum * b[c];
}

// A weight of ones on x's device (a bias without a weight, see batch_norm).
Tensor ones_like_channels(int64_t C, const Tensor& x) { return Tensor::ones({C}).to(x.device()); }

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                  Tensor running_var, bool training, float momentum, float eps) {
  const OpId op = OpId::BatchNorm2d;
  const NormDims dims = check_batch_norm_inputs(op, x, gamma, beta, running_mean, running_var);
  const int64_t N = dims.N, C = dims.C, L = dims.L;
  if (!training && (!running_mean.defined() || !running_var.defined())) {
    fail(op, "eval mode needs running statistics");
  }
  if (training && N * L < 2) fail(op, "training needs more than one value per channel");
  Tensor xc = dense(x);
  Tensor y = empty_like_device(x.shape(), x);
  // The kernels write dbeta only together with dgamma, so a bias without a weight runs with a
  // weight of ones (its gradient is dropped: the undefined weight has no graph edge).
  const Tensor gk = !gamma.defined() && beta.defined() ? ones_like_channels(C, x) : gamma;
  const float* g = gk.defined() ? gk.f32() : nullptr;
  const float* b = beta.defined() ? beta.f32() : nullptr;
  Tensor xs = xc.detach();
  const bool fast = fast_cpu();  // backward uses the same kernels as forward
  const bool cuda = on_cuda(x);
  Tensor gs = gk.defined() ? gk.detach() : Tensor();
  const bool has_affine = gk.defined();
  if (training) {
    Tensor mean = empty_like_device({C}, x), invstd = empty_like_device({C}, x),
           var = empty_like_device({C}, x);
    if (cuda) {
      GB_CUDA(kernels::cuda::batchnorm_forward_train(N, C, L, xc.f32(), g, b, eps, y.f32(),
                                                     mean.f32(), invstd.f32(), var.f32()));
    } else if (fast) {
      kernels::cpu::batchnorm_forward_train(N, C, L, xc.f32(), g, b, eps, y.f32(), mean.f32(),
                                            invstd.f32(), var.f32());
    } else {
      kernels::ref::batchnorm_forward_train(N, C, L, xc.f32(), g, b, eps, y.f32(), mean.f32(),
                                            invstd.f32(), var.f32());
    }
    if (running_mean.defined() && running_var.defined()) {
      update_running(running_mean, mean, momentum);
      update_running(running_var, var, momentum);
    }
    record("batch_norm2d", {x, gamma, beta}, y, [=](const Tensor& gy) {
      Tensor gd = dense(gy);
      Tensor dx = empty_like_device(xs.shape(), xs);
      Tensor dg = has_affine ? empty_like_device({C}, xs) : Tensor();
      Tensor db = has_affine ? empty_like_device({C}, xs) : Tensor();
      auto fn =
          fast ? kernels::cpu::batchnorm_backward_train : kernels::ref::batchnorm_backward_train;
      if (cuda) GB_CUDA(fn = kernels::cuda::batchnorm_backward_train);
      fn(N, C, L, xs.f32(), gd.f32(), has_affine ? gs.f32() : nullptr, mean.f32(), invstd.f32(),
         dx.f32(), has_affine ? dg.f32() : nullptr, has_affine ? db.f32() : nullptr);
      return std::vector<Tensor>{dx, dg, db};
    });
  } else {
    auto forward_eval =
        fast ? kernels::cpu::batchnorm_forward_eval : kernels::ref::batchnorm_forward_eval;
    if (cuda) GB_CUDA(forward_eval = kernels::cuda::batchnorm_forward_eval);
    forward_eval(N, C, L, xc.f32(), g, b, running_mean.f32(), running_var.f32(), eps, y.f32());
    Tensor rm = running_mean.clone(), rv = running_var.clone();
    record("batch_norm2d", {x, gamma, beta}, y, [=](const Tensor& gy) {
      Tensor gd = dense(gy);
      Tensor dx = empty_like_device(xs.shape(), xs);
      Tensor dg = has_affine ? empty_like_device({C}, xs) : Tensor();
      Tensor db = has_affine ? empty_like_device({C}, xs) : Tensor();
      auto backward_eval =
          fast ? kernels::cpu::batchnorm_backward_eval : kernels::ref::batchnorm_backward_eval;
      if (cuda) GB_CUDA(backward_eval = kernels::cuda::batchnorm_backward_eval);
      backward_eval(N, C, L, xs.f32(), gd.f32(), has_affine ? gs.f32() : nullptr, rm.f32(), rv.f32(), eps,
          dx.f32(), has_affine ? dg.f32() : nullptr, has_affine ? db.f32() : nullptr);
      return std::vector<Tensor>{dx, dg, db};
    });
  }
  return y;
}

Tensor batch_norm_act(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                      Tensor running_var, const Tensor& residual, bool relu, float momentum,
                      float eps) {
  const OpId op = OpId::BatchNormAct;
  const NormDims dims = check_batch_norm_inputs(op, x, gamma, beta, running_mean, running_var);
  const int64_t N = dims.N, C = dims.C, L = dims.L;
  if (residual.defined()) {
    check_input(op, residual, "residual");
    if (residual.shape() != x.shape()) {
      fail(op, "residual " + shape_str(residual.shape()) + " must match the input " +
                   shape_str(x.shape()));
    }
  }
  if (N * L < 2) fail(op, "training needs more than one value per channel");
  check_same_device(op, x, {&residual});
  Tensor xc = dense(x), rc = residual.defined() ? dense(residual) : Tensor();
  Tensor y = empty_like_device(x.shape(), x);
  const Tensor gk = !gamma.defined() && beta.defined() ? ones_like_channels(C, x) : gamma;
  const bool has_affine = gk.defined();
  Tensor mean = empty_like_device({C}, x), invstd = empty_like_device({C}, x),
         var = empty_like_device({C}, x);
  const float* g = has_affine ? gk.f32() : nullptr;
  const float* b = beta.defined() ? beta.f32() : nullptr;
  const float* r = rc.defined() ? rc.f32() : nullptr;
  const bool fast = fast_cpu();
  const bool cuda = on_cuda(x);
  if (cuda) {
    GB_CUDA(kernels::cuda::batchnorm_act_forward_train(N, C, L, xc.f32(), g, b, eps, r, relu,
                                                       y.f32(), mean.f32(), invstd.f32(),
                                                       var.f32()));
  } else if (fast) {
    kernels::cpu::batchnorm_act_forward_train(N, C, L, xc.f32(), g, b, eps, r, relu, y.f32(),
                                              mean.f32(), invstd.f32(), var.f32());
  } else {  // the reference composition: batch norm, then + residual, then ReLU
    kernels::ref::batchnorm_forward_train(N, C, L, xc.f32(), g, b, eps, y.f32(), mean.f32(),
                                          invstd.f32(), var.f32());
    float* py = y.f32();
    for (int64_t i = 0; r && i < N * C * L; ++i) py[i] += r[i];
    if (relu) kernels::ref::relu_forward(N * C * L, py, py);
  }
  if (running_mean.defined() && running_var.defined()) {
    update_running(running_mean, mean, momentum);
    update_running(running_var, var, momentum);
  }
  Tensor xs = xc.detach(), ys = y.detach(), gs = has_affine ? gk.detach() : Tensor();
  const bool has_residual = residual.defined();
  record("batch_norm2d_act", {x, gamma, beta, residual}, y, [=](const Tensor& gy) {
    Tensor gd = dense(gy);
    Tensor g_pre = empty_like_device(xs.shape(), xs), dx = empty_like_device(xs.shape(), xs);
    Tensor dg = has_affine ? empty_like_device({C}, xs) : Tensor();
    Tensor db = has_affine ? empty_like_device({C}, xs) : Tensor();
    using kernels::cpu::ActGrad;
    ActGrad act = ActGrad::Identity;
    if (relu) {
      switch (relu_backward_rule()) {
        case ReluRule::Standard:
          act = ActGrad::Relu;
          break;
        case ReluRule::Guided:
          act = ActGrad::Guided;
          break;
        case ReluRule::Deconv:
          act = ActGrad::Deconv;
          break;
      }
    }
    const float* gp = has_affine ? gs.f32() : nullptr;
    if (cuda) {
      GB_CUDA(kernels::cuda::batchnorm_act_backward_train(
          N, C, L, xs.f32(), ys.f32(), gd.f32(), static_cast<kernels::cuda::ActGrad>(static_cast<int>(act)), gp,
          mean.f32(), invstd.f32(), g_pre.f32(), dx.f32(), has_affine ? dg.f32() : nullptr,
          has_affine ? db.f32() : nullptr));
    } else if (fast) {
      kernels::cpu::batchnorm_act_backward_train(
          N, C, L, xs.f32(), ys.f32(), gd.f32(), act, gp, mean.f32(), invstd.f32(), g_pre.f32(),
          dx.f32(), has_affine ? dg.f32() : nullptr, has_affine ? db.f32() : nullptr);
    } else {
      const int64_t n = N * C * L;
      switch (act) {
        case ActGrad::Identity:
          std::copy(gd.f32(), gd.f32() + n, g_pre.f32());
          break;
        case ActGrad::Relu:
          kernels::ref::relu_backward(n, ys.f32(), gd.f32(), g_pre.f32());
          break;
        case ActGrad::Guided:
          kernels::ref::relu_backward_guided(n, ys.f32(), gd.f32(), g_pre.f32());
          break;
        case ActGrad::Deconv:
          kernels::ref::relu_backward_deconv(n, ys.f32(), gd.f32(), g_pre.f32());
          break;
      }
      kernels::ref::batchnorm_backward_train(
          N, C, L, xs.f32(), g_pre.f32(), gp, mean.f32(), invstd.f32(), dx.f32(),
          has_affine ? dg.f32() : nullptr, has_affine ? db.f32() : nullptr);
    }
    return std::vector<Tensor>{dx, dg, db, has_residual ? g_pre : Tensor()};
  });
  return y;
}

}  // namespace gb::ops
