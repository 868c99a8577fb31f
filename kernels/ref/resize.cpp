// Reference bilinear resize of NCHW planes with align_corners=false, as PyTorch's
// F.interpolate(mode="bilinear"). Shape letters: N batch, C channels, H/W input size, OH/OW
// output size. Source coordinate of output index o: src = max((o + 0.5) * in/out - 0.5, 0),
// i0 = floor(src), i1 = min(i0 + 1, in - 1), weights (1 - frac, frac). Index and weight
// arithmetic is float, as PyTorch's CPU kernel; the blend is done in double.
#include "kernels/resize.h"

#include <algorithm>
#include <vector>

namespace gb::kernels::ref {
namespace {
struct Tap {
  int64_t i0, i1;
  float w0, w1;
};

std::vector<Tap> taps(int64_t in, int64_t out) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  std::vector<Tap> t(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    float src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    const int64_t i0 = static_cast<int64_t>(src);  // floor, src >= 0
    const int64_t i1 = i0 < in - 1 ? i0 + 1 : i0;
    const float frac = src - static_cast<float>(i0);
    t[static_cast<size_t>(o)] = {i0, i1, 1.0f - frac, frac};
  }
  return t;
}
}  // namespace

void bilinear_resize_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const float* x, float* y) {
  const std::vector<Tap> th = taps(H, OH), tw = taps(W, OW);
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const float* in = x + nc * H * W;
    float* out = y + nc * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const Tap& a = th[static_cast<size_t>(oh)];
      for (int64_t ow = 0; ow < OW; ++ow) {
        const Tap& b = tw[static_cast<size_t>(ow)];
        const double top = static_cast<double>(b.w0) * in[a.i0 * W + b.i0] +
                           static_cast<double>(b.w1) * in[a.i0 * W + b.i1];
        const double bottom = static_cast<double>(b.w0) * in[a.i1 * W + b.i0] +
                              static_cast<double>(b.w1) * in[a.i1 * W + b.i1];
        out[oh * OW + ow] = static_cast<float>(a.w0 * top + a.w1 * bottom);
      }
    }
  }
}

void bilinear_resize_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                              const float* dy, float* dx) {
  const std::vector<Tap> th = taps(H, OH), tw = taps(W, OW);
  std::vector<double> acc(static_cast<size_t>(H * W));
  for (int64_t nc = 0; nc < N * C; ++nc) {
    std::fill(acc.begin(), acc.end(), 0.0);
    const float* g = dy + nc * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const Tap& a = th[static_cast<size_t>(oh)];
      for (int64_t ow = 0; ow < OW; ++ow) {
        const Tap& b = tw[static_cast<size_t>(ow)];
        const double v = g[oh * OW + ow];
        acc[static_cast<size_t>(a.i0 * W + b.i0)] += v * a.w0 * b.w0;
        acc[static_cast<size_t>(a.i0 * W + b.i1)] += v * a.w0 * b.w1;
        acc[static_cast<size_t>(a.i1 * W + b.i0)] += v * a.w1 * b.w0;
        acc[static_cast<size_t>(a.i1 * W + b.i1)] += v * a.w1 * b.w1;
      }
    }
    for (int64_t i = 0; i < H * W; ++i)
      dx[nc * H * W + i] = static_cast<float>(acc[static_cast<size_t>(i)]);
  }
}

const ResizeKernels bilinear_resize_kernels{GB_KERNEL(ref::bilinear_resize_forward),
                                            GB_KERNEL(ref::bilinear_resize_backward)};

}  // namespace gb::kernels::ref
