// The batch-normalisation family: normalisation over N and the L = H*W positions of each channel,
// training (batch statistics) and eval (running statistics), forward and backward, the fused
// training form y = act(BN(x) + residual), and the running-statistics update. One contract for
// the reference (ref::, kernels/ref/batchnorm.cpp: plain loops, double accumulators), fast CPU
// (cpu::, kernels/cpu/batchnorm.cpp: OpenMP over channels, SIMD over planes) and CUDA (cuda::,
// kernels/cuda/batchnorm.cu: two-pass statistics with double partials combined in a fixed order,
// no atomics) kernels. Shape letters: N batch, C channels, L positions per plane; x/y/dy/dx
// [N,C,L]; per-channel vectors [C]; M = N*L values per channel.
//   forward_train   batch statistics; writes y (nullptr: the statistics only), save_mean,
//                   save_invstd = 1/sqrt(var + eps) (biased variance) and batch_var (unbiased,
//                   for the running estimate; the biased value 0 when M == 1; may be nullptr).
//   backward_train  dx, dgamma = sum dy * xhat, dbeta = sum dy (all overwritten).
//   forward_eval    y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta.
//   backward_eval   dx = dy * gamma * invstd (running statistics are constants; dx nullptr: not
//                   written); dgamma, dbeta as above with xhat from the running statistics,
//                   written when gamma and the pointer are non-null.
//   backward_apply  dx = k1[c] * dy - k2[c] * (x - mean[c]) - k3[c], coef = [k1 | k2 | k3] (3C
//                   floats): backward_train's last pass, for sums taken elsewhere (the synced
//                   batch norm of data-parallel training sums them over the processes).
//   update_running  running = (1 - momentum) * running + momentum * batch, over C channels.
// gamma/beta may be nullptr (affine off: gamma = 1, beta = 0; dgamma/dbeta then not written).
// Training requires M > 0 (the CUDA kernels throw std::invalid_argument otherwise).
#pragma once
#include <cstdint>

#include "kernels/kernel_fn.h"

namespace gb::kernels {

// How the activation's backward treats dy, from the forward output y: Identity (no activation),
// Relu (dy where y > 0), Guided (dy where y > 0 and dy > 0), Deconv (dy where dy > 0).
enum class ActGrad { Identity, Relu, Guided, Deconv };

using BatchNormForwardTrainFn = void(int64_t N, int64_t C, int64_t L, const float* x,
                                     const float* gamma, const float* beta, float eps, float* y,
                                     float* save_mean, float* save_invstd, float* batch_var);
using BatchNormBackwardTrainFn = void(int64_t N, int64_t C, int64_t L, const float* x,
                                      const float* dy, const float* gamma, const float* save_mean,
                                      const float* save_invstd, float* dx, float* dgamma,
                                      float* dbeta);
using BatchNormForwardEvalFn = void(int64_t N, int64_t C, int64_t L, const float* x,
                                    const float* gamma, const float* beta,
                                    const float* running_mean, const float* running_var, float eps,
                                    float* y);
using BatchNormBackwardEvalFn = void(int64_t N, int64_t C, int64_t L, const float* x,
                                     const float* dy, const float* gamma, const float* running_mean,
                                     const float* running_var, float eps, float* dx, float* dgamma,
                                     float* dbeta);
using BatchNormBackwardApplyFn = void(int64_t N, int64_t C, int64_t L, const float* x,
                                      const float* dy, const float* mean, const float* coef,
                                      float* dx);
using BatchNormUpdateRunningFn = void(int64_t C, float* running, const float* batch,
                                      float momentum);
// y = act(BN(x) + residual): act is ReLU when relu is set (identity otherwise; NaN passes
// through as in relu_forward), residual [N,C,L] may be nullptr. Statistics as forward_train.
using BatchNormActForwardTrainFn = void(int64_t N, int64_t C, int64_t L, const float* x,
                                        const float* gamma, const float* beta, float eps,
                                        const float* residual, bool relu, float* y,
                                        float* save_mean, float* save_invstd, float* batch_var);
// Backward of the fused form from its output y (unused for Identity and Deconv): g = act'(y, dy)
// is written to g_pre [N,C,L] (required; it is also the residual's gradient), then dx, dgamma,
// dbeta are backward_train of g. g_pre and dx may alias dy.
using BatchNormActBackwardTrainFn = void(int64_t N, int64_t C, int64_t L, const float* x,
                                         const float* y, const float* dy, ActGrad act,
                                         const float* gamma, const float* save_mean,
                                         const float* save_invstd, float* g_pre, float* dx,
                                         float* dgamma, float* dbeta);

struct BatchNormKernels {
  KernelFn<BatchNormForwardTrainFn> forward_train;
  KernelFn<BatchNormBackwardTrainFn> backward_train;
  KernelFn<BatchNormForwardEvalFn> forward_eval;
  KernelFn<BatchNormBackwardEvalFn> backward_eval;
  KernelFn<BatchNormBackwardApplyFn> backward_apply;
  KernelFn<BatchNormUpdateRunningFn> update_running;
  std::vector<KernelName> names() const {
    return {{"forward_train", forward_train.name},   {"backward_train", backward_train.name},
            {"forward_eval", forward_eval.name},     {"backward_eval", backward_eval.name},
            {"backward_apply", backward_apply.name}, {"update_running", update_running.name}};
  }
};

struct BatchNormActKernels {
  KernelFn<BatchNormActForwardTrainFn> forward_train;
  KernelFn<BatchNormActBackwardTrainFn> backward_train;
  std::vector<KernelName> names() const {
    return {{"forward_train", forward_train.name}, {"backward_train", backward_train.name}};
  }
};

// Each backend's functions have the types above (one contract, declared through the aliases).
// ref::batchnorm_act_* compose the plain kernels: forward_train, + residual, relu_forward;
// backward: the ReLU rule, then backward_train.
namespace ref {
BatchNormForwardTrainFn batchnorm_forward_train;
BatchNormBackwardTrainFn batchnorm_backward_train;
BatchNormForwardEvalFn batchnorm_forward_eval;
BatchNormBackwardEvalFn batchnorm_backward_eval;
BatchNormBackwardApplyFn batchnorm_backward_apply;
BatchNormUpdateRunningFn batchnorm_update_running;
BatchNormActForwardTrainFn batchnorm_act_forward_train;
BatchNormActBackwardTrainFn batchnorm_act_backward_train;
extern const BatchNormKernels batchnorm_kernels;
extern const BatchNormActKernels batchnorm_act_kernels;
}  // namespace ref

// Eval forward and backward are per-plane affine maps with planes split across threads above a
// size threshold (each element computed by one thread); the running update is ref's loop.
namespace cpu {
BatchNormForwardTrainFn batchnorm_forward_train;
BatchNormBackwardTrainFn batchnorm_backward_train;
BatchNormForwardEvalFn batchnorm_forward_eval;
BatchNormBackwardEvalFn batchnorm_backward_eval;
BatchNormBackwardApplyFn batchnorm_backward_apply;
BatchNormActForwardTrainFn batchnorm_act_forward_train;
BatchNormActBackwardTrainFn batchnorm_act_backward_train;
extern const BatchNormKernels batchnorm_kernels;
extern const BatchNormActKernels batchnorm_act_kernels;
}  // namespace cpu

namespace cuda {
BatchNormForwardTrainFn batchnorm_forward_train;
BatchNormBackwardTrainFn batchnorm_backward_train;
BatchNormForwardEvalFn batchnorm_forward_eval;
BatchNormBackwardEvalFn batchnorm_backward_eval;
BatchNormBackwardApplyFn batchnorm_backward_apply;
BatchNormUpdateRunningFn batchnorm_update_running;
BatchNormActForwardTrainFn batchnorm_act_forward_train;
BatchNormActBackwardTrainFn batchnorm_act_backward_train;
extern const BatchNormKernels batchnorm_kernels;
extern const BatchNormActKernels batchnorm_act_kernels;
}  // namespace cuda

}  // namespace gb::kernels
