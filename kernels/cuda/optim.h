// CUDA optimizer updates: the per-element loops of runtime/optim.cpp (SGD::step, AdamW::step)
// over one parameter tensor of n floats, and the sum of squares behind clip_grad_norm. Device
// pointers, glassbox's stream. The updates are elementwise, with the multiply-adds fused exactly
// where GCC fuses them in runtime/optim.cpp at -march=x86-64-v3 (read from its object code), so
// a CPU and a GPU update of the same values agree to the bit on that build.
#pragma once
#include <cstdint>

namespace gb::kernels::cuda {

// SGD with momentum, dampening, Nesterov and (coupled) weight decay, as SGD::step:
//   d = g + weight_decay * p
//   momentum == 0: p -= lr * d                      (momentum_buf unused, may be nullptr)
//   otherwise:     buf = first_step ? d : momentum * buf + (1 - dampening) * d
//                  p -= lr * (nesterov ? d + momentum * buf : buf)
// first_step: the buffer is being created (SGD's `first`); its old contents are not read.
void sgd_update(int64_t n, float* p, const float* g, float* momentum_buf, float lr,
                float weight_decay, float momentum, float dampening, bool nesterov,
                bool first_step);

// AdamW (decoupled weight decay) as AdamW::step; m and v start at zero (the caller's):
//   p *= 1 - lr * weight_decay
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
//   p -= step_size * m / (sqrt(v) / bc2_sqrt + eps)
// with step_size = lr / (1 - beta1^t) and bc2_sqrt = sqrt(1 - beta2^t) computed by the caller
// in double and rounded to float, as AdamW::step does.
void adamw_update(int64_t n, float* p, const float* g, float* m, float* v, float lr, float beta1,
                  float beta2, float eps, float weight_decay, float step_size, float bc2_sqrt);

// sum of x[i]^2 in double (deterministic two-stage reduction); waits for the stream.
double sum_of_squares(int64_t n, const float* x);
// *acc (a device double) += sum of x[i]^2, in stream order without a host sync: zero it (e.g.
// fill_zero), accumulate every gradient, copy it back once.
void sum_of_squares_accumulate(int64_t n, const float* x, double* acc);

}  // namespace gb::kernels::cuda
