// Reference batch normalisation over N and the L = H*W positions of each channel, plain loops
// with double accumulators. Shape letters: N batch, C channels, L positions per plane;
// x/y/dy/dx [N,C,L]; per-channel vectors [C]. M = N*L values per channel.
// Surprise: with M == 1, batch_var (unbiased) is undefined; we write the biased value (0) rather
// than inf/NaN (PyTorch refuses such a batch in training). The fused form (batchnorm_act_*) is
// the composition of these loops with the residual add and the ReLU rules of activation.h.
#include "kernels/batchnorm.h"

#include <algorithm>
#include <cmath>

#include "kernels/activation.h"

namespace gb::kernels::ref {
namespace {
inline double at(const float* x, int64_t C, int64_t L, int64_t n, int64_t c, int64_t l) {
  return x[(n * C + c) * L + l];
}
}  // namespace

void batchnorm_forward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                             const float* beta, float eps, float* y, float* save_mean,
                             float* save_invstd, float* batch_var) {
  const double M = static_cast<double>(N * L);
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t l = 0; l < L; ++l) sum += at(x, C, L, n, c, l);
    const double mean = sum / M;
    double sq = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t l = 0; l < L; ++l) {
        const double d = at(x, C, L, n, c, l) - mean;
        sq += d * d;
      }
    }
    const double var = sq / M;
    const double invstd = 1.0 / std::sqrt(var + static_cast<double>(eps));
    const double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
    for (int64_t n = 0; y && n < N; ++n)
      for (int64_t l = 0; l < L; ++l)
        y[(n * C + c) * L + l] = static_cast<float>((at(x, C, L, n, c, l) - mean) * invstd * g + b);
    save_mean[c] = static_cast<float>(mean);
    save_invstd[c] = static_cast<float>(invstd);
    if (batch_var) batch_var[c] = static_cast<float>(M > 1.0 ? sq / (M - 1.0) : var);
  }
}

void batchnorm_forward_eval(int64_t N, int64_t C, int64_t L, const float* x, const float* gamma,
                            const float* beta, const float* running_mean, const float* running_var,
                            float eps, float* y) {
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    const double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t l = 0; l < L; ++l)
        y[(n * C + c) * L + l] =
            static_cast<float>((at(x, C, L, n, c, l) - running_mean[c]) * invstd * g + b);
  }
}

// With xhat = (x - mean) * invstd and M = N*L:
//   dbeta = sum dy, dgamma = sum dy * xhat,
//   dx = gamma * invstd * (dy - dbeta / M - xhat * dgamma / M).
void batchnorm_backward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                              const float* gamma, const float* save_mean, const float* save_invstd,
                              float* dx, float* dgamma, float* dbeta) {
  const double M = static_cast<double>(N * L);
  for (int64_t c = 0; c < C; ++c) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t l = 0; l < L; ++l) {
        const double g = at(dy, C, L, n, c, l);
        sum_dy += g;
        sum_dy_xhat += g * (at(x, C, L, n, c, l) - mean) * invstd;
      }
    }
    const double gm = gamma ? gamma[c] : 1.0;
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t l = 0; l < L; ++l) {
        const double xhat = (at(x, C, L, n, c, l) - mean) * invstd;
        const double g = at(dy, C, L, n, c, l);
        dx[(n * C + c) * L + l] =
            static_cast<float>(gm * invstd * (g - sum_dy / M - xhat * sum_dy_xhat / M));
      }
    }
    if (gamma && dgamma) dgamma[c] = static_cast<float>(sum_dy_xhat);
    if (gamma && dbeta) dbeta[c] = static_cast<float>(sum_dy);
  }
}

void batchnorm_backward_eval(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                             const float* gamma, const float* running_mean,
                             const float* running_var, float eps, float* dx, float* dgamma,
                             float* dbeta) {
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    const double gm = gamma ? gamma[c] : 1.0;
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t l = 0; l < L; ++l) {
        const double g = at(dy, C, L, n, c, l);
        sum_dy += g;
        sum_dy_xhat += g * (at(x, C, L, n, c, l) - running_mean[c]) * invstd;
        if (dx) dx[(n * C + c) * L + l] = static_cast<float>(g * gm * invstd);
      }
    }
    if (gamma && dgamma) dgamma[c] = static_cast<float>(sum_dy_xhat);
    if (gamma && dbeta) dbeta[c] = static_cast<float>(sum_dy);
  }
}

void batchnorm_backward_apply(int64_t N, int64_t C, int64_t L, const float* x, const float* dy,
                              const float* mean, const float* coef, float* dx) {
  for (int64_t c = 0; c < C; ++c) {
    const double k1 = coef[c], k2 = coef[C + c], k3 = coef[2 * C + c];
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t l = 0; l < L; ++l) {
        dx[(n * C + c) * L + l] = static_cast<float>(k1 * at(dy, C, L, n, c, l) -
                                                     k2 * (at(x, C, L, n, c, l) - mean[c]) - k3);
      }
    }
  }
}

void batchnorm_update_running(int64_t C, float* running, const float* batch, float momentum) {
  for (int64_t c = 0; c < C; ++c) running[c] = (1.0f - momentum) * running[c] + momentum * batch[c];
}

void batchnorm_act_forward_train(int64_t N, int64_t C, int64_t L, const float* x,
                                 const float* gamma, const float* beta, float eps,
                                 const float* residual, bool relu, float* y, float* save_mean,
                                 float* save_invstd, float* batch_var) {
  batchnorm_forward_train(N, C, L, x, gamma, beta, eps, y, save_mean, save_invstd, batch_var);
  const int64_t n = N * C * L;
  for (int64_t i = 0; residual && i < n; ++i) y[i] += residual[i];
  if (relu) relu_forward(n, y, y);
}

void batchnorm_act_backward_train(int64_t N, int64_t C, int64_t L, const float* x, const float* y,
                                  const float* dy, ActGrad act, const float* gamma,
                                  const float* save_mean, const float* save_invstd, float* g_pre,
                                  float* dx, float* dgamma, float* dbeta) {
  const int64_t n = N * C * L;
  switch (act) {
    case ActGrad::Identity:
      std::copy(dy, dy + n, g_pre);
      break;
    case ActGrad::Relu:
      relu_backward(n, y, dy, g_pre);
      break;
    case ActGrad::Guided:
      relu_backward_guided(n, y, dy, g_pre);
      break;
    case ActGrad::Deconv:
      relu_backward_deconv(n, y, dy, g_pre);
      break;
  }
  batchnorm_backward_train(N, C, L, x, g_pre, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
}

const BatchNormKernels batchnorm_kernels{
    GB_KERNEL(ref::batchnorm_forward_train),  GB_KERNEL(ref::batchnorm_backward_train),
    GB_KERNEL(ref::batchnorm_forward_eval),   GB_KERNEL(ref::batchnorm_backward_eval),
    GB_KERNEL(ref::batchnorm_backward_apply), GB_KERNEL(ref::batchnorm_update_running)};
const BatchNormActKernels batchnorm_act_kernels{GB_KERNEL(ref::batchnorm_act_forward_train),
                                                GB_KERNEL(ref::batchnorm_act_backward_train)};

}  // namespace gb::kernels::ref
