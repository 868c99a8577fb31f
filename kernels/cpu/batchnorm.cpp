// Fast batch normalisation (training forward and backward, optionally with a fused residual add
// and ReLU; eval forward and backward), OpenMP over channels, vectorised
// over the L positions of each plane. Shape letters: N batch, C channels, L = H*W positions;
// x/y/dy/dx [N,C,L]; per-channel vectors [C]; M = N*L values per channel.
// Each plane is reduced in float (SIMD), planes are accumulated in double; the variance is the
// two-pass sum of (x - mean)^2. A channel is handled by one thread, so results do not depend on
// the thread count. As in the reference, batch_var with M == 1 is the biased value (0).
#include "kernels/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace gb::kernels::cpu {
namespace {

// y[l] = act((x[l] - mean) * scale + shift + r[l]) for l < L (r may be nullptr).
void normalize_plane(int64_t L, const float* x, float mean, float scale, float shift,
                     const float* r, bool relu, float* y) {
  if (r && relu) {
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) y[l] = std::max((x[l] - mean) * scale + shift + r[l], 0.0f);
  } else if (r) {
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) y[l] = (x[l] - mean) * scale + shift + r[l];
  } else if (relu) {
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) y[l] = std::max((x[l] - mean) * scale + shift, 0.0f);
  } else {
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) y[l] = (x[l] - mean) * scale + shift;
  }
}

}  // namespace

void batchnorm_act_forward_train(int64_t N, int64_t C, int64_t L, const float* x,
                                 const float* gamma, const float* beta, float eps,
                                 const float* residual, bool relu, float* y, float* save_mean,
                                 float* save_invstd, float* batch_var) {
  const double M = static_cast<double>(N * L);
#pragma omp parallel for schedule(static) num_threads(threads_for(N* C* L))
  for (int64_t c = 0; c < C; ++c) {
    double total = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const float* xs = x + (n * C + c) * L;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t l = 0; l < L; ++l) sum += xs[l];
      total += sum;
    }
    const double mean_d = total / M;
    const float mean = static_cast<float>(mean_d);
    double total_sq = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const float* xs = x + (n * C + c) * L;
      float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
      for (int64_t l = 0; l < L; ++l) {
        const float d = xs[l] - mean;
        sq += d * d;
      }
      total_sq += sq;
    }
    const double var = total_sq / M;
    const double invstd = 1.0 / std::sqrt(var + static_cast<double>(eps));
    const float scale = static_cast<float>(invstd * (gamma ? gamma[c] : 1.0f));
    const float shift = beta ? beta[c] : 0.0f;
    for (int64_t n = 0; y && n < N; ++n) {
      const int64_t base = (n * C + c) * L;
      normalize_plane(L, x + base, mean, scale, shift, residual ? residual + base : nullptr, relu,
                      y + base);
    }
    save_mean[c] = mean;
    save_invstd[c] = static_cast<float>(invstd);
    if (batch_var) batch_var[c] = static_cast<float>(M > 1.0 ? total_sq / (M - 1.0) : var);
  }
}

void batchnorm_forward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                             const float* beta, float eps, float* y, float* save_mean,
                             float* save_invstd, float* batch_var) {
  batchnorm_act_forward_train(N, C, L, x, gamma, beta, eps, nullptr, false, y, save_mean,
                              save_invstd, batch_var);
}

// dbeta = sum dy, dgamma = invstd * sum dy * (x - mean),
// dx = k1 * dy - k2 * (x - mean) - k3 with k1 = gamma * invstd, k2 = k1 * invstd * dgamma / M,
// k3 = k1 * dbeta / M.
namespace {

// One channel's backward from its upstream gradient planes; g(n) gives plane n of the gradient.
template <class GradPlane>
void backward_channel(int64_t N, int64_t C, int64_t L, int64_t c, const float* x, GradPlane&& g,
                      const float* gamma, const float* save_mean, const float* save_invstd,
                      float* dx, float* dgamma, float* dbeta) {
  const double M = static_cast<double>(N * L);
  const float mean = save_mean[c];
  const double invstd = save_invstd[c];
  double sum_dy = 0.0, sum_dy_xmu = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const float* xs = x + (n * C + c) * L;
    const float* gs = g(n);
    float s1 = 0.0f, s2 = 0.0f;
#pragma omp simd reduction(+ : s1, s2)
    for (int64_t l = 0; l < L; ++l) {
      s1 += gs[l];
      s2 += gs[l] * (xs[l] - mean);
    }
    sum_dy += s1;
    sum_dy_xmu += s2;
  }
  const double dgamma_c = sum_dy_xmu * invstd;
  const double k1 = (gamma ? gamma[c] : 1.0) * invstd;
  const float k2 = static_cast<float>(k1 * invstd * dgamma_c / M);
  const float k3 = static_cast<float>(k1 * sum_dy / M);
  const float k1f = static_cast<float>(k1);
  for (int64_t n = 0; n < N; ++n) {
    const float* xs = x + (n * C + c) * L;
    const float* gs = g(n);
    float* out = dx + (n * C + c) * L;
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) out[l] = k1f * gs[l] - k2 * (xs[l] - mean) - k3;
  }
  if (gamma && dgamma) dgamma[c] = static_cast<float>(dgamma_c);
  if (gamma && dbeta) dbeta[c] = static_cast<float>(sum_dy);
}

// out[l] = act'(y[l], dy[l]) for l < L.
void activation_grad(int64_t L, const float* y, const float* dy, ActGrad act, float* out) {
  switch (act) {
    case ActGrad::Identity:
      for (int64_t l = 0; l < L; ++l) out[l] = dy[l];
      break;
    case ActGrad::Relu:
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) out[l] = y[l] > 0.0f ? dy[l] : 0.0f;
      break;
    case ActGrad::Guided:
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) out[l] = y[l] > 0.0f && dy[l] > 0.0f ? dy[l] : 0.0f;
      break;
    case ActGrad::Deconv:
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) out[l] = dy[l] > 0.0f ? dy[l] : 0.0f;
      break;
  }
}

}  // namespace

// dbeta = sum dy, dgamma = invstd * sum dy * (x - mean),
// dx = k1 * dy - k2 * (x - mean) - k3 with k1 = gamma * invstd, k2 = k1 * invstd * dgamma / M,
// k3 = k1 * dbeta / M.
void batchnorm_backward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                              const float* gamma, const float* save_mean, const float* save_invstd,
                              float* dx, float* dgamma, float* dbeta) {
#pragma omp parallel for schedule(static) num_threads(threads_for(N* C* L))
  for (int64_t c = 0; c < C; ++c) {
    backward_channel(
        N, C, L, c, x, [&](int64_t n) { return dy + (n * C + c) * L; }, gamma, save_mean,
        save_invstd, dx, dgamma, dbeta);
  }
}

void batchnorm_act_backward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* y,
                                  const float* dy, ActGrad act, const float* gamma,
                                  const float* save_mean, const float* save_invstd, float* g_pre,
                                  float* dx, float* dgamma, float* dbeta) {
#pragma omp parallel for schedule(static) num_threads(threads_for(N* C* L))
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t n = 0; n < N; ++n) {
      const int64_t base = (n * C + c) * L;
      activation_grad(L, y + base, dy + base, act, g_pre + base);
    }
    backward_channel(
        N, C, L, c, x, [&](int64_t n) { return g_pre + (n * C + c) * L; }, gamma, save_mean,
        save_invstd, dx, dgamma, dbeta);
  }
}

void batchnorm_forward_eval(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                            const float* beta, const float* running_mean, const float* running_var,
                            float eps, float* y) {
  std::vector<float> scale(static_cast<size_t>(C)), shift(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const float invstd = 1.0f / std::sqrt(running_var[c] + eps);
    scale[static_cast<size_t>(c)] = invstd * (gamma ? gamma[c] : 1.0f);
    shift[static_cast<size_t>(c)] = beta ? beta[c] : 0.0f;
  }
  const float* sc = scale.data();
  const float* sh = shift.data();
#pragma omp parallel for schedule(static) num_threads(threads_for(N* C* L))
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const int64_t c = nc % C;
    const float* xs = x + nc * L;
    float* ys = y + nc * L;
    const float m = running_mean[c], a = sc[c], b = sh[c];
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) ys[l] = (xs[l] - m) * a + b;
  }
}

void batchnorm_backward_eval(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                             const float* gamma, const float* running_mean,
                             const float* running_var, float eps, float* dx, float* dgamma,
                             float* dbeta) {
  std::vector<float> invstd(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c)
    invstd[static_cast<size_t>(c)] = 1.0f / std::sqrt(running_var[c] + eps);
  const float* is = invstd.data();
  if (dx) {
#pragma omp parallel for schedule(static) num_threads(threads_for(N* C* L))
    for (int64_t nc = 0; nc < N * C; ++nc) {
      const int64_t c = nc % C;
      const float k = is[c] * (gamma ? gamma[c] : 1.0f);
      const float* gs = dy + nc * L;
      float* out = dx + nc * L;
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) out[l] = gs[l] * k;
    }
  }
  if (!gamma || !dgamma) return;
    // Parameter gradients: one thread per channel, planes accumulated in double.
#pragma omp parallel for schedule(static) num_threads(threads_for(N* C* L))
  for (int64_t c = 0; c < C; ++c) {
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    const float m = running_mean[c];
    for (int64_t n = 0; n < N; ++n) {
      const float* xs = x + (n * C + c) * L;
      const float* gs = dy + (n * C + c) * L;
      float s1 = 0.0f, s2 = 0.0f;
#pragma omp simd reduction(+ : s1, s2)
      for (int64_t l = 0; l < L; ++l) {
        s1 += gs[l];
        s2 += gs[l] * (xs[l] - m);
      }
      sum_dy += s1;
      sum_dy_xhat += s2;
    }
    dgamma[c] = static_cast<float>(sum_dy_xhat * is[c]);
    if (dbeta) dbeta[c] = static_cast<float>(sum_dy);
  }
}

void batchnorm_backward_apply(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                              const float* mean, const float* coef, float* dx) {
#pragma omp parallel for schedule(static) num_threads(threads_for(N* C* L))
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const int64_t c = nc % C;
    const float k1 = coef[c], k2 = coef[C + c], k3 = coef[2 * C + c], m = mean[c];
    const float* xs = x + nc * L;
    const float* gs = dy + nc * L;
    float* out = dx + nc * L;
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) out[l] = k1 * gs[l] - k2 * (xs[l] - m) - k3;
  }
}

const BatchNormKernels batchnorm_kernels{
    GB_KERNEL(cpu::batchnorm_forward_train),  GB_KERNEL(cpu::batchnorm_backward_train),
    GB_KERNEL(cpu::batchnorm_forward_eval),   GB_KERNEL(cpu::batchnorm_backward_eval),
    GB_KERNEL(cpu::batchnorm_backward_apply), GB_KERNEL(ref::batchnorm_update_running)};
const BatchNormActKernels batchnorm_act_kernels{GB_KERNEL(cpu::batchnorm_act_forward_train),
                                                GB_KERNEL(cpu::batchnorm_act_backward_train)};

}  // namespace gb::kernels::cpu
