// Reference layer normalisation over the last dimension (contract in kernels/layernorm.h): plain
// loops in double. Shape letters: N rows, D features; gamma/beta [D], mean/rstd [N].
#include "kernels/layernorm.h"

#include <cmath>
#include <vector>

namespace gb::kernels::ref {

void layer_norm_forward(int64_t N, int64_t D, const float* x, const float* gamma, const float* beta,
                        float eps, float* y, float* mean, float* rstd) {
  for (int64_t n = 0; n < N; ++n) {
    const float* row = x + n * D;
    double sum = 0.0;
    for (int64_t d = 0; d < D; ++d) sum += row[d];
    const double mu = sum / static_cast<double>(D);
    double ss = 0.0;
    for (int64_t d = 0; d < D; ++d) ss += (row[d] - mu) * (row[d] - mu);
    const double r = 1.0 / std::sqrt(ss / static_cast<double>(D) + eps);
    for (int64_t d = 0; d < D; ++d) {
      const double v = (row[d] - mu) * r * (gamma ? gamma[d] : 1.0) + (beta ? beta[d] : 0.0);
      y[n * D + d] = static_cast<float>(v);
    }
    mean[n] = static_cast<float>(mu);
    rstd[n] = static_cast<float>(r);
  }
}

void layer_norm_backward(int64_t N, int64_t D, const float* x, const float* gamma,
                         const float* mean, const float* rstd, const float* dy, float* dx,
                         float* dgamma, float* dbeta) {
  std::vector<double> dg(static_cast<size_t>(D), 0.0), db(static_cast<size_t>(D), 0.0);
  for (int64_t n = 0; n < N; ++n) {
    const float* xr = x + n * D;
    const float* dyr = dy + n * D;
    double mean_g = 0.0, mean_gx = 0.0;
    for (int64_t d = 0; d < D; ++d) {
      const double xhat = (xr[d] - static_cast<double>(mean[n])) * rstd[n];
      const double g = static_cast<double>(dyr[d]) * (gamma ? gamma[d] : 1.0);
      mean_g += g;
      mean_gx += g * xhat;
      dg[static_cast<size_t>(d)] += dyr[d] * xhat;
      db[static_cast<size_t>(d)] += dyr[d];
    }
    mean_g /= static_cast<double>(D);
    mean_gx /= static_cast<double>(D);
    if (!dx) continue;
    for (int64_t d = 0; d < D; ++d) {
      const double xhat = (xr[d] - static_cast<double>(mean[n])) * rstd[n];
      const double g = static_cast<double>(dyr[d]) * (gamma ? gamma[d] : 1.0);
      dx[n * D + d] = static_cast<float>(rstd[n] * (g - mean_g - xhat * mean_gx));
    }
  }
  for (int64_t d = 0; d < D; ++d) {
    if (dgamma) dgamma[d] = static_cast<float>(dg[static_cast<size_t>(d)]);
    if (dbeta) dbeta[d] = static_cast<float>(db[static_cast<size_t>(d)]);
  }
}

const LayerNormKernels layer_norm_kernels{GB_KERNEL(ref::layer_norm_forward),
                                          GB_KERNEL(ref::layer_norm_backward)};

}  // namespace gb::kernels::ref
