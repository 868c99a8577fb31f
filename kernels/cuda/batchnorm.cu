// CUDA batch normalisation (contract: kernels/batchnorm.h). Shape letters: N batch, C channels, L
// positions; M = N*L values per channel, walked as m = n*L + l. Per-channel sums: block b = c*S + s
// of channel_partials sums m in [s*chunk, (s+1)*chunk) of channel c (threads strided by 256, double
// accumulators, a fixed tree), and one thread per channel adds the S partials in order. S depends
// on C and M only, so the order of every sum is fixed by the shape. Training forward: sum -> mean;
// sum of (x - mean)^2 -> variance; then an elementwise pass. Backward: one pass for sum g and sum g
// * (x - mean) (writing g_pre when an activation is fused), then an elementwise pass dx = k1 * g -
// k2 * (x - mean) - k3 with the per-channel constants of cpu/batchnorm.cpp.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/batchnorm.h"
#include "kernels/cuda/device_api.h"
#include "kernels/cuda/launch.cuh"

namespace gb::kernels::cuda {
namespace {

constexpr int kThreads = 256;

__device__ double block_sum(double v) {
  __shared__ double sh[kThreads];
  __syncthreads();  // the previous call's readers are done with sh
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  return sh[0];
}

__device__ __forceinline__ float relu_value(float v) { return (v > 0.0f || v != v) ? v : 0.0f; }

__device__ __forceinline__ float act_grad(ActGrad act, float y, float dy) {
  switch (act) {
    case ActGrad::Relu:
      return y > 0.0f ? dy : 0.0f;
    case ActGrad::Guided:
      return (y > 0.0f && dy > 0.0f) ? dy : 0.0f;
    case ActGrad::Deconv:
      return dy > 0.0f ? dy : 0.0f;
    case ActGrad::Identity:
    default:
      return dy;
  }
}

// How each channel's M values are split across blocks (a function of the shape only).
struct Split {
  int64_t S = 1, chunk = 1;
};
Split split_channels(int64_t C, int64_t M) {
  const int64_t want = (1024 + C - 1) / C, most = (M + 2047) / 2048;
  Split sp;
  sp.S = std::max<int64_t>(1, std::min(want, most));
  sp.chunk = std::max<int64_t>(1, (M + sp.S - 1) / sp.S);
  sp.S = std::max<int64_t>(1, (M + sp.chunk - 1) / sp.chunk);
  return sp;
}
unsigned partial_grid(int64_t C, const Split& sp) {
  return static_cast<unsigned>(std::min<int64_t>(C * sp.S, 65535LL * 16));
}

// Flat index i of an [N,C,L] tensor walked with a fixed stride, tracking l = i % L and
// c = (i / L) % C without a division per step.
struct Walker {
  int64_t l, c, dl, dc;
  __device__ Walker(int64_t i, int64_t stride, int64_t L, int64_t C)
      : l(i % L), c((i / L) % C), dl(stride % L), dc((stride / L) % C) {}
  __device__ void advance(int64_t L, int64_t C) {
    l += dl;
    c += dc;
    if (l >= L) {
      l -= L;
      ++c;
    }
    if (c >= C) c -= C;
  }
};

// Modes of channel_partials: the summands for channel c at element i.
enum class Stat { Sum, SqDev, Grad };

// Block b = c*S + s: part1[b] (and part2[b] for Grad) over m in channel c's chunk s.
//   Sum:   x
//   SqDev: (x - mean_d[c])^2
//   Grad:  g and g * (x - mean_f[c]) with g = act'(y, dy) (written to g_pre when non-null)
template <Stat kStat>
__global__ void channel_partials(int64_t N, int64_t C, int64_t L, int64_t S, int64_t chunk,
                                 const float* __restrict__ x, const double* __restrict__ mean_d,
                                 const float* __restrict__ mean_f, const float* y, const float* dy,
                                 ActGrad act, float* g_pre, double* __restrict__ part1,
                                 double* __restrict__ part2) {
  const int64_t M = N * L, CL = C * L;
  const int64_t dn = kThreads / L, dl = kThreads % L;
  for (int64_t b = blockIdx.x; b < C * S; b += gridDim.x) {
    const int64_t c = b / S, s = b - c * S;
    const int64_t m1 = (s + 1) * chunk < M ? (s + 1) * chunk : M;
    int64_t m = s * chunk + threadIdx.x;
    int64_t n = m / L, l = m - n * L;
    double a1 = 0.0, a2 = 0.0;
    const double mu = kStat == Stat::SqDev ? mean_d[c] : 0.0;
    const float muf = kStat == Stat::Grad ? mean_f[c] : 0.0f;
    for (; m < m1; m += kThreads) {
      const int64_t i = n * CL + c * L + l;
      const float v = x[i];
      if constexpr (kStat == Stat::Sum) {
        a1 += v;
      } else if constexpr (kStat == Stat::SqDev) {
        const double d = static_cast<double>(v) - mu;
        a1 += d * d;
      } else {
        const float g =
            act_grad(act, act == ActGrad::Relu || act == ActGrad::Guided ? y[i] : 0.0f, dy[i]);
        if (g_pre) g_pre[i] = g;
        a1 += g;
        a2 += static_cast<double>(g) * (static_cast<double>(v) - muf);
      }
      n += dn;
      l += dl;
      if (l >= L) {
        l -= L;
        ++n;
      }
    }
    a1 = block_sum(a1);
    if constexpr (kStat == Stat::Grad) a2 = block_sum(a2);
    if (threadIdx.x == 0) {
      part1[b] = a1;
      if constexpr (kStat == Stat::Grad) part2[b] = a2;
    }
  }
}

__device__ __forceinline__ double sum_parts(const double* part, int64_t c, int64_t S) {
  double acc = 0.0;
  for (int64_t s = 0; s < S; ++s) acc += part[c * S + s];
  return acc;
}

__global__ void finish_mean(int64_t C, int64_t S, double M, const double* __restrict__ part,
                            double* __restrict__ mean_d, float* __restrict__ save_mean) {
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double mean = sum_parts(part, c, S) / M;
    mean_d[c] = mean;
    save_mean[c] = static_cast<float>(mean);
  }
}

__global__ void finish_var(int64_t C, int64_t S, double M, float eps,
                           const double* __restrict__ part, const float* __restrict__ gamma,
                           float* __restrict__ scale, float* __restrict__ save_invstd,
                           float* __restrict__ batch_var) {
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double sq = sum_parts(part, c, S);
    const double var = sq / M;
    const double invstd = 1.0 / sqrt(var + static_cast<double>(eps));
    scale[c] = static_cast<float>(invstd * (gamma ? static_cast<double>(gamma[c]) : 1.0));
    save_invstd[c] = static_cast<float>(invstd);
    if (batch_var) batch_var[c] = static_cast<float>(M > 1.0 ? sq / (M - 1.0) : var);
  }
}

// y = act((x - mean[c]) * scale[c] + shift[c] + r), shift = beta or 0.
__global__ void normalize(int64_t total, int64_t C, int64_t L, const float* x,
                          const float* __restrict__ mean, const float* __restrict__ scale,
                          const float* __restrict__ beta, const float* residual, bool relu,
                          float* y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  Walker w(i, stride, L, C);
  for (; i < total; i += stride, w.advance(L, C)) {
    float v = (x[i] - mean[w.c]) * scale[w.c] + (beta ? beta[w.c] : 0.0f);
    if (residual) v += residual[i];
    y[i] = relu ? relu_value(v) : v;
  }
}

// Backward constants per channel (cpu/batchnorm.cpp): coef[c] = k1, coef[C + c] = k2,
// coef[2C + c] = k3; dgamma/dbeta when wanted.
__global__ void finish_backward(int64_t C, int64_t S, double M, const double* __restrict__ part1,
                                const double* __restrict__ part2, const float* __restrict__ gamma,
                                const float* __restrict__ save_invstd, float* __restrict__ coef,
                                float* __restrict__ dgamma, float* __restrict__ dbeta) {
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double sum_dy = sum_parts(part1, c, S), sum_dy_xmu = sum_parts(part2, c, S);
    const double invstd = save_invstd[c];
    const double dgamma_c = sum_dy_xmu * invstd;
    const double k1 = (gamma ? static_cast<double>(gamma[c]) : 1.0) * invstd;
    coef[c] = static_cast<float>(k1);
    coef[C + c] = static_cast<float>(k1 * invstd * dgamma_c / M);
    coef[2 * C + c] = static_cast<float>(k1 * sum_dy / M);
    if (gamma && dgamma) dgamma[c] = static_cast<float>(dgamma_c);
    if (gamma && dbeta) dbeta[c] = static_cast<float>(sum_dy);
  }
}

// dx = k1 * g - k2 * (x - mean) - k3.
__global__ void backward_dx(int64_t total, int64_t C, int64_t L, const float* x, const float* g,
                            const float* __restrict__ mean, const float* __restrict__ coef,
                            float* dx) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  Walker w(i, stride, L, C);
  for (; i < total; i += stride, w.advance(L, C)) {
    const int64_t c = w.c;
    dx[i] = coef[c] * g[i] - coef[C + c] * (x[i] - mean[c]) - coef[2 * C + c];
  }
}

// Eval constants: scale[c] = invstd * gamma, invstd[c] (double-evaluated, rounded).
__global__ void eval_constants(int64_t C, const float* __restrict__ gamma,
                               const float* __restrict__ running_var, float eps,
                               float* __restrict__ scale, float* __restrict__ invstd_out) {
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double invstd = 1.0 / sqrt(static_cast<double>(running_var[c]) + eps);
    scale[c] = static_cast<float>(invstd * (gamma ? static_cast<double>(gamma[c]) : 1.0));
    if (invstd_out) invstd_out[c] = static_cast<float>(invstd);
  }
}

// dx = dy * scale[c].
__global__ void scale_channels(int64_t total, int64_t C, int64_t L, const float* dy,
                               const float* __restrict__ scale, float* dx) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  Walker w(i, stride, L, C);
  for (; i < total; i += stride, w.advance(L, C)) dx[i] = dy[i] * scale[w.c];
}

// Eval parameter gradients: dgamma = invstd * sum dy * (x - running_mean), dbeta = sum dy.
__global__ void finish_backward_eval(int64_t C, int64_t S, const double* __restrict__ part1,
                                     const double* __restrict__ part2,
                                     const float* __restrict__ running_var, float eps,
                                     float* __restrict__ dgamma, float* __restrict__ dbeta) {
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double invstd = 1.0 / sqrt(static_cast<double>(running_var[c]) + eps);
    if (dgamma) dgamma[c] = static_cast<float>(sum_parts(part2, c, S) * invstd);
    if (dbeta) dbeta[c] = static_cast<float>(sum_parts(part1, c, S));
  }
}

// Scratch carving: doubles first, then floats, each region 256-byte aligned.
size_t round_up(size_t bytes) { return (bytes + 255) / 256 * 256; }

void require_batch(int64_t N, int64_t C, int64_t L, const char* what) {
  if (N < 0 || C < 0 || L < 0 || (C > 0 && N * L == 0)) {
    throw std::invalid_argument(std::string(what) + ": needs N*L > 0 values per channel");
  }
}

// Backward of training BN from g = act'(y, dy) (act Identity: g = dy, g_pre optional).
void backward_impl(int64_t N, int64_t C, int64_t L, const float* x, const float* y, const float* dy,
                   ActGrad act, const float* gamma, const float* save_mean,
                   const float* save_invstd, float* g_pre, float* dx, float* dgamma, float* dbeta,
                   const char* name) {
  require_batch(N, C, L, name);
  if (C == 0) return;
  const int64_t M = N * L, total = N * C * L;
  const Split sp = split_channels(C, M);
  const size_t part_bytes = round_up(sizeof(double) * C * sp.S);
  char* base =
      static_cast<char*>(detail::scratch(2 * part_bytes + round_up(sizeof(float) * 3 * C)));
  auto* part1 = reinterpret_cast<double*>(base);
  auto* part2 = reinterpret_cast<double*>(base + part_bytes);
  auto* coef = reinterpret_cast<float*>(base + 2 * part_bytes);
  channel_partials<Stat::Grad><<<partial_grid(C, sp), kThreads, 0, stream()>>>(
      N, C, L, sp.S, sp.chunk, x, nullptr, save_mean, y, dy, act, g_pre, part1, part2);
  check_launch(name);
  finish_backward<<<blocks_for(C), kThreads, 0, stream()>>>(
      C, sp.S, static_cast<double>(M), part1, part2, gamma, save_invstd, coef, dgamma, dbeta);
  check_launch(name);
  backward_dx<<<blocks_for(total), kThreads, 0, stream()>>>(total, C, L, x, g_pre ? g_pre : dy,
                                                            save_mean, coef, dx);
  check_launch(name);
}

__global__ void update_running_kernel(int64_t C, float* running, const float* batch,
                                      float momentum) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < C;
       c += int64_t{gridDim.x} * blockDim.x) {
    running[c] = (1.0f - momentum) * running[c] + momentum * batch[c];
  }
}

}  // namespace

void batchnorm_act_forward_train(int64_t N, int64_t C, int64_t L, const float* x,
                                 const float* gamma, const float* beta, float eps,
                                 const float* residual, bool relu, float* y, float* save_mean,
                                 float* save_invstd, float* batch_var) {
  require_batch(N, C, L, "batchnorm_forward_train");
  if (C == 0) return;
  const int64_t M = N * L, total = N * C * L;
  const Split sp = split_channels(C, M);
  const size_t part_bytes = round_up(sizeof(double) * C * sp.S);
  const size_t mean_bytes = round_up(sizeof(double) * C);
  char* base =
      static_cast<char*>(detail::scratch(part_bytes + mean_bytes + round_up(sizeof(float) * C)));
  auto* part = reinterpret_cast<double*>(base);
  auto* mean_d = reinterpret_cast<double*>(base + part_bytes);
  auto* scale = reinterpret_cast<float*>(base + part_bytes + mean_bytes);
  const unsigned grid = partial_grid(C, sp);
  const double Md = static_cast<double>(M);
  channel_partials<Stat::Sum>
      <<<grid, kThreads, 0, stream()>>>(N, C, L, sp.S, sp.chunk, x, nullptr, nullptr, nullptr,
                                        nullptr, ActGrad::Identity, nullptr, part, nullptr);
  check_launch("batchnorm_forward_train sum");
  finish_mean<<<blocks_for(C), kThreads, 0, stream()>>>(C, sp.S, Md, part, mean_d, save_mean);
  check_launch("batchnorm_forward_train mean");
  channel_partials<Stat::SqDev>
      <<<grid, kThreads, 0, stream()>>>(N, C, L, sp.S, sp.chunk, x, mean_d, nullptr, nullptr,
                                        nullptr, ActGrad::Identity, nullptr, part, nullptr);
  check_launch("batchnorm_forward_train sqdev");
  finish_var<<<blocks_for(C), kThreads, 0, stream()>>>(C, sp.S, Md, eps, part, gamma, scale,
                                                       save_invstd, batch_var);
  check_launch("batchnorm_forward_train var");
  if (!y) return;  // the statistics only
  normalize<<<blocks_for(total), kThreads, 0, stream()>>>(total, C, L, x, save_mean, scale, beta,
                                                          residual, relu, y);
  check_launch("batchnorm_forward_train normalize");
}

void batchnorm_forward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                             const float* beta, float eps, float* y, float* save_mean,
                             float* save_invstd, float* batch_var) {
  batchnorm_act_forward_train(N, C, L, x, gamma, beta, eps, nullptr, false, y, save_mean,
                              save_invstd, batch_var);
}

void batchnorm_backward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                              const float* gamma, const float* save_mean, const float* save_invstd,
                              float* dx, float* dgamma, float* dbeta) {
  backward_impl(N, C, L, x, nullptr, dy, ActGrad::Identity, gamma, save_mean, save_invstd, nullptr,
                dx, dgamma, dbeta, "batchnorm_backward_train");
}

void batchnorm_act_backward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* y,
                                  const float* dy, ActGrad act, const float* gamma,
                                  const float* save_mean, const float* save_invstd, float* g_pre,
                                  float* dx, float* dgamma, float* dbeta) {
  if (!g_pre) throw std::invalid_argument("batchnorm_act_backward_train: g_pre is required");
  backward_impl(N, C, L, x, y, dy, act, gamma, save_mean, save_invstd, g_pre, dx, dgamma, dbeta,
                "batchnorm_act_backward_train");
}

void batchnorm_forward_eval(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                            const float* beta, const float* running_mean, const float* running_var,
                            float eps, float* y) {
  const int64_t total = N * C * L;
  if (total <= 0) return;
  auto* scale = static_cast<float*>(detail::scratch(sizeof(float) * C));
  eval_constants<<<blocks_for(C), kThreads, 0, stream()>>>(C, gamma, running_var, eps, scale,
                                                           nullptr);
  check_launch("batchnorm_forward_eval constants");
  normalize<<<blocks_for(total), kThreads, 0, stream()>>>(total, C, L, x, running_mean, scale, beta,
                                                          nullptr, false, y);
  check_launch("batchnorm_forward_eval");
}

void batchnorm_backward_eval(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                             const float* gamma, const float* running_mean,
                             const float* running_var, float eps, float* dx, float* dgamma,
                             float* dbeta) {
  if (C <= 0 || N < 0 || L < 0) return;
  const int64_t M = N * L, total = N * C * L;
  const bool param_grads = gamma && (dgamma || dbeta);
  const Split sp = split_channels(C, M);
  const size_t scale_bytes = round_up(sizeof(float) * C);
  const size_t part_bytes = round_up(sizeof(double) * C * sp.S);
  char* base = static_cast<char*>(detail::scratch(scale_bytes + 2 * part_bytes));
  auto* scale = reinterpret_cast<float*>(base);
  auto* part1 = reinterpret_cast<double*>(base + scale_bytes);
  auto* part2 = reinterpret_cast<double*>(base + scale_bytes + part_bytes);
  if (total > 0 && dx) {
    eval_constants<<<blocks_for(C), kThreads, 0, stream()>>>(C, gamma, running_var, eps, scale,
                                                             nullptr);
    check_launch("batchnorm_backward_eval constants");
    scale_channels<<<blocks_for(total), kThreads, 0, stream()>>>(total, C, L, dy, scale, dx);
    check_launch("batchnorm_backward_eval dx");
  }
  if (!param_grads) return;
  if (M == 0) {  // empty batch: zero parameter gradients
    if (dgamma) fill_zero(dgamma, sizeof(float) * C);
    if (dbeta) fill_zero(dbeta, sizeof(float) * C);
    return;
  }
  channel_partials<Stat::Grad><<<partial_grid(C, sp), kThreads, 0, stream()>>>(
      N, C, L, sp.S, sp.chunk, x, nullptr, running_mean, nullptr, dy, ActGrad::Identity, nullptr,
      part1, part2);
  check_launch("batchnorm_backward_eval sums");
  finish_backward_eval<<<blocks_for(C), kThreads, 0, stream()>>>(C, sp.S, part1, part2, running_var,
                                                                 eps, dgamma, dbeta);
  check_launch("batchnorm_backward_eval params");
}

void batchnorm_backward_apply(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                              const float* mean, const float* coef, float* dx) {
  const int64_t total = N * C * L;
  if (total <= 0) return;
  backward_dx<<<blocks_for(total), kThreads, 0, stream()>>>(total, C, L, x, dy, mean, coef, dx);
  check_launch("batchnorm_backward_apply");
}

void batchnorm_update_running(int64_t C, float* running, const float* batch, float momentum) {
  if (C <= 0) return;
  update_running_kernel<<<blocks_for(C), 256, 0, stream()>>>(C, running, batch, momentum);
  check_launch("batchnorm_update_running");
}

const BatchNormKernels batchnorm_kernels{
    GB_KERNEL(cuda::batchnorm_forward_train),  GB_KERNEL(cuda::batchnorm_backward_train),
    GB_KERNEL(cuda::batchnorm_forward_eval),   GB_KERNEL(cuda::batchnorm_backward_eval),
    GB_KERNEL(cuda::batchnorm_backward_apply), GB_KERNEL(cuda::batchnorm_update_running)};
const BatchNormActKernels batchnorm_act_kernels{GB_KERNEL(cuda::batchnorm_act_forward_train),
                                                GB_KERNEL(cuda::batchnorm_act_backward_train)};

}  // namespace gb::kernels::cuda
