// CUDA batch normalisation over N and the L = H*W positions of each channel; x [N,C,L] (shape
// letters: N batch, C channels, L positions per plane), per-channel vectors [C]. The contracts
// of kernels/cpu/batchnorm.h (ref:: and cpu::), with device pointers, on glassbox's stream
// (asynchronous). Training statistics: the mean, then the two-pass sum of squared deviations,
// both accumulated in double; each channel's M = N*L values are split into a number of blocks
// fixed by the shape, whose partials are combined in order (no atomics), so results are bitwise
// identical run after run. Requires N*L > 0 in training (throws std::invalid_argument).
// gamma/beta may be nullptr (affine off: gamma = 1, beta = 0; dgamma/dbeta then not written);
// dgamma/dbeta may also be nullptr when not wanted; batch_var may be nullptr.
#pragma once
#include <cstdint>

namespace gb::kernels::cuda {

// y = (x - mean) * invstd * gamma + beta with batch statistics; save_mean[C],
// save_invstd[C] = 1/sqrt(var + eps) (biased variance), batch_var[C] unbiased (the biased value
// when M == 1).
void batchnorm_forward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                             const float* beta, float eps, float* y, float* save_mean,
                             float* save_invstd, float* batch_var);
// dx [N,C,L], dgamma [C] = sum dy * xhat, dbeta [C] = sum dy; all overwritten.
void batchnorm_backward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                              const float* gamma, const float* save_mean, const float* save_invstd,
                              float* dx, float* dgamma, float* dbeta);

// y = act(BN(x) + residual): ReLU when relu is set (identity otherwise, NaN passed through as
// ref::relu_forward), residual [N,C,L] may be nullptr. Statistics as batchnorm_forward_train.
void batchnorm_act_forward_train(int64_t N, int64_t C, int64_t L, const float* x,
                                 const float* gamma, const float* beta, float eps,
                                 const float* residual, bool relu, float* y, float* save_mean,
                                 float* save_invstd, float* batch_var);
// How the activation's backward treats dy, from the forward output y: Identity (no activation),
// Relu (dy where y > 0), Guided (dy where y > 0 and dy > 0), Deconv (dy where dy > 0).
enum class ActGrad { Identity, Relu, Guided, Deconv };
// Backward of batchnorm_act_forward_train from its output y (unused, may be nullptr, for
// Identity and Deconv): g = act'(y, dy) is written to g_pre [N,C,L] (required; the residual's
// gradient), then dx, dgamma, dbeta are batchnorm_backward_train of g. g_pre and dx may alias dy.
void batchnorm_act_backward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* y,
                                  const float* dy, ActGrad act, const float* gamma,
                                  const float* save_mean, const float* save_invstd, float* g_pre,
                                  float* dx, float* dgamma, float* dbeta);

// Eval: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta.
void batchnorm_forward_eval(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                            const float* beta, const float* running_mean, const float* running_var,
                            float eps, float* y);
// Eval backward: dx = dy * gamma * invstd; dgamma = sum dy * xhat, dbeta = sum dy (xhat with the
// running statistics), written when gamma and the pointer are non-null.
void batchnorm_backward_eval(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                             const float* gamma, const float* running_mean,
                             const float* running_var, float eps, float* dx, float* dgamma,
                             float* dbeta);

}  // namespace gb::kernels::cuda
