// CUDA constant 2-D padding (see pad.h). Shape letters: N batch, C channels, H/W input, P/Q
// output. Forward: one thread per output element (grid-stride), the input element or the value;
// backward: one thread per input element, a gather from dy. Pure copies, bit-identical to ref.
#include "kernels/cuda/launch.cuh"
#include "kernels/pad.h"

namespace gb::kernels::cuda {
namespace {

constexpr int kThreads = 256;

struct PadDims {
  int64_t NC, H, W, top, left, P, Q;
};

__global__ void pad_forward_kernel(PadDims d, const float* __restrict__ x, float value,
                                   float* __restrict__ y) {
  const int64_t total = d.NC * d.P * d.Q;
  for (int64_t o = grid_index(); o < total; o += grid_stride()) {
    const int64_t q = o % d.Q, t = o / d.Q;
    const int64_t p = t % d.P, nc = t / d.P;
    const int64_t h = p - d.top, w = q - d.left;
    y[o] = (h >= 0 && h < d.H && w >= 0 && w < d.W) ? x[(nc * d.H + h) * d.W + w] : value;
  }
}

__global__ void pad_backward_kernel(PadDims d, const float* __restrict__ dy,
                                    float* __restrict__ dx) {
  const int64_t total = d.NC * d.H * d.W;
  for (int64_t e = grid_index(); e < total; e += grid_stride()) {
    const int64_t w = e % d.W, t = e / d.W;
    const int64_t h = t % d.H, nc = t / d.H;
    dx[e] = dy[(nc * d.P + h + d.top) * d.Q + w + d.left];
  }
}

PadDims dims_of(const Pad2dShape& s) { return {s.N * s.C, s.H, s.W, s.top, s.left, s.P(), s.Q()}; }

}  // namespace

void pad2d_forward(const Pad2dShape& s, const float* x, float value, float* y) {
  const PadDims d = dims_of(s);
  const int64_t total = d.NC * d.P * d.Q;
  if (total <= 0) return;
  pad_forward_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(d, x, value, y);
  check_launch("pad2d_forward");
}

void pad2d_backward(const Pad2dShape& s, const float* dy, float* dx) {
  const PadDims d = dims_of(s);
  const int64_t total = d.NC * d.H * d.W;
  if (total <= 0) return;
  pad_backward_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(d, dy, dx);
  check_launch("pad2d_backward");
}

const Pad2dKernels pad2d_kernels{GB_KERNEL(cuda::pad2d_forward), GB_KERNEL(cuda::pad2d_backward)};

}  // namespace gb::kernels::cuda
