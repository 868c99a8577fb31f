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
                            const float* beta, const float* running_mean,
                            const float* running_var, float eps, float* y);
void batchnorm_backward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                              const float* gamma, const float* save_mean,
                              const float* save_invstd, float* dx, float* dgamma, float* dbeta);
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
                              const float* gamma, const float* save_mean,
                              const float* save_invstd, float* dx, float* dgamma, float* dbeta);
}  // namespace cpu
}  // namespace gb::kernels
