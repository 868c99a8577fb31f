// CUDA softmax, log-softmax and cross-entropy (see softmax.h). Shape letters: N rows, D classes.
// One warp per row: lanes stride over the row, partial maxima and double sums are combined by an
// xor-shuffle butterfly (every lane ends with the same value, the same for every run). The
// cross-entropy loss is written per row, then one block adds the rows by a fixed tree.
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cuda/device_api.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/softmax.h"

namespace gb::kernels::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float warp_max(float v) {
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// log(sum exp(x)) of one row, max subtracted, in double (every lane gets it).
__device__ double row_logsumexp(const float* __restrict__ xr, int64_t D, int lane) {
  float mx = -INFINITY;
  for (int64_t d = lane; d < D; d += 32) mx = fmaxf(mx, xr[d]);
  mx = warp_max(mx);
  const double m = mx;
  double s = 0.0;
  for (int64_t d = lane; d < D; d += 32) s += exp(static_cast<double>(xr[d]) - m);
  s = warp_sum(s);
  return m + log(s);
}

// Warp-per-row loop header: row index, lane, and the warp count of the grid.
#define GB_FOR_EACH_ROW(n, N)                                                                   \
  const int lane = threadIdx.x & 31;                                                            \
  const int64_t warps_ = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);                   \
  for (int64_t n = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; n < (N); \
       n += warps_)

template <bool kLog>
__global__ void softmax_forward_kernel(int64_t N, int64_t D, const float* __restrict__ x,
                                       float* __restrict__ y) {
  GB_FOR_EACH_ROW(n, N) {
    const float* xr = x + n * D;
    const double lse = row_logsumexp(xr, D, lane);
    for (int64_t d = lane; d < D; d += 32) {
      const double logp = static_cast<double>(xr[d]) - lse;
      y[n * D + d] = static_cast<float>(kLog ? logp : exp(logp));
    }
  }
}

template <bool kLog>
__global__ void softmax_backward_kernel(int64_t N, int64_t D, const float* __restrict__ y,
                                        const float* __restrict__ dy, float* __restrict__ dx) {
  GB_FOR_EACH_ROW(n, N) {
    const float* yr = y + n * D;
    const float* gr = dy + n * D;
    double s = 0.0;
    for (int64_t d = lane; d < D; d += 32)
      s += kLog ? static_cast<double>(gr[d]) : static_cast<double>(gr[d]) * yr[d];
    s = warp_sum(s);
    for (int64_t d = lane; d < D; d += 32) {
      const double g = gr[d], v = yr[d];
      dx[n * D + d] = static_cast<float>(kLog ? g - exp(v) * s : v * (g - s));
    }
  }
}

__global__ void cross_entropy_rows(int64_t N, int64_t D, const float* __restrict__ logits,
                                   const int64_t* __restrict__ targets, double eps,
                                   float* __restrict__ probs, double* __restrict__ row_loss) {
  GB_FOR_EACH_ROW(n, N) {
    const float* xr = logits + n * D;
    const double lse = row_logsumexp(xr, D, lane);
    double sum_logp = 0.0;
    for (int64_t d = lane; d < D; d += 32) {
      const double logp = static_cast<double>(xr[d]) - lse;
      sum_logp += logp;
      probs[n * D + d] = static_cast<float>(exp(logp));
    }
    sum_logp = warp_sum(sum_logp);
    if (lane == 0) {
      const int64_t t = targets[n];
      const double mean_neg_logp = -sum_logp / static_cast<double>(D);
      row_loss[n] = (t >= 0 && t < D)
                        ? (1.0 - eps) * -(static_cast<double>(xr[t]) - lse) + eps * mean_neg_logp
                        : static_cast<double>(NAN);
    }
  }
}

// One block: *loss = (sum of row_loss) / N, by a fixed tree.
__global__ void cross_entropy_mean(int64_t N, const double* __restrict__ row_loss,
                                   float* __restrict__ loss) {
  __shared__ double sh[kThreads];
  double acc = 0.0;
  for (int64_t n = threadIdx.x; n < N; n += kThreads) acc += row_loss[n];
  sh[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) *loss = static_cast<float>(sh[0] / static_cast<double>(N));
}

// dlogits = (probs - target) * dloss / N; dloss from *dloss_dev when non-null, else dloss_val.
__global__ void cross_entropy_backward_kernel(int64_t N, int64_t D, const float* __restrict__ probs,
                                              const int64_t* __restrict__ targets, double eps,
                                              float dloss_val, const float* dloss_dev,
                                              float* __restrict__ dlogits) {
  const double scale =
      static_cast<double>(dloss_dev ? *dloss_dev : dloss_val) / static_cast<double>(N);
  const double smooth = eps / static_cast<double>(D);
  GB_FOR_EACH_ROW(n, N) {
    const int64_t t = targets[n];
    for (int64_t d = lane; d < D; d += 32) {
      const double target = (d == t ? 1.0 - eps : 0.0) + smooth;
      dlogits[n * D + d] =
          static_cast<float>((static_cast<double>(probs[n * D + d]) - target) * scale);
    }
  }
}

#undef GB_FOR_EACH_ROW

unsigned row_grid(int64_t N) { return blocks_for(N * 32, kThreads); }

void require_classes(int64_t D, const char* what) {
  if (D <= 0) throw std::invalid_argument(std::string(what) + ": needs D > 0 classes");
}

void cross_entropy_forward_impl(int64_t N, int64_t D, const float* logits, const int64_t* targets,
                                float label_smoothing, float* probs, double* row_loss,
                                float* loss_out) {
  require_classes(D, "cross_entropy_forward");
  if (N > 0) {
    cross_entropy_rows<<<row_grid(N), kThreads, 0, stream()>>>(N, D, logits, targets,
                                                               label_smoothing, probs, row_loss);
    check_launch("cross_entropy_forward rows");
  }
  cross_entropy_mean<<<1, kThreads, 0, stream()>>>(N, row_loss, loss_out);
  check_launch("cross_entropy_forward mean");
}

}  // namespace

void softmax_forward(int64_t N, int64_t D, const float* x, float* y) {
  if (N <= 0 || D <= 0) return;
  softmax_forward_kernel<false><<<row_grid(N), kThreads, 0, stream()>>>(N, D, x, y);
  check_launch("softmax_forward");
}

void softmax_backward(int64_t N, int64_t D, const float* y, const float* dy, float* dx) {
  if (N <= 0 || D <= 0) return;
  softmax_backward_kernel<false><<<row_grid(N), kThreads, 0, stream()>>>(N, D, y, dy, dx);
  check_launch("softmax_backward");
}

void log_softmax_forward(int64_t N, int64_t D, const float* x, float* y) {
  if (N <= 0 || D <= 0) return;
  softmax_forward_kernel<true><<<row_grid(N), kThreads, 0, stream()>>>(N, D, x, y);
  check_launch("log_softmax_forward");
}

void log_softmax_backward(int64_t N, int64_t D, const float* y, const float* dy, float* dx) {
  if (N <= 0 || D <= 0) return;
  softmax_backward_kernel<true><<<row_grid(N), kThreads, 0, stream()>>>(N, D, y, dy, dx);
  check_launch("log_softmax_backward");
}

void cross_entropy_forward(int64_t N, int64_t D, const float* logits, const int64_t* targets,
                           float label_smoothing, float* probs, float* loss_out) {
  auto* row_loss =
      static_cast<double*>(detail::scratch(sizeof(double) * static_cast<size_t>(N > 0 ? N : 1)));
  cross_entropy_forward_impl(N, D, logits, targets, label_smoothing, probs, row_loss, loss_out);
}

void cross_entropy_backward(int64_t N, int64_t D, const float* probs, const int64_t* targets,
                            float label_smoothing, const float* dloss, float* dlogits) {
  if (N <= 0 || D <= 0) return;
  cross_entropy_backward_kernel<<<row_grid(N), kThreads, 0, stream()>>>(
      N, D, probs, targets, label_smoothing, 0.0f, dloss, dlogits);
  check_launch("cross_entropy_backward");
}

const SoftmaxKernels softmax_kernels{GB_KERNEL(cuda::softmax_forward),
                                     GB_KERNEL(cuda::softmax_backward)};
const SoftmaxKernels log_softmax_kernels{GB_KERNEL(cuda::log_softmax_forward),
                                         GB_KERNEL(cuda::log_softmax_backward)};
const CrossEntropyKernels cross_entropy_kernels{GB_KERNEL(cuda::cross_entropy_forward),
                                                GB_KERNEL(cuda::cross_entropy_backward)};

}  // namespace gb::kernels::cuda
