// Fully connected layer, as PyTorch's nn.Linear: y = x * w^T + b.
// x [N,I], w [O,I], b [O] or nullptr, y [N,O]. Backward: dx [N,I], dw [O,I], db [O] (all
// overwritten; any may be nullptr to skip it).
#pragma once
#include <cstdint>

namespace gb::kernels {
namespace ref {
void linear_forward(int64_t N, int64_t I, int64_t O, const float* x, const float* w,
                    const float* b, float* y);
void linear_backward(int64_t N, int64_t I, int64_t O, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db);
}  // namespace ref
namespace cpu {
void linear_forward(int64_t N, int64_t I, int64_t O, const float* x, const float* w,
                    const float* b, float* y);
void linear_backward(int64_t N, int64_t I, int64_t O, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db);
}  // namespace cpu
}  // namespace gb::kernels
