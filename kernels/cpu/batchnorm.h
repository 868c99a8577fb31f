// Batch normalisation over N and the L = H*W positions of each channel; x [N,C,L].
// Training forward: batch statistics; writes y, save_mean[C] and save_invstd[C] = 1/sqrt(var+eps)
// (biased variance), and batch_var[C] (unbiased, for the running estimate; may be nullptr).
// Eval forward: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta.
// Backward (training statistics): dx [N,C,L], dgamma [C], dbeta [C], all overwritten.
// gamma/beta may be nullptr (affine off: gamma=1, beta=0; dgamma/dbeta then ignored).
// Eval backward: dx = dy * gamma * invstd (running statistics are constants).
#pragma once
#include <cstdint>

namespace gb::kernels {
namespace ref {
void batchnorm_forward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                             const float* beta, float eps, float* y, float* save_mean,
                             float* save_invstd, float* batch_var);
void batchnorm_forward_eval(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                            const float* beta, const float* running_mean, const float* running_var,
                            float eps, float* y);
void batchnorm_backward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                              const float* gamma, const float* save_mean, const float* save_invstd,
                              float* dx, float* dgamma, float* dbeta);
void batchnorm_backward_eval(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                             const float* gamma, const float* running_mean,
                             const float* running_var, float eps, float* dx, float* dgamma,
                             float* dbeta);
}  // namespace ref
namespace cpu {
void batchnorm_forward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                             const float* beta, float eps, float* y, float* save_mean,
                             float* save_invstd, float* batch_var);
void batchnorm_backward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                              const float* gamma, const float* save_mean, const float* save_invstd,
                              float* dx, float* dgamma, float* dbeta);
// Training batch norm with a fused tail, y = act(BN(x) + residual): act is ReLU when relu is set
// (identity otherwise), residual [N,C,L] may be nullptr. Statistics and outputs as
// batchnorm_forward_train. Equals ref::batchnorm_forward_train, then + residual, then
// ref::relu_forward.
void batchnorm_act_forward_train(int64_t N, int64_t C, int64_t L, const float* x,
                                 const float* gamma, const float* beta, float eps,
                                 const float* residual, bool relu, float* y, float* save_mean,
                                 float* save_invstd, float* batch_var);
// How the activation's backward treats dy, from the forward output y: Identity (no activation),
// Relu (dy where y > 0), Guided (dy where y > 0 and dy > 0), Deconv (dy where dy > 0).
enum class ActGrad { Identity, Relu, Guided, Deconv };
// Backward of batchnorm_act_forward_train from its output y: g = act'(y, dy) is written to g_pre
// (the gradient of BN(x) + residual, hence also the residual's gradient; [N,C,L], required),
// then dx, dgamma, dbeta are batchnorm_backward_train of g.
void batchnorm_act_backward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* y,
                                  const float* dy, ActGrad act, const float* gamma,
                                  const float* save_mean, const float* save_invstd, float* g_pre,
                                  float* dx, float* dgamma, float* dbeta);
// Eval forward and backward as the ref:: versions: per-plane affine maps, planes split across
// threads above a size threshold (each element computed by one thread).
void batchnorm_forward_eval(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                            const float* beta, const float* running_mean, const float* running_var,
                            float eps, float* y);
void batchnorm_backward_eval(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                             const float* gamma, const float* running_mean,
                             const float* running_var, float eps, float* dx, float* dgamma,
                             float* dbeta);
}  // namespace cpu
}  // namespace gb::kernels
