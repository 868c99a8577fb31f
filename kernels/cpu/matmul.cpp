// Fast batched matrix product (contract in kernels/matmul.h) on the packed SGEMM of gemm.h.
// Shape letters: B batches, op(A) M x K, op(B) K x N, C M x N.
// With at least as many batches as threads (attention: batch x heads products of T x T), the
// batches go across threads, each product by the serial cpu::sgemm; otherwise each product runs
// threaded (sgemm_parallel). Both compute every element of C with the same reduction order, so
// the result is bit-identical for any thread count. A shared operand's gradient (batch stride 0)
// accumulates over the batches in batch order (beta = 1 after the first).
//   dA = dC op(B)^T (stored transposed when trans_a), dB = op(A)^T dC (likewise for trans_b).
#include "kernels/matmul.h"

#include <omp.h>

#include <algorithm>

#include "kernels/gemm.h"

namespace gb::kernels::cpu {
namespace {
using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                        const float*, int64_t, float, float*, int64_t);

// Calls f(b, gemm, beta) for every batch: across threads with the serial GEMM when every batch
// writes its own output and there are enough batches, else in order with the threaded GEMM
// (beta 1 after the first batch when all of them accumulate into one shared output).
template <class F>
void over_batches(int64_t B, bool shared_out, const F& f) {
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (!shared_out && B > 1 && B >= threads) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; ++b) f(b, &sgemm, 0.0f);
    return;
  }
  for (int64_t b = 0; b < B; ++b) f(b, &sgemm_parallel, shared_out && b > 0 ? 1.0f : 0.0f);
}
}  // namespace

void matmul_forward(const MatMulShape& s, const float* a, const float* b, float* c) {
  const int64_t lda = s.trans_a ? s.M : s.K, ldb = s.trans_b ? s.K : s.N;
  over_batches(s.B, false, [&](int64_t i, GemmFn gemm, float beta) {
    gemm(s.trans_a, s.trans_b, s.M, s.N, s.K, 1.0f, a + i * s.stride_a, lda, b + i * s.stride_b,
         ldb, beta, c + i * s.M * s.N, s.N);
  });
}

void matmul_backward(const MatMulShape& s, const float* a, const float* b, const float* dc,
                     float* da, float* db) {
  const int64_t lda = s.trans_a ? s.M : s.K, ldb = s.trans_b ? s.K : s.N;
  const int64_t MN = s.M * s.N;
  if (da && s.B == 0) std::fill(da, da + (s.stride_a == 0 ? s.M * s.K : 0), 0.0f);
  if (db && s.B == 0) std::fill(db, db + (s.stride_b == 0 ? s.K * s.N : 0), 0.0f);
  if (da) {
    over_batches(s.B, s.stride_a == 0, [&](int64_t i, GemmFn gemm, float beta) {
      const float* bm = b + i * s.stride_b;
      float* out = da + i * s.stride_a;
      if (!s.trans_a) {  // [M,K] = dC [M,N] * op(B)^T
        gemm(false, !s.trans_b, s.M, s.K, s.N, 1.0f, dc + i * MN, s.N, bm, ldb, beta, out, s.K);
      } else {  // [K,M] = op(B) [K,N] * dC^T
        gemm(s.trans_b, true, s.K, s.M, s.N, 1.0f, bm, ldb, dc + i * MN, s.N, beta, out, s.M);
      }
    });
  }
  if (db) {
    over_batches(s.B, s.stride_b == 0, [&](int64_t i, GemmFn gemm, float beta) {
      const float* am = a + i * s.stride_a;
      float* out = db + i * s.stride_b;
      if (!s.trans_b) {  // [K,N] = op(A)^T [K,M] * dC
        gemm(!s.trans_a, false, s.K, s.N, s.M, 1.0f, am, lda, dc + i * MN, s.N, beta, out, s.N);
      } else {  // [N,K] = dC^T * op(A)
        gemm(true, s.trans_a, s.N, s.K, s.M, 1.0f, dc + i * MN, s.N, am, lda, beta, out, s.K);
      }
    });
  }
}

const MatMulKernels matmul_kernels{GB_KERNEL(cpu::matmul_forward), GB_KERNEL(cpu::matmul_backward)};

}  // namespace gb::kernels::cpu
