// Row-wise softmax family over x [N,D] (D contiguous), numerically stable (max subtracted).
// softmax_backward takes the forward output y: dx = y * (dy - sum(dy * y)).
// log_softmax_backward takes the forward output y (log-probabilities): dx = dy - exp(y)*sum(dy).
// cross_entropy: logits [N,D], integer targets [N] in [0,D); label smoothing eps spreads eps/D
// to every class (PyTorch's definition); returns the mean loss over N and writes the softmax
// probabilities to probs [N,D] for the backward pass. cross_entropy_backward writes
// dlogits = (probs - smoothed_onehot) * dloss / N.
#pragma once
#include <cstdint>

namespace gb::kernels {
namespace ref {
void softmax_forward(int64_t N, int64_t D, const float* x, float* y);
void softmax_backward(int64_t N, int64_t D, const float* y, const float* dy, float* dx);
void log_softmax_forward(int64_t N, int64_t D, const float* x, float* y);
void log_softmax_backward(int64_t N, int64_t D, const float* y, const float* dy, float* dx);
float cross_entropy_forward(int64_t N, int64_t D, const float* logits, const int64_t* targets,
                            float label_smoothing, float* probs);
void cross_entropy_backward(int64_t N, int64_t D, const float* probs, const int64_t* targets,
                            float label_smoothing, float dloss, float* dlogits);
}  // namespace ref
// Fast versions with the same contracts: rows split across threads (threads_for), each row
// computed by one thread, in float with an AVX2 exp (about 2 ulp) and double row sums, so they
// differ from ref:: by rounding only. cross_entropy_forward keeps the per-row losses and sums them
// serially in row order (double), so no result depends on the thread count;
// cross_entropy_backward is ref's double formula (bit-identical). A NaN in a row makes that row's
// outputs (and the loss) NaN, as in ref::.
namespace cpu {
void softmax_forward(int64_t N, int64_t D, const float* x, float* y);
void softmax_backward(int64_t N, int64_t D, const float* y, const float* dy, float* dx);
void log_softmax_forward(int64_t N, int64_t D, const float* x, float* y);
void log_softmax_backward(int64_t N, int64_t D, const float* y, const float* dy, float* dx);
float cross_entropy_forward(int64_t N, int64_t D, const float* logits, const int64_t* targets,
                            float label_smoothing, float* probs);
void cross_entropy_backward(int64_t N, int64_t D, const float* probs, const int64_t* targets,
                            float label_smoothing, float dloss, float* dlogits);
}  // namespace cpu
}  // namespace gb::kernels
