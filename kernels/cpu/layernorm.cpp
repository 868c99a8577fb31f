// Fast layer normalisation over the last dimension (contract in kernels/layernorm.h).
// Shape letters: N rows, D features; gamma/beta [D], mean/rstd [N].
// Rows go across threads (threads_for); within a row the sums are SIMD float reductions
// (omp simd, a fixed lane order) and the variance is the two-pass sum of (x - mean)^2. The
// backward computes dx row by row and the parameter gradients as per-block partials over fixed
// blocks of kBlock rows (float, SIMD over D), summed in block order in double: blocks depend on
// the shape only, so every output is bit-identical for any thread count.
#include "kernels/layernorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace gb::kernels::cpu {
namespace {
constexpr int64_t kBlock = 32;  // rows per parameter-gradient partial

void forward_row(int64_t D, const float* x, const float* gamma, const float* beta, float eps,
                 float* y, float* mean, float* rstd) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t d = 0; d < D; ++d) sum += x[d];
  const float mu = sum / static_cast<float>(D);
  float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
  for (int64_t d = 0; d < D; ++d) ss += (x[d] - mu) * (x[d] - mu);
  const float r = static_cast<float>(1.0 / std::sqrt(static_cast<double>(ss) / D + eps));
  if (gamma && beta) {
#pragma omp simd
    for (int64_t d = 0; d < D; ++d) y[d] = (x[d] - mu) * r * gamma[d] + beta[d];
  } else {
    for (int64_t d = 0; d < D; ++d) {
      y[d] = (x[d] - mu) * r * (gamma ? gamma[d] : 1.0f) + (beta ? beta[d] : 0.0f);
    }
  }
  *mean = mu;
  *rstd = r;
}

// dx of one row (when dx), and the row's dy * xhat and dy added to the block partials pg, pb.
void backward_row(int64_t D, const float* x, const float* gamma, float mu, float r, const float* dy,
                  float* dx, float* pg, float* pb) {
  float sg = 0.0f, sgx = 0.0f;
#pragma omp simd reduction(+ : sg, sgx)
  for (int64_t d = 0; d < D; ++d) {
    const float xhat = (x[d] - mu) * r;
    const float g = dy[d] * (gamma ? gamma[d] : 1.0f);
    sg += g;
    sgx += g * xhat;
    pg[d] += dy[d] * xhat;
    pb[d] += dy[d];
  }
  if (!dx) return;
  const float mg = sg / static_cast<float>(D), mgx = sgx / static_cast<float>(D);
#pragma omp simd
  for (int64_t d = 0; d < D; ++d) {
    const float xhat = (x[d] - mu) * r;
    dx[d] = r * (dy[d] * (gamma ? gamma[d] : 1.0f) - mg - xhat * mgx);
  }
}
}  // namespace

void layer_norm_forward(int64_t N, int64_t D, const float* x, const float* gamma, const float* beta,
                        float eps, float* y, float* mean, float* rstd) {
#pragma omp parallel for schedule(static) num_threads(threads_for(N* D))
  for (int64_t n = 0; n < N; ++n) {
    forward_row(D, x + n * D, gamma, beta, eps, y + n * D, mean + n, rstd + n);
  }
}

void layer_norm_backward(int64_t N, int64_t D, const float* x, const float* gamma,
                         const float* mean, const float* rstd, const float* dy, float* dx,
                         float* dgamma, float* dbeta) {
  const int64_t blocks = (N + kBlock - 1) / kBlock;
  std::vector<float> pg(static_cast<size_t>(blocks * D), 0.0f), pb(pg.size(), 0.0f);
#pragma omp parallel for schedule(static) num_threads(threads_for(N* D))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    float* g = pg.data() + blk * D;
    float* b = pb.data() + blk * D;
    for (int64_t n = blk * kBlock; n < std::min(N, (blk + 1) * kBlock); ++n) {
      backward_row(D, x + n * D, gamma, mean[n], rstd[n], dy + n * D, dx ? dx + n * D : nullptr, g,
                   b);
    }
  }
  for (int64_t d = 0; d < D; ++d) {
    double sg = 0.0, sb = 0.0;
    for (int64_t blk = 0; blk < blocks; ++blk) {
      sg += pg[static_cast<size_t>(blk * D + d)];
      sb += pb[static_cast<size_t>(blk * D + d)];
    }
    if (dgamma) dgamma[d] = static_cast<float>(sg);
    if (dbeta) dbeta[d] = static_cast<float>(sb);
  }
}

const LayerNormKernels layer_norm_kernels{GB_KERNEL(cpu::layer_norm_forward),
                                          GB_KERNEL(cpu::layer_norm_backward)};

}  // namespace gb::kernels::cpu
