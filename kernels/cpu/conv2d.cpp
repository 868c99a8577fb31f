// Fast 2-D convolution (cross-correlation) on the CPU (contract: kernels/conv2d.h). Depthwise
// layers (groups == C == K) run all three passes in conv_depthwise.h. 3x3 stride-1 pad-1 layers
// with at least 8 channels and 32 output tiles run all three passes through Winograd F(4x4, 3x3)
// (conv_winograd.h; the weight gradient up to 512 x 512 channels, padded-flat above); other
// ungrouped convolutions go to the padded-flat implicit GEMM of conv_direct.h where it applies
// (see conv_direct_applicable; the backward-input of strided ones stays here); strided 1x1
// convolutions run forward in conv_pointwise.h (their backward passes stay here); every other shape
// runs here as per-image im2col + packed SGEMM, with OpenMP over the batch (dilated convolutions
// always: the other kernels refuse dilation). Shape letters: N
// batch, C input channels, H/W input size, K output channels, R/S kernel size, P/Q output size,
// G groups, Cg = C/G, Kg = K/G, and CRS = Cg*R*S (the GEMM depth). Per image n and group g, with
// col [CRS, P*Q] = im2col(x[n, g]):
//   forward          y[n, g]  [Kg, PQ]  = w[g] [Kg, CRS] * col
//   backward input   col                = w[g]^T * dy[n, g], then dx[n, g] = col2im(col)
//   backward weight  dw[g]   [Kg, CRS] += dy[n, g] * col^T,  db[k] += sum dy[n, k]
// A 1x1, stride-1, unpadded convolution uses x (or dx) itself as col.
// Determinism: forward and backward-input give every output element to one thread and are
// bit-identical for any thread count. Backward-weight gives each thread a contiguous range of
// images and its own partial dw/db, then sums the partials in thread order (0, 1, ...), so it is
// bit-identical run to run for a fixed thread count. With fewer images than threads the
// batch is walked serially and the GEMMs themselves are threaded (sgemm_parallel).
#include "kernels/conv2d.h"

#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/conv_depthwise.h"
#include "kernels/cpu/conv_direct.h"
#include "kernels/cpu/conv_pointwise.h"
#include "kernels/cpu/conv_winograd.h"
#include "kernels/gemm.h"

namespace gb::kernels::cpu {
namespace {

struct Geometry {
  int64_t P, Q, PQ, HW, Cg, Kg, CRS;
  bool direct;  // 1x1, stride 1, no padding: col is the input plane itself
};

Geometry geometry(const Conv2dShape& s) {
  Geometry g{};
  g.P = s.P();
  g.Q = s.Q();
  g.PQ = g.P * g.Q;
  g.HW = s.H * s.W;
  g.Cg = s.C_per_group();
  g.Kg = s.K_per_group();
  g.CRS = g.Cg * s.R * s.S;
  g.direct =
      s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
  return g;
}

// Smallest q >= 0 with q * stride + offset >= 0, and the end of the range where
// q * stride + offset < limit; clamped to [0, Q].
inline void valid_range(int64_t offset, int64_t stride, int64_t limit, int64_t Q, int64_t* lo,
                        int64_t* hi) {
  const int64_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t end = limit - offset <= 0 ? 0 : (limit - offset - 1) / stride + 1;
  *lo = std::min(first, Q);
  *hi = std::max(*lo, std::min(end, Q));
}

// col[(c*R + r)*S + t, p*Q + q] = x[c, p*sh - ph + r*dh, q*sw - pw + t*dw] (0 outside the plane),
// for the Cg channels of one group of one image.
void im2col(const Conv2dShape& s, const Geometry& g, const float* x, float* col) {
  for (int64_t c = 0; c < g.Cg; ++c) {
    const float* plane = x + c * g.HW;
    for (int64_t r = 0; r < s.R; ++r) {
      for (int64_t t = 0; t < s.S; ++t) {
        float* row = col + ((c * s.R + r) * s.S + t) * g.PQ;
        const int64_t off = t * s.dilation_w - s.pad_w;  // column q reads in[q * sw + off]
        int64_t q_lo, q_hi;
        valid_range(off, s.stride_w, s.W, g.Q, &q_lo, &q_hi);
        for (int64_t p = 0; p < g.P; ++p) {
          float* out = row + p * g.Q;
          const int64_t ih = p * s.stride_h - s.pad_h + r * s.dilation_h;
          if (ih < 0 || ih >= s.H) {
            std::fill(out, out + g.Q, 0.0f);
            continue;
          }
          const float* in = plane + ih * s.W;
          std::fill(out, out + q_lo, 0.0f);
          if (s.stride_w == 1) {
            std::memcpy(out + q_lo, in + q_lo + off,
                        sizeof(float) * static_cast<size_t>(q_hi - q_lo));
          } else {
            for (int64_t q = q_lo; q < q_hi; ++q) out[q] = in[q * s.stride_w + off];
          }
          std::fill(out + q_hi, out + g.Q, 0.0f);
        }
      }
    }
  }
}

// The adjoint of im2col: dx[c, ih, iw] += col[(c*R + r)*S + t, p*Q + q] for every tap that
// read (ih, iw). dx must be initialised by the caller.
void col2im_add(const Conv2dShape& s, const Geometry& g, const float* col, float* dx) {
  for (int64_t c = 0; c < g.Cg; ++c) {
    float* plane = dx + c * g.HW;
    for (int64_t r = 0; r < s.R; ++r) {
      for (int64_t t = 0; t < s.S; ++t) {
        const float* row = col + ((c * s.R + r) * s.S + t) * g.PQ;
        const int64_t off = t * s.dilation_w - s.pad_w;
        int64_t q_lo, q_hi;
        valid_range(off, s.stride_w, s.W, g.Q, &q_lo, &q_hi);
        for (int64_t p = 0; p < g.P; ++p) {
          const int64_t ih = p * s.stride_h - s.pad_h + r * s.dilation_h;
          if (ih < 0 || ih >= s.H) continue;
          const float* in = row + p * g.Q;
          float* out = plane + ih * s.W;
          for (int64_t q = q_lo; q < q_hi; ++q) out[q * s.stride_w + off] += in[q];
        }
      }
    }
  }
}

// Per-thread column buffer, reused across calls.
float* column_buffer(int64_t count) {
  thread_local std::vector<float> buffer;
  if (static_cast<int64_t>(buffer.size()) < count) buffer.resize(static_cast<size_t>(count));
  return buffer.data();
}

using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                        const float*, int64_t, float, float*, int64_t);

// Number of threads to spread images over: 1 means walk the batch serially with threaded GEMMs.
int batch_threads(int64_t N) {
  if (omp_in_parallel()) return 1;
  return static_cast<int>(std::min<int64_t>(omp_get_max_threads(), N));
}

void forward_image(const Conv2dShape& s, const Geometry& g, int64_t n, const float* x,
                   const float* w, const float* bias, float* y, GemmFn gemm) {
  float* col = g.direct ? nullptr : column_buffer(g.CRS * g.PQ);
  for (int64_t grp = 0; grp < s.groups; ++grp) {
    const float* xg = x + (n * s.C + grp * g.Cg) * g.HW;
    if (!g.direct) im2col(s, g, xg, col);
    float* yg = y + (n * s.K + grp * g.Kg) * g.PQ;
    gemm(false, false, g.Kg, g.PQ, g.CRS, 1.0f, w + grp * g.Kg * g.CRS, g.CRS, g.direct ? xg : col,
         g.PQ, 0.0f, yg, g.PQ);
  }
  if (bias) {
    float* yn = y + n * s.K * g.PQ;
    for (int64_t k = 0; k < s.K; ++k) {
      const float b = bias[k];
      float* row = yn + k * g.PQ;
      for (int64_t i = 0; i < g.PQ; ++i) row[i] += b;
    }
  }
}

void backward_input_image(const Conv2dShape& s, const Geometry& g, int64_t n, const float* dy,
                          const float* w, float* dx, GemmFn gemm) {
  float* col = g.direct ? nullptr : column_buffer(g.CRS * g.PQ);
  float* dxn = dx + n * s.C * g.HW;
  if (!g.direct) std::fill(dxn, dxn + s.C * g.HW, 0.0f);
  for (int64_t grp = 0; grp < s.groups; ++grp) {
    const float* dyg = dy + (n * s.K + grp * g.Kg) * g.PQ;
    const float* wg = w + grp * g.Kg * g.CRS;
    float* dxg = dxn + grp * g.Cg * g.HW;
    if (g.direct) {
      gemm(true, false, g.CRS, g.PQ, g.Kg, 1.0f, wg, g.CRS, dyg, g.PQ, 0.0f, dxg, g.PQ);
    } else {
      gemm(true, false, g.CRS, g.PQ, g.Kg, 1.0f, wg, g.CRS, dyg, g.PQ, 0.0f, col, g.PQ);
      col2im_add(s, g, col, dxg);
    }
  }
}

// dw (+)= dy[n] * col(x[n])^T for every group; db[k] (+)= sum over the plane of dy[n, k].
// accumulate == false overwrites dw (db is always added to, in double).
void backward_weight_image(const Conv2dShape& s, const Geometry& g, int64_t n, const float* x,
                           const float* dy, bool accumulate, float* dw, double* db, GemmFn gemm) {
  float* col = g.direct ? nullptr : column_buffer(g.CRS * g.PQ);
  for (int64_t grp = 0; grp < s.groups; ++grp) {
    const float* xg = x + (n * s.C + grp * g.Cg) * g.HW;
    if (!g.direct) im2col(s, g, xg, col);
    const float* dyg = dy + (n * s.K + grp * g.Kg) * g.PQ;
    gemm(false, true, g.Kg, g.CRS, g.PQ, 1.0f, dyg, g.PQ, g.direct ? xg : col, g.PQ,
         accumulate ? 1.0f : 0.0f, dw + grp * g.Kg * g.CRS, g.CRS);
  }
  if (db) {
    const float* dyn = dy + n * s.K * g.PQ;
    for (int64_t k = 0; k < s.K; ++k) {
      float sum = 0.0f;  // one plane in float (vectorised), planes accumulated in double
      const float* row = dyn + k * g.PQ;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < g.PQ; ++i) sum += row[i];
      db[k] += sum;
    }
  }
}

ConvAlgorithm g_algorithm = ConvAlgorithm::Auto;

// The depthwise and padded-flat kernels copy each input plane into a buffer of about
// (H + 2*pad_h + stride_h) x (W + 2*pad_w + stride_w) floats (zero-padded, split into stride
// phases). Where padding or a stride makes that far larger than the plane and the output (a
// fuzzed ONNX file had a stride of 2^24 - 1: 6 GB per plane), im2col + GEMM, whose buffer is the
// output's size, runs instead. Computed in double: the fields may be near 2^63.
bool padded_copy_bounded(const Conv2dShape& s) {
  const auto d = [](int64_t v) { return static_cast<double>(v); };
  const double padded = (d(s.H) + 2 * d(s.pad_h) + d(s.stride_h) + d(s.R)) *
                        (d(s.W) + 2 * d(s.pad_w) + d(s.stride_w) + d(s.S));
  const double plain = (d(s.H) + d(s.R)) * (d(s.W) + d(s.S)) + d(s.P()) * d(s.Q());
  return padded <= 16 * plain + 4096;
}

// Depthwise shapes take conv_depthwise.h under every setting but Im2colGemm (the old path, for
// comparisons).
bool use_depthwise(const Conv2dShape& s) {
  return g_algorithm != ConvAlgorithm::Im2colGemm && conv2d_depthwise_applicable(s) &&
         padded_copy_bounded(s);
}

bool use_padded_flat(const Conv2dShape& s) {
  return g_algorithm != ConvAlgorithm::Im2colGemm && conv2d_direct_applicable(s) &&
         padded_copy_bounded(s);
}

bool use_pointwise(const Conv2dShape& s) {
  return g_algorithm != ConvAlgorithm::Im2colGemm && conv2d_pointwise_applicable(s);
}

bool use_padded_flat_backward_input(const Conv2dShape& s) {
  return g_algorithm != ConvAlgorithm::Im2colGemm && conv2d_direct_backward_input_applicable(s) &&
         padded_copy_bounded(s);
}

// Winograd where it applies and, under Auto, where it pays (conv2d_winograd_worthwhile: enough
// tiles in the batch to amortise the filter transform); forced, wherever it applies.
bool use_winograd(const Conv2dShape& s) {
  if (!conv2d_winograd_applicable(s)) return false;
  if (g_algorithm == ConvAlgorithm::Winograd) return true;
  return g_algorithm == ConvAlgorithm::Auto && conv2d_winograd_worthwhile(s);
}

}  // namespace

void set_conv_algorithm(ConvAlgorithm algorithm) { g_algorithm = algorithm; }
ConvAlgorithm conv_algorithm() { return g_algorithm; }

bool parse_conv_algorithm(const char* name, ConvAlgorithm* algorithm) {
  const std::string n = name;
  if (n == "auto")
    *algorithm = ConvAlgorithm::Auto;
  else if (n == "im2col")
    *algorithm = ConvAlgorithm::Im2colGemm;
  else if (n == "padded-flat")
    *algorithm = ConvAlgorithm::PaddedFlat;
  else if (n == "winograd")
    *algorithm = ConvAlgorithm::Winograd;
  else
    return false;
  return true;
}

const char* conv2d_kernel_name(const Conv2dShape& s) {
  if (use_depthwise(s)) return "depthwise";
  if (use_winograd(s)) {
    return conv2d_winograd_backward_weight_applicable(s)
               ? "winograd F(4x4,3x3)"
               : "winograd F(4x4,3x3); backward-weight padded-flat";
  }
  if (use_padded_flat(s) && !use_padded_flat_backward_input(s)) {
    return "padded-flat (phases); backward-input im2col+gemm";
  }
  if (use_padded_flat(s)) return "padded-flat";
  if (use_pointwise(s)) return "pointwise strided; backward im2col+gemm";
  return geometry(s).direct ? "gemm-1x1" : "im2col+gemm";
}

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y) {
  if (use_depthwise(s)) {
    ConvEpilogue ep;
    ep.shift = bias;
    conv2d_depthwise_forward(s, x, w, ep, y);
    return;
  }
  if (use_winograd(s)) {
    ConvEpilogue ep;
    ep.shift = bias;
    conv2d_winograd_forward(s, x, w, ep, y);
    return;
  }
  if (use_padded_flat(s)) {
    ConvEpilogue ep;
    ep.shift = bias;
    conv2d_direct_forward(s, x, w, ep, y);
    return;
  }
  if (use_pointwise(s)) {
    ConvEpilogue ep;
    ep.shift = bias;
    conv2d_pointwise_forward(s, x, w, ep, y);
    return;
  }
  const Geometry g = geometry(s);
  const int threads = batch_threads(s.N);
  if (threads <= 1) {
    for (int64_t n = 0; n < s.N; ++n) forward_image(s, g, n, x, w, bias, y, sgemm_parallel);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t n = 0; n < s.N; ++n) forward_image(s, g, n, x, w, bias, y, sgemm);
}

void conv2d_forward_fused(const Conv2dShape& s, const float* x, const float* w,
                          const ConvEpilogue& ep, float* y) {
  if (use_depthwise(s)) {
    conv2d_depthwise_forward(s, x, w, ep, y);
    return;
  }
  if (use_winograd(s)) {
    conv2d_winograd_forward(s, x, w, ep, y);
    return;
  }
  if (use_padded_flat(s)) {
    conv2d_direct_forward(s, x, w, ep, y);
    return;
  }
  if (use_pointwise(s)) {
    conv2d_pointwise_forward(s, x, w, ep, y);
    return;
  }
  conv2d_forward(s, x, w, nullptr, y);
  const int64_t PQ = s.P() * s.Q();
  const int threads = omp_in_parallel() || s.N * s.K * PQ < (1 << 15) ? 1 : omp_get_max_threads();
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t nk = 0; nk < s.N * s.K; ++nk) {
    const int64_t k = nk % s.K;
    const float scale = ep.scale ? ep.scale[k] : 1.0f, shift = ep.shift ? ep.shift[k] : 0.0f;
    float* row = y + nk * PQ;
    const float* res = ep.residual ? ep.residual + nk * PQ : nullptr;
    for (int64_t i = 0; i < PQ; ++i) {
      const float v = row[i] * scale + shift + (res ? res[i] : 0.0f);
      row[i] = ep.relu ? std::min(std::max(v, 0.0f), ep.relu_cap) : v;  // a NaN passes
    }
  }
}

void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx) {
  if (use_depthwise(s)) {
    conv2d_depthwise_backward_input(s, dy, w, dx);
    return;
  }
  if (use_winograd(s)) {
    conv2d_winograd_backward_input(s, dy, w, dx);
    return;
  }
  if (use_padded_flat_backward_input(s)) {
    conv2d_direct_backward_input(s, dy, w, dx);
    return;
  }
  const Geometry g = geometry(s);
  const int threads = batch_threads(s.N);
  if (threads <= 1) {
    for (int64_t n = 0; n < s.N; ++n) backward_input_image(s, g, n, dy, w, dx, sgemm_parallel);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t n = 0; n < s.N; ++n) backward_input_image(s, g, n, dy, w, dx, sgemm);
}

void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                            float* db) {
  if (use_depthwise(s)) {
    conv2d_depthwise_backward_weight(s, x, dy, dw, db);
    return;
  }
  if (use_winograd(s) && conv2d_winograd_backward_weight_applicable(s)) {
    conv2d_winograd_backward_weight(s, x, dy, dw, db);
    return;
  }
  if (use_padded_flat(s)) {
    conv2d_direct_backward_weight(s, x, dy, dw, db);
    return;
  }
  const Geometry g = geometry(s);
  const int64_t dw_size = s.K * g.CRS;
  const int threads = batch_threads(s.N);
  if (threads <= 1) {
    std::vector<double> db_acc(db ? static_cast<size_t>(s.K) : 0, 0.0);
    for (int64_t n = 0; n < s.N; ++n)
      backward_weight_image(s, g, n, x, dy, n > 0, dw, db ? db_acc.data() : nullptr,
                            sgemm_parallel);
    if (s.N == 0) std::fill(dw, dw + dw_size, 0.0f);
    for (int64_t k = 0; db && k < s.K; ++k) db[k] = static_cast<float>(db_acc[k]);
    return;
  }
  // Thread t accumulates images [N*t/T, N*(t+1)/T) into its own partial (thread 0 into dw).
  std::vector<float> partial_dw(static_cast<size_t>((threads - 1) * dw_size));
  std::vector<double> partial_db(db ? static_cast<size_t>(threads * s.K) : 0, 0.0);
  int team = threads;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#pragma omp single
    team = nt;  // the implicit barrier publishes it
    float* my_dw = t == 0 ? dw : partial_dw.data() + (t - 1) * dw_size;
    double* my_db = db ? partial_db.data() + t * s.K : nullptr;
    const int64_t n0 = s.N * t / nt, n1 = s.N * (t + 1) / nt;
    for (int64_t n = n0; n < n1; ++n)
      backward_weight_image(s, g, n, x, dy, n > n0, my_dw, my_db, sgemm);
    if (n1 == n0) std::fill(my_dw, my_dw + dw_size, 0.0f);
      // Fixed-order reduction: dw[i] = ((dw_0[i] + dw_1[i]) + dw_2[i]) + ...
#pragma omp barrier
#pragma omp for schedule(static)
    for (int64_t i = 0; i < dw_size; ++i) {
      float sum = dw[i];
      for (int64_t u = 1; u < nt; ++u) sum += partial_dw[(u - 1) * dw_size + i];
      dw[i] = sum;
    }
  }
  if (db) {
    for (int64_t k = 0; k < s.K; ++k) {
      double sum = 0.0;
      for (int64_t u = 0; u < team; ++u) sum += partial_db[u * s.K + k];
      db[k] = static_cast<float>(sum);
    }
  }
}

const Conv2dKernels conv2d_kernels{GB_KERNEL(cpu::conv2d_forward),
                                   GB_KERNEL(cpu::conv2d_backward_input),
                                   GB_KERNEL(cpu::conv2d_backward_weight)};
const Conv2dFusedKernels conv2d_fused_kernels{GB_KERNEL(cpu::conv2d_forward_fused)};

}  // namespace gb::kernels::cpu
