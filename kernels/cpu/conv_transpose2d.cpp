// Fast 2-D transposed convolution on the CPU (contract: kernels/conv_transpose2d.h) over the fast
// conv2d kernels of the convolution s transposes (kernels/conv2d.h): forward is its
// backward-input (padded-flat at stride 1, else col2im of one SGEMM per image and group, or the
// depthwise kernel) plus the bias, backward-input its forward, backward-weight its backward-weight
// with x and dy in each other's places. Shape letters: x/dx [N,K,P,Q], y/dy [N,C,H,W].
// Determinism: as conv2d's passes; the bias and its gradient give each channel to one thread.
#include "kernels/conv_transpose2d.h"

#include <omp.h>

#include "kernels/conv2d.h"

namespace gb::kernels::cpu {
namespace {
// Below this many output elements the bias passes stay on one thread.
constexpr int64_t kParallelElements = 1 << 15;

int threads_for_bias(int64_t elements) {
  return omp_in_parallel() || elements < kParallelElements ? 1 : omp_get_max_threads();
}

// y[n, c, :] += bias[c].
void add_bias(const Conv2dShape& s, const float* bias, float* y) {
  const int64_t HW = s.H * s.W;
  const int threads = threads_for_bias(s.N * s.C * HW);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t nc = 0; nc < s.N * s.C; ++nc) {
    const float b = bias[nc % s.C];
    float* plane = y + nc * HW;
#pragma omp simd
    for (int64_t i = 0; i < HW; ++i) plane[i] += b;
  }
}

// db[c] = sum over n and the plane of dy[n, c]: one plane in float (vectorised), planes summed in
// double in ascending n, one channel per thread.
void bias_grad(const Conv2dShape& s, const float* dy, float* db) {
  const int64_t HW = s.H * s.W;
  const int threads = threads_for_bias(s.N * s.C * HW);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t c = 0; c < s.C; ++c) {
    double acc = 0.0;
    for (int64_t n = 0; n < s.N; ++n) {
      const float* plane = dy + (n * s.C + c) * HW;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < HW; ++i) sum += plane[i];
      acc += sum;
    }
    db[c] = static_cast<float>(acc);
  }
}
}  // namespace

void conv_transpose2d_forward(const Conv2dShape& s, const float* x, const float* w,
                              const float* bias, float* y) {
  conv2d_backward_input(s, x, w, y);
  if (bias) add_bias(s, bias, y);
}

void conv_transpose2d_backward_input(const Conv2dShape& s, const float* dy, const float* w,
                                     float* dx) {
  conv2d_forward(s, dy, w, nullptr, dx);
}

void conv_transpose2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy,
                                      float* dw, float* db) {
  conv2d_backward_weight(s, dy, x, dw, nullptr);
  if (db) bias_grad(s, dy, db);
}

const ConvTranspose2dKernels conv_transpose2d_kernels{
    GB_KERNEL(cpu::conv_transpose2d_forward), GB_KERNEL(cpu::conv_transpose2d_backward_input),
    GB_KERNEL(cpu::conv_transpose2d_backward_weight)};

}  // namespace gb::kernels::cpu
