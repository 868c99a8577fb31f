// Reference row-wise softmax, log-softmax and cross-entropy, in double, numerically stable (the
// row maximum is subtracted first). Shape letters: N rows, D classes (contiguous); targets [N].
// Cross-entropy with label smoothing eps follows PyTorch: per row,
//   loss = (1 - eps) * (-logp[target]) + eps * mean_over_classes(-logp),
// i.e. the target distribution is (1 - eps) * onehot + eps / D; the result is the mean over N.
#include "kernels/softmax.h"

#include <cassert>
#include <cmath>
#include <vector>

namespace gb::kernels::ref {
namespace {
// logp[d] = x[d] - max - log(sum exp(x - max)), in double.
void row_log_softmax(int64_t D, const float* x, double* logp) {
  double mx = x[0];
  for (int64_t d = 1; d < D; ++d) mx = std::max(mx, static_cast<double>(x[d]));
  double sum = 0.0;
  for (int64_t d = 0; d < D; ++d) sum += std::exp(x[d] - mx);
  const double lse = mx + std::log(sum);
  for (int64_t d = 0; d < D; ++d) logp[d] = x[d] - lse;
}
}  // namespace

void softmax_forward(int64_t N, int64_t D, const float* x, float* y) {
  std::vector<double> logp(static_cast<size_t>(D));
  for (int64_t n = 0; n < N; ++n) {
    row_log_softmax(D, x + n * D, logp.data());
    for (int64_t d = 0; d < D; ++d) y[n * D + d] = static_cast<float>(std::exp(logp[d]));
  }
}

void softmax_backward(int64_t N, int64_t D, const float* y, const float* dy, float* dx) {
  for (int64_t n = 0; n < N; ++n) {
    double dot = 0.0;
    for (int64_t d = 0; d < D; ++d) dot += static_cast<double>(dy[n * D + d]) * y[n * D + d];
    for (int64_t d = 0; d < D; ++d)
      dx[n * D + d] = static_cast<float>(y[n * D + d] * (dy[n * D + d] - dot));
  }
}

void log_softmax_forward(int64_t N, int64_t D, const float* x, float* y) {
  std::vector<double> logp(static_cast<size_t>(D));
  for (int64_t n = 0; n < N; ++n) {
    row_log_softmax(D, x + n * D, logp.data());
    for (int64_t d = 0; d < D; ++d) y[n * D + d] = static_cast<float>(logp[d]);
  }
}

void log_softmax_backward(int64_t N, int64_t D, const float* y, const float* dy, float* dx) {
  for (int64_t n = 0; n < N; ++n) {
    double sum = 0.0;
    for (int64_t d = 0; d < D; ++d) sum += dy[n * D + d];
    for (int64_t d = 0; d < D; ++d)
      dx[n * D + d] = static_cast<float>(dy[n * D + d] - std::exp(y[n * D + d]) * sum);
  }
}

void cross_entropy_forward(int64_t N, int64_t D, const float* logits, const int64_t* targets,
                           float label_smoothing, float* probs, float* loss) {
  const double eps = label_smoothing;
  std::vector<double> logp(static_cast<size_t>(D));
  double total = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    assert(targets[n] >= 0 && targets[n] < D);
    row_log_softmax(D, logits + n * D, logp.data());
    double mean_neg_logp = 0.0;
    for (int64_t d = 0; d < D; ++d) mean_neg_logp -= logp[d];
    mean_neg_logp /= static_cast<double>(D);
    total += (1.0 - eps) * -logp[targets[n]] + eps * mean_neg_logp;
    for (int64_t d = 0; d < D; ++d) probs[n * D + d] = static_cast<float>(std::exp(logp[d]));
  }
  *loss = static_cast<float>(total / static_cast<double>(N));
}

void cross_entropy_backward(int64_t N, int64_t D, const float* probs, const int64_t* targets,
                            float label_smoothing, const float* dloss, float* dlogits) {
  const double eps = label_smoothing;
  const double scale = static_cast<double>(*dloss) / static_cast<double>(N);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t d = 0; d < D; ++d) {
      const double target = (d == targets[n] ? 1.0 - eps : 0.0) + eps / static_cast<double>(D);
      dlogits[n * D + d] = static_cast<float>((probs[n * D + d] - target) * scale);
    }
  }
}

const SoftmaxKernels softmax_kernels{GB_KERNEL(ref::softmax_forward),
                                     GB_KERNEL(ref::softmax_backward)};
const SoftmaxKernels log_softmax_kernels{GB_KERNEL(ref::log_softmax_forward),
                                         GB_KERNEL(ref::log_softmax_backward)};
const CrossEntropyKernels cross_entropy_kernels{GB_KERNEL(ref::cross_entropy_forward),
                                                GB_KERNEL(ref::cross_entropy_backward)};

}  // namespace gb::kernels::ref
