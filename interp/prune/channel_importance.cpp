// Channel importance over a calibration set: hooks capture the named layers' outputs, one
// gb::grad per batch gives their gradients, and the per-channel sums are kept in double.
// Shape letters: N images, K channels of a layer, h/w its spatial size.
#include "interp/prune/channel_importance.h"

#include <cmath>
#include <stdexcept>
#include <utility>

#include "interp/target.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"

namespace gb::interp {
namespace {

// Forward hooks that record every output of the named modules; removed on scope exit.
class Capture {
 public:
  Capture(Module& model, const std::vector<std::string>& layers) {
    for (const auto& path : layers) {
      Module* m = model.find(path);
      if (m == nullptr || path.empty()) {
        remove_all();
        throw std::invalid_argument("channel_scores: the model has no layer '" + path + "'");
      }
      const int id = m->add_forward_hook([this, path](Module&, const Tensor&, const Tensor& out) {
        outputs_.emplace_back(path, out);
        return Tensor();
      });
      ids_.emplace_back(m, id);
    }
  }
  ~Capture() { remove_all(); }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  std::vector<std::pair<std::string, Tensor>>& outputs() { return outputs_; }

 private:
  void remove_all() {
    for (auto& [m, id] : ids_) m->remove_hook(id);
    ids_.clear();
  }
  std::vector<std::pair<Module*, int>> ids_;
  std::vector<std::pair<std::string, Tensor>> outputs_;
};

}  // namespace

std::map<std::string, std::vector<double>> channel_scores(
    Module& model, const std::vector<std::string>& layers,
    const std::vector<CalibrationBatch>& batches, const ChannelScoreOptions& opt) {
  if (!grad_mode_enabled()) {
    throw std::invalid_argument("channel_scores: needs gradients; called under a NoGradGuard");
  }
  std::map<std::string, std::vector<double>> sums;
  int64_t images = 0;
  EvalModeScope eval(model);
  for (size_t b = 0; b < batches.size(); ++b) {
    const CalibrationBatch& batch = batches[b];
    const Tensor& x = batch.images;
    if (!x.defined() || x.dim() != 4 || x.dtype() != DType::F32 ||
        static_cast<int64_t>(batch.labels.size()) != x.size(0)) {
      throw std::invalid_argument("channel_scores: calibration batch " + std::to_string(b) +
                                  " must be float images [N,C,H,W] with N labels" +
                                  (x.defined() ? ", got " + shape_str(x.shape()) + " and " +
                                                     std::to_string(batch.labels.size()) + " labels"
                                               : ""));
    }
    const int64_t N = x.size(0);
    Capture cap(model, layers);
    Tensor logits = model(x);
    if (logits.dim() != 2 || logits.size(0) != N) {
      throw std::invalid_argument("channel_scores: the model must return logits [N,classes], got " +
                                  shape_str(logits.shape()));
    }
    for (int64_t label : batch.labels) {
      if (label < 0 || label >= logits.size(1)) {
        throw std::invalid_argument("channel_scores: label " + std::to_string(label) +
                                    " out of range for " + std::to_string(logits.size(1)) +
                                    " classes in calibration batch " + std::to_string(b));
      }
    }
    Tensor root;
    if (opt.score == ChannelScore::Taylor) {
      // Sum of the per-image losses, so image n's gradient is that of its own loss.
      root = ops::scale(ops::cross_entropy(logits, Tensor::from_labels(batch.labels)),
                        static_cast<float>(N));
    } else {
      const Target t = opt.gradcam_use_labels ? Target::per_input(batch.labels) : Target::pred();
      root = target_score(logits, resolve_target(t, logits));
    }
    std::vector<Tensor> acts;
    for (const auto& [path, a] : cap.outputs()) {
      if (a.dim() != 4 && a.dim() != 2) {
        throw std::invalid_argument("channel_scores: layer '" + path +
                                    "' must output [N,K,h,w] or [N,K], got " +
                                    shape_str(a.shape()));
      }
      if (!a.requires_grad()) {
        throw std::invalid_argument("channel_scores: the output of layer '" + path +
                                    "' does not depend on any parameter that requires grad");
      }
      acts.push_back(a);
    }
    for (const auto& path : layers) {
      bool ran = false;
      for (const auto& [p, a] : cap.outputs()) ran = ran || p == path;
      if (!ran) {
        throw std::invalid_argument("channel_scores: layer '" + path +
                                    "' did not run in the forward pass");
      }
    }
    const std::vector<Tensor> grads = acts.empty() ? std::vector<Tensor>{} : grad(root, acts);
    for (size_t i = 0; i < acts.size(); ++i) {
      const std::string& path = cap.outputs()[i].first;
      const std::vector<float> a = acts[i].to_vector();
      const std::vector<float> g = grads[i].to_vector();
      const int64_t K = acts[i].size(1);
      const int64_t hw = acts[i].numel() / (N * K);
      std::vector<double>& s = sums[path];
      if (s.empty()) s.assign(static_cast<size_t>(K), 0.0);
      if (static_cast<int64_t>(s.size()) != K) {
        throw std::invalid_argument("channel_scores: layer '" + path +
                                    "' changed its channel count between calls");
      }
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t k = 0; k < K; ++k) {
          const size_t base = static_cast<size_t>((n * K + k) * hw);
          double ag = 0, sa = 0, sg = 0;
          for (int64_t j = 0; j < hw; ++j) {
            const double av = a[base + static_cast<size_t>(j)];
            const double gv = g[base + static_cast<size_t>(j)];
            ag += av * gv;
            sa += av;
            sg += gv;
          }
          const double inv = 1.0 / static_cast<double>(hw);
          s[static_cast<size_t>(k)] += opt.score == ChannelScore::Taylor
                                           ? std::abs(ag * inv)
                                           : std::abs((sg * inv) * (sa * inv));
        }
      }
    }
    images += N;
  }
  if (images == 0) throw std::invalid_argument("channel_scores: empty calibration set");
  for (auto& [path, s] : sums) {
    for (double& v : s) v /= static_cast<double>(images);
  }
  return sums;
}

}  // namespace gb::interp
