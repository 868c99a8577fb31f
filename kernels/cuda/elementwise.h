// CUDA elementwise kernels over n floats (device pointers, glassbox's stream, asynchronous):
// ReLU forward and its backward rules (standard, Guided Backprop, Deconvnet) and exact (erf)
// GELU with the contracts of kernels/cpu/activation.h; same-shape add/sub/mul; scale, in-place
// accumulate and fill; and a broadcasting binary op over up to 8 dims. Each element is computed
// by one thread (no reductions), so results are deterministic. Outputs may alias inputs exactly
// (y == x, dx == dy, c == a or c == b), not partially.
#pragma once
#include <cstdint>

namespace gb::kernels::cuda {

// y = x > 0 ? x : 0, NaN passed through (as torch.relu).
void relu_forward(int64_t n, const float* x, float* y);
// dx = y > 0 ? dy : 0 (y is the forward output).
void relu_backward(int64_t n, const float* y, const float* dy, float* dx);
// dx = (y > 0 && dy > 0) ? dy : 0.
void relu_backward_guided(int64_t n, const float* y, const float* dy, float* dx);
// dx = dy > 0 ? dy : 0 (y unused; may be nullptr).
void relu_backward_deconv(int64_t n, const float* y, const float* dy, float* dx);
// y = x * Phi(x), Phi(x) = 0.5 * (1 + erf(x / sqrt(2))), evaluated in double as the ref.
void gelu_forward(int64_t n, const float* x, float* y);
// dx = dy * (Phi(x) + x * phi(x)), x the forward input; in double as the ref.
void gelu_backward(int64_t n, const float* x, const float* dy, float* dx);

// c = a + b, a - b, a * b (same shape; dropout's apply is mul with the mask).
void add(int64_t n, const float* a, const float* b, float* c);
void sub(int64_t n, const float* a, const float* b, float* c);
void mul(int64_t n, const float* a, const float* b, float* c);
// y = x * factor.
void scale(int64_t n, const float* x, float factor, float* y);
// dst += src (gradient accumulation).
void add_inplace(int64_t n, float* dst, const float* src);
// p[i] = value.
void fill(int64_t n, float* p, float value);

// c[i] = a[off_a(i)] op b[off_b(i)] for every index i of out_shape (row-major, c contiguous):
// with i's coordinates (i_0, ..., i_{ndim-1}), off_a = sum_d i_d * a_strides[d] (in elements; 0
// on a broadcast dim), likewise b. 0 <= ndim <= 8 (0: one element); throws
// std::invalid_argument otherwise. c must not overlap a or b unless it is the same contiguous
// array with the same shape.
enum class BinaryOp { Add, Sub, Mul };
void broadcast_binary(BinaryOp op, int ndim, const int64_t* out_shape, const float* a,
                      const int64_t* a_strides, const float* b, const int64_t* b_strides, float* c);

}  // namespace gb::kernels::cuda
