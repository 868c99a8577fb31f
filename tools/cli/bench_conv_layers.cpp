// Per-layer convolution timings on the GPU, hand-written kernels against cuDNN (see
// bench_conv_layers.h). The shapes come from a CPU forward pass with hooks on every Conv2d.
#include "tools/cli/bench_conv_layers.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "models/registry.h"
#include "runtime/autograd.h"
#include "runtime/layers.h"
#include "runtime/rng.h"

#ifdef GB_WITH_CUDA
#include "kernels/conv2d.h"
#include "kernels/cuda/conv_cudnn.h"
#include "kernels/cuda/device_api.h"
#endif

namespace gb::cli {
#ifdef GB_WITH_CUDA
namespace {

// The conv shapes of one forward pass of `model_name`, in execution order, with their modules.
std::vector<std::pair<kernels::Conv2dShape, std::string>> conv_shapes(const std::string& model_name,
                                                                      int64_t batch) {
  auto model = models::build_model(model_name, {});
  model->eval();
  std::vector<std::pair<kernels::Conv2dShape, std::string>> out;
  for (auto& [path, m] : model->named_modules()) {
    auto* conv = dynamic_cast<nn::Conv2d*>(m);
    if (!conv) continue;
    const std::string name = path;
    conv->add_forward_hook([&out, conv, name](Module&, const Tensor& in, const Tensor&) {
      kernels::Conv2dShape s;
      s.N = in.size(0), s.C = in.size(1), s.H = in.size(2), s.W = in.size(3);
      s.K = conv->out_channels, s.R = s.S = conv->kernel;
      s.stride_h = s.stride_w = conv->stride;
      s.pad_h = s.pad_w = conv->padding;
      s.groups = conv->groups;
      out.emplace_back(s, name);
      return Tensor();
    });
  }
  NoGradGuard no_grad;
  Generator gen(1, 0);
  (*model)(Tensor::randn({batch, 3, 32, 32}, gen));
  return out;
}

bool same_shape(const kernels::Conv2dShape& a, const kernels::Conv2dShape& b) {
  return a.N == b.N && a.C == b.C && a.H == b.H && a.W == b.W && a.K == b.K && a.R == b.R &&
         a.S == b.S && a.stride_h == b.stride_h && a.stride_w == b.stride_w && a.pad_h == b.pad_h &&
         a.pad_w == b.pad_w && a.groups == b.groups;
}

struct DeviceBuffer {
  float* p = nullptr;
  explicit DeviceBuffer(size_t n) {
    p = static_cast<float*>(kernels::cuda::malloc_device(std::max<size_t>(n, 1) * 4));
  }
  ~DeviceBuffer() { kernels::cuda::free_device(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void upload(const std::vector<float>& v) {
    kernels::cuda::copy_to_device(p, v.data(), v.size() * 4);
  }
  std::vector<float> download(size_t n) const {
    std::vector<float> v(n);
    kernels::cuda::copy_to_host(v.data(), p, n * 4);
    return v;
  }
};

template <class Fn>
double median_ms(int64_t warmup, int64_t reps, Fn&& fn) {
  for (int64_t i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  kernels::cuda::EventTimer timer;
  for (int64_t i = 0; i < std::max<int64_t>(reps, 1); ++i) {
    timer.start();
    fn();
    t.push_back(timer.stop_ms());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
}  // namespace

std::vector<ConvLayerTiming> bench_conv_layers(const std::string& model, int64_t batch,
                                               int64_t warmup, int64_t reps) {
  if (kernels::cuda::device_count() == 0) {
    throw std::runtime_error("bench --conv-layers: no CUDA GPU is visible");
  }
  std::vector<ConvLayerTiming> rows;
  for (const auto& [s, name] : conv_shapes(model, batch)) {
    auto it = std::find_if(rows.begin(), rows.end(),
                           [&](const ConvLayerTiming& r) { return same_shape(r.shape, s); });
    if (it != rows.end()) {
      it->layers += "," + name;
      continue;
    }
    rows.push_back({name, s, {0, 0, 0}, {0, 0, 0}, 0});
  }
  Generator gen(3, 0);
  for (auto& r : rows) {
    const auto& s = r.shape;
    const size_t nx = static_cast<size_t>(s.N * s.C * s.H * s.W);
    const size_t nw = static_cast<size_t>(s.K * s.C_per_group() * s.R * s.S);
    const size_t ny = static_cast<size_t>(s.N * s.K * s.P() * s.Q());
    DeviceBuffer x(nx), w(nw), y(ny), dy(ny), dx(nx), dw(nw), y2(ny);
    x.upload(Tensor::randn({static_cast<int64_t>(nx)}, gen).to_vector());
    w.upload(Tensor::randn({static_cast<int64_t>(nw)}, gen).to_vector());
    dy.upload(Tensor::randn({static_cast<int64_t>(ny)}, gen).to_vector());
    namespace hw = kernels::cuda::handwritten;
    r.ours_ms[0] = median_ms(warmup, reps, [&] { hw::conv2d_forward(s, x.p, w.p, nullptr, y.p); });
    r.ours_ms[1] = median_ms(warmup, reps, [&] { hw::conv2d_backward_input(s, dy.p, w.p, dx.p); });
    r.ours_ms[2] =
        median_ms(warmup, reps, [&] { hw::conv2d_backward_weight(s, x.p, dy.p, dw.p, nullptr); });
#ifdef GB_WITH_CUDNN
    namespace cd = kernels::cuda::cudnn;
    r.cudnn_ms[0] =
        median_ms(warmup, reps, [&] { cd::conv2d_forward(s, x.p, w.p, nullptr, y2.p); });
    r.cudnn_ms[1] = median_ms(warmup, reps, [&] { cd::conv2d_backward_input(s, dy.p, w.p, dx.p); });
    r.cudnn_ms[2] =
        median_ms(warmup, reps, [&] { cd::conv2d_backward_weight(s, x.p, dy.p, dw.p, nullptr); });
    const auto a = y.download(ny), b = y2.download(ny);
    double num = 0, den = 0;
    for (size_t i = 0; i < ny; ++i) {
      num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
      den += static_cast<double>(b[i]) * b[i];
    }
    r.max_rel_diff = std::sqrt(num / std::max(den, 1e-30));
#endif
  }
  return rows;
}
#else
std::vector<ConvLayerTiming> bench_conv_layers(const std::string&, int64_t, int64_t, int64_t) {
  throw std::runtime_error("bench --conv-layers: glassbox was built without CUDA");
}
#endif

std::string format_conv_layers(const std::string& model, const std::vector<ConvLayerTiming>& t) {
  std::string out = fmt::format(
      "\n{}: convolution per layer shape on the GPU, hand-written vs cuDNN (fp32), median ms\n"
      "{:<34} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9}\n",
      model, "shape N,C,HxW->K,RxS/stride", "fwd", "cudnn", "bwd-in", "cudnn", "bwd-w", "cudnn",
      "ratio", "rel diff");
  double ours = 0, theirs = 0;
  for (const auto& r : t) {
    const auto& s = r.shape;
    const double o = r.ours_ms[0] + r.ours_ms[1] + r.ours_ms[2];
    const double c = r.cudnn_ms[0] + r.cudnn_ms[1] + r.cudnn_ms[2];
    const size_t uses = static_cast<size_t>(std::count(r.layers.begin(), r.layers.end(), ',')) + 1;
    ours += o * static_cast<double>(uses);
    theirs += c * static_cast<double>(uses);
    out +=
        fmt::format("{:<34} {:>8.3f} {:>8.3f} {:>8.3f} {:>8.3f} {:>8.3f} {:>8.3f} {:>7} {:>9.1e}\n",
                    fmt::format("{},{},{}x{}->{},{}x{}/{} (x{})", s.N, s.C, s.H, s.W, s.K, s.R, s.S,
                                s.stride_h, uses),
                    r.ours_ms[0], r.cudnn_ms[0], r.ours_ms[1], r.cudnn_ms[1], r.ours_ms[2],
                    r.cudnn_ms[2], c > 0 ? fmt::format("{:.2f}", o / c) : "-", r.max_rel_diff);
  }
  out += fmt::format(
      "all conv layers of one step (fwd+bwd): hand-written {:.3f} ms, cuDNN {:.3f} ms"
      "{}\n",
      ours, theirs,
      theirs > 0 ? fmt::format(", ratio {:.2f} (time, lower is better for us)", ours / theirs)
                 : "");
  return out;
}

nlohmann::json conv_layers_to_json(const std::vector<ConvLayerTiming>& t) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : t) {
    const auto& s = r.shape;
    rows.push_back({{"layers", r.layers},
                    {"N", s.N},
                    {"C", s.C},
                    {"H", s.H},
                    {"W", s.W},
                    {"K", s.K},
                    {"R", s.R},
                    {"S", s.S},
                    {"stride", s.stride_h},
                    {"pad", s.pad_h},
                    {"groups", s.groups},
                    {"ours_ms", {r.ours_ms[0], r.ours_ms[1], r.ours_ms[2]}},
                    {"cudnn_ms", {r.cudnn_ms[0], r.cudnn_ms[1], r.cudnn_ms[2]}},
                    {"rel_diff_forward", r.max_rel_diff}});
  }
  return rows;
}

}  // namespace gb::cli
