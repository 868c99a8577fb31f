// The hand-written CUDA depthwise convolution (contract and method: conv_depthwise.h). Shape
// letters: N batch, C channels (= K = G), H/W input size, R/S kernel size, P/Q output size, sh/sw
// strides, ph/pw paddings. Flat indices are 64-bit; every launch is a grid-stride loop.
#include <stdexcept>
#include <string>

#include "kernels/cuda/conv_depthwise.h"
#include "kernels/cuda/launch.cuh"

namespace gb::kernels::cuda::depthwise {
namespace {

constexpr int kThreads = 256;

struct Dims {
  int64_t N, C, H, W, R, S, sh, sw, ph, pw, P, Q;
};

Dims dims_of(const Conv2dShape& s, const char* pass) {
  if (!applicable(s)) {
    throw std::runtime_error(std::string("cuda: depthwise conv2d ") + pass +
                             ": not a depthwise shape (groups == C == K)");
  }
  if (s.stride_h < 1 || s.stride_w < 1 || s.pad_h < 0 || s.pad_w < 0) {
    throw std::runtime_error(std::string("cuda: depthwise conv2d ") + pass +
                             ": bad stride or padding");
  }
  return {s.N, s.C, s.H, s.W, s.R, s.S, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.P(), s.Q()};
}

// y[n, c, p, q] = sum over (r, s) of w[c, r, s] * x[n, c, p*sh - ph + r, q*sw - pw + s] + bias[c].
__global__ void __launch_bounds__(kThreads)
    forward_kernel(Dims d, const float* __restrict__ x, const float* __restrict__ w,
                   const float* __restrict__ bias, float* __restrict__ y) {
  const int64_t total = d.N * d.C * d.P * d.Q;
  for (int64_t o = grid_index(); o < total; o += grid_stride()) {
    const int64_t q = o % d.Q, t = o / d.Q;
    const int64_t p = t % d.P, nc = t / d.P;
    const int64_t c = nc % d.C;
    const float* plane = x + nc * d.H * d.W;
    const float* wc = w + c * d.R * d.S;
    float acc = 0.0f;
    for (int64_t r = 0; r < d.R; ++r) {
      const int64_t ih = p * d.sh - d.ph + r;
      if (ih < 0 || ih >= d.H) continue;
      for (int64_t s = 0; s < d.S; ++s) {
        const int64_t iw = q * d.sw - d.pw + s;
        if (iw < 0 || iw >= d.W) continue;
        acc = fmaf(__ldg(wc + r * d.S + s), __ldg(plane + ih * d.W + iw), acc);
      }
    }
    y[o] = bias ? acc + __ldg(bias + c) : acc;
  }
}

// dx[n, c, h, v] = sum over the taps (r, s) that reach (h, v) of w[c, r, s] * dy[n, c, p, q].
__global__ void __launch_bounds__(kThreads)
    backward_input_kernel(Dims d, const float* __restrict__ dy, const float* __restrict__ w,
                          float* __restrict__ dx) {
  const int64_t total = d.N * d.C * d.H * d.W;
  for (int64_t o = grid_index(); o < total; o += grid_stride()) {
    const int64_t v = o % d.W, t = o / d.W;
    const int64_t h = t % d.H, nc = t / d.H;
    const int64_t c = nc % d.C;
    const float* plane = dy + nc * d.P * d.Q;
    const float* wc = w + c * d.R * d.S;
    float acc = 0.0f;
    for (int64_t r = 0; r < d.R; ++r) {
      const int64_t hr = h + d.ph - r;  // = p * sh for a tap that reaches row h
      if (hr < 0 || hr % d.sh != 0 || hr / d.sh >= d.P) continue;
      const int64_t p = hr / d.sh;
      for (int64_t s = 0; s < d.S; ++s) {
        const int64_t vs = v + d.pw - s;
        if (vs < 0 || vs % d.sw != 0 || vs / d.sw >= d.Q) continue;
        acc = fmaf(__ldg(wc + r * d.S + s), __ldg(plane + p * d.Q + vs / d.sw), acc);
      }
    }
    dx[o] = acc;
  }
}

// Block b < C*R*S: dw[b] for (c, r, s) = (b / RS, b % RS / S, b % S); block C*R*S + c: db[c].
// Thread t sums the flat (n, p, q) = t, t + kThreads, ... in ascending order, then a fixed tree.
__global__ void __launch_bounds__(kThreads)
    backward_weight_kernel(Dims d, const float* __restrict__ x, const float* __restrict__ dy,
                           float* __restrict__ dw, float* __restrict__ db) {
  __shared__ float part[kThreads];
  const int64_t RS = d.R * d.S, PQ = d.P * d.Q, NPQ = d.N * PQ;
  const int64_t b = blockIdx.x;
  const bool bias = b >= d.C * RS;
  const int64_t c = bias ? b - d.C * RS : b / RS;
  const int64_t r = bias ? 0 : b % RS / d.S, s = bias ? 0 : b % d.S;
  float acc = 0.0f;
  for (int64_t i = threadIdx.x; i < NPQ; i += kThreads) {
    const int64_t n = i / PQ, pq = i % PQ;
    const float g = __ldg(dy + (n * d.C + c) * PQ + pq);
    if (bias) {
      acc += g;
      continue;
    }
    const int64_t p = pq / d.Q, q = pq % d.Q;
    const int64_t ih = p * d.sh - d.ph + r, iw = q * d.sw - d.pw + s;
    if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
    acc = fmaf(g, __ldg(x + ((n * d.C + c) * d.H + ih) * d.W + iw), acc);
  }
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    if (bias) {
      db[c] = part[0];
    } else {
      dw[b] = part[0];
    }
  }
}

}  // namespace

bool applicable(const Conv2dShape& s) {
  return s.groups == s.C && s.K == s.C && s.C >= 1 && !s.dilated();
}

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y) {
  const Dims d = dims_of(s, "forward");
  const int64_t total = d.N * d.C * d.P * d.Q;
  if (total <= 0) return;
  forward_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(d, x, w, bias, y);
  check_launch("conv2d_forward: depthwise");
}

void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx) {
  const Dims d = dims_of(s, "backward_input");
  const int64_t total = d.N * d.C * d.H * d.W;
  if (total <= 0) return;
  backward_input_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(d, dy, w, dx);
  check_launch("conv2d_backward_input: depthwise");
}

void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                            float* db) {
  const Dims d = dims_of(s, "backward_weight");
  const int64_t blocks = d.C * d.R * d.S + (db ? d.C : 0);
  if (blocks <= 0) return;
  if (blocks > 0x7fffffffLL) throw std::runtime_error("cuda: depthwise conv2d: too many channels");
  backward_weight_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(d, x, dy, dw,
                                                                                   db);
  check_launch("conv2d_backward_weight: depthwise");
}

}  // namespace gb::kernels::cuda::depthwise
