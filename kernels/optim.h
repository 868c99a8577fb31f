// The optimizer-update family: SGD (momentum, dampening, Nesterov, coupled weight decay) and AdamW
// (decoupled weight decay) over one parameter tensor of n floats, elementwise. One contract for
// the reference (ref::, kernels/ref/optim.cpp: the loops the CPU runs) and CUDA (cuda::,
// kernels/cuda/optim.cu) kernels. The CUDA kernels spell out every rounding step, with the
// multiply-adds fused exactly where GCC fuses ref's loops at -march=x86-64-v3 (read from its
// object code), so a CPU and a GPU update of the same values agree to the bit on that build.
//   sgd_update    d = g + weight_decay * p
//                 momentum == 0: p -= lr * d                 (momentum_buf unused, may be nullptr)
//                 otherwise:     buf = first_step ? d : momentum * buf + (1 - dampening) * d
//                                p -= lr * (nesterov ? d + momentum * buf : buf)
//                 first_step: the buffer is being created; its old contents are not read.
//   adamw_update  p *= 1 - lr * weight_decay
//                 m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
//                 p -= step_size * m / (sqrt(v) / bc2_sqrt + eps)
//                 with step_size = lr / (1 - beta1^t) and bc2_sqrt = sqrt(1 - beta2^t) computed by
//                 the caller in double and rounded to float; m and v start at zero (the caller's).
#pragma once
#include <cstdint>

#include "kernels/kernel_fn.h"

namespace gb::kernels {

using SgdUpdateFn = void(int64_t n, float* p, const float* g, float* momentum_buf, float lr,
                         float weight_decay, float momentum, float dampening, bool nesterov,
                         bool first_step);
using AdamWUpdateFn = void(int64_t n, float* p, const float* g, float* m, float* v, float lr,
                           float beta1, float beta2, float eps, float weight_decay, float step_size,
                           float bc2_sqrt);

struct SgdKernels {
  KernelFn<SgdUpdateFn> update;
  std::vector<KernelName> names() const { return {{"update", update.name}}; }
};
struct AdamWKernels {
  KernelFn<AdamWUpdateFn> update;
  std::vector<KernelName> names() const { return {{"update", update.name}}; }
};

namespace ref {
SgdUpdateFn sgd_update;
AdamWUpdateFn adamw_update;
extern const SgdKernels sgd_kernels;
extern const AdamWKernels adamw_kernels;
}  // namespace ref

namespace cuda {
SgdUpdateFn sgd_update;
AdamWUpdateFn adamw_update;
// sum of x[i]^2 in double (the deterministic two-stage reduction); waits for the stream.
double sum_of_squares(int64_t n, const float* x);
// *acc (a device double) += sum of x[i]^2, in stream order without a host sync.
void sum_of_squares_accumulate(int64_t n, const float* x, double* acc);
extern const SgdKernels sgd_kernels;
extern const AdamWKernels adamw_kernels;
}  // namespace cuda

}  // namespace gb::kernels
