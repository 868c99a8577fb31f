// batch_norm: training (batch statistics, running-statistics update) and eval, with backward;
// batch_norm_act: training batch norm fused with a residual add and a ReLU; batch_norm_synced:
// training batch norm over the global batch of a data-parallel job. Dispatch through the op
// table; kernels: kernels/batchnorm.h. Shape letters: N batch, C channels, L = H*W positions per
// channel; M values per channel (N*L on a rank, their sum over the ranks globally).
#include <cmath>

#include "runtime/ops.h"
#include "runtime/ops/common.h"
#include "runtime/process_group.h"
#include "runtime/trace.h"

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

// The batch statistics a training forward writes and its backward reads.
struct BatchStats {
  Tensor mean, invstd, var;
};
BatchStats empty_stats(int64_t C, const Tensor& x) {
  return {empty_like_device({C}, x), empty_like_device({C}, x), empty_like_device({C}, x)};
}

// running = (1 - momentum) * running + momentum * batch for both statistics, when defined.
void update_running(Tensor& running_mean, Tensor& running_var, const BatchStats& st,
                    float momentum) {
  if (!running_mean.defined() || !running_var.defined()) return;
  const auto& k = kernels_for<OpId::BatchNorm2d>(running_mean.device());
  k.update_running(running_mean.numel(), running_mean.f32(), st.mean.f32(), momentum);
  k.update_running(running_var.numel(), running_var.f32(), st.var.f32(), momentum);
}

// The kernels write dbeta only together with dgamma, so a bias without a weight runs with a
// weight of ones (its gradient is dropped: the undefined weight has no graph edge).
Tensor affine_weight(const Tensor& gamma, const Tensor& beta, int64_t C, const Tensor& x) {
  if (!gamma.defined() && beta.defined()) return Tensor::ones({C}).to(x.device());
  return gamma;
}

// dx, dgamma, dbeta for the backward closures (dgamma/dbeta undefined without affine).
struct NormGrads {
  Tensor dx, dg, db;
};
NormGrads empty_grads(const Tensor& xs, int64_t C, bool has_affine) {
  return {empty_like_device(xs.shape(), xs), has_affine ? empty_like_device({C}, xs) : Tensor(),
          has_affine ? empty_like_device({C}, xs) : Tensor()};
}

Tensor batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                        Tensor running_mean, Tensor running_var, float momentum, float eps,
                        const NormDims& d) {
  const auto& k = kernels_for<OpId::BatchNorm2d>(x.device());
  const Tensor gk = affine_weight(gamma, beta, d.C, x);
  Tensor xc = dense(x);
  Tensor y = empty_like_device(x.shape(), x);
  const BatchStats st = empty_stats(d.C, x);
  k.forward_train(d.N, d.C, d.L, xc.f32(), f32_or_null(gk), f32_or_null(beta), eps, y.f32(),
                  st.mean.f32(), st.invstd.f32(), st.var.f32());
  update_running(running_mean, running_var, st, momentum);
  if (tracing()) refuse_when_tracing(OpId::BatchNorm2d);  // export traces eval mode only
  Tensor xs = xc.detach(), gs = gk.defined() ? gk.detach() : Tensor();
  record(OpId::BatchNorm2d, {x, gamma, beta}, y, [=, &k](const Tensor& gy) {
    Tensor gd = dense(gy);
    NormGrads g = empty_grads(xs, d.C, gs.defined());
    k.backward_train(d.N, d.C, d.L, xs.f32(), gd.f32(), f32_or_null(gs), st.mean.f32(),
                     st.invstd.f32(), g.dx.f32(), f32_or_null(g.dg), f32_or_null(g.db));
    return std::vector<Tensor>{g.dx, g.dg, g.db};
  });
  return y;
}

Tensor batch_norm_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                       const Tensor& running_mean, const Tensor& running_var, float eps,
                       const NormDims& d) {
  const auto& k = kernels_for<OpId::BatchNorm2d>(x.device());
  const Tensor gk = affine_weight(gamma, beta, d.C, x);
  Tensor xc = dense(x);
  Tensor y = empty_like_device(x.shape(), x);
  k.forward_eval(d.N, d.C, d.L, xc.f32(), f32_or_null(gk), f32_or_null(beta), running_mean.f32(),
                 running_var.f32(), eps, y.f32());
  Tensor xs = xc.detach(), gs = gk.defined() ? gk.detach() : Tensor();
  Tensor rm = running_mean.clone(), rv = running_var.clone();
  record(OpId::BatchNorm2d, {x, gamma, beta}, y, [=, &k](const Tensor& gy) {
    Tensor gd = dense(gy);
    NormGrads g = empty_grads(xs, d.C, gs.defined());
    k.backward_eval(d.N, d.C, d.L, xs.f32(), gd.f32(), f32_or_null(gs), rm.f32(), rv.f32(), eps,
                    g.dx.f32(), f32_or_null(g.dg), f32_or_null(g.db));
    return std::vector<Tensor>{g.dx, g.dg, g.db};
  });
  if (tracing()) trace_attrs({{"epsilon", {double(eps)}}}, {running_mean, running_var});
  return y;
}

// Per-channel statistics of the global batch, on the host: mean, biased and unbiased variance.
struct GlobalStats {
  double count = 0;
  std::vector<double> mean, var_biased, var_unbiased;
};

// Combines every rank's (count, mean, M2 = sum of squared deviations) per channel in rank order.
GlobalStats combine_stats(ProcessGroup& group, double count, const std::vector<float>& mean,
                          const std::vector<float>& var_unbiased) {
  const size_t C = mean.size(), width = 1 + 2 * C;
  std::vector<double> mine(width);
  mine[0] = count;
  for (size_t c = 0; c < C; ++c) {
    mine[1 + c] = mean[c];
    mine[1 + C + c] = count > 1 ? static_cast<double>(var_unbiased[c]) * (count - 1) : 0.0;
  }
  std::vector<double> all(width * static_cast<size_t>(group.size()));
  group.all_gather(std::as_bytes(std::span<const double>(mine)),
                   std::as_writable_bytes(std::span<double>(all)));
  GlobalStats g;
  std::vector<double> m2(C, 0.0);
  g.mean.assign(C, 0.0);
  for (int r = 0; r < group.size(); ++r) {
    const double* part = all.data() + static_cast<size_t>(r) * width;
    const double n = part[0];
    if (n <= 0) continue;
    const double total = g.count + n;
    for (size_t c = 0; c < C; ++c) {
      const double delta = part[1 + c] - g.mean[c];
      g.mean[c] += delta * n / total;
      m2[c] += part[1 + C + c] + delta * delta * g.count * n / total;
    }
    g.count = total;
  }
  g.var_biased.resize(C);
  g.var_unbiased.resize(C);
  for (size_t c = 0; c < C; ++c) {
    g.var_biased[c] = m2[c] / g.count;
    g.var_unbiased[c] = g.count > 1 ? m2[c] / (g.count - 1) : g.var_biased[c];
  }
  return g;
}

// A host vector as a float tensor [C] on `like`'s device.
Tensor device_vector(const std::vector<double>& values, const Tensor& like) {
  return Tensor::from_vector({static_cast<int64_t>(values.size())},
                             std::vector<float>(values.begin(), values.end()))
      .to(like.device());
}

// The backward of batch_norm_synced: the local sums of backward_eval (no dx), weighted and summed
// over the ranks, then backward_apply's dx = gamma * invstd * (dy - (xhat * G + B) / (M * w))
// (see ops.h).
struct SyncedBackward {
  NormDims d;
  Tensor xs, gk, mean, var;  // input, affine weight (ones without one), global statistics
  double count;              // M of the global batch
  float eps, local_weight;
  ProcessGroup* group;

  std::vector<Tensor> operator()(const Tensor& gy) const {
    const auto& k = kernels_for<OpId::BatchNorm2d>(xs.device());
    Tensor gd = dense(gy);
    NormGrads g = empty_grads(xs, d.C, true);
    k.backward_eval(d.N, d.C, d.L, xs.f32(), gd.f32(), gk.f32(), mean.f32(), var.f32(), eps,
                    nullptr, g.dg.f32(), g.db.f32());
    const std::vector<float> dg = g.dg.to_vector(), db = g.db.to_vector();
    const std::vector<float> gamma = gk.to_vector(), var_h = var.to_vector();
    const size_t C = dg.size();
    std::vector<double> sums(2 * C);
    for (size_t c = 0; c < C; ++c) {
      sums[c] = static_cast<double>(local_weight) * dg[c];
      sums[C + c] = static_cast<double>(local_weight) * db[c];
    }
    group->all_reduce_sum(std::span<double>(sums));
    std::vector<double> coef(3 * C);  // k1 | k2 | k3 of backward_apply
    for (size_t c = 0; c < C; ++c) {
      const double invstd = 1.0 / std::sqrt(static_cast<double>(var_h[c]) + eps);
      const double scale = gamma[c] * invstd / (count * local_weight);
      coef[c] = gamma[c] * invstd;
      coef[C + c] = scale * invstd * sums[c];
      coef[2 * C + c] = scale * sums[C + c];
    }
    const Tensor coef_t = device_vector(coef, xs);
    k.backward_apply(d.N, d.C, d.L, xs.f32(), gd.f32(), mean.f32(), coef_t.f32(), g.dx.f32());
    return {g.dx, g.dg, g.db};
  }
};

}  // namespace

Tensor batch_norm_synced(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                         Tensor running_mean, Tensor running_var, float momentum, float eps,
                         ProcessGroup& group, float local_weight) {
  const OpId op = OpId::BatchNorm2d;
  const NormDims d = check_batch_norm_inputs(op, x, gamma, beta, running_mean, running_var);
  if (!(local_weight > 0)) fail(op, "synced batch norm needs a positive local weight");
  if (d.N * d.L < 1) fail(op, "synced batch norm needs at least one value per channel");
  if (tracing()) refuse_when_tracing(op);
  const auto& k = kernels_for<OpId::BatchNorm2d>(x.device());
  Tensor gk = affine_weight(gamma, beta, d.C, x);
  if (!gk.defined()) gk = Tensor::ones({d.C}).to(x.device());
  Tensor xc = dense(x);
  const BatchStats local = empty_stats(d.C, x);
  k.forward_train(d.N, d.C, d.L, xc.f32(), nullptr, nullptr, eps, nullptr, local.mean.f32(),
                  local.invstd.f32(), local.var.f32());  // the statistics only
  Tensor y = empty_like_device(x.shape(), x);
  const GlobalStats g = combine_stats(group, static_cast<double>(d.N * d.L), local.mean.to_vector(),
                                      local.var.to_vector());
  const BatchStats global{device_vector(g.mean, x), Tensor(), device_vector(g.var_unbiased, x)};
  const Tensor var_biased = device_vector(g.var_biased, x);
  k.forward_eval(d.N, d.C, d.L, xc.f32(), gk.f32(), f32_or_null(beta), global.mean.f32(),
                 var_biased.f32(), eps, y.f32());
  update_running(running_mean, running_var, global, momentum);
  record(op, {x, gamma, beta}, y,
         SyncedBackward{d, xc.detach(), gk.detach(), global.mean, var_biased, g.count, eps,
                        local_weight, &group});
  return y;
}

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                  Tensor running_var, bool training, float momentum, float eps) {
  const OpId op = OpId::BatchNorm2d;
  const NormDims d = check_batch_norm_inputs(op, x, gamma, beta, running_mean, running_var);
  if (!training && (!running_mean.defined() || !running_var.defined())) {
    fail(op, "eval mode needs running statistics");
  }
  if (training && d.N * d.L < 2) fail(op, "training needs more than one value per channel");
  if (training)
    return batch_norm_train(x, gamma, beta, running_mean, running_var, momentum, eps, d);
  return batch_norm_eval(x, gamma, beta, running_mean, running_var, eps, d);
}

Tensor batch_norm_act(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                      Tensor running_var, const Tensor& residual, bool relu, float momentum,
                      float eps) {
  const OpId op = OpId::BatchNormAct;
  const NormDims d = check_batch_norm_inputs(op, x, gamma, beta, running_mean, running_var);
  if (residual.defined()) {
    check_input(op, residual, "residual");
    if (residual.shape() != x.shape()) {
      fail(op, "residual " + shape_str(residual.shape()) + " must match the input " +
                   shape_str(x.shape()));
    }
  }
  if (d.N * d.L < 2) fail(op, "training needs more than one value per channel");
  check_same_device(op, x, {&residual});
  const auto& k = kernels_for<OpId::BatchNormAct>(x.device());
  Tensor xc = dense(x), rc = residual.defined() ? dense(residual) : Tensor();
  Tensor y = empty_like_device(x.shape(), x);
  const Tensor gk = affine_weight(gamma, beta, d.C, x);
  const BatchStats st = empty_stats(d.C, x);
  k.forward_train(d.N, d.C, d.L, xc.f32(), f32_or_null(gk), f32_or_null(beta), eps, f32_or_null(rc),
                  relu, y.f32(), st.mean.f32(), st.invstd.f32(), st.var.f32());
  update_running(running_mean, running_var, st, momentum);
  Tensor xs = xc.detach(), ys = y.detach(), gs = gk.defined() ? gk.detach() : Tensor();
  const bool has_residual = residual.defined();
  record(op, {x, gamma, beta, residual}, y, [=, &k](const Tensor& gy) {
    Tensor gd = dense(gy);
    Tensor g_pre = empty_like_device(xs.shape(), xs);
    NormGrads g = empty_grads(xs, d.C, gs.defined());
    k.backward_train(d.N, d.C, d.L, xs.f32(), ys.f32(), gd.f32(), act_grad_rule(relu),
                     f32_or_null(gs), st.mean.f32(), st.invstd.f32(), g_pre.f32(), g.dx.f32(),
                     f32_or_null(g.dg), f32_or_null(g.db));
    return std::vector<Tensor>{g.dx, g.dg, g.db, has_residual ? g_pre : Tensor()};
  });
  return y;
}

}  // namespace gb::ops
