// The pooling family over NCHW float32: max, average and global average pooling, forward and
// backward. One contract for the reference (ref::, kernels/ref/pool.cpp), fast CPU (cpu::,
// kernels/cpu/pool.cpp) and CUDA (cuda::, kernels/cuda/pool.cu) kernels.
// Shape letters: N batch, C channels, H/W input, R/S window, P/Q output, L = H*W (global pooling).
// Max pooling records argmax [N,C,P,Q] = ih*W + iw of each window's first maximum in row-major
// window order (strict >, a NaN wins, padded positions never win) for the backward pass. Output
// sizes follow Pool2dShape (kernels/shapes.h: PyTorch's ceil_mode; overhanging windows clipped).
// Average pooling divides by the window clipped to the padded input (count_include_pad, PyTorch's
// default) or by the number of input pixels in it (!count_include_pad). Global
// average pooling: x [N,C,L] -> y [N,C] (mean over L, double accumulation); its backward is
// dx = dy / L. Backward kernels overwrite dx.
// cpu:: splits planes (n, c) across threads, each plane written by one thread, so no result
// depends on the thread count; windows inside the map run 8 outputs per AVX2 register, ref's loop
// at the borders. Max and average pooling, their backward passes and global_avgpool_backward are
// bit-identical to ref::; global_avgpool_forward sums in SIMD order and may differ in the last bit.
// cuda:: backward passes gather (each input element sums the windows that contain it in ascending
// output order; no atomics), so maxpool/avgpool backward are bitwise equal to ref::.
#pragma once
#include <cstdint>

#include "kernels/kernel_fn.h"
#include "kernels/shapes.h"

namespace gb::kernels {

using MaxPoolForwardFn = void(const Pool2dShape& s, const float* x, float* y, int32_t* argmax);
using MaxPoolBackwardFn = void(const Pool2dShape& s, const float* dy, const int32_t* argmax,
                               float* dx);
using AvgPoolForwardFn = void(const Pool2dShape& s, const float* x, float* y);
using AvgPoolBackwardFn = void(const Pool2dShape& s, const float* dy, float* dx);
using GlobalAvgPoolForwardFn = void(int64_t N, int64_t C, int64_t L, const float* x, float* y);
using GlobalAvgPoolBackwardFn = void(int64_t N, int64_t C, int64_t L, const float* dy, float* dx);

struct MaxPoolKernels {
  KernelFn<MaxPoolForwardFn> forward;
  KernelFn<MaxPoolBackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};
struct AvgPoolKernels {
  KernelFn<AvgPoolForwardFn> forward;
  KernelFn<AvgPoolBackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};
struct GlobalAvgPoolKernels {
  KernelFn<GlobalAvgPoolForwardFn> forward;
  KernelFn<GlobalAvgPoolBackwardFn> backward;
  std::vector<KernelName> names() const {
    return {{"forward", forward.name}, {"backward", backward.name}};
  }
};

namespace ref {
MaxPoolForwardFn maxpool2d_forward;
MaxPoolBackwardFn maxpool2d_backward;
AvgPoolForwardFn avgpool2d_forward;
AvgPoolBackwardFn avgpool2d_backward;
GlobalAvgPoolForwardFn global_avgpool_forward;
GlobalAvgPoolBackwardFn global_avgpool_backward;
extern const MaxPoolKernels maxpool2d_kernels;
extern const AvgPoolKernels avgpool2d_kernels;
extern const GlobalAvgPoolKernels global_avgpool_kernels;
}  // namespace ref

namespace cpu {
MaxPoolForwardFn maxpool2d_forward;
MaxPoolBackwardFn maxpool2d_backward;
AvgPoolForwardFn avgpool2d_forward;
AvgPoolBackwardFn avgpool2d_backward;
GlobalAvgPoolForwardFn global_avgpool_forward;
GlobalAvgPoolBackwardFn global_avgpool_backward;
extern const MaxPoolKernels maxpool2d_kernels;
extern const AvgPoolKernels avgpool2d_kernels;
extern const GlobalAvgPoolKernels global_avgpool_kernels;
}  // namespace cpu

namespace cuda {
MaxPoolForwardFn maxpool2d_forward;
MaxPoolBackwardFn maxpool2d_backward;
AvgPoolForwardFn avgpool2d_forward;
AvgPoolBackwardFn avgpool2d_backward;
GlobalAvgPoolForwardFn global_avgpool_forward;
GlobalAvgPoolBackwardFn global_avgpool_backward;
extern const MaxPoolKernels maxpool2d_kernels;
extern const AvgPoolKernels avgpool2d_kernels;
extern const GlobalAvgPoolKernels global_avgpool_kernels;
}  // namespace cuda

}  // namespace gb::kernels
