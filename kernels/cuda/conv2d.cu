// Hand-written CUDA convolution as implicit GEMM (contract: kernels/conv2d.h), plus the backend
// switch that routes conv2d_* to these kernels or to cuDNN (conv_cudnn.h). Shape letters: N batch,
// C/K input/output channels, H/W input, P/Q output, R/S kernel, G groups, Cg = C/G, Kg = K/G, sh/sw
// strides, ph/pw paddings.
//
// All three directions run the tiled GEMM of gemm_tile.cuh (64x64 block tile, BK 16, 256
// threads, 4x4 per thread; or, on large problems, a double-buffered 128x128 / 128x64 / 64x128
// variant with BK 8 and 8x8 / 8x4 / 4x8 per thread, or for M <= 32 a 32x256 / 16x256 one with
// 4x8 / 4x4 per thread, picked by gemm::choose_tile from the shape only) with loaders that
// gather through index arithmetic (the large variants walk the reduction index with
// division-free cursors); no im2col buffer exists. blockIdx.z picks the group (and the split for
// backward-weight).
//   forward         out[k, (n,p,q)]   = sum over (c,r,s) of w[k,c,r,s] * x[n,c,p*sh-ph+r*dh,
//                   q*sw-pw+s*dw] (dh, dw the dilations)
//                   M = Kg, cols = N*P*Q, reduction Cg*R*S; y = out + bias[k].
//   backward-input  out[c, (n,h,w)]   = sum over (k,r,s) of w[k,c,r,s] * dy[n,k,p,q] where
//                   p = (h+ph-r)/sh, q = (w+pw-s)/sw divide exactly and lie inside P x Q.
//                   Run per output phase (h % sh, w % sw): one GEMM each with M = Cg,
//                   cols = N * (pixels of the phase), reduction Kg * (taps of the phase).
//                   A dilated convolution runs a plain gather instead, one thread per dx.
//   backward-weight out[k, (c,r,s)]   = sum over (n,p,q) of dy[n,k,p,q] * x[n,c,p*sh-ph+r,...]
//                   M = Kg, cols = Cg*R*S, reduction N*P*Q (long): split-K into `splits`
//                   contiguous reduction ranges, each writing its partial tile to a workspace
//                   [splits, K, Cg*R*S], then a second kernel sums the splits in ascending order.
//                   db[k]: one block per k, fixed per-thread strides and a fixed shared tree.
// Depthwise shapes (groups == C == K) leave the GEMM: each pass goes to conv_depthwise.h (one
// thread per output element; the weight gradient a block per (c, r, s)).
// No atomics anywhere, so a given shape gives bitwise identical results run after run.
// Per-tensor offsets are 64-bit; indices inside a GEMM (rows, cols, reduction) are 32-bit, which
// the host checks (a larger problem throws).
#include <algorithm>
#include <atomic>
#include <climits>
#include <stdexcept>
#include <string>

#include "kernels/conv2d.h"
#include "kernels/cuda/conv_cudnn.h"
#include "kernels/cuda/conv_depthwise.h"
#include "kernels/cuda/device_api.h"
#include "kernels/cuda/gemm_tile.cuh"
#include "kernels/cuda/launch.cuh"

namespace gb::kernels::cuda {
namespace {

using gemm::kBK;

// The shape with every extent the loaders need, as 32-bit values (checked on the host).
struct ConvDims {
  int C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, P, Q, Cg, Kg, RS, PQ, HW;
  int64_t CHW, KPQ;  // per-image strides of x (and dx) and of dy (and y)
};

int checked_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) {
    throw std::runtime_error(std::string("cuda: conv2d: ") + what + " = " + std::to_string(v) +
                             " is out of the 32-bit range of the hand-written kernels");
  }
  return static_cast<int>(v);
}

ConvDims dims_of(const Conv2dShape& s) {
  if (s.groups <= 0 || s.C % s.groups != 0 || s.K % s.groups != 0)
    throw std::runtime_error("cuda: conv2d: channels are not divisible by groups");
  if (s.stride_h <= 0 || s.stride_w <= 0) throw std::runtime_error("cuda: conv2d: bad stride");
  if (s.dilation_h <= 0 || s.dilation_w <= 0)
    throw std::runtime_error("cuda: conv2d: bad dilation");
  ConvDims d;
  d.C = checked_int(s.C, "C");
  d.H = checked_int(s.H, "H");
  d.W = checked_int(s.W, "W");
  d.K = checked_int(s.K, "K");
  d.R = checked_int(s.R, "R");
  d.S = checked_int(s.S, "S");
  d.sh = checked_int(s.stride_h, "stride_h");
  d.sw = checked_int(s.stride_w, "stride_w");
  d.ph = checked_int(s.pad_h, "pad_h");
  d.pw = checked_int(s.pad_w, "pad_w");
  d.dh = checked_int(s.dilation_h, "dilation_h");
  d.dw = checked_int(s.dilation_w, "dilation_w");
  d.P = checked_int(s.P(), "P");
  d.Q = checked_int(s.Q(), "Q");
  d.Cg = checked_int(s.C_per_group(), "C/G");
  d.Kg = checked_int(s.K_per_group(), "K/G");
  d.RS = checked_int(s.R * s.S, "R*S");
  d.PQ = checked_int(s.P() * s.Q(), "P*Q");
  d.HW = checked_int(s.H * s.W, "H*W");
  checked_int(s.C_per_group() * s.R * s.S, "C/G*R*S");
  checked_int(s.K_per_group() * s.R * s.S, "K/G*R*S");
  checked_int(s.N * s.P() * s.Q(), "N*P*Q");
  checked_int(s.N * s.H * s.W, "N*H*W");
  d.CHW = s.C * s.H * s.W;
  d.KPQ = s.K * s.P() * s.Q();
  return d;
}

// ---- forward: out[k, (n,p,q)], reduction over (c,r,s) ----
struct ForwardProblem {
  int64_t M, cols;
  int splits = 1;
  int64_t chunk, red;
  static constexpr bool kAKFast = true;    // weight rows are contiguous along (c,r,s)
  static constexpr bool kBColFast = true;  // x is contiguous along q
  ConvDims d;
  const float* __restrict__ x;
  const float* __restrict__ w;
  const float* __restrict__ bias;
  float* __restrict__ y;

  struct ACtx {
    const float* row = nullptr;
  };
  __device__ ACtx a_ctx(int g, int64_t m) const {
    return {w + (static_cast<int64_t>(g) * d.Kg + m) * red};
  }
  __device__ float load_a(const ACtx& a, int64_t kk) const { return __ldg(a.row + kk); }
  struct ACur {
    int kk = 0;
  };
  __device__ ACur a_cur(int64_t kk) const { return {static_cast<int>(kk)}; }
  __device__ void a_next(ACur& c) const { c.kk += gemm::kBigBK; }
  __device__ float load_a(const ACtx& a, const ACur& c) const { return __ldg(a.row + c.kk); }

  struct BCtx {
    const float* img = nullptr;  // x[n, g*Cg]
    int ih0 = 0, iw0 = 0;
  };
  __device__ BCtx b_ctx(int g, int64_t col64) const {
    const int col = static_cast<int>(col64);
    const int n = col / d.PQ, pq = col - n * d.PQ;
    const int p = pq / d.Q, q = pq - p * d.Q;
    return {x + n * d.CHW + static_cast<int64_t>(g) * d.Cg * d.HW, p * d.sh - d.ph,
            q * d.sw - d.pw};
  }
  __device__ float load_b(const BCtx& b, int64_t kk64) const {
    const int kk = static_cast<int>(kk64);
    const int c = kk / d.RS, rs = kk - c * d.RS;
    const int r = rs / d.S, s = rs - r * d.S;
    const int ih = b.ih0 + r * d.dh, iw = b.iw0 + s * d.dw;
    if (static_cast<unsigned>(ih) >= static_cast<unsigned>(d.H) ||
        static_cast<unsigned>(iw) >= static_cast<unsigned>(d.W))
      return 0.0f;
    return __ldg(b.img + static_cast<int64_t>(c) * d.HW + ih * d.W + iw);
  }
  gemm::Radix3Step step;  // kBigBK in radices (R, S) of (c, r, s)
  using BCur = gemm::Radix3;
  __device__ BCur b_cur(int64_t kk) const { return step.decode(static_cast<int>(kk)); }
  __device__ void b_next(BCur& c) const { step.advance(c); }
  __device__ float load_b(const BCtx& b, const BCur& c) const {
    const int ih = b.ih0 + c.mid * d.dh, iw = b.iw0 + c.lo * d.dw;
    if (static_cast<unsigned>(ih) >= static_cast<unsigned>(d.H) ||
        static_cast<unsigned>(iw) >= static_cast<unsigned>(d.W))
      return 0.0f;
    return __ldg(b.img + static_cast<int64_t>(c.hi) * d.HW + ih * d.W + iw);
  }
  __device__ void store(int g, int, int64_t m, int64_t col64, float v) const {
    const int col = static_cast<int>(col64);
    const int n = col / d.PQ, pq = col - n * d.PQ;
    const int64_t k = static_cast<int64_t>(g) * d.Kg + m;
    y[n * d.KPQ + k * d.PQ + pq] = bias ? v + __ldg(bias + k) : v;
  }
};

// ---- backward-input, one output phase: out[c, (n,i,j)], reduction over (k,t,u) ----
// dx[n, c, h, w] receives w[k, c, r, s] * dy[n, k, p, q] only where h + ph - r = p * sh (and
// w + pw - s = q * sw). Splitting dx by output phase (a, b) = (h % sh, w % sw) makes the valid
// taps of every pixel of a phase the same: r = r0 + t * sh (t < Rt) with r0 = (a + ph) % sh, and
// then p = (h + ph - r) / sh = i + pb - t exactly, where h = a + i * sh and pb = (a + ph - r0) / sh
// (s, q, u, Wp, qb likewise). So each phase is a GEMM with M = Cg, cols = N * Hp * Wp (Hp the
// number of rows h = a + i * sh < H), reduction Kg * Rt * St (the full Kg * R * S when the stride
// is 1: one phase, r0 = s0 = 0), with no divisibility tests and no zero taps. The reduction runs
// in ascending (k, t, u), i.e. ascending (k, r, s) over the contributing taps.
struct BackwardInputProblem {
  int64_t M, cols;
  int splits = 1;
  int64_t chunk, red;
  static constexpr bool kAKFast = true;    // w[k, c, :, :] contiguous along (r,s)
  static constexpr bool kBColFast = true;  // dy gathered along w -> q
  ConvDims d;
  int a = 0, b = 0;     // the phase
  int Rt = 1, St = 1;   // taps of the phase
  int Wp = 1, HWp = 1;  // columns of the phase sub-grid, Hp * Wp
  int pb = 0, qb = 0;   // p = i + pb - t, q = j + qb - u
  int r0S_s0 = 0;       // r0 * S + s0
  const float* __restrict__ dy;
  const float* __restrict__ w;
  float* __restrict__ dx;

  struct ACtx {
    const float* base = nullptr;  // w[g*Kg, c, r0, s0]
  };
  __device__ ACtx a_ctx(int g, int64_t m) const {
    return {w + (static_cast<int64_t>(g) * d.Kg * d.Cg + m) * d.RS + r0S_s0};
  }
  __device__ float load_a(const ACtx& ac, int64_t kk64) const {
    const int kk = static_cast<int>(kk64);
    const int tu = Rt * St;
    const int k = kk / tu, rem = kk - k * tu;
    const int t = rem / St, u = rem - t * St;
    return __ldg(ac.base + static_cast<int64_t>(k) * d.Cg * d.RS + t * d.sh * d.S + u * d.sw);
  }
  gemm::Radix3Step step;  // kBigBK in radices (Rt, St) of (k, t, u)
  using ACur = gemm::Radix3;
  __device__ ACur a_cur(int64_t kk) const { return step.decode(static_cast<int>(kk)); }
  __device__ void a_next(ACur& c) const { step.advance(c); }
  __device__ float load_a(const ACtx& ac, const ACur& c) const {
    return __ldg(ac.base + static_cast<int64_t>(c.hi) * d.Cg * d.RS + c.mid * d.sh * d.S +
                 c.lo * d.sw);
  }

  struct BCtx {
    const float* img = nullptr;  // dy[n, g*Kg]
    int pi = 0, qj = 0;          // i + pb, j + qb
  };
  __device__ BCtx b_ctx(int g, int64_t col64) const {
    const int col = static_cast<int>(col64);
    const int n = col / HWp, ij = col - n * HWp;
    const int i = ij / Wp, j = ij - i * Wp;
    return {dy + n * d.KPQ + static_cast<int64_t>(g) * d.Kg * d.PQ, i + pb, j + qb};
  }
  __device__ float tap(const BCtx& bc, int k, int t, int u) const {
    const int p = bc.pi - t, q = bc.qj - u;
    if (static_cast<unsigned>(p) >= static_cast<unsigned>(d.P) ||
        static_cast<unsigned>(q) >= static_cast<unsigned>(d.Q))
      return 0.0f;
    return __ldg(bc.img + static_cast<int64_t>(k) * d.PQ + p * d.Q + q);
  }
  __device__ float load_b(const BCtx& bc, int64_t kk64) const {
    const int kk = static_cast<int>(kk64);
    const int tu = Rt * St;
    const int k = kk / tu, rem = kk - k * tu;
    const int t = rem / St, u = rem - t * St;
    return tap(bc, k, t, u);
  }
  using BCur = gemm::Radix3;
  __device__ BCur b_cur(int64_t kk) const { return step.decode(static_cast<int>(kk)); }
  __device__ void b_next(BCur& c) const { step.advance(c); }
  __device__ float load_b(const BCtx& bc, const BCur& c) const {
    return tap(bc, c.hi, c.mid, c.lo);
  }
  __device__ void store(int g, int, int64_t m, int64_t col64, float v) const {
    const int col = static_cast<int>(col64);
    const int n = col / HWp, ij = col - n * HWp;
    const int i = ij / Wp, j = ij - i * Wp;
    const int64_t c = static_cast<int64_t>(g) * d.Cg + m;
    dx[n * d.CHW + c * d.HW + (a + i * d.sh) * d.W + b + j * d.sw] = v;
  }
};

// ---- backward-weight: out[k, (c,r,s)], reduction over (n,p,q), split-K ----
struct BackwardWeightProblem {
  int64_t M, cols;
  int splits;
  int64_t chunk, red;
  static constexpr bool kAKFast = true;     // dy contiguous along (p,q)
  static constexpr bool kBColFast = false;  // x contiguous along q; one (n,p,q) per thread
  ConvDims d;
  const float* __restrict__ x;
  const float* __restrict__ dy;
  float* __restrict__ out;   // [splits, K, Cg*R*S] (the workspace, or dw when splits == 1)
  int64_t out_split_stride;  // K * Cg*R*S

  struct ACtx {
    const float* base = nullptr;  // dy[0, k]
  };
  __device__ ACtx a_ctx(int g, int64_t m) const {
    return {dy + (static_cast<int64_t>(g) * d.Kg + m) * d.PQ};
  }
  __device__ float load_a(const ACtx& a, int64_t kk64) const {
    const int kk = static_cast<int>(kk64);
    const int n = kk / d.PQ, pq = kk - n * d.PQ;
    return __ldg(a.base + n * d.KPQ + pq);
  }
  gemm::Radix3Step step;  // kBigBK in radices (P, Q) of (n, p, q)
  using ACur = gemm::Radix3;
  __device__ ACur a_cur(int64_t kk) const { return step.decode(static_cast<int>(kk)); }
  __device__ void a_next(ACur& c) const { step.advance(c); }
  __device__ float load_a(const ACtx& a, const ACur& c) const {
    return __ldg(a.base + c.hi * d.KPQ + c.mid * d.Q + c.lo);
  }

  struct BCtx {
    const float* chan = nullptr;  // x[0, g*Cg + c]
    int r = 0, s = 0;             // the tap's offsets r * dh, s * dw
  };
  __device__ BCtx b_ctx(int g, int64_t col64) const {
    const int col = static_cast<int>(col64);
    const int c = col / d.RS, rs = col - c * d.RS;
    const int r = rs / d.S;
    return {x + (static_cast<int64_t>(g) * d.Cg + c) * d.HW, r * d.dh, (rs - r * d.S) * d.dw};
  }
  __device__ float load_b(const BCtx& b, int64_t kk64) const {
    const int kk = static_cast<int>(kk64);
    const int n = kk / d.PQ, pq = kk - n * d.PQ;
    const int p = pq / d.Q, q = pq - p * d.Q;
    const int ih = p * d.sh - d.ph + b.r, iw = q * d.sw - d.pw + b.s;
    if (static_cast<unsigned>(ih) >= static_cast<unsigned>(d.H) ||
        static_cast<unsigned>(iw) >= static_cast<unsigned>(d.W))
      return 0.0f;
    return __ldg(b.chan + n * d.CHW + ih * d.W + iw);
  }
  using BCur = gemm::Radix3;
  __device__ BCur b_cur(int64_t kk) const { return step.decode(static_cast<int>(kk)); }
  __device__ void b_next(BCur& c) const { step.advance(c); }
  __device__ float load_b(const BCtx& b, const BCur& c) const {
    const int ih = c.mid * d.sh - d.ph + b.r, iw = c.lo * d.sw - d.pw + b.s;
    if (static_cast<unsigned>(ih) >= static_cast<unsigned>(d.H) ||
        static_cast<unsigned>(iw) >= static_cast<unsigned>(d.W))
      return 0.0f;
    return __ldg(b.chan + c.hi * d.CHW + ih * d.W + iw);
  }
  __device__ void store(int g, int split, int64_t m, int64_t col, float v) const {
    out[split * out_split_stride + (static_cast<int64_t>(g) * d.Kg + m) * cols + col] = v;
  }
};

// backward-input of a dilated convolution: one thread per dx element, a gather over (k, r, s) of
// its group in ascending order (the phase GEMMs above assume unit dilation). Deterministic.
__global__ void backward_input_dilated_kernel(ConvDims d, int64_t total,
                                              const float* __restrict__ dy,
                                              const float* __restrict__ w, float* __restrict__ dx) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int ow = static_cast<int>(i % d.W), oh = static_cast<int>((i / d.W) % d.H);
    const int64_t nc = i / d.HW;
    const int c = static_cast<int>(nc % d.C);
    const int64_t n = nc / d.C;
    const int g = c / d.Cg, cg = c - g * d.Cg;
    float acc = 0.0f;
    for (int kg = 0; kg < d.Kg; ++kg) {
      const int k = g * d.Kg + kg;
      const float* wk = w + (static_cast<int64_t>(k) * d.Cg + cg) * d.RS;
      const float* dyk = dy + n * d.KPQ + static_cast<int64_t>(k) * d.PQ;
      for (int r = 0; r < d.R; ++r) {
        const int ph = oh + d.ph - r * d.dh;  // = p * sh
        if (ph < 0 || ph % d.sh != 0 || ph / d.sh >= d.P) continue;
        for (int s = 0; s < d.S; ++s) {
          const int pw = ow + d.pw - s * d.dw;
          if (pw < 0 || pw % d.sw != 0 || pw / d.sw >= d.Q) continue;
          acc += __ldg(wk + r * d.S + s) * __ldg(dyk + (ph / d.sh) * d.Q + pw / d.sw);
        }
      }
    }
    dx[i] = acc;
  }
}

// dw[i] = sum over splits, in ascending split order, of ws[split, i].
__global__ void sum_splits_kernel(const float* __restrict__ ws, int splits, int64_t n,
                                  float* __restrict__ dw) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float s = 0.0f;
    for (int sp = 0; sp < splits; ++sp) s += ws[sp * n + i];
    dw[i] = s;
  }
}

// db[k] = sum over n, (p,q) of dy[n, k, p, q]: block k; thread t sums the elements t, t+256, ...
// of every image in ascending n, then a fixed shared-memory tree.
constexpr int kBiasThreads = 256;
__global__ void __launch_bounds__(kBiasThreads)
    bias_grad_kernel(const float* __restrict__ dy, int64_t N, int64_t K, int64_t PQ,
                     float* __restrict__ db) {
  __shared__ float part[kBiasThreads];
  const int64_t k = blockIdx.x;
  float s = 0.0f;
  for (int64_t n = 0; n < N; ++n) {
    const float* plane = dy + (n * K + k) * PQ;
    for (int64_t i = threadIdx.x; i < PQ; i += kBiasThreads) s += __ldg(plane + i);
  }
  part[threadIdx.x] = s;
  __syncthreads();
  for (int half = kBiasThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[k] = part[0];
}

// The split-K workspace: grows, never shrinks; lives until the process exits.
float* workspace(size_t floats) {
  static float* buf = nullptr;
  static size_t cap = 0;
  if (floats > cap) {
    if (buf) {
      synchronize();  // earlier kernels may still read the old buffer
      free_device(buf);
      buf = nullptr;
      cap = 0;
    }
    buf = static_cast<float*>(malloc_device(floats * sizeof(float)));
    cap = floats;
  }
  return buf;
}

using gemm::kAssumedSms;                  // splits aim at >= 2 blocks per SM
constexpr int64_t kMinStepsPerSplit = 4;  // each split reduces at least 4 steps of its tile

std::atomic<ConvBackend> g_backend{ConvBackend::HandWritten};

#ifndef GB_WITH_CUDNN
[[noreturn]] void no_cudnn() {
  throw std::runtime_error("conv backend cudnn: glassbox was built without cuDNN");
}
#endif

}  // namespace

void set_conv_backend(ConvBackend backend) { g_backend.store(backend); }
ConvBackend conv_backend() { return g_backend.load(); }
bool cudnn_available() {
#ifdef GB_WITH_CUDNN
  return true;
#else
  return false;
#endif
}

namespace handwritten {

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y) {
  if (depthwise::applicable(s)) {
    depthwise::conv2d_forward(s, x, w, bias, y);
    return;
  }
  const ConvDims d = dims_of(s);
  ForwardProblem prob;
  prob.M = d.Kg;
  prob.cols = s.N * d.PQ;
  prob.red = static_cast<int64_t>(d.Cg) * d.RS;
  prob.chunk = prob.red > 0 ? prob.red : 1;
  prob.d = d;
  prob.x = x;
  prob.w = w;
  prob.bias = bias;
  prob.y = y;
  prob.step = gemm::Radix3Step::of(gemm::kBigBK, d.R, d.S);
  gemm::launch_tiled_gemm(prob, s.groups, "conv2d_forward",
                          gemm::choose_tile(prob.M, prob.cols, s.groups, false));
}

void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx) {
  if (depthwise::applicable(s)) {
    depthwise::conv2d_backward_input(s, dy, w, dx);
    return;
  }
  const ConvDims d = dims_of(s);
  if (s.dilated()) {
    const int64_t total = s.N * s.C * s.H * s.W;
    if (total == 0) return;
    backward_input_dilated_kernel<<<blocks_for(total), 256, 0, stream()>>>(d, total, dy, w, dx);
    check_launch("conv2d_backward_input: dilated");
    return;
  }
  BackwardInputProblem prob;
  prob.M = d.Cg;
  prob.d = d;
  prob.dy = dy;
  prob.w = w;
  prob.dx = dx;
  // One GEMM per output phase (a, b), launched back to back; each dx element belongs to exactly
  // one phase. A phase without taps (Rt or St 0) runs an empty reduction and stores zeros.
  for (int a = 0; a < d.sh && a < d.H; ++a) {
    const int Hp = (d.H - a + d.sh - 1) / d.sh;
    const int r0 = (a + d.ph) % d.sh;
    const int Rt = r0 < d.R ? (d.R - r0 + d.sh - 1) / d.sh : 0;
    for (int b = 0; b < d.sw && b < d.W; ++b) {
      const int Wp = (d.W - b + d.sw - 1) / d.sw;
      const int s0 = (b + d.pw) % d.sw;
      const int St = s0 < d.S ? (d.S - s0 + d.sw - 1) / d.sw : 0;
      prob.a = a;
      prob.b = b;
      prob.Rt = Rt;
      prob.St = St;
      prob.Wp = Wp;
      prob.HWp = Hp * Wp;
      prob.pb = (a + d.ph - r0) / d.sh;
      prob.qb = (b + d.pw - s0) / d.sw;
      prob.r0S_s0 = Rt > 0 && St > 0 ? r0 * d.S + s0 : 0;
      prob.cols = s.N * Hp * Wp;
      prob.red = static_cast<int64_t>(d.Kg) * Rt * St;
      prob.chunk = prob.red > 0 ? prob.red : 1;
      prob.step = gemm::Radix3Step::of(gemm::kBigBK, Rt, St);
      gemm::launch_tiled_gemm(prob, s.groups, "conv2d_backward_input",
                              gemm::choose_tile(prob.M, prob.cols, s.groups, false));
    }
  }
}

void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                            float* db) {
  if (depthwise::applicable(s)) {
    depthwise::conv2d_backward_weight(s, x, dy, dw, db);
    return;
  }
  const ConvDims d = dims_of(s);
  BackwardWeightProblem prob;
  prob.M = d.Kg;
  prob.cols = static_cast<int64_t>(d.Cg) * d.RS;
  prob.red = s.N * d.PQ;
  prob.d = d;
  prob.x = x;
  prob.dy = dy;
  prob.out_split_stride = s.K * prob.cols;
  prob.step = gemm::Radix3Step::of(gemm::kBigBK, d.P, d.Q);

  // Split-K: enough (group, tile, split) blocks to cover the SMs twice, each split at least
  // kMinStepsPerSplit reduction steps; chunk is a multiple of the tile's step. Up to twice that
  // many splits are then considered, and the fewest whose last wave of resident blocks is
  // nearly as full as the best one's is taken (a 2.2-wave launch runs as 3 waves). Depends on
  // the shape only.
  const gemm::Tile tile = gemm::choose_tile(prob.M, prob.cols, s.groups, true);
  const int64_t bk = gemm::tile_bk(tile);
  const int64_t tiles = gemm::tile_count(tile, prob.M, prob.cols, s.groups);
  const int64_t steps = (prob.red + bk - 1) / bk;
  const int64_t max_splits =
      std::max<int64_t>(std::min((steps + kMinStepsPerSplit - 1) / kMinStepsPerSplit,
                                 65535 / std::max<int64_t>(s.groups, 1)),
                        1);
  // The chunk (in steps) for a wanted split count, and the split count it really gives.
  auto chunk_steps_for = [&](int64_t want) {
    return std::max<int64_t>((steps + want - 1) / want, 1);
  };
  auto splits_for = [&](int64_t want) {
    return std::max<int64_t>((steps + chunk_steps_for(want) - 1) / chunk_steps_for(want), 1);
  };
  int64_t base = tiles > 0 ? (2 * kAssumedSms + tiles - 1) / tiles : 1;
  base = std::max<int64_t>(std::min(base, max_splits), 1);
  const int64_t wave = kAssumedSms * gemm::tile_blocks_per_sm(tile);
  auto fill = [&](int64_t sp) {  // fraction of the launched waves' slots that hold a block
    const int64_t blocks = std::max<int64_t>(tiles * sp, 1);
    return static_cast<double>(blocks) / static_cast<double>((blocks + wave - 1) / wave * wave);
  };
  const int64_t top = std::min(2 * base, max_splits);
  double best = 0.0;
  for (int64_t want = base; want <= top; ++want) best = std::max(best, fill(splits_for(want)));
  int64_t want = base;
  while (want < top && fill(splits_for(want)) < best - 0.02) ++want;
  prob.chunk = chunk_steps_for(want) * bk;
  int64_t splits = std::max<int64_t>((prob.red + prob.chunk - 1) / prob.chunk, 1);
  prob.splits = static_cast<int>(splits);

  const int64_t dw_size = s.K * prob.cols;
  if (splits == 1) {
    prob.out = dw;
    gemm::launch_tiled_gemm(prob, s.groups, "conv2d_backward_weight", tile);
  } else {
    prob.out = workspace(static_cast<size_t>(splits * dw_size));
    gemm::launch_tiled_gemm(prob, s.groups, "conv2d_backward_weight", tile);
    sum_splits_kernel<<<blocks_for(dw_size), 256, 0, stream()>>>(prob.out, prob.splits, dw_size,
                                                                 dw);
    check_launch("conv2d_backward_weight: sum_splits");
  }

  if (db != nullptr && s.K > 0) {
    if (s.K > INT_MAX) throw std::runtime_error("cuda: conv2d: K too large");
    bias_grad_kernel<<<static_cast<unsigned>(s.K), kBiasThreads, 0, stream()>>>(dy, s.N, s.K, d.PQ,
                                                                                db);
    check_launch("conv2d_backward_weight: bias_grad");
  }
}

}  // namespace handwritten

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y) {
  if (conv_backend() == ConvBackend::Cudnn) {
#ifdef GB_WITH_CUDNN
    cudnn::conv2d_forward(s, x, w, bias, y);
    return;
#else
    no_cudnn();
#endif
  }
  handwritten::conv2d_forward(s, x, w, bias, y);
}

void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx) {
  if (conv_backend() == ConvBackend::Cudnn) {
#ifdef GB_WITH_CUDNN
    cudnn::conv2d_backward_input(s, dy, w, dx);
    return;
#else
    no_cudnn();
#endif
  }
  handwritten::conv2d_backward_input(s, dy, w, dx);
}

void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                            float* db) {
  if (conv_backend() == ConvBackend::Cudnn) {
#ifdef GB_WITH_CUDNN
    cudnn::conv2d_backward_weight(s, x, dy, dw, db);
    return;
#else
    no_cudnn();
#endif
  }
  handwritten::conv2d_backward_weight(s, x, dy, dw, db);
}

const Conv2dKernels conv2d_kernels{GB_KERNEL(cuda::conv2d_forward),
                                   GB_KERNEL(cuda::conv2d_backward_input),
                                   GB_KERNEL(cuda::conv2d_backward_weight)};

}  // namespace gb::kernels::cuda
