// CAM family: layer capture through forward hooks, the per-method channel weights computed on
// plain float buffers, Score-CAM's streamed masked batches, Eigen-CAM's principal component
// (Eigen), Guided Grad-CAM and test-time-augmentation averaging.
// Transformer layers' token outputs [N,T,D] are read as channel maps [N,D,g,g] on their patch grid.
// Shape letters: N images, C input channels, H/W input size, K layer channels, h/w layer size,
// T tokens, D token width, g the patch grid's side.
#include "interp/cam.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "interp/tokens.h"
#include "runtime/autograd.h"
#include "runtime/op_table.h"
#include "runtime/ops.h"

namespace gb::interp {
namespace {

// Forward hooks registered for one forward pass, removed on scope exit (also on exceptions).
class HookSet {
 public:
  HookSet() = default;
  ~HookSet() {
    for (auto& [m, id] : ids_) m->remove_hook(id);
  }
  HookSet(const HookSet&) = delete;
  HookSet& operator=(const HookSet&) = delete;
  void add(Module* m, ForwardHook hook) {
    ids_.emplace_back(m, m->add_forward_hook(std::move(hook)));
  }

 private:
  std::vector<std::pair<Module*, int>> ids_;
};

void check_images(const Tensor& x, const char* who) {
  if (!x.defined() || x.dim() != 4 || x.dtype() != DType::F32 ||
      x.device().type != DeviceType::Cpu) {
    throw std::invalid_argument(std::string(who) + ": input must be a CPU float tensor [N,C,H,W]" +
                                (x.defined() ? ", got " + shape_str(x.shape()) : ""));
  }
  if (x.size(0) < 1) throw std::invalid_argument(std::string(who) + ": empty batch");
}

// Module path of `m` relative to `root` ("layer3.2" even when root is itself a child).
std::string relative_path(const Module& root, const Module& m) {
  const std::string& rp = root.path();
  if (rp.empty()) return m.path();
  if (m.path().size() > rp.size() && m.path().compare(0, rp.size(), rp) == 0) {
    return m.path().substr(rp.size() + 1);
  }
  return m.path();
}

std::string unknown_layer_message(Module& model, const std::string& layer) {
  std::string msg = "interp: the model has no layer '" + layer + "'; layers include";
  int shown = 0;
  for (auto& [path, m] : model.named_modules()) {
    if (m == &model) continue;
    if (shown == 16) {
      msg += " ...";
      break;
    }
    msg += (shown++ == 0 ? " " : ", ") + relative_path(model, *m);
  }
  return msg;
}

struct Captured {
  Tensor logits;
  Tensor activation;  // still attached to the graph when one was recorded
  std::string layer;
};

// For a transformer (some output is tokens [N,T,D] on a patch grid): the default CAM layer is
// the last token output of the residual width (that of the last token output) produced before
// the last attention ([N,Hd,T,T]) runs, so its patch tokens still reach the class token (after
// the last attention only the class token does); for timm's ViT, blocks[-1].norm1, the layer
// pytorch-grad-cam's ViT example uses. -1 for other models.
int default_token_layer(const std::vector<std::pair<std::string, Tensor>>& seen) {
  int last_tokens = -1, last_attention = -1;
  for (size_t i = 0; i < seen.size(); ++i) {
    if (is_token_output(seen[i].second)) last_tokens = static_cast<int>(i);
    if (is_attention_output(seen[i].second)) last_attention = static_cast<int>(i);
  }
  if (last_tokens < 0) return -1;
  const int64_t width = seen[static_cast<size_t>(last_tokens)].second.size(2);
  const int end = last_attention >= 0 ? last_attention : static_cast<int>(seen.size());
  for (int i = end - 1; i >= 0; --i) {
    const Tensor& t = seen[static_cast<size_t>(i)].second;
    if (is_token_output(t) && t.size(2) == width) return i;
  }
  return last_tokens;
}

// One forward of `xin` capturing `layer`'s output (or, with layer "", choosing the default).
Captured forward_capture(Module& model, const Tensor& xin, const std::string& layer) {
  std::vector<std::pair<std::string, Tensor>> seen;
  Tensor logits;
  {
    HookSet hooks;
    auto record = [&model, &seen](Module& m, const Tensor&, const Tensor& out) {
      seen.emplace_back(relative_path(model, m), out);
      return Tensor();
    };
    if (!layer.empty()) {
      Module* m = model.find(layer);
      if (m == nullptr || m == &model)
        throw std::invalid_argument(unknown_layer_message(model, layer));
      hooks.add(m, record);
    } else {
      for (auto& [path, m] : model.named_modules()) {
        if (m != &model) hooks.add(m, record);
      }
    }
    // The model runs on its own device; a host input is moved there (the capture and the
    // logits stay on that device; the map arithmetic reads them back with to_vector).
    logits = model(xin.device() == model.device() ? xin : xin.to(model.device()));
  }
  if (logits.dim() != 2) {
    throw std::invalid_argument("interp: the model must return logits [N,classes], got " +
                                shape_str(logits.shape()));
  }
  Captured c;
  c.logits = logits;
  if (!layer.empty()) {
    if (seen.empty()) {
      throw std::invalid_argument("interp: layer '" + layer + "' did not run in the forward pass");
    }
    c.activation = seen.back().second;
    c.layer = layer;
    if (c.activation.dim() != 4 && !is_token_output(c.activation)) {
      throw std::invalid_argument("interp: layer '" + layer + "' outputs " +
                                  shape_str(c.activation.shape()) +
                                  "; CAM methods need a 4-D activation [N,K,h,w] or tokens "
                                  "[N,T,D] that form a patch grid");
    }
    return c;
  }
  if (const int t = default_token_layer(seen); t >= 0) {
    c.activation = seen[static_cast<size_t>(t)].second;
    c.layer = seen[static_cast<size_t>(t)].first;
    return c;
  }
  // Default: the last 4-D output; of the modules that produced that very tensor, the first
  // to finish (the innermost).
  for (auto it = seen.rbegin(); it != seen.rend(); ++it) {
    if (it->second.defined() && it->second.dim() == 4) {
      for (auto& [path, t] : seen) {
        if (t.same(it->second)) {
          c.activation = t;
          c.layer = path;
          return c;
        }
      }
    }
  }
  throw std::invalid_argument("interp: no layer of the model outputs a 4-D activation [N,K,h,w]");
}

// Token outputs [N,T,D] as channel maps [N,D,g,g] (class token dropped); others unchanged.
Tensor as_channel_maps(const Tensor& t) { return is_token_output(t) ? tokens_to_grid(t) : t; }

// A leaf copy of x on `device` (the model's) that requires grad, so the graph exists even when
// parameters are frozen and gradients w.r.t. the input can be taken there.
Tensor grad_leaf(const Tensor& x, Device device) {
  Tensor xin = x.to(device).detach();
  xin.set_requires_grad(true);
  return xin;
}

Tensor upsample(const Tensor& low, int64_t H, int64_t W) {
  NoGradGuard no_grad;
  return ops::bilinear_resize(low, H, W);
}

// sum_k w[n,k] A[n,k] (optionally ReLU'd) -> [N,1,h,w].
Tensor weighted_sum(const std::vector<float>& act, const std::vector<double>& w, int64_t N,
                    int64_t K, int64_t hw, bool relu, const Shape& low_shape) {
  Tensor out = Tensor::empty(low_shape);
  float* po = out.f32();
  std::vector<double> acc(static_cast<size_t>(hw));
  for (int64_t n = 0; n < N; ++n) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t k = 0; k < K; ++k) {
      const double wk = w[static_cast<size_t>(n * K + k)];
      const float* a = act.data() + (n * K + k) * hw;
      for (int64_t p = 0; p < hw; ++p) acc[static_cast<size_t>(p)] += wk * a[p];
    }
    for (int64_t p = 0; p < hw; ++p) {
      const double v = acc[static_cast<size_t>(p)];
      po[n * hw + p] = static_cast<float>(relu ? std::max(v, 0.0) : v);
    }
  }
  return out;
}

struct Dims {
  int64_t N, K, h, w, hw;
};
Dims dims_of(const Tensor& a) {
  return {a.size(0), a.size(1), a.size(2), a.size(3), a.size(2) * a.size(3)};
}

CamResult finish(Tensor low, const Tensor& x, std::vector<int64_t> classes, std::string layer) {
  CamResult r;
  r.map = upsample(low, x.size(2), x.size(3));
  r.low_res = std::move(low);
  r.classes = std::move(classes);
  r.layer = std::move(layer);
  return r;
}

// Grad-CAM map at layer resolution from activations and their gradients.
Tensor grad_cam_low(const LayerCapture& c, bool relu) {
  const Dims d = dims_of(c.activation);
  const std::vector<float> a = c.activation.to_vector();
  const std::vector<float> g = c.gradient.to_vector();
  std::vector<double> w(static_cast<size_t>(d.N * d.K));
  for (int64_t nk = 0; nk < d.N * d.K; ++nk) {
    double s = 0.0;
    for (int64_t p = 0; p < d.hw; ++p) s += g[static_cast<size_t>(nk * d.hw + p)];
    w[static_cast<size_t>(nk)] = s / static_cast<double>(d.hw);
  }
  return weighted_sum(a, w, d.N, d.K, d.hw, relu, {d.N, 1, d.h, d.w});
}

struct Aug {
  bool flip = false;
  int64_t dx = 0, dy = 0;
};

std::vector<Aug> augmentations(const TtaOptions& t) {
  std::vector<Aug> augs{Aug{}};
  if (t.hflip) augs.push_back(Aug{true, 0, 0});
  if (t.shift > 0) {
    const int64_t s = t.shift;
    for (const auto& [dx, dy] : {std::pair<int64_t, int64_t>{s, 0}, {-s, 0}, {0, s}, {0, -s}}) {
      augs.push_back(Aug{false, dx, dy});
    }
  }
  return augs;
}

// Source column of augmented pixel column x, or -1 outside the image.
int64_t source_col(const Aug& a, int64_t x, int64_t W) {
  const int64_t xs = x - a.dx;
  if (xs < 0 || xs >= W) return -1;
  return a.flip ? W - 1 - xs : xs;
}

}  // namespace

const char* cam_method_name(CamMethod m) {
  switch (m) {
    case CamMethod::GradCam:
      return "gradcam";
    case CamMethod::GradCamPlusPlus:
      return "gradcam++";
    case CamMethod::LayerCam:
      return "layercam";
    case CamMethod::ScoreCam:
      return "scorecam";
    case CamMethod::EigenCam:
      return "eigencam";
  }
  return "?";
}

CamMethod parse_cam_method(const std::string& name) {
  if (name == "gradcam") return CamMethod::GradCam;
  if (name == "gradcam++" || name == "gradcampp") return CamMethod::GradCamPlusPlus;
  if (name == "layercam") return CamMethod::LayerCam;
  if (name == "scorecam") return CamMethod::ScoreCam;
  if (name == "eigencam") return CamMethod::EigenCam;
  throw std::invalid_argument("unknown CAM method '" + name +
                              "'; known: gradcam, gradcam++, layercam, scorecam, eigencam");
}

std::string default_cam_layer(Module& model, const Tensor& x) {
  check_images(x, "default_cam_layer");
  EvalModeScope eval(model);
  NoGradGuard no_grad;
  return forward_capture(model, x, "").layer;
}

LayerCapture capture_layer(Module& model, const Tensor& x, const std::string& layer,
                           const Target& target, bool with_gradient) {
  check_images(x, "capture_layer");
  EvalModeScope eval(model);
  LayerCapture out;
  if (!with_gradient) {
    NoGradGuard no_grad;
    Captured c = forward_capture(model, x, layer);
    out.classes = resolve_target(target, c.logits);
    out.logits = c.logits.to(Device{});  // a GPU model's capture comes back to the host
    out.activation = as_channel_maps(c.activation.to(Device{}));
    out.layer = c.layer;
    return out;
  }
  Captured c = forward_capture(model, grad_leaf(x, model.device()), layer);
  out.classes = resolve_target(target, c.logits);
  out.gradient =
      as_channel_maps(grad(target_score(c.logits, out.classes), {c.activation})[0].to(Device{}));
  out.logits = c.logits.detach().to(Device{});
  out.activation = as_channel_maps(c.activation.detach().to(Device{}));
  out.layer = c.layer;
  return out;
}

CamResult grad_cam(Module& model, const Tensor& x, const CamOptions& opt) {
  LayerCapture c = capture_layer(model, x, opt.layer, opt.target, true);
  return finish(grad_cam_low(c, opt.relu), x, c.classes, c.layer);
}

CamResult grad_cam_plus_plus(Module& model, const Tensor& x, const CamOptions& opt) {
  LayerCapture c = capture_layer(model, x, opt.layer, opt.target, true);
  const Dims d = dims_of(c.activation);
  const std::vector<float> a = c.activation.to_vector();
  const std::vector<float> g = c.gradient.to_vector();
  std::vector<double> w(static_cast<size_t>(d.N * d.K));
  for (int64_t nk = 0; nk < d.N * d.K; ++nk) {
    const float* ak = a.data() + nk * d.hw;
    const float* gk = g.data() + nk * d.hw;
    double sum_a = 0.0;
    for (int64_t p = 0; p < d.hw; ++p) sum_a += ak[p];
    double wk = 0.0;
    for (int64_t p = 0; p < d.hw; ++p) {
      const double gv = gk[p];
      if (gv <= 0.0) continue;  // ReLU(g) = 0; alpha is taken as 0 where g = 0
      const double g2 = gv * gv;
      const double denom = 2.0 * g2 + sum_a * g2 * gv;
      const double alpha = denom != 0.0 ? g2 / denom : 0.0;
      wk += alpha * gv;
    }
    w[static_cast<size_t>(nk)] = wk;
  }
  Tensor low = weighted_sum(a, w, d.N, d.K, d.hw, opt.relu, {d.N, 1, d.h, d.w});
  return finish(std::move(low), x, c.classes, c.layer);
}

CamResult layer_cam(Module& model, const Tensor& x, const CamOptions& opt) {
  LayerCapture c = capture_layer(model, x, opt.layer, opt.target, true);
  const Dims d = dims_of(c.activation);
  const std::vector<float> a = c.activation.to_vector();
  const std::vector<float> g = c.gradient.to_vector();
  Tensor low = Tensor::empty({d.N, 1, d.h, d.w});
  float* pl = low.f32();
  for (int64_t n = 0; n < d.N; ++n) {
    for (int64_t p = 0; p < d.hw; ++p) {
      double s = 0.0;
      for (int64_t k = 0; k < d.K; ++k) {
        const size_t i = static_cast<size_t>((n * d.K + k) * d.hw + p);
        s += std::max(g[i], 0.0f) * static_cast<double>(a[i]);
      }
      pl[n * d.hw + p] = static_cast<float>(opt.relu ? std::max(s, 0.0) : s);
    }
  }
  return finish(std::move(low), x, c.classes, c.layer);
}

CamResult score_cam(Module& model, const Tensor& x, const CamOptions& opt) {
  LayerCapture c = capture_layer(model, x, opt.layer, opt.target, false);
  const Dims d = dims_of(c.activation);
  const int64_t C = x.size(1), H = x.size(2), W = x.size(3), HW = H * W;
  // Masks: every channel upsampled to H x W and min-max normalised to [0, 1].
  Tensor masks = upsample(ops::contiguous(c.activation), H, W);
  float* pm = masks.f32();
  for (int64_t nk = 0; nk < d.N * d.K; ++nk) {
    float* m = pm + nk * HW;
    const auto [lo, hi] = std::minmax_element(m, m + HW);
    const float mn = *lo, range = *hi - *lo;
    for (int64_t p = 0; p < HW; ++p) m[p] = range > 0.0f ? (m[p] - mn) / range : 0.0f;
  }
  const Tensor xc = ops::contiguous(x.detach());
  const float* px = xc.f32();
  const int64_t masked = d.N * d.K;
  // Inputs 0..N*K-1 are X_n * M_nk; input N*K is the baseline X * 0.
  std::vector<double> score(static_cast<size_t>(masked));
  std::vector<float> base_logits;
  const int64_t classes_k = c.logits.size(1);
  auto target_prob = [](const float* row, int64_t K, int64_t cls) {
    double mx = row[0];
    for (int64_t k = 1; k < K; ++k) mx = std::max(mx, static_cast<double>(row[k]));
    double z = 0.0;
    for (int64_t k = 0; k < K; ++k) z += std::exp(static_cast<double>(row[k]) - mx);
    return std::exp(static_cast<double>(row[cls]) - mx) / z;
  };
  const bool gain = opt.score_weight == ScoreCamWeight::ProbabilityGain;
  forward_streamed(
      model, masked + 1, {C, H, W},
      [&](int64_t begin, int64_t count) {
        Tensor in = Tensor::zeros({count, C, H, W});
        float* pi = in.f32();
        for (int64_t i = 0; i < count; ++i) {
          const int64_t idx = begin + i;
          if (idx >= masked) continue;
          const int64_t n = idx / d.K;
          const float* m = pm + idx * HW;
          for (int64_t ch = 0; ch < C; ++ch) {
            const float* src = px + (n * C + ch) * HW;
            float* dst = pi + (i * C + ch) * HW;
            for (int64_t p = 0; p < HW; ++p) dst[p] = src[p] * m[p];
          }
        }
        return in;
      },
      [&](int64_t begin, const Tensor& logits) {
        const std::vector<float> v = logits.to_vector();
        for (int64_t i = 0; i < logits.size(0); ++i) {
          const int64_t idx = begin + i;
          const float* row = v.data() + i * classes_k;
          if (idx >= masked) {
            base_logits.assign(row, row + classes_k);
            continue;
          }
          const int64_t cls = c.classes[static_cast<size_t>(idx / d.K)];
          score[static_cast<size_t>(idx)] =
              gain ? target_prob(row, classes_k, cls) : static_cast<double>(row[cls]);
        }
      },
      opt.batch);
  std::vector<double> w(static_cast<size_t>(masked));
  for (int64_t n = 0; n < d.N; ++n) {
    const double* s = score.data() + n * d.K;
    double* wn = w.data() + n * d.K;
    if (gain) {
      const double pb =
          target_prob(base_logits.data(), classes_k, c.classes[static_cast<size_t>(n)]);
      for (int64_t k = 0; k < d.K; ++k) wn[k] = s[k] - pb;
    } else {
      const double mx = *std::max_element(s, s + d.K);
      double z = 0.0;
      for (int64_t k = 0; k < d.K; ++k) z += std::exp(s[k] - mx);
      for (int64_t k = 0; k < d.K; ++k) wn[k] = std::exp(s[k] - mx) / z;
    }
  }
  const std::vector<float> a = c.activation.to_vector();
  Tensor low = weighted_sum(a, w, d.N, d.K, d.hw, opt.relu, {d.N, 1, d.h, d.w});
  return finish(std::move(low), x, c.classes, c.layer);
}

CamResult eigen_cam(Module& model, const Tensor& x, const CamOptions& opt) {
  LayerCapture c = capture_layer(model, x, opt.layer, opt.target, false);
  const Dims d = dims_of(c.activation);
  const std::vector<float> a = c.activation.to_vector();
  Tensor low = Tensor::empty({d.N, 1, d.h, d.w});
  float* pl = low.f32();
  for (int64_t n = 0; n < d.N; ++n) {
    Eigen::MatrixXd m(d.hw, d.K);  // rows: positions, columns: channels
    for (int64_t k = 0; k < d.K; ++k) {
      for (int64_t p = 0; p < d.hw; ++p) m(p, k) = a[static_cast<size_t>((n * d.K + k) * d.hw + p)];
    }
    if (opt.eigen_center) m.rowwise() -= m.colwise().mean();
    // The first right-singular vector of m is the top eigenvector of the K x K Gram matrix.
    const Eigen::MatrixXd gram = m.transpose() * m;
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(gram);
    Eigen::VectorXd proj = Eigen::VectorXd::Zero(d.hw);
    if (es.info() == Eigen::Success && d.K > 0) proj = m * es.eigenvectors().col(d.K - 1);
    if (proj.sum() < 0.0) proj = -proj;
    for (int64_t p = 0; p < d.hw; ++p) {
      pl[n * d.hw + p] = static_cast<float>(opt.relu ? std::max(proj(p), 0.0) : proj(p));
    }
  }
  return finish(std::move(low), x, c.classes, c.layer);
}

CamResult cam(Module& model, const Tensor& x, const CamOptions& opt) {
  auto run = [&model](const Tensor& in, const CamOptions& o) {
    switch (o.method) {
      case CamMethod::GradCam:
        return grad_cam(model, in, o);
      case CamMethod::GradCamPlusPlus:
        return grad_cam_plus_plus(model, in, o);
      case CamMethod::LayerCam:
        return layer_cam(model, in, o);
      case CamMethod::ScoreCam:
        return score_cam(model, in, o);
      case CamMethod::EigenCam:
        return eigen_cam(model, in, o);
    }
    throw std::invalid_argument("cam: unknown method");
  };
  if (!opt.tta.enabled) return run(x, opt);
  check_images(x, "cam");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), HW = H * W;
  // Every augmented copy explains the class chosen on the original image.
  const std::vector<int64_t> classes =
      resolve_target(opt.target, forward_batched(model, x, opt.batch));
  const std::vector<Aug> augs = augmentations(opt.tta);
  const auto A = static_cast<int64_t>(augs.size());
  const Tensor xc = ops::contiguous(x.detach());
  const float* px = xc.f32();
  Tensor batch = Tensor::zeros({A * N, C, H, W});
  float* pb = batch.f32();
  std::vector<int64_t> batch_classes;
  for (int64_t ai = 0; ai < A; ++ai) {
    const Aug& aug = augs[static_cast<size_t>(ai)];
    for (int64_t n = 0; n < N; ++n) {
      batch_classes.push_back(classes[static_cast<size_t>(n)]);
      for (int64_t ch = 0; ch < C; ++ch) {
        const float* src = px + (n * C + ch) * HW;
        float* dst = pb + ((ai * N + n) * C + ch) * HW;
        for (int64_t y = 0; y < H; ++y) {
          const int64_t ys = y - aug.dy;
          if (ys < 0 || ys >= H) continue;
          for (int64_t xx = 0; xx < W; ++xx) {
            const int64_t xs = source_col(aug, xx, W);
            if (xs >= 0) dst[y * W + xx] = src[ys * W + xs];
          }
        }
      }
    }
  }
  CamOptions inner = opt;
  inner.tta.enabled = false;
  inner.target = Target::per_input(batch_classes);
  CamResult r = run(batch, inner);
  const std::vector<float> maps = r.map.to_vector();
  Tensor avg = Tensor::zeros({N, 1, H, W});
  float* pa = avg.f32();
  std::vector<int64_t> count(static_cast<size_t>(N * HW), 0);
  for (int64_t ai = 0; ai < A; ++ai) {
    const Aug& aug = augs[static_cast<size_t>(ai)];
    for (int64_t n = 0; n < N; ++n) {
      const float* m = maps.data() + (ai * N + n) * HW;
      // Original pixel (y0, x0) sits at augmented (y0 + dy, x) with x as below.
      for (int64_t y0 = 0; y0 < H; ++y0) {
        const int64_t y = y0 + aug.dy;
        if (y < 0 || y >= H) continue;
        for (int64_t x0 = 0; x0 < W; ++x0) {
          const int64_t xa = (aug.flip ? W - 1 - x0 : x0) + aug.dx;
          if (xa < 0 || xa >= W) continue;
          pa[n * HW + y0 * W + x0] += m[y * W + xa];
          ++count[static_cast<size_t>(n * HW + y0 * W + x0)];
        }
      }
    }
  }
  for (int64_t i = 0; i < N * HW; ++i) {
    if (count[static_cast<size_t>(i)] > 0)
      pa[i] /= static_cast<float>(count[static_cast<size_t>(i)]);
  }
  CamResult out;
  out.map = avg;
  {
    NoGradGuard no_grad;
    out.low_res = ops::contiguous(ops::slice(r.low_res, 0, 0, N));
  }
  out.classes = classes;
  out.layer = r.layer;
  return out;
}

Tensor guided_grad_cam(Module& model, const Tensor& x, const CamOptions& opt) {
  check_images(x, "guided_grad_cam");
  EvalModeScope eval(model);
  const Tensor xin = grad_leaf(x, model.device());
  Captured cap = forward_capture(model, xin, opt.layer);
  LayerCapture c;
  c.classes = resolve_target(opt.target, cap.logits);
  const Tensor score = target_score(cap.logits, c.classes);
  c.gradient = grad(score, {cap.activation}, {}, /*retain_graph=*/true)[0];
  c.activation = cap.activation.detach();
  Tensor guided;
  {
    ReluRuleGuard rule(ReluRule::Guided);
    guided = grad(score, {xin})[0].to(Device{});
  }
  const Tensor map = upsample(grad_cam_low(c, opt.relu), x.size(2), x.size(3));
  NoGradGuard no_grad;
  return ops::contiguous(ops::mul(guided, map));
}

}  // namespace gb::interp
