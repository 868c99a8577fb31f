// CUDA pooling (see pool.h). Shape letters: N batch, C channels, H/W input, R/S window, P/Q
// output, L = H*W. Forward: one thread per output element walks its window in row-major order
// as the ref. Backward: one thread per input element (ih, iw) visits the outputs whose window
// holds it, p in [ceil((ih + pad_h - R + 1) / stride_h), floor((ih + pad_h) / stride_h)] and
// likewise q, in ascending (p, q) order, the order in which ref's scatter adds them (P/Q from
// Pool2dShape, so ceil_mode's extra windows are included; windows are clipped as in ref). Global
// average pooling: one warp per (n, c) plane, double accumulation, a fixed shuffle tree.
#include <cmath>

#include "kernels/cuda/launch.cuh"
#include "kernels/pool.h"

namespace gb::kernels::cuda {
namespace {

constexpr int kThreads = 256;

struct PoolDims {
  int64_t NC, H, W, R, S, sh, sw, ph, pw, P, Q;
  bool count_include_pad;
};

PoolDims dims_of(const Pool2dShape& s) {
  return {s.N * s.C,  s.H,     s.W,     s.R,   s.S,   s.stride_h,
          s.stride_w, s.pad_h, s.pad_w, s.P(), s.Q(), s.count_include_pad};
}

__global__ void maxpool_forward_kernel(PoolDims d, const float* __restrict__ x,
                                       float* __restrict__ y, int32_t* __restrict__ argmax) {
  const int64_t total = d.NC * d.P * d.Q;
  for (int64_t o = grid_index(); o < total; o += grid_stride()) {
    const int64_t q = o % d.Q, t = o / d.Q;
    const int64_t p = t % d.P, nc = t / d.P;
    const float* plane = x + nc * d.H * d.W;
    float best = -INFINITY;
    int64_t best_idx = -1;
    for (int64_t r = 0; r < d.R; ++r) {
      const int64_t ih = p * d.sh - d.ph + r;
      if (ih < 0 || ih >= d.H) continue;
      for (int64_t u = 0; u < d.S; ++u) {
        const int64_t iw = q * d.sw - d.pw + u;
        if (iw < 0 || iw >= d.W) continue;
        const float v = plane[ih * d.W + iw];
        if (best_idx < 0 || v > best || v != v) {
          best = v;
          best_idx = ih * d.W + iw;
        }
      }
    }
    y[o] = best;
    argmax[o] = static_cast<int32_t>(best_idx);
  }
}

// First and last output index whose window (stride, pad, size k) holds input index i.
__device__ __forceinline__ void window_range(int64_t i, int64_t pad, int64_t k, int64_t stride,
                                             int64_t out, int64_t& lo, int64_t& hi) {
  const int64_t num = i + pad - k + 1;
  lo = num > 0 ? (num + stride - 1) / stride : 0;
  hi = (i + pad) / stride;
  if (hi > out - 1) hi = out - 1;
}

__global__ void maxpool_backward_kernel(PoolDims d, const float* __restrict__ dy,
                                        const int32_t* __restrict__ argmax,
                                        float* __restrict__ dx) {
  const int64_t total = d.NC * d.H * d.W;
  for (int64_t e = grid_index(); e < total; e += grid_stride()) {
    const int64_t iw = e % d.W, t = e / d.W;
    const int64_t ih = t % d.H, nc = t / d.H;
    int64_t p0, p1, q0, q1;
    window_range(ih, d.ph, d.R, d.sh, d.P, p0, p1);
    window_range(iw, d.pw, d.S, d.sw, d.Q, q0, q1);
    const int32_t self = static_cast<int32_t>(ih * d.W + iw);
    const int64_t base = nc * d.P * d.Q;
    float acc = 0.0f;
    for (int64_t p = p0; p <= p1; ++p)
      for (int64_t q = q0; q <= q1; ++q) {
        const int64_t o = base + p * d.Q + q;
        if (argmax[o] == self) acc += dy[o];
      }
    dx[e] = acc;
  }
}

// PyTorch's divisor (ref's avg_divisor): the window clipped to [-pad, size + pad)
// (count_include_pad) or to the input [0, size).
__device__ __forceinline__ int64_t avg_divisor(const PoolDims& d, int64_t p, int64_t q) {
  int64_t h0 = p * d.sh - d.ph, w0 = q * d.sw - d.pw;
  int64_t h1 = h0 + d.R < d.H + d.ph ? h0 + d.R : d.H + d.ph;
  int64_t w1 = w0 + d.S < d.W + d.pw ? w0 + d.S : d.W + d.pw;
  if (!d.count_include_pad) {
    h0 = h0 > 0 ? h0 : 0;
    w0 = w0 > 0 ? w0 : 0;
    h1 = h1 < d.H ? h1 : d.H;
    w1 = w1 < d.W ? w1 : d.W;
  }
  return (h1 - h0) * (w1 - w0);
}

__global__ void avgpool_forward_kernel(PoolDims d, const float* __restrict__ x,
                                       float* __restrict__ y) {
  const int64_t total = d.NC * d.P * d.Q;
  for (int64_t o = grid_index(); o < total; o += grid_stride()) {
    const int64_t q = o % d.Q, t = o / d.Q;
    const int64_t p = t % d.P, nc = t / d.P;
    const float* plane = x + nc * d.H * d.W;
    float acc = 0.0f;
    for (int64_t r = 0; r < d.R; ++r) {
      const int64_t ih = p * d.sh - d.ph + r;
      if (ih < 0 || ih >= d.H) continue;
      for (int64_t u = 0; u < d.S; ++u) {
        const int64_t iw = q * d.sw - d.pw + u;
        if (iw < 0 || iw >= d.W) continue;
        acc += plane[ih * d.W + iw];
      }
    }
    y[o] = acc / static_cast<float>(avg_divisor(d, p, q));
  }
}

__global__ void avgpool_backward_kernel(PoolDims d, const float* __restrict__ dy,
                                        float* __restrict__ dx) {
  const int64_t total = d.NC * d.H * d.W;
  for (int64_t e = grid_index(); e < total; e += grid_stride()) {
    const int64_t iw = e % d.W, t = e / d.W;
    const int64_t ih = t % d.H, nc = t / d.H;
    int64_t p0, p1, q0, q1;
    window_range(ih, d.ph, d.R, d.sh, d.P, p0, p1);
    window_range(iw, d.pw, d.S, d.sw, d.Q, q0, q1);
    const int64_t base = nc * d.P * d.Q;
    float acc = 0.0f;
    for (int64_t p = p0; p <= p1; ++p)
      for (int64_t q = q0; q <= q1; ++q) {
        // The ref's rounding: the quotient in double, rounded to float, added in float.
        acc += static_cast<float>(static_cast<double>(dy[base + p * d.Q + q]) /
                                  static_cast<double>(avg_divisor(d, p, q)));
      }
    dx[e] = acc;
  }
}

// One warp per plane.
__global__ void global_avgpool_forward_kernel(int64_t NC, int64_t L, const float* __restrict__ x,
                                              float* __restrict__ y) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = grid_stride() / 32;
  for (int64_t plane = grid_index() / 32; plane < NC; plane += warps) {
    const float* xs = x + plane * L;
    double acc = 0.0;
    for (int64_t l = lane; l < L; l += 32) acc += xs[l];
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) y[plane] = static_cast<float>(acc / static_cast<double>(L));
  }
}

__global__ void global_avgpool_backward_kernel(int64_t total, int64_t L,
                                               const float* __restrict__ dy,
                                               float* __restrict__ dx) {
  for (int64_t e = grid_index(); e < total; e += grid_stride())
    dx[e] = static_cast<float>(static_cast<double>(dy[e / L]) / static_cast<double>(L));
}

}  // namespace

void maxpool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax) {
  const PoolDims d = dims_of(s);
  const int64_t total = d.NC * d.P * d.Q;
  if (total <= 0) return;
  maxpool_forward_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(d, x, y, argmax);
  check_launch("maxpool2d_forward");
}

void maxpool2d_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx) {
  const PoolDims d = dims_of(s);
  const int64_t total = d.NC * d.H * d.W;
  if (total <= 0) return;
  maxpool_backward_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(d, dy, argmax,
                                                                                  dx);
  check_launch("maxpool2d_backward");
}

void avgpool2d_forward(const Pool2dShape& s, const float* x, float* y) {
  const PoolDims d = dims_of(s);
  const int64_t total = d.NC * d.P * d.Q;
  if (total <= 0) return;
  avgpool_forward_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(d, x, y);
  check_launch("avgpool2d_forward");
}

void avgpool2d_backward(const Pool2dShape& s, const float* dy, float* dx) {
  const PoolDims d = dims_of(s);
  const int64_t total = d.NC * d.H * d.W;
  if (total <= 0) return;
  avgpool_backward_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(d, dy, dx);
  check_launch("avgpool2d_backward");
}

void global_avgpool_forward(int64_t N, int64_t C, int64_t L, const float* x, float* y) {
  const int64_t NC = N * C;
  if (NC <= 0) return;
  global_avgpool_forward_kernel<<<blocks_for(NC * 32, kThreads), kThreads, 0, stream()>>>(NC, L, x,
                                                                                          y);
  check_launch("global_avgpool_forward");
}

void global_avgpool_backward(int64_t N, int64_t C, int64_t L, const float* dy, float* dx) {
  const int64_t total = N * C * L;
  if (total <= 0) return;
  global_avgpool_backward_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(total, L,
                                                                                         dy, dx);
  check_launch("global_avgpool_backward");
}

const MaxPoolKernels maxpool2d_kernels{GB_KERNEL(cuda::maxpool2d_forward),
                                       GB_KERNEL(cuda::maxpool2d_backward)};
const AvgPoolKernels avgpool2d_kernels{GB_KERNEL(cuda::avgpool2d_forward),
                                       GB_KERNEL(cuda::avgpool2d_backward)};
const GlobalAvgPoolKernels global_avgpool_kernels{GB_KERNEL(cuda::global_avgpool_forward),
                                                  GB_KERNEL(cuda::global_avgpool_backward)};

}  // namespace gb::kernels::cuda
