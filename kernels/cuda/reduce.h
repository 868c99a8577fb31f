// Deterministic CUDA reductions over float arrays: whole-array sums (two stages in a fixed order,
// double accumulators), the sum of a broadcast-expanded tensor back to its operand's shape (the
// backward of broadcasting), and per-channel sums of [N,C,L] (shape letters: N batch, C
// channels, L positions). Device pointers; launches on glassbox's stream, no host sync. No
// atomics: a given shape gives bitwise identical results run after run.
#pragma once
#include <cstddef>
#include <cstdint>

namespace gb::kernels::cuda {

// *out (a device scalar) = sum of x[0..n); n == 0 gives 0.
void sum_all(int64_t n, const float* x, float* out);
// *out = sum / n; n == 0 gives NaN (as torch.mean of an empty tensor).
void mean_all(int64_t n, const float* x, float* out);
// *acc (a device double) = sum of x[i]^2, or *acc += that sum when accumulate is set (the
// global gradient norm over many tensors; the add is done in stream order by one thread).
void sum_squares_all(int64_t n, const float* x, double* acc, bool accumulate);

// Sum of a broadcast result back to an operand's shape: x is contiguous with shape in_shape,
// y is contiguous with shape out_shape (same ndim, 0 <= ndim <= 8), and every out_shape[d] is
// either in_shape[d] or 1; y[o] = sum of the x elements whose kept coordinates equal o's (the
// dims with out_shape[d] == 1 are summed). A dim with in_shape[d] == 0 and out_shape[d] == 1
// gives zeros. Throws std::invalid_argument on a shape mismatch or ndim > 8. y overwritten.
void reduce_sum_broadcast(int ndim, const int64_t* in_shape, const float* x,
                          const int64_t* out_shape, float* y);

// out[c] = sum over n < N, l < L of x[(n*C + c)*L + l]; x [N,C,L], out [C] overwritten.
void channel_sum(int64_t N, int64_t C, int64_t L, const float* x, float* out);

namespace detail {
// Device scratch shared by the multi-stage kernels in kernels/cuda (batchnorm, softmax, reduce,
// optim): at least `bytes`, 256-byte aligned, valid until the next call. Safe because every
// kernel runs on glassbox's one stream in launch order; growing it waits for the stream first.
// For a single host thread driving the device (as the runtime does).
void* scratch(size_t bytes);
}  // namespace detail

}  // namespace gb::kernels::cuda
