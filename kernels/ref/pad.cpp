// Reference constant 2-D padding (contract: kernels/pad.h): per plane, the border rows filled with
// the value, each input row copied between its left and right borders. Shape letters: N batch,
// C channels, H/W input, P/Q output (Pad2dShape).
#include "kernels/pad.h"

#include <algorithm>
#include <cstring>

namespace gb::kernels::ref {

void pad2d_forward(const Pad2dShape& s, const float* x, float value, float* y) {
  const int64_t P = s.P(), Q = s.Q();
  for (int64_t nc = 0; nc < s.N * s.C; ++nc) {
    const float* xp = x + nc * s.H * s.W;
    float* yp = y + nc * P * Q;
    for (int64_t p = 0; p < P; ++p) {
      float* yr = yp + p * Q;
      const int64_t h = p - s.top;
      if (h < 0 || h >= s.H) {
        std::fill(yr, yr + Q, value);
        continue;
      }
      std::fill(yr, yr + s.left, value);
      std::memcpy(yr + s.left, xp + h * s.W, sizeof(float) * static_cast<size_t>(s.W));
      std::fill(yr + s.left + s.W, yr + Q, value);
    }
  }
}

void pad2d_backward(const Pad2dShape& s, const float* dy, float* dx) {
  const int64_t P = s.P(), Q = s.Q();
  for (int64_t nc = 0; nc < s.N * s.C; ++nc) {
    for (int64_t h = 0; h < s.H; ++h) {
      std::memcpy(dx + (nc * s.H + h) * s.W, dy + (nc * P + s.top + h) * Q + s.left,
                  sizeof(float) * static_cast<size_t>(s.W));
    }
  }
}

const Pad2dKernels pad2d_kernels{GB_KERNEL(ref::pad2d_forward), GB_KERNEL(ref::pad2d_backward)};

}  // namespace gb::kernels::ref
