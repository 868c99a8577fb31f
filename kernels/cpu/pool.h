// Pooling over NCHW float32. Max pooling records the flat index (within the H*W plane) of each
// window's maximum in argmax [N,C,P,Q] for the backward pass; padded positions never win.
// Average pooling counts padded positions in the divisor (PyTorch's count_include_pad=True).
// Backward kernels overwrite dx. Global average pool: x [N,C,L] -> y [N,C].
#pragma once
#include <cstdint>

#include "kernels/shapes.h"

namespace gb::kernels {
namespace ref {
void maxpool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax);
void maxpool2d_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx);
void avgpool2d_forward(const Pool2dShape& s, const float* x, float* y);
void avgpool2d_backward(const Pool2dShape& s, const float* dy, float* dx);
void global_avgpool_forward(int64_t N, int64_t C, int64_t L, const float* x, float* y);
void global_avgpool_backward(int64_t N, int64_t C, int64_t L, const float* dy, float* dx);
}  // namespace ref
// Fast versions with the same contracts: planes (n, c) split across threads (threads_for), each
// plane written by one thread, so results do not depend on the thread count. Max pooling and its
// backward, average pooling and its backward, and global_avgpool_backward are bit-identical to
// ref:: (same comparisons and the same summation order per element, double where ref uses
// double); global_avgpool_forward sums each plane in double in SIMD order (ref: serial), so it
// may differ from ref in the last bit.
namespace cpu {
void maxpool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax);
void maxpool2d_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx);
void avgpool2d_forward(const Pool2dShape& s, const float* x, float* y);
void avgpool2d_backward(const Pool2dShape& s, const float* dy, float* dx);
void global_avgpool_forward(int64_t N, int64_t C, int64_t L, const float* x, float* y);
void global_avgpool_backward(int64_t N, int64_t C, int64_t L, const float* dy, float* dx);
}  // namespace cpu
}  // namespace gb::kernels
