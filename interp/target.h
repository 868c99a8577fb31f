// Which output an explanation explains: a fixed class index, one class per input, or the
// predicted class ("pred" = argmax of the logits), and the helpers that turn a batch of logits
// into the differentiable target score that the CAM and gradient methods backpropagate.
// Shape letters: N inputs, K classes. Header-only: the helpers are a few lines each.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/ops.h"
#include "runtime/tensor.h"

namespace gb::interp {

// classes empty: the predicted class of each input; one entry: that class for every input;
// N entries: class of input n.
struct Target {
  std::vector<int64_t> classes;

  static Target pred() { return {}; }
  static Target of(int64_t k) { return Target{{k}}; }
  static Target per_input(std::vector<int64_t> ks) { return Target{std::move(ks)}; }
  bool is_pred() const { return classes.empty(); }
};

// "pred" (or "") -> Target::pred(); a non-negative integer "3" -> Target::of(3).
// throws: std::invalid_argument naming the text otherwise.
inline Target parse_target(const std::string& text) {
  if (text.empty() || text == "pred") return Target::pred();
  size_t used = 0;
  long long k = -1;
  try {
    k = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || k < 0) {
    throw std::invalid_argument("target must be 'pred' or a class index >= 0, got '" + text + "'");
  }
  return Target::of(static_cast<int64_t>(k));
}

// The class of each input for `logits` [N,K]. requires: logits is 2-D; a Target with N entries
// matches N; every class is in [0, K). throws: std::invalid_argument otherwise.
// Ties in "pred" go to the lowest index.
inline std::vector<int64_t> resolve_target(const Target& t, const Tensor& logits) {
  if (logits.dim() != 2) {
    throw std::invalid_argument("target: logits must be [N,K], got " + shape_str(logits.shape()));
  }
  const int64_t N = logits.size(0), K = logits.size(1);
  std::vector<int64_t> out(static_cast<size_t>(N));
  if (t.is_pred()) {
    const std::vector<float> v = logits.to_vector();
    for (int64_t n = 0; n < N; ++n) {
      int64_t best = 0;
      for (int64_t k = 1; k < K; ++k) {
        if (v[static_cast<size_t>(n * K + k)] > v[static_cast<size_t>(n * K + best)]) best = k;
      }
      out[static_cast<size_t>(n)] = best;
    }
    return out;
  }
  if (t.classes.size() != 1 && static_cast<int64_t>(t.classes.size()) != N) {
    throw std::invalid_argument("target: " + std::to_string(t.classes.size()) +
                                " classes given for " + std::to_string(N) + " inputs");
  }
  for (int64_t n = 0; n < N; ++n) {
    const int64_t k = t.classes.size() == 1 ? t.classes[0] : t.classes[static_cast<size_t>(n)];
    if (k < 0 || k >= K) {
      throw std::invalid_argument("target: class " + std::to_string(k) + " out of range for " +
                                  std::to_string(K) + " logits");
    }
    out[static_cast<size_t>(n)] = k;
  }
  return out;
}

// The one-hot matrix [N,K] selecting classes[n] in row n (no gradient).
inline Tensor target_one_hot(const std::vector<int64_t>& classes, int64_t K) {
  const auto N = static_cast<int64_t>(classes.size());
  Tensor m = Tensor::zeros({N, K});
  float* p = m.f32();
  for (int64_t n = 0; n < N; ++n) p[n * K + classes[static_cast<size_t>(n)]] = 1.0f;
  return m;
}

// Differentiable target logits [N]: logits[n, classes[n]]. requires: classes.size() == N.
inline Tensor target_logits(const Tensor& logits, const std::vector<int64_t>& classes) {
  return ops::sum(ops::mul(logits, target_one_hot(classes, logits.size(1)).to(logits.device())),
                  {1});
}

// Differentiable scalar sum_n logits[n, classes[n]]. Inputs of a batch do not interact in an
// eval-mode model, so its gradient w.r.t. input n (or n's activations) is that of input n's own
// target logit: one backward serves the whole batch.
inline Tensor target_score(const Tensor& logits, const std::vector<int64_t>& classes) {
  return ops::sum(ops::mul(logits, target_one_hot(classes, logits.size(1)).to(logits.device())));
}

// The target logit of each input as plain floats (no graph), e.g. f(x) for completeness checks.
inline std::vector<float> target_values(const Tensor& logits, const std::vector<int64_t>& classes) {
  NoGradGuard no_grad;
  return target_logits(logits, classes).to_vector();
}

}  // namespace gb::interp
