// Deterministic reductions (see reduce.h). Whole-array sums: stage 1 runs a block count fixed by
// n, each thread summing a strided subsequence in double and each block reducing its threads
// with a fixed tree; stage 2 is one block combining the block partials by the same tree.
// Broadcast sums: the kept and the summed dims are collapsed on the host; many small sums run
// one thread per output, a few large ones split each output's range into a shape-determined
// number of blocks whose partials one thread per output adds in order.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/cuda/device_api.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

namespace gb::kernels::cuda {

namespace detail {
void* scratch(size_t bytes) {
  static void* buf = nullptr;
  static size_t cap = 0;
  if (bytes > cap) {
    if (buf) {
      synchronize();  // earlier kernels may still read the old buffer
      free_device(buf);
      buf = nullptr;
      cap = 0;
    }
    const size_t want = std::max<size_t>(bytes + bytes / 2, 1 << 16);
    buf = malloc_device(want);
    cap = want;
  }
  return buf;
}
}  // namespace detail

namespace {

constexpr int kThreads = 256;
constexpr int kMaxDims = 8;

// Sum of v over the block (blockDim.x == kThreads) by a fixed tree; every thread gets it.
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

// ---- whole-array sums ----

int64_t stage1_blocks(int64_t n) {
  return std::clamp<int64_t>((n + 4 * kThreads * 4 - 1) / (4 * kThreads * 4), 1, 1024);
}

template <bool Square>
__global__ void sum_stage1(int64_t n, const float* __restrict__ x, double* __restrict__ part) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  double acc = 0.0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
    const double v = x[i];
    acc += Square ? v * v : v;
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

// One block of kThreads: out = (sum of part[0..B)) * scale, written as float (fout) or stored /
// added as double (dout).
__global__ void sum_stage2(int64_t B, const double* __restrict__ part, double scale, float* fout,
                           double* dout, bool accumulate) {
  double acc = 0.0;
  for (int64_t b = threadIdx.x; b < B; b += kThreads) acc += part[b];
  acc = block_sum(acc);
  if (threadIdx.x == 0) {
    if (fout) *fout = static_cast<float>(acc * scale);
    if (dout) *dout = accumulate ? *dout + acc : acc;
  }
}

template <bool Square>
void sum_two_stage(int64_t n, const float* x, double scale, float* fout, double* dout,
                   bool accumulate) {
  const int64_t B = stage1_blocks(n);
  auto* part = static_cast<double*>(detail::scratch(sizeof(double) * B));
  sum_stage1<Square><<<static_cast<unsigned>(B), kThreads, 0, stream()>>>(n, x, part);
  check_launch("sum_stage1");
  sum_stage2<<<1, kThreads, 0, stream()>>>(B, part, scale, fout, dout, accumulate);
  check_launch("sum_stage2");
}

// ---- broadcast sums ----

// Mixed-radix dims (outermost first) with an element stride each.
struct Dims {
  int n = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride[kMaxDims] = {};
};

// Offset of linear index k (row-major over d.size) in element strides.
__device__ __forceinline__ int64_t offset_of(const Dims& d, int64_t k) {
  int64_t off = 0;
  for (int j = d.n - 1; j >= 0; --j) {
    const int64_t q = k / d.size[j];
    off += (k - q * d.size[j]) * d.stride[j];
    k = q;
  }
  return off;
}

// One thread per output: y[o] = sum over k < K of x[base(o) + offset(k)], k ascending.
__global__ void bsum_per_thread(int64_t O, int64_t K, Dims kept, Dims red,
                                const float* __restrict__ x, float* __restrict__ y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < O;
       o += stride) {
    const float* base = x + offset_of(kept, o);
    double acc = 0.0;
    for (int64_t k = 0; k < K; ++k) acc += base[offset_of(red, k)];
    y[o] = static_cast<float>(acc);
  }
}

// Block b = o*S + s sums k in [s*chunk, min(K, (s+1)*chunk)) of output o; with S == 1 it writes
// y[o] directly, else part[b].
__global__ void bsum_per_block(int64_t O, int64_t K, int64_t S, int64_t chunk, Dims kept, Dims red,
                               const float* __restrict__ x, double* __restrict__ part,
                               float* __restrict__ y) {
  for (int64_t b = blockIdx.x; b < O * S; b += gridDim.x) {
    const int64_t o = b / S, s = b - (b / S) * S;
    const float* base = x + offset_of(kept, o);
    const int64_t k1 = (s + 1) * chunk < K ? (s + 1) * chunk : K;
    double acc = 0.0;
    for (int64_t k = s * chunk + threadIdx.x; k < k1; k += kThreads) acc += base[offset_of(red, k)];
    acc = block_sum(acc);
    if (threadIdx.x == 0) {
      if (S == 1) {
        y[o] = static_cast<float>(acc);
      } else {
        part[b] = acc;
      }
    }
  }
}

__global__ void bsum_finish(int64_t O, int64_t S, const double* __restrict__ part,
                            float* __restrict__ y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < O;
       o += stride) {
    double acc = 0.0;
    for (int64_t s = 0; s < S; ++s) acc += part[o * S + s];
    y[o] = static_cast<float>(acc);
  }
}

// Appends (size, stride) to d, merging with the previous dim when they are contiguous.
void push_dim(Dims& d, int64_t size, int64_t stride) {
  if (d.n > 0 && d.stride[d.n - 1] == stride * size) {
    d.size[d.n - 1] *= size;
    d.stride[d.n - 1] = stride;
    return;
  }
  d.size[d.n] = size;
  d.stride[d.n] = stride;
  ++d.n;
}

int64_t dims_count(const Dims& d) {
  int64_t c = 1;
  for (int j = 0; j < d.n; ++j) c *= d.size[j];
  return c;
}

}  // namespace

void sum_all(int64_t n, const float* x, float* out) {
  sum_two_stage<false>(n, x, 1.0, out, nullptr, false);
}

void mean_all(int64_t n, const float* x, float* out) {
  sum_two_stage<false>(n, x, 1.0 / static_cast<double>(n), out, nullptr, false);
}

void sum_squares(int64_t n, const float* x, double* acc, bool accumulate) {
  sum_two_stage<true>(n, x, 1.0, nullptr, acc, accumulate);
}

void reduce_sum_broadcast(int ndim, const int64_t* in_shape, const float* x,
                          const int64_t* out_shape, float* y) {
  if (ndim < 0 || ndim > kMaxDims) {
    throw std::invalid_argument("reduce_sum_broadcast: ndim " + std::to_string(ndim) +
                                " outside 0..8");
  }
  int64_t in_count = 1, out_count = 1;
  for (int d = 0; d < ndim; ++d) {
    if (in_shape[d] < 0 || (out_shape[d] != in_shape[d] && out_shape[d] != 1)) {
      throw std::invalid_argument("reduce_sum_broadcast: dim " + std::to_string(d) + " of size " +
                                  std::to_string(in_shape[d]) + " cannot reduce to " +
                                  std::to_string(out_shape[d]));
    }
    in_count *= in_shape[d];
    out_count *= out_shape[d];
  }
  if (out_count == 0) return;
  if (in_count == 0) {  // every output sums an empty set
    fill_zero(y, sizeof(float) * static_cast<size_t>(out_count));
    return;
  }
  // Split the dims (size-1 dims dropped) into kept and summed, in order, collapsing contiguous
  // neighbours; input strides are row-major over in_shape.
  Dims kept, red;
  int64_t stride = 1;
  int64_t strides[kMaxDims] = {};
  for (int d = ndim - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= in_shape[d];
  }
  for (int d = 0; d < ndim; ++d) {
    if (in_shape[d] == 1) continue;
    push_dim(out_shape[d] == 1 ? red : kept, in_shape[d], strides[d]);
  }
  const int64_t O = dims_count(kept), K = dims_count(red);
  if (K == 1) {  // nothing summed: a copy
    copy_device(y, x, sizeof(float) * static_cast<size_t>(O));
    return;
  }
  if (K <= 64 || O >= 32768) {
    bsum_per_thread<<<blocks_for(O), kThreads, 0, stream()>>>(O, K, kept, red, x, y);
    check_launch("reduce_sum_broadcast");
    return;
  }
  // Few outputs with long sums: S blocks per output (a function of the shape alone).
  const int64_t want = (1024 + O - 1) / O, most = (K + 2047) / 2048;
  int64_t S = std::max<int64_t>(1, std::min(want, most));
  const int64_t chunk = (K + S - 1) / S;
  S = (K + chunk - 1) / chunk;
  double* part = S > 1 ? static_cast<double*>(detail::scratch(sizeof(double) * O * S)) : nullptr;
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(O * S, 65535LL * 16));
  bsum_per_block<<<grid, kThreads, 0, stream()>>>(O, K, S, chunk, kept, red, x, part, y);
  check_launch("reduce_sum_broadcast");
  if (S > 1) {
    bsum_finish<<<blocks_for(O), kThreads, 0, stream()>>>(O, S, part, y);
    check_launch("reduce_sum_broadcast finish");
  }
}

void channel_sum(int64_t N, int64_t C, int64_t L, const float* x, float* out) {
  const int64_t in_shape[3] = {N, C, L}, out_shape[3] = {1, C, 1};
  reduce_sum_broadcast(3, in_shape, x, out_shape, out);
}

void sum_to_shape(int ndim, const int64_t* in_shape, const float* x, const int64_t* out_shape,
                  double divisor, float* y) {
  reduce_sum_broadcast(ndim, in_shape, x, out_shape, y);
  if (divisor == 1.0) return;
  int64_t out_count = 1;
  for (int d = 0; d < ndim; ++d) out_count *= out_shape[d];
  scale(out_count, y, static_cast<float>(1.0 / divisor), y);
}

const ReduceKernels reduce_kernels{GB_KERNEL(cuda::sum_to_shape)};
const SumSquaresKernels sum_squares_kernels{GB_KERNEL(cuda::sum_squares)};

}  // namespace gb::kernels::cuda
