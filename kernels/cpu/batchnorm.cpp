// Fast batch normalisation (training forward and backward), OpenMP over channels, vectorised
// over the L positions of each plane. Shape letters: N batch, C channels, L = H*W positions;
// x/y/dy/dx [N,C,L]; per-channel vectors [C]; M = N*L values per channel.
// Each plane is reduced in float (SIMD), planes are accumulated in double; the variance is the
// two-pass sum of (x - mean)^2. A channel is handled by one thread, so results do not depend on
// the thread count. As in the reference, batch_var with M == 1 is the biased value (0).
#include "kernels/cpu/batchnorm.h"

#include <cmath>

namespace gb::kernels::cpu {

void batchnorm_forward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                             const float* beta, float eps, float* y, float* save_mean,
                             float* save_invstd, float* batch_var) {
  const double M = static_cast<double>(N * L);
#pragma omp parallel for schedule(static)
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
    for (int64_t n = 0; n < N; ++n) {
      const float* xs = x + (n * C + c) * L;
      float* ys = y + (n * C + c) * L;
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) ys[l] = (xs[l] - mean) * scale + shift;
    }
    save_mean[c] = mean;
    save_invstd[c] = static_cast<float>(invstd);
    if (batch_var) batch_var[c] = static_cast<float>(M > 1.0 ? total_sq / (M - 1.0) : var);
  }
}

// dbeta = sum dy, dgamma = invstd * sum dy * (x - mean),
// dx = k1 * dy - k2 * (x - mean) - k3 with k1 = gamma * invstd, k2 = k1 * invstd * dgamma / M,
// k3 = k1 * dbeta / M.
void batchnorm_backward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                              const float* gamma, const float* save_mean, const float* save_invstd,
                              float* dx, float* dgamma, float* dbeta) {
  const double M = static_cast<double>(N * L);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    const float mean = save_mean[c];
    const double invstd = save_invstd[c];
    double sum_dy = 0.0, sum_dy_xmu = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const float* xs = x + (n * C + c) * L;
      const float* gs = dy + (n * C + c) * L;
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
      const float* gs = dy + (n * C + c) * L;
      float* out = dx + (n * C + c) * L;
#pragma omp simd
      for (int64_t l = 0; l < L; ++l) out[l] = k1f * gs[l] - k2 * (xs[l] - mean) - k3;
    }
    if (gamma && dgamma) dgamma[c] = static_cast<float>(dgamma_c);
    if (gamma && dbeta) dbeta[c] = static_cast<float>(sum_dy);
  }
}

}  // namespace gb::kernels::cpu
