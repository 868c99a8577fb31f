// CUDA sgemm and the linear layer on it (see linear.h).
// Letters: sgemm C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C; linear x [N,I], w [O,I],
// b [O], y [N,O] (N batch, I inputs, O outputs).
// sgemm is the tiled GEMM of gemm_tile.cuh (64x64 block tile, BK 16, 256 threads, 4x4 per
// thread; or a 128x128 / 128x64 / 64x128 large-tile variant picked by gemm::choose_tile from the
// sizes only) with plain strided loaders; each operand is staged with consecutive threads along its
// contiguous dimension (A along k unless transposed, B along n unless transposed).
//   linear_forward   y  = x w^T + b    sgemm(N, T), bias added in the store
//   linear_backward  dx = dy w         sgemm(N, N)
//                    dw = dy^T x       sgemm(T, N)
//                    db = column sums of dy: one thread per column, rows in ascending order
// No atomics; every output is reduced in a fixed order (deterministic).
#include <stdexcept>

#include "kernels/cuda/gemm_tile.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/gemm.h"
#include "kernels/linear.h"

namespace gb::kernels::cuda {
namespace {

template <bool kTransA, bool kTransB>
struct SgemmProblem {
  int64_t M, cols;
  int splits = 1;
  int64_t chunk, red;
  static constexpr bool kAKFast = !kTransA;
  static constexpr bool kBColFast = !kTransB;
  const float* __restrict__ A;
  int64_t lda;
  const float* __restrict__ B;
  int64_t ldb;
  float* __restrict__ C;
  int64_t ldc;
  float alpha, beta;
  const float* __restrict__ col_bias;  // added to every row of C (linear_forward), or nullptr

  struct ACtx {
    const float* p = nullptr;
  };
  __device__ ACtx a_ctx(int, int64_t m) const { return {kTransA ? A + m : A + m * lda}; }
  __device__ float load_a(const ACtx& a, int64_t kk) const {
    return __ldg(kTransA ? a.p + kk * lda : a.p + kk);
  }
  struct ACur {
    int64_t kk = 0;
  };
  __device__ ACur a_cur(int64_t kk) const { return {kk}; }
  __device__ void a_next(ACur& c) const { c.kk += gemm::kBigBK; }
  __device__ float load_a(const ACtx& a, const ACur& c) const { return load_a(a, c.kk); }
  struct BCtx {
    const float* p = nullptr;
  };
  __device__ BCtx b_ctx(int, int64_t n) const { return {kTransB ? B + n * ldb : B + n}; }
  __device__ float load_b(const BCtx& b, int64_t kk) const {
    return __ldg(kTransB ? b.p + kk : b.p + kk * ldb);
  }
  struct BCur {
    int64_t kk = 0;
  };
  __device__ BCur b_cur(int64_t kk) const { return {kk}; }
  __device__ void b_next(BCur& c) const { c.kk += gemm::kBigBK; }
  __device__ float load_b(const BCtx& b, const BCur& c) const { return load_b(b, c.kk); }
  __device__ void store(int, int, int64_t m, int64_t n, float v) const {
    float* out = C + m * ldc + n;
    float r = alpha * v;
    if (beta != 0.0f) r += beta * *out;  // beta == 0: C is not read (may hold garbage)
    if (col_bias) r += __ldg(col_bias + n);
    *out = r;
  }
};

template <bool kTransA, bool kTransB>
void run_sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
               const float* col_bias, const char* name) {
  SgemmProblem<kTransA, kTransB> prob;
  prob.M = M;
  prob.cols = N;
  prob.red = K;
  prob.chunk = K > 0 ? K : 1;
  prob.A = A;
  prob.lda = lda;
  prob.B = B;
  prob.ldb = ldb;
  prob.C = C;
  prob.ldc = ldc;
  prob.alpha = alpha;
  prob.beta = beta;
  prob.col_bias = col_bias;
  gemm::launch_tiled_gemm(prob, 1, name, gemm::choose_tile(M, N, 1, false));
}

void sgemm_impl(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                int64_t ldc, const float* col_bias, const char* name) {
  if (M < 0 || N < 0 || K < 0) throw std::runtime_error("cuda: sgemm: negative size");
  if (M == 0 || N == 0) return;
  if (trans_a) {
    if (trans_b)
      run_sgemm<true, true>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, col_bias, name);
    else
      run_sgemm<true, false>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, col_bias, name);
  } else {
    if (trans_b)
      run_sgemm<false, true>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, col_bias, name);
    else
      run_sgemm<false, false>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, col_bias, name);
  }
}

// db[o] = sum over rows n (ascending) of dy[n, o].
__global__ void column_sums_kernel(const float* __restrict__ dy, int64_t N, int64_t O,
                                   float* __restrict__ db) {
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < O;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float s = 0.0f;
    for (int64_t n = 0; n < N; ++n) s += __ldg(dy + n * O + o);
    db[o] = s;
  }
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  sgemm_impl(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, nullptr, "sgemm");
}

void linear_forward(int64_t N, int64_t I, int64_t O, const float* x, const float* w, const float* b,
                    float* y) {
  sgemm_impl(false, true, N, O, I, 1.0f, x, I, w, I, 0.0f, y, O, b, "linear_forward");
}

void linear_backward(int64_t N, int64_t I, int64_t O, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db) {
  if (dx != nullptr)
    sgemm_impl(false, false, N, I, O, 1.0f, dy, O, w, I, 0.0f, dx, I, nullptr,
               "linear_backward: dx");
  if (dw != nullptr)
    sgemm_impl(true, false, O, I, N, 1.0f, dy, O, x, I, 0.0f, dw, I, nullptr,
               "linear_backward: dw");
  if (db != nullptr && O > 0) {
    column_sums_kernel<<<blocks_for(O), 256, 0, stream()>>>(dy, N, O, db);
    check_launch("linear_backward: db");
  }
}

const LinearKernels linear_kernels{GB_KERNEL(cuda::linear_forward),
                                   GB_KERNEL(cuda::linear_backward)};

}  // namespace gb::kernels::cuda
