// CUDA row-wise softmax family with the contracts of kernels/cpu/softmax.h (device pointers,
// glassbox's stream). Shape letters: N rows, D classes (contiguous); targets [N] int64 on the
// device. One warp per row; the row maximum, the log-sum-exp and the row sums are evaluated in
// double as the ref; every sum runs in a fixed order, so results are deterministic.
// Label smoothing eps follows PyTorch: loss = (1 - eps) * nll + eps * mean over classes of -logp.
// A target outside [0, D) gives a NaN loss for its row (the runtime's NaN check names it).
#pragma once
#include <cstdint>

namespace gb::kernels::cuda {

void softmax_forward(int64_t N, int64_t D, const float* x, float* y);
// y is the forward output: dx = y * (dy - sum(dy * y)).
void softmax_backward(int64_t N, int64_t D, const float* y, const float* dy, float* dx);
void log_softmax_forward(int64_t N, int64_t D, const float* x, float* y);
// y is the forward output (log-probabilities): dx = dy - exp(y) * sum(dy).
void log_softmax_backward(int64_t N, int64_t D, const float* y, const float* dy, float* dx);

// Writes probs [N,D] (softmax of logits) and returns the mean loss over N; waits for the stream
// to copy the loss to the host.
float cross_entropy_forward(int64_t N, int64_t D, const float* logits, const int64_t* targets,
                            float label_smoothing, float* probs);
// The same, writing the mean loss to the device scalar *loss_out (no host sync).
void cross_entropy_forward_device(int64_t N, int64_t D, const float* logits, const int64_t* targets,
                                  float label_smoothing, float* probs, float* loss_out);
// dlogits = (probs - ((1 - eps) * onehot + eps / D)) * dloss / N.
void cross_entropy_backward(int64_t N, int64_t D, const float* probs, const int64_t* targets,
                            float label_smoothing, float dloss, float* dlogits);
// The same with dloss read from the device scalar *dloss.
void cross_entropy_backward_device(int64_t N, int64_t D, const float* probs, const int64_t* targets,
                                   float label_smoothing, const float* dloss, float* dlogits);

}  // namespace gb::kernels::cuda
