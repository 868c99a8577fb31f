// Reference batched matrix product (contract in kernels/matmul.h): plain loops with double
// accumulators; a shared operand's gradient (batch stride 0) is summed over the batches in
// double before it is rounded. Shape letters: B batches, op(A) M x K, op(B) K x N, C M x N.
#include "kernels/matmul.h"

#include <cstddef>
#include <vector>

namespace gb::kernels::ref {
namespace {
// op(A)[m, k] of batch b.
double a_at(const MatMulShape& s, const float* a, int64_t b, int64_t m, int64_t k) {
  const float* A = a + b * s.stride_a;
  return s.trans_a ? A[k * s.M + m] : A[m * s.K + k];
}
double b_at(const MatMulShape& s, const float* bm, int64_t b, int64_t k, int64_t n) {
  const float* Bm = bm + b * s.stride_b;
  return s.trans_b ? Bm[n * s.K + k] : Bm[k * s.N + n];
}
}  // namespace

void matmul_forward(const MatMulShape& s, const float* a, const float* b, float* c) {
  for (int64_t bi = 0; bi < s.B; ++bi) {
    for (int64_t m = 0; m < s.M; ++m) {
      for (int64_t n = 0; n < s.N; ++n) {
        double acc = 0.0;
        for (int64_t k = 0; k < s.K; ++k) acc += a_at(s, a, bi, m, k) * b_at(s, b, bi, k, n);
        c[(bi * s.M + m) * s.N + n] = static_cast<float>(acc);
      }
    }
  }
}

void matmul_backward(const MatMulShape& s, const float* a, const float* b, const float* dc,
                     float* da, float* db) {
  const int64_t ba = s.stride_a == 0 ? 1 : s.B, bb = s.stride_b == 0 ? 1 : s.B;
  if (da) {  // d op(A)[m, k] = sum_n dC[m, n] op(B)[k, n], summed over shared batches
    std::vector<double> acc(static_cast<size_t>(ba * s.M * s.K), 0.0);
    for (int64_t bi = 0; bi < s.B; ++bi) {
      double* out = acc.data() + (s.stride_a == 0 ? 0 : bi) * s.M * s.K;
      for (int64_t m = 0; m < s.M; ++m) {
        for (int64_t k = 0; k < s.K; ++k) {
          double v = 0.0;
          for (int64_t n = 0; n < s.N; ++n)
            v += dc[(bi * s.M + m) * s.N + n] * b_at(s, b, bi, k, n);
          out[s.trans_a ? k * s.M + m : m * s.K + k] += v;
        }
      }
    }
    for (size_t i = 0; i < acc.size(); ++i) da[i] = static_cast<float>(acc[i]);
  }
  if (db) {  // d op(B)[k, n] = sum_m op(A)[m, k] dC[m, n]
    std::vector<double> acc(static_cast<size_t>(bb * s.K * s.N), 0.0);
    for (int64_t bi = 0; bi < s.B; ++bi) {
      double* out = acc.data() + (s.stride_b == 0 ? 0 : bi) * s.K * s.N;
      for (int64_t k = 0; k < s.K; ++k) {
        for (int64_t n = 0; n < s.N; ++n) {
          double v = 0.0;
          for (int64_t m = 0; m < s.M; ++m)
            v += a_at(s, a, bi, m, k) * dc[(bi * s.M + m) * s.N + n];
          out[s.trans_b ? n * s.K + k : k * s.N + n] += v;
        }
      }
    }
    for (size_t i = 0; i < acc.size(); ++i) db[i] = static_cast<float>(acc[i]);
  }
}

const MatMulKernels matmul_kernels{GB_KERNEL(ref::matmul_forward), GB_KERNEL(ref::matmul_backward)};

}  // namespace gb::kernels::ref
