// cuDNN convolution backend (see conv_cudnn.h), on cuDNN's legacy convolution API (deprecated in
// cuDNN 9 but present). One handle, bound to glassbox's stream, created on first use. Per shape,
// the descriptors and the algorithm of each direction are chosen once and cached: later calls
// only launch. Strict fp32 (CUDNN_FMA_MATH: no TF32 tensor cores) and deterministic algorithms
// only. Algorithm choice: cuDNN's heuristic ranking (cudnnGet*Algorithm_v7); the first entry that
// succeeded, is CUDNN_DETERMINISTIC, runs in FMA math and needs at most kWorkspaceLimit bytes of
// workspace wins; when none qualifies, a fixed list of classic deterministic algorithms is tried.
// State (handle, plans, workspace) is never destroyed: it lives until the process exits, so no
// cuDNN or CUDA call runs after the CUDA runtime has shut down.
#ifdef GB_WITH_CUDNN

#include <cudnn.h>

#include <algorithm>
#include <array>
#include <climits>
#include <initializer_list>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/conv_cudnn.h"
#include "kernels/cuda/device_api.h"
#include "kernels/cuda/launch.cuh"

namespace gb::kernels::cuda::cudnn {
namespace {

// Largest workspace an algorithm may ask for.
constexpr size_t kWorkspaceLimit = size_t{256} << 20;

void check_cudnn(cudnnStatus_t status, const char* call) {
  if (status != CUDNN_STATUS_SUCCESS) {
    throw std::runtime_error(std::string("cudnn: ") + call + ": " + cudnnGetErrorString(status));
  }
}

int to_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) {
    throw std::runtime_error(std::string("cudnn: conv2d: ") + what + " = " + std::to_string(v) +
                             " is out of range for cuDNN");
  }
  return static_cast<int>(v);
}

std::string shape_string(const Conv2dShape& s) {
  return "N=" + std::to_string(s.N) + " C=" + std::to_string(s.C) + " H=" + std::to_string(s.H) +
         " W=" + std::to_string(s.W) + " K=" + std::to_string(s.K) + " R=" + std::to_string(s.R) +
         " S=" + std::to_string(s.S) + " stride=" + std::to_string(s.stride_h) + "x" +
         std::to_string(s.stride_w) + " pad=" + std::to_string(s.pad_h) + "x" +
         std::to_string(s.pad_w) + " G=" + std::to_string(s.groups);
}

template <class Algo>
struct Choice {
  bool chosen = false;
  Algo algo{};
  size_t workspace = 0;
};

// Descriptors of one shape and the algorithm chosen for each direction (chosen on first use).
struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;  // bias: [1, K, 1, 1]
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Choice<cudnnConvolutionFwdAlgo_t> fwd;
  Choice<cudnnConvolutionBwdDataAlgo_t> bwd_data;
  Choice<cudnnConvolutionBwdFilterAlgo_t> bwd_filter;

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
  }
};

using Key = std::array<int64_t, 14>;

Key key_of(const Conv2dShape& s) {
  return {s.N,        s.C,        s.H,     s.W,     s.K,      s.R,          s.S,
          s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.groups, s.dilation_h, s.dilation_w};
}

struct State {
  std::mutex mu;  // guards everything below; held for the whole of each call
  cudnnHandle_t handle = nullptr;
  std::map<Key, std::unique_ptr<Plan>> plans;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// Leaked on purpose (see the header comment).
State& state() {
  static State* s = new State;
  return *s;
}

cudnnHandle_t handle(State& st) {
  if (!st.handle) {
    cudnnHandle_t h = nullptr;
    check_cudnn(cudnnCreate(&h), "cudnnCreate");
    const cudnnStatus_t status = cudnnSetStream(h, stream());
    if (status != CUDNN_STATUS_SUCCESS) {
      cudnnDestroy(h);
      check_cudnn(status, "cudnnSetStream");
    }
    st.handle = h;
  }
  return st.handle;
}

// A device buffer of at least `bytes`; grows (never shrinks) and is shared by every call, all of
// which run in order on glassbox's stream.
void* workspace(State& st, size_t bytes) {
  if (bytes == 0) return st.workspace;
  if (bytes > st.workspace_bytes) {
    if (st.workspace) {
      // Work queued earlier may still be using the old buffer.
      check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize (cudnn workspace)");
      free_device(st.workspace);
      st.workspace = nullptr;
      st.workspace_bytes = 0;
    }
    const size_t rounded = (bytes + (size_t{1} << 20) - 1) & ~((size_t{1} << 20) - 1);
    st.workspace = malloc_device(rounded);
    st.workspace_bytes = rounded;
  }
  return st.workspace;
}

Plan& plan_for(State& st, const Conv2dShape& s) {
  const Key key = key_of(s);
  auto it = st.plans.find(key);
  if (it != st.plans.end()) return *it->second;

  const int n = to_int(s.N, "N"), c = to_int(s.C, "C"), h = to_int(s.H, "H"), w = to_int(s.W, "W"),
            k = to_int(s.K, "K"), r = to_int(s.R, "R"), sk = to_int(s.S, "S"),
            g = to_int(s.groups, "groups");
  const int p = to_int(s.P(), "P"), q = to_int(s.Q(), "Q");
  if (g < 1 || c % g != 0 || k % g != 0 || p < 1 || q < 1) {
    throw std::runtime_error("cudnn: conv2d: invalid shape " + shape_string(s));
  }

  auto plan = std::make_unique<Plan>();
  check_cudnn(cudnnCreateTensorDescriptor(&plan->x), "cudnnCreateTensorDescriptor");
  check_cudnn(cudnnCreateTensorDescriptor(&plan->y), "cudnnCreateTensorDescriptor");
  check_cudnn(cudnnCreateTensorDescriptor(&plan->bias), "cudnnCreateTensorDescriptor");
  check_cudnn(cudnnCreateFilterDescriptor(&plan->w), "cudnnCreateFilterDescriptor");
  check_cudnn(cudnnCreateConvolutionDescriptor(&plan->conv), "cudnnCreateConvolutionDescriptor");

  check_cudnn(cudnnSetTensor4dDescriptor(plan->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w),
              "cudnnSetTensor4dDescriptor (x)");
  check_cudnn(cudnnSetTensor4dDescriptor(plan->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, k, p, q),
              "cudnnSetTensor4dDescriptor (y)");
  check_cudnn(
      cudnnSetTensor4dDescriptor(plan->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, k, 1, 1),
      "cudnnSetTensor4dDescriptor (bias)");
  check_cudnn(
      cudnnSetFilter4dDescriptor(plan->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k, c / g, r, sk),
      "cudnnSetFilter4dDescriptor");
  check_cudnn(cudnnSetConvolution2dDescriptor(
                  plan->conv, to_int(s.pad_h, "pad_h"), to_int(s.pad_w, "pad_w"),
                  to_int(s.stride_h, "stride_h"), to_int(s.stride_w, "stride_w"),
                  to_int(s.dilation_h, "dilation_h"), to_int(s.dilation_w, "dilation_w"),
                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
              "cudnnSetConvolution2dDescriptor");
  check_cudnn(cudnnSetConvolutionGroupCount(plan->conv, g), "cudnnSetConvolutionGroupCount");
  // Strict fp32: CUDNN_DEFAULT_MATH would allow TF32 tensor cores on Ampere and later.
  check_cudnn(cudnnSetConvolutionMathType(plan->conv, CUDNN_FMA_MATH),
              "cudnnSetConvolutionMathType");

  // cuDNN must agree with glassbox on the output size.
  int on = 0, ok = 0, op = 0, oq = 0;
  check_cudnn(
      cudnnGetConvolution2dForwardOutputDim(plan->conv, plan->x, plan->w, &on, &ok, &op, &oq),
      "cudnnGetConvolution2dForwardOutputDim");
  if (on != n || ok != k || op != p || oq != q) {
    throw std::runtime_error("cudnn: conv2d: cuDNN's output dims " + std::to_string(on) + "x" +
                             std::to_string(ok) + "x" + std::to_string(op) + "x" +
                             std::to_string(oq) + " differ from glassbox's for " + shape_string(s));
  }

  Plan& ref = *plan;
  st.plans.emplace(key, std::move(plan));
  return ref;
}

// The selection policy of the header comment. `perf` holds cuDNN's ranked heuristic results;
// `workspace_of(algo, &bytes)` asks cuDNN for the workspace of algo on this plan's descriptors
// (and so whether it supports them at all); `fallback` lists deterministic algorithms to try when
// no ranked entry qualifies.
template <class Algo, class Perf, class WorkspaceOf>
Choice<Algo> choose(const std::vector<Perf>& perf, WorkspaceOf workspace_of,
                    std::initializer_list<Algo> fallback, const char* direction,
                    const Conv2dShape& s) {
  auto fits = [&](Algo algo, size_t reported, Choice<Algo>& out) {
    size_t bytes = 0;
    if (workspace_of(algo, &bytes) != CUDNN_STATUS_SUCCESS) return false;
    bytes = std::max(bytes, reported);
    if (bytes > kWorkspaceLimit) return false;
    out = {true, algo, bytes};
    return true;
  };
  // GB_CUDNN_VERBOSE=1 prints each choice, so runs can say which cuDNN algorithm they compared.
  auto chosen = [&](const Choice<Algo>& c) {
    if (std::getenv("GB_CUDNN_VERBOSE")) {
      std::fprintf(stderr, "cudnn %s %s: algorithm %d, workspace %zu bytes\n", direction,
                   shape_string(s).c_str(), static_cast<int>(c.algo), c.workspace);
    }
    return c;
  };
  Choice<Algo> out;
  for (const Perf& p : perf) {
    if (p.status != CUDNN_STATUS_SUCCESS || p.determinism != CUDNN_DETERMINISTIC ||
        p.mathType != CUDNN_FMA_MATH) {
      continue;
    }
    if (fits(p.algo, p.memory, out)) return chosen(out);
  }
  for (Algo algo : fallback) {
    if (fits(algo, 0, out)) return chosen(out);
  }
  throw std::runtime_error(std::string("cudnn: no deterministic fp32 ") + direction +
                           " algorithm within the workspace limit for " + shape_string(s));
}

const Choice<cudnnConvolutionFwdAlgo_t>& forward_algo(cudnnHandle_t h, Plan& pl,
                                                      const Conv2dShape& s) {
  if (pl.fwd.chosen) return pl.fwd;
  int max_count = 0;
  check_cudnn(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max_count),
              "cudnnGetConvolutionForwardAlgorithmMaxCount");
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(std::max(max_count, 1));
  int returned = 0;
  check_cudnn(
      cudnnGetConvolutionForwardAlgorithm_v7(h, pl.x, pl.w, pl.conv, pl.y,
                                             static_cast<int>(perf.size()), &returned, perf.data()),
      "cudnnGetConvolutionForwardAlgorithm_v7");
  perf.resize(std::clamp(returned, 0, static_cast<int>(perf.size())));
  pl.fwd = choose<cudnnConvolutionFwdAlgo_t>(
      perf,
      [&](cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
        return cudnnGetConvolutionForwardWorkspaceSize(h, pl.x, pl.w, pl.conv, pl.y, algo, bytes);
      },
      {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
       CUDNN_CONVOLUTION_FWD_ALGO_GEMM},
      "forward", s);
  return pl.fwd;
}

const Choice<cudnnConvolutionBwdDataAlgo_t>& backward_data_algo(cudnnHandle_t h, Plan& pl,
                                                                const Conv2dShape& s) {
  if (pl.bwd_data.chosen) return pl.bwd_data;
  int max_count = 0;
  check_cudnn(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max_count),
              "cudnnGetConvolutionBackwardDataAlgorithmMaxCount");
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(std::max(max_count, 1));
  int returned = 0;
  check_cudnn(
      cudnnGetConvolutionBackwardDataAlgorithm_v7(
          h, pl.w, pl.y, pl.conv, pl.x, static_cast<int>(perf.size()), &returned, perf.data()),
      "cudnnGetConvolutionBackwardDataAlgorithm_v7");
  perf.resize(std::clamp(returned, 0, static_cast<int>(perf.size())));
  // ALGO_0 is non-deterministic (atomics); ALGO_1 is not.
  pl.bwd_data = choose<cudnnConvolutionBwdDataAlgo_t>(
      perf,
      [&](cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(h, pl.w, pl.y, pl.conv, pl.x, algo,
                                                            bytes);
      },
      {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1}, "backward-data", s);
  return pl.bwd_data;
}

const Choice<cudnnConvolutionBwdFilterAlgo_t>& backward_filter_algo(cudnnHandle_t h, Plan& pl,
                                                                    const Conv2dShape& s) {
  if (pl.bwd_filter.chosen) return pl.bwd_filter;
  int max_count = 0;
  check_cudnn(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max_count),
              "cudnnGetConvolutionBackwardFilterAlgorithmMaxCount");
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(std::max(max_count, 1));
  int returned = 0;
  check_cudnn(
      cudnnGetConvolutionBackwardFilterAlgorithm_v7(
          h, pl.x, pl.y, pl.conv, pl.w, static_cast<int>(perf.size()), &returned, perf.data()),
      "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
  perf.resize(std::clamp(returned, 0, static_cast<int>(perf.size())));
  // ALGO_0 and ALGO_3 are non-deterministic (atomics); ALGO_1 is not.
  pl.bwd_filter = choose<cudnnConvolutionBwdFilterAlgo_t>(
      perf,
      [&](cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, pl.x, pl.y, pl.conv, pl.w, algo,
                                                              bytes);
      },
      {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1}, "backward-filter", s);
  return pl.bwd_filter;
}

const float kOne = 1.0f;
const float kZero = 0.0f;

}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y) {
  if (s.N == 0) return;  // empty batch: nothing to write
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  const cudnnHandle_t h = handle(st);
  Plan& pl = plan_for(st, s);
  const auto& algo = forward_algo(h, pl, s);
  void* ws = workspace(st, algo.workspace);
  // beta = 0: y is not read, so its old contents (even NaN) do not matter.
  check_cudnn(cudnnConvolutionForward(h, &kOne, pl.x, x, pl.w, w, pl.conv, algo.algo, ws,
                                      algo.workspace, &kZero, pl.y, y),
              "cudnnConvolutionForward");
  if (bias) {
    check_cudnn(cudnnAddTensor(h, &kOne, pl.bias, bias, &kOne, pl.y, y), "cudnnAddTensor");
  }
}

void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx) {
  if (s.N == 0) return;  // empty batch: nothing to write
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  const cudnnHandle_t h = handle(st);
  Plan& pl = plan_for(st, s);
  const auto& algo = backward_data_algo(h, pl, s);
  void* ws = workspace(st, algo.workspace);
  check_cudnn(cudnnConvolutionBackwardData(h, &kOne, pl.w, w, pl.y, dy, pl.conv, algo.algo, ws,
                                           algo.workspace, &kZero, pl.x, dx),
              "cudnnConvolutionBackwardData");
}

void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                            float* db) {
  if (s.N == 0) {  // empty batch: the gradients are sums over nothing
    fill_zero(dw, static_cast<size_t>(s.K * s.C_per_group() * s.R * s.S) * sizeof(float));
    if (db) fill_zero(db, static_cast<size_t>(s.K) * sizeof(float));
    return;
  }
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  const cudnnHandle_t h = handle(st);
  Plan& pl = plan_for(st, s);
  const auto& algo = backward_filter_algo(h, pl, s);
  void* ws = workspace(st, algo.workspace);
  check_cudnn(cudnnConvolutionBackwardFilter(h, &kOne, pl.x, x, pl.y, dy, pl.conv, algo.algo, ws,
                                             algo.workspace, &kZero, pl.w, dw),
              "cudnnConvolutionBackwardFilter");
  if (db) {
    check_cudnn(cudnnConvolutionBackwardBias(h, &kOne, pl.y, dy, &kZero, pl.bias, db),
                "cudnnConvolutionBackwardBias");
  }
}

}  // namespace gb::kernels::cuda::cudnn

#endif  // GB_WITH_CUDNN
