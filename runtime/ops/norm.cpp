// batch_norm: training (batch statistics, running-statistics update) and eval, with backward.
// Shape letters: N batch, C channels, L = H*W positions per channel.
#include "kernels/cpu/batchnorm.h"
#include "runtime/ops.h"
#include "runtime/ops/common.h"

namespace gb::ops {
using namespace detail;

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                  Tensor running_var, bool training, float momentum, float eps) {
  const OpId op = OpId::BatchNorm2d;
  check_input(op, x, "input");
  if (x.dim() != 4 && x.dim() != 2) fail(op, "input must be [N,C,H,W] or [N,C], got " + shape_str(x.shape()));
  const int64_t N = x.size(0), C = x.size(1), L = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  auto check_vec = [&](const Tensor& t, const char* what) {
    if (!t.defined()) return;
    check_input(op, t, what);
    if (t.dim() != 1 || t.size(0) != C || !t.is_contiguous()) {
      fail(op, std::string(what) + " must be contiguous [C] with C=" + std::to_string(C));
    }
  };
  check_vec(gamma, "weight");
  check_vec(beta, "bias");
  check_vec(running_mean, "running_mean");
  check_vec(running_var, "running_var");
  if (!training && (!running_mean.defined() || !running_var.defined())) {
    fail(op, "eval mode needs running statistics");
  }
  if (training && N * L < 2) fail(op, "training needs more than one value per channel");
  Tensor xc = dense(x);
  Tensor y = Tensor::empty(x.shape());
  // The kernels write dbeta only together with dgamma, so a bias without a weight runs with a
  // weight of ones (its gradient is dropped: the undefined weight has no graph edge).
  const Tensor gk = !gamma.defined() && beta.defined() ? Tensor::ones({C}) : gamma;
  const float* g = gk.defined() ? gk.f32() : nullptr;
  const float* b = beta.defined() ? beta.f32() : nullptr;
  Tensor xs = xc.detach();
  const bool fast = fast_cpu();  // backward uses the same kernels as forward
  Tensor gs = gk.defined() ? gk.detach() : Tensor();
  const bool has_affine = gk.defined();
  if (training) {
    Tensor mean = Tensor::empty({C}), invstd = Tensor::empty({C}), var = Tensor::empty({C});
    if (fast) {
      kernels::cpu::batchnorm_forward_train(N, C, L, xc.f32(), g, b, eps, y.f32(), mean.f32(),
                                            invstd.f32(), var.f32());
    } else {
      kernels::ref::batchnorm_forward_train(N, C, L, xc.f32(), g, b, eps, y.f32(), mean.f32(),
                                            invstd.f32(), var.f32());
    }
    if (running_mean.defined() && running_var.defined()) {
      float* rm = running_mean.f32();
      float* rv = running_var.f32();
      const float* m = mean.f32();
      const float* v = var.f32();
      for (int64_t c = 0; c < C; ++c) {
        rm[c] = (1.0f - momentum) * rm[c] + momentum * m[c];
        rv[c] = (1.0f - momentum) * rv[c] + momentum * v[c];
      }
    }
    record("batch_norm2d", {x, gamma, beta}, y, [=](const Tensor& gy) {
      Tensor gd = dense(gy);
      Tensor dx = Tensor::empty(xs.shape());
      Tensor dg = has_affine ? Tensor::empty({C}) : Tensor();
      Tensor db = has_affine ? Tensor::empty({C}) : Tensor();
      auto fn = fast ? kernels::cpu::batchnorm_backward_train
                           : kernels::ref::batchnorm_backward_train;
      fn(N, C, L, xs.f32(), gd.f32(), has_affine ? gs.f32() : nullptr, mean.f32(), invstd.f32(),
         dx.f32(), has_affine ? dg.f32() : nullptr, has_affine ? db.f32() : nullptr);
      return std::vector<Tensor>{dx, dg, db};
    });
  } else {
    kernels::ref::batchnorm_forward_eval(N, C, L, xc.f32(), g, b, running_mean.f32(),
                                         running_var.f32(), eps, y.f32());
    Tensor rm = running_mean.clone(), rv = running_var.clone();
    record("batch_norm2d", {x, gamma, beta}, y, [=](const Tensor& gy) {
      Tensor gd = dense(gy);
      Tensor dx = Tensor::empty(xs.shape());
      Tensor dg = has_affine ? Tensor::empty({C}) : Tensor();
      Tensor db = has_affine ? Tensor::empty({C}) : Tensor();
      kernels::ref::batchnorm_backward_eval(N, C, L, xs.f32(), gd.f32(),
                                            has_affine ? gs.f32() : nullptr, rm.f32(), rv.f32(),
                                            eps, dx.f32(), has_affine ? dg.f32() : nullptr,
                                            has_affine ? db.f32() : nullptr);
      return std::vector<Tensor>{dx, dg, db};
    });
  }
  return y;
}

}  // namespace gb::ops
