// Token grids: square-root tests and the [N,T,D] -> [N,D,g,g] rearrangement.
// Shape letters: N images, T tokens, D token width, g the patch grid's side.
#include "interp/tokens.h"

#include <cmath>
#include <stdexcept>
#include <vector>

namespace gb::interp {
namespace {
int64_t exact_sqrt(int64_t n) {
  if (n < 1) return 0;
  auto r = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  return r * r == n ? r : 0;
}
}  // namespace

TokenGrid token_grid(int64_t T) {
  if (const int64_t g = exact_sqrt(T - 1); g > 0) return {g, 1};
  if (const int64_t g = exact_sqrt(T); g > 1) return {g, 0};
  return {};
}

bool is_token_output(const Tensor& t) {
  return t.defined() && t.dim() == 3 && token_grid(t.size(1)).valid();
}

bool is_attention_output(const Tensor& t) {
  if (!t.defined() || t.dim() != 4 || t.size(2) != t.size(3) || !token_grid(t.size(2)).valid()) {
    return false;
  }
  // Probabilities: every row non-negative and summing to 1 (a CNN's square feature maps are not).
  const int64_t T = t.size(3), rows = t.numel() / T;
  const std::vector<float> v = t.to(Device{}).to_vector();
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t j = 0; j < T; ++j) {
      const float e = v[static_cast<size_t>(r * T + j)];
      if (!(e >= 0.0f)) return false;
      sum += e;
    }
    if (std::fabs(sum - 1.0) > 1e-3) return false;
  }
  return true;
}

Tensor tokens_to_grid(const Tensor& t) {
  if (!is_token_output(t)) {
    throw std::invalid_argument("interp: " + shape_str(t.shape()) +
                                " is not a token sequence [N,T,D] whose tokens form a grid");
  }
  const int64_t N = t.size(0), T = t.size(1), D = t.size(2);
  const TokenGrid g = token_grid(T);
  const int64_t P = g.side * g.side;
  const std::vector<float> v = t.to(Device{}).to_vector();
  std::vector<float> out(static_cast<size_t>(N * D * P));
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t p = 0; p < P; ++p) {
      const float* tok = v.data() + (n * T + g.first_patch + p) * D;
      for (int64_t d = 0; d < D; ++d) out[static_cast<size_t>((n * D + d) * P + p)] = tok[d];
    }
  }
  return Tensor::from_vector({N, D, g.side, g.side}, out);
}

}  // namespace gb::interp
