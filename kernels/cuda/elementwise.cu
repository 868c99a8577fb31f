// CUDA elementwise kernels (see elementwise.h). Grid-stride loops of 256-thread blocks; when
// every pointer is 16-byte aligned the body runs on float4 (the last n % 4 elements by the
// first threads of the grid). The broadcasting op collapses dims on the host (size-1 dims
// dropped, neighbours merged where both operands are contiguous across them) and uses 32-bit
// index arithmetic when the element count allows.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/activation.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/elementwise.h"

namespace gb::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxDims = 8;
// The constants of ref/activation.cpp, spelled as glibc's M_SQRT1_2 and M_2_SQRTPI.
constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.5 * 1.12837916709551257390 * 0.70710678118654752440;

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

__device__ __forceinline__ int64_t global_id() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// ---- functors ----

struct Relu {
  __device__ float operator()(float x) const { return (x > 0.0f || x != x) ? x : 0.0f; }
};
struct GeluFwd {
  __device__ float operator()(float x) const {
    const double v = x;
    return static_cast<float>(0.5 * v * (1.0 + erf(v * kSqrt1_2)));
  }
};
struct Scale {
  float factor;
  __device__ float operator()(float x) const { return x * factor; }
};
struct ReluBwd {  // (y, dy)
  __device__ float operator()(float y, float dy) const { return y > 0.0f ? dy : 0.0f; }
};
struct GuidedBwd {
  __device__ float operator()(float y, float dy) const {
    return (y > 0.0f && dy > 0.0f) ? dy : 0.0f;
  }
};
struct DeconvBwd {  // reads only dy (passed as both operands)
  __device__ float operator()(float, float dy) const { return dy > 0.0f ? dy : 0.0f; }
};
struct GeluBwd {  // (x, dy)
  __device__ float operator()(float x, float dy) const {
    const double v = x;
    const double cdf = 0.5 * (1.0 + erf(v * kSqrt1_2));
    const double pdf = exp(-0.5 * v * v) * kInvSqrt2Pi;
    return static_cast<float>(dy * (cdf + v * pdf));
  }
};
// The import activations: ref's float expressions (fmaf spelled out where ref calls std::fma;
// nothing else here has a multiply feeding an add that nvcc could fuse, except tanh's backward,
// whose y * y is exact in double), sigmoid and tanh in double.
struct ClampFwd {
  float lo, hi;
  __device__ float operator()(float x) const {
    const float v = x < lo ? lo : x;
    return v > hi ? hi : v;
  }
};
struct ClampBwd {  // (x, dy)
  float lo, hi;
  __device__ float operator()(float x, float dy) const { return (x >= lo && x <= hi) ? dy : 0.0f; }
};
struct LeakyReluFwd {
  float alpha;
  __device__ float operator()(float x) const { return x > 0.0f ? x : x * alpha; }
};
struct LeakyReluBwd {  // (x, dy)
  float alpha;
  __device__ float operator()(float x, float dy) const { return x > 0.0f ? dy : dy * alpha; }
};
struct SigmoidFwd {
  __device__ float operator()(float x) const {
    return static_cast<float>(1.0 / (1.0 + exp(-static_cast<double>(x))));
  }
};
struct SigmoidBwd {  // (y, dy)
  __device__ float operator()(float y, float dy) const {
    const double yd = y;
    return static_cast<float>(static_cast<double>(dy) * (1.0 - yd) * yd);
  }
};
struct TanhFwd {
  __device__ float operator()(float x) const {
    return static_cast<float>(tanh(static_cast<double>(x)));
  }
};
struct TanhBwd {  // (y, dy)
  __device__ float operator()(float y, float dy) const {
    const double yd = y;
    return static_cast<float>(static_cast<double>(dy) * (1.0 - yd * yd));
  }
};
struct HardSigmoidFwd {
  float alpha, beta;
  __device__ float operator()(float x) const {
    const float t = fmaf(alpha, x, beta);
    return t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
  }
};
struct HardSigmoidBwd {  // (x, dy)
  float alpha, beta;
  __device__ float operator()(float x, float dy) const {
    const float t = fmaf(alpha, x, beta);
    return (t > 0.0f && t < 1.0f) ? dy * alpha : 0.0f;
  }
};
struct HardSwishFwd {
  __device__ float operator()(float x) const {
    const float s = x + 3.0f;
    const float h = s < 0.0f ? 0.0f : (s > 6.0f ? 6.0f : s);
    return __fdiv_rn(x * h, 6.0f);
  }
};
struct HardSwishBwd {  // (x, dy)
  __device__ float operator()(float x, float dy) const {
    return x < -3.0f ? 0.0f : (x <= 3.0f ? dy * (__fdiv_rn(x, 3.0f) + 0.5f) : dy);
  }
};
struct AddOp {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct SubOp {
  __device__ float operator()(float a, float b) const { return a - b; }
};
struct MulOp {
  __device__ float operator()(float a, float b) const { return a * b; }
};
struct DivOp {  // correctly rounded, as the CPU's division
  __device__ float operator()(float a, float b) const { return __fdiv_rn(a, b); }
};

template <class F>
__device__ __forceinline__ float4 apply4(float4 a, const F& f) {
  return make_float4(f(a.x), f(a.y), f(a.z), f(a.w));
}
template <class F>
__device__ __forceinline__ float4 apply4(float4 a, float4 b, const F& f) {
  return make_float4(f(a.x, b.x), f(a.y, b.y), f(a.z, b.z), f(a.w, b.w));
}

// ---- kernels ----

template <class F>
__global__ void map1_kernel(int64_t n, const float* x, float* y, F f) {
  for (int64_t i = global_id(); i < n; i += grid_stride()) y[i] = f(x[i]);
}

template <class F>
__global__ void map1_vec4_kernel(int64_t n, const float* x, float* y, F f) {
  const int64_t n4 = n / 4;
  const auto* x4 = reinterpret_cast<const float4*>(x);
  auto* y4 = reinterpret_cast<float4*>(y);
  for (int64_t i = global_id(); i < n4; i += grid_stride()) y4[i] = apply4(x4[i], f);
  const int64_t t = n4 * 4 + global_id();
  if (t < n) y[t] = f(x[t]);
}

template <class F>
__global__ void map2_kernel(int64_t n, const float* a, const float* b, float* c, F f) {
  for (int64_t i = global_id(); i < n; i += grid_stride()) c[i] = f(a[i], b[i]);
}

template <class F>
__global__ void map2_vec4_kernel(int64_t n, const float* a, const float* b, float* c, F f) {
  const int64_t n4 = n / 4;
  const auto* a4 = reinterpret_cast<const float4*>(a);
  const auto* b4 = reinterpret_cast<const float4*>(b);
  auto* c4 = reinterpret_cast<float4*>(c);
  for (int64_t i = global_id(); i < n4; i += grid_stride()) c4[i] = apply4(a4[i], b4[i], f);
  const int64_t t = n4 * 4 + global_id();
  if (t < n) c[t] = f(a[t], b[t]);
}

__global__ void fill_kernel(int64_t n, float* p, float value) {
  for (int64_t i = global_id(); i < n; i += grid_stride()) p[i] = value;
}

template <class F>
void map1(int64_t n, const float* x, float* y, F f, const char* name) {
  if (n <= 0) return;
  if (aligned16(x) && aligned16(y)) {
    map1_vec4_kernel<<<blocks_for((n + 3) / 4, kThreads), kThreads, 0, stream()>>>(n, x, y, f);
  } else {
    map1_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(n, x, y, f);
  }
  check_launch(name);
}

template <class F>
void map2(int64_t n, const float* a, const float* b, float* c, F f, const char* name) {
  if (n <= 0) return;
  if (aligned16(a) && aligned16(b) && aligned16(c)) {
    map2_vec4_kernel<<<blocks_for((n + 3) / 4, kThreads), kThreads, 0, stream()>>>(n, a, b, c, f);
  } else {
    map2_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(n, a, b, c, f);
  }
  check_launch(name);
}

// ---- broadcasting ----

struct Broadcast {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t sa[kMaxDims] = {};
  int64_t sb[kMaxDims] = {};
};

template <class Index, class F>
__global__ void broadcast_kernel(Index total, Broadcast p, const float* a, const float* b, float* c,
                                 F f) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    Index rem = i;
    int64_t oa = 0, ob = 0;
    for (int d = p.ndim - 1; d >= 0; --d) {
      const Index size = static_cast<Index>(p.shape[d]);
      const Index q = rem / size;
      const int64_t idx = static_cast<int64_t>(rem - q * size);
      oa += idx * p.sa[d];
      ob += idx * p.sb[d];
      rem = q;
    }
    c[i] = f(a[oa], b[ob]);
  }
}

template <class F>
void broadcast_with(const Broadcast& p, int64_t total, const float* a, const float* b, float* c,
                    F f) {
  if (p.ndim == 1 && p.sa[0] == 1 && p.sb[0] == 1) {  // plain same-shape op
    map2(total, a, b, c, f, "broadcast_binary");
    return;
  }
  if (total <= static_cast<int64_t>(UINT32_MAX)) {
    broadcast_kernel<uint32_t><<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(
        static_cast<uint32_t>(total), p, a, b, c, f);
  } else {
    broadcast_kernel<int64_t>
        <<<blocks_for(total, kThreads), kThreads, 0, stream()>>>(total, p, a, b, c, f);
  }
  check_launch("broadcast_binary");
}

}  // namespace

void relu_forward(int64_t n, const float* x, float* y) { map1(n, x, y, Relu{}, "relu_forward"); }

void relu_backward(int64_t n, const float* y, const float* dy, float* dx) {
  map2(n, y, dy, dx, ReluBwd{}, "relu_backward");
}

void relu_backward_guided(int64_t n, const float* y, const float* dy, float* dx) {
  map2(n, y, dy, dx, GuidedBwd{}, "relu_backward_guided");
}

void relu_backward_deconv(int64_t n, const float* y, const float* dy, float* dx) {
  (void)y;
  map2(n, dy, dy, dx, DeconvBwd{}, "relu_backward_deconv");
}

void gelu_forward(int64_t n, const float* x, float* y) { map1(n, x, y, GeluFwd{}, "gelu_forward"); }

void gelu_backward(int64_t n, const float* x, const float* dy, float* dx) {
  map2(n, x, dy, dx, GeluBwd{}, "gelu_backward");
}

void clamp_forward(int64_t n, const float* x, float lo, float hi, float* y) {
  map1(n, x, y, ClampFwd{lo, hi}, "clamp_forward");
}

void clamp_backward(int64_t n, const float* x, float lo, float hi, const float* dy, float* dx) {
  map2(n, x, dy, dx, ClampBwd{lo, hi}, "clamp_backward");
}

void leaky_relu_forward(int64_t n, const float* x, float alpha, float* y) {
  map1(n, x, y, LeakyReluFwd{alpha}, "leaky_relu_forward");
}

void leaky_relu_backward(int64_t n, const float* x, float alpha, const float* dy, float* dx) {
  map2(n, x, dy, dx, LeakyReluBwd{alpha}, "leaky_relu_backward");
}

void sigmoid_forward(int64_t n, const float* x, float* y) {
  map1(n, x, y, SigmoidFwd{}, "sigmoid_forward");
}

void sigmoid_backward(int64_t n, const float* y, const float* dy, float* dx) {
  map2(n, y, dy, dx, SigmoidBwd{}, "sigmoid_backward");
}

void tanh_forward(int64_t n, const float* x, float* y) { map1(n, x, y, TanhFwd{}, "tanh_forward"); }

void tanh_backward(int64_t n, const float* y, const float* dy, float* dx) {
  map2(n, y, dy, dx, TanhBwd{}, "tanh_backward");
}

void hardsigmoid_forward(int64_t n, const float* x, float alpha, float beta, float* y) {
  map1(n, x, y, HardSigmoidFwd{alpha, beta}, "hardsigmoid_forward");
}

void hardsigmoid_backward(int64_t n, const float* x, float alpha, float beta, const float* dy,
                          float* dx) {
  map2(n, x, dy, dx, HardSigmoidBwd{alpha, beta}, "hardsigmoid_backward");
}

void hardswish_forward(int64_t n, const float* x, float* y) {
  map1(n, x, y, HardSwishFwd{}, "hardswish_forward");
}

void hardswish_backward(int64_t n, const float* x, const float* dy, float* dx) {
  map2(n, x, dy, dx, HardSwishBwd{}, "hardswish_backward");
}

void add(int64_t n, const float* a, const float* b, float* c) { map2(n, a, b, c, AddOp{}, "add"); }
void sub(int64_t n, const float* a, const float* b, float* c) { map2(n, a, b, c, SubOp{}, "sub"); }
void mul(int64_t n, const float* a, const float* b, float* c) { map2(n, a, b, c, MulOp{}, "mul"); }
void div(int64_t n, const float* a, const float* b, float* c) { map2(n, a, b, c, DivOp{}, "div"); }

void scale(int64_t n, const float* x, float factor, float* y) {
  map1(n, x, y, Scale{factor}, "scale");
}

void add_inplace(int64_t n, float* dst, const float* src) {
  map2(n, dst, src, dst, AddOp{}, "add_inplace");
}

void fill(int64_t n, float* p, float value) {
  if (n <= 0) return;
  fill_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(n, p, value);
  check_launch("fill");
}

void broadcast_binary(BinaryOp op, int ndim, const int64_t* out_shape, const float* a,
                      const int64_t* a_strides, const float* b, const int64_t* b_strides,
                      float* c) {
  if (ndim < 0 || ndim > kMaxDims) {
    throw std::invalid_argument("broadcast_binary: ndim " + std::to_string(ndim) + " outside 0..8");
  }
  // Drop size-1 dims and merge a dim into the previous one when both operands step through
  // them as one (the output, contiguous, always does).
  Broadcast p;
  int64_t total = 1;
  for (int d = 0; d < ndim; ++d) {
    const int64_t size = out_shape[d];
    if (size < 0) throw std::invalid_argument("broadcast_binary: negative size");
    total *= size;
    if (size == 1) continue;
    const int k = p.ndim - 1;
    if (k >= 0 && p.sa[k] == a_strides[d] * size && p.sb[k] == b_strides[d] * size) {
      p.shape[k] *= size;
      p.sa[k] = a_strides[d];
      p.sb[k] = b_strides[d];
      continue;
    }
    p.shape[p.ndim] = size;
    p.sa[p.ndim] = a_strides[d];
    p.sb[p.ndim] = b_strides[d];
    ++p.ndim;
  }
  if (total == 0) return;
  switch (op) {
    case BinaryOp::Add:
      broadcast_with(p, total, a, b, c, AddOp{});
      break;
    case BinaryOp::Sub:
      broadcast_with(p, total, a, b, c, SubOp{});
      break;
    case BinaryOp::Mul:
      broadcast_with(p, total, a, b, c, MulOp{});
      break;
    case BinaryOp::Div:
      broadcast_with(p, total, a, b, c, DivOp{});
      break;
  }
}

void elementwise_binary(BinaryOp op, int64_t n, const float* a, const float* b, float* c) {
  switch (op) {
    case BinaryOp::Add:
      add(n, a, b, c);
      break;
    case BinaryOp::Sub:
      sub(n, a, b, c);
      break;
    case BinaryOp::Mul:
      mul(n, a, b, c);
      break;
    case BinaryOp::Div:
      div(n, a, b, c);
      break;
  }
}

const ReluKernels relu_kernels{GB_KERNEL(cuda::relu_forward), GB_KERNEL(cuda::relu_backward),
                               GB_KERNEL(cuda::relu_backward_guided),
                               GB_KERNEL(cuda::relu_backward_deconv)};
const GeluKernels gelu_kernels{GB_KERNEL(cuda::gelu_forward), GB_KERNEL(cuda::gelu_backward)};
const ClampKernels clamp_kernels{GB_KERNEL(cuda::clamp_forward), GB_KERNEL(cuda::clamp_backward)};
const LeakyReluKernels leaky_relu_kernels{GB_KERNEL(cuda::leaky_relu_forward),
                                          GB_KERNEL(cuda::leaky_relu_backward)};
const PointwiseKernels sigmoid_kernels{GB_KERNEL(cuda::sigmoid_forward),
                                       GB_KERNEL(cuda::sigmoid_backward)};
const PointwiseKernels tanh_kernels{GB_KERNEL(cuda::tanh_forward), GB_KERNEL(cuda::tanh_backward)};
const HardSigmoidKernels hardsigmoid_kernels{GB_KERNEL(cuda::hardsigmoid_forward),
                                             GB_KERNEL(cuda::hardsigmoid_backward)};
const PointwiseKernels hardswish_kernels{GB_KERNEL(cuda::hardswish_forward),
                                         GB_KERNEL(cuda::hardswish_backward)};
const BinaryKernels binary_kernels{GB_KERNEL(cuda::elementwise_binary),
                                   GB_KERNEL(cuda::broadcast_binary)};
const ScaleKernels scale_kernels{GB_KERNEL(cuda::scale)};

}  // namespace gb::kernels::cuda
