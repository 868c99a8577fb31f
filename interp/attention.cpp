// Attention capture by forward hooks on every module, the class-token (or received-attention) map
// of one layer, and attention rollout as a product of T x T matrices in double.
// Shape letters: N images, C channels, H/W image size, Hd heads, T tokens, g grid side.
#include "interp/attention.h"

#include <algorithm>
#include <stdexcept>

#include "interp/tokens.h"
#include "runtime/autograd.h"
#include "runtime/ops.h"

namespace gb::interp {
namespace {

// Head-averaged attention of image n: T x T, row-major, in double.
std::vector<double> mean_heads(const std::vector<float>& a, int64_t Hd, int64_t T, int64_t n) {
  std::vector<double> m(static_cast<size_t>(T * T), 0.0);
  for (int64_t h = 0; h < Hd; ++h) {
    const float* p = a.data() + (n * Hd + h) * T * T;
    for (int64_t i = 0; i < T * T; ++i) m[static_cast<size_t>(i)] += p[i];
  }
  for (double& v : m) v /= static_cast<double>(Hd);
  return m;
}

// The per-patch scores of a T x T matrix: the class token's row over the patches, or, without a
// class token, the mean over queries of the attention each patch receives.
std::vector<float> patch_scores(const std::vector<double>& m, int64_t T, const TokenGrid& g) {
  const int64_t P = g.side * g.side;
  std::vector<float> s(static_cast<size_t>(P), 0.0f);
  for (int64_t p = 0; p < P; ++p) {
    const int64_t col = g.first_patch + p;
    if (g.first_patch == 1) {
      s[static_cast<size_t>(p)] = static_cast<float>(m[static_cast<size_t>(col)]);
    } else {
      double sum = 0;
      for (int64_t q = 0; q < T; ++q) sum += m[static_cast<size_t>(q * T + col)];
      s[static_cast<size_t>(p)] = static_cast<float>(sum / static_cast<double>(T));
    }
  }
  return s;
}

// Per-image patch scores [N][g*g] -> [N,1,H,W].
Tensor to_image_maps(const std::vector<std::vector<float>>& scores, const TokenGrid& g, int64_t H,
                     int64_t W) {
  std::vector<float> flat;
  for (const auto& s : scores) flat.insert(flat.end(), s.begin(), s.end());
  const auto N = static_cast<int64_t>(scores.size());
  const Tensor low = Tensor::from_vector({N, 1, g.side, g.side}, flat);
  NoGradGuard no_grad;
  return ops::bilinear_resize(low, H, W);
}

}  // namespace

AttentionCapture capture_attention(Module& model, const Tensor& x) {
  EvalModeScope eval(model);
  NoGradGuard no_grad;
  AttentionCapture c;
  std::vector<std::pair<Module*, int>> hooks;
  for (auto& [path, m] : model.named_modules()) {
    if (m == &model) continue;
    const std::string name = path;
    hooks.emplace_back(m,
                       m->add_forward_hook([&c, name](Module&, const Tensor&, const Tensor& out) {
                         if (is_attention_output(out)) {
                           c.layers.push_back(name);
                           c.attention.push_back(out.to(Device{}));
                         }
                         return Tensor();
                       }));
  }
  try {
    model(x.to(model.device()));
  } catch (...) {
    for (auto& [m, id] : hooks) m->remove_hook(id);
    throw;
  }
  for (auto& [m, id] : hooks) m->remove_hook(id);
  if (c.layers.empty()) {
    throw std::invalid_argument(
        "attention: no module of the model outputs attention probabilities [N,heads,T,T] over "
        "tokens that form a patch grid (the attention methods need a vision transformer)");
  }
  return c;
}

Tensor attention_map(Module& model, const Tensor& x, const std::string& layer) {
  const AttentionCapture c = capture_attention(model, x);
  size_t k = c.layers.size() - 1;
  if (!layer.empty()) {
    const auto it = std::find(c.layers.begin(), c.layers.end(), layer);
    if (it == c.layers.end()) {
      std::string known;
      for (const auto& l : c.layers) known += (known.empty() ? "" : ", ") + l;
      throw std::invalid_argument("--layer '" + layer + "' is not an attention layer; they are " +
                                  known);
    }
    k = static_cast<size_t>(it - c.layers.begin());
  }
  const Tensor& a = c.attention[k];
  const int64_t N = a.size(0), Hd = a.size(1), T = a.size(2);
  const TokenGrid g = token_grid(T);
  const std::vector<float> v = a.to_vector();
  std::vector<std::vector<float>> scores;
  for (int64_t n = 0; n < N; ++n) scores.push_back(patch_scores(mean_heads(v, Hd, T, n), T, g));
  return to_image_maps(scores, g, x.size(2), x.size(3));
}

Tensor attention_rollout(Module& model, const Tensor& x) {
  const AttentionCapture c = capture_attention(model, x);
  const int64_t N = c.attention[0].size(0), T = c.attention[0].size(2);
  const TokenGrid g = token_grid(T);
  std::vector<std::vector<float>> scores;
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> R(static_cast<size_t>(T * T), 0.0);  // identity
    for (int64_t i = 0; i < T; ++i) R[static_cast<size_t>(i * T + i)] = 1.0;
    for (const Tensor& a : c.attention) {
      if (a.size(2) != T) throw std::invalid_argument("attention rollout: layers differ in T");
      std::vector<double> A = mean_heads(a.to_vector(), a.size(1), T, n);
      for (int64_t i = 0; i < T; ++i) {  // 0.5 A + 0.5 I, rows renormalised
        double row = 0;
        for (int64_t j = 0; j < T; ++j) {
          double& e = A[static_cast<size_t>(i * T + j)];
          e = 0.5 * e + (i == j ? 0.5 : 0.0);
          row += e;
        }
        for (int64_t j = 0; j < T; ++j) A[static_cast<size_t>(i * T + j)] /= row;
      }
      std::vector<double> next(static_cast<size_t>(T * T), 0.0);  // R <- A' R
      for (int64_t i = 0; i < T; ++i) {
        for (int64_t k = 0; k < T; ++k) {
          const double aik = A[static_cast<size_t>(i * T + k)];
          for (int64_t j = 0; j < T; ++j) {
            next[static_cast<size_t>(i * T + j)] += aik * R[static_cast<size_t>(k * T + j)];
          }
        }
      }
      R.swap(next);
    }
    scores.push_back(patch_scores(R, T, g));
  }
  return to_image_maps(scores, g, x.size(2), x.size(3));
}

}  // namespace gb::interp
