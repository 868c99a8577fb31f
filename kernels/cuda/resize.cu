// CUDA bilinear resize (see resize.h). Shape letters: N batch, C channels, H/W input, OH/OW
// output. Forward: one thread per output element computes its two row and two column taps.
// Backward: one thread per input element (ih, iw). The first row tap i0(oh) is non-decreasing
// in oh, so the outputs reading row ih are those with i0(oh) in {ih - 1, ih}: a contiguous oh
// range found by binary search (likewise for columns); the thread sums dy over that rectangle
// weighted by the row and column weights that land on (ih, iw).
#include "kernels/cuda/launch.cuh"
#include "kernels/resize.h"

namespace gb::kernels::cuda {
namespace {

constexpr int kThreads = 256;

struct Tap {
  int64_t i0, i1;
  float w0, w1;
};

// The ref's taps(): src = max(scale * (o + 0.5) - 0.5, 0), i0 = floor(src),
// i1 = min(i0 + 1, in - 1), weights (1 - frac, frac).
__device__ __forceinline__ Tap tap_of(int64_t o, int64_t in, float scale) {
  float src = __fmaf_rn(scale, __fadd_rn(static_cast<float>(o), 0.5f), -0.5f);
  if (src < 0.0f) src = 0.0f;
  const int64_t i0 = static_cast<int64_t>(src);
  const int64_t i1 = i0 < in - 1 ? i0 + 1 : i0;
  const float frac = __fsub_rn(src, static_cast<float>(i0));
  return {i0, i1, __fsub_rn(1.0f, frac), frac};
}

// Weight with which output tap t reads input index i (both taps may land on it at the edge).
__device__ __forceinline__ double weight_on(const Tap& t, int64_t i) {
  return (t.i0 == i ? static_cast<double>(t.w0) : 0.0) +
         (t.i1 == i ? static_cast<double>(t.w1) : 0.0);
}

// First o in [0, out) with i0(o) >= target (out when none).
__device__ __forceinline__ int64_t first_reader(int64_t target, int64_t in, int64_t out,
                                                float scale) {
  int64_t lo = 0, hi = out;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (tap_of(mid, in, scale).i0 < target) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

__global__ void resize_forward_kernel(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                      float sh, float sw, const float* __restrict__ x,
                                      float* __restrict__ y) {
  const int64_t total = NC * OH * OW;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total;
       o += stride) {
    const int64_t ow = o % OW, t = o / OW;
    const int64_t oh = t % OH, nc = t / OH;
    const Tap a = tap_of(oh, H, sh), b = tap_of(ow, W, sw);
    const float* in = x + nc * H * W;
    const double top = static_cast<double>(b.w0) * in[a.i0 * W + b.i0] +
                       static_cast<double>(b.w1) * in[a.i0 * W + b.i1];
    const double bottom = static_cast<double>(b.w0) * in[a.i1 * W + b.i0] +
                          static_cast<double>(b.w1) * in[a.i1 * W + b.i1];
    y[o] = static_cast<float>(a.w0 * top + a.w1 * bottom);
  }
}

__global__ void resize_backward_kernel(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                       float sh, float sw, const float* __restrict__ dy,
                                       float* __restrict__ dx) {
  const int64_t total = NC * H * W;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    const int64_t iw = e % W, t = e / W;
    const int64_t ih = t % H, nc = t / H;
    const float* g = dy + nc * OH * OW;
    const int64_t oh0 = first_reader(ih - 1, H, OH, sh);
    const int64_t ow0 = first_reader(iw - 1, W, OW, sw);
    double acc = 0.0;
    for (int64_t oh = oh0; oh < OH; ++oh) {
      const Tap a = tap_of(oh, H, sh);
      if (a.i0 > ih) break;
      const double wh = weight_on(a, ih);
      for (int64_t ow = ow0; ow < OW; ++ow) {
        const Tap b = tap_of(ow, W, sw);
        if (b.i0 > iw) break;
        const double ww = weight_on(b, iw);
        acc += static_cast<double>(g[oh * OW + ow]) * wh * ww;
      }
    }
    dx[e] = static_cast<float>(acc);
  }
}

float scale_of(int64_t in, int64_t out) { return static_cast<float>(in) / static_cast<float>(out); }

}  // namespace

void bilinear_resize_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const float* x, float* y) {
  const int64_t total = N * C * OH * OW;
  if (total <= 0 || H <= 0 || W <= 0) return;
  resize_forward_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(
      N * C, H, W, OH, OW, scale_of(H, OH), scale_of(W, OW), x, y);
  check_launch("bilinear_resize_forward");
}

void bilinear_resize_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                              const float* dy, float* dx) {
  const int64_t total = N * C * H * W;
  if (total <= 0) return;
  if (OH <= 0 || OW <= 0) {  // no outputs read anything
    resize_backward_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(
        N * C, H, W, 0, 0, 1.0f, 1.0f, dy, dx);
  } else {
    resize_backward_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(
        N * C, H, W, OH, OW, scale_of(H, OH), scale_of(W, OW), dy, dx);
  }
  check_launch("bilinear_resize_backward");
}

const ResizeKernels bilinear_resize_kernels{GB_KERNEL(cuda::bilinear_resize_forward),
                                            GB_KERNEL(cuda::bilinear_resize_backward)};

}  // namespace gb::kernels::cuda
