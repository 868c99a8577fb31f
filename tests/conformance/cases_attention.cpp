// Conformance cases of the transformer ops: matmul (2-D, batched, transposed operands read in
// place, a 2-D operand shared by every batch on either side, M/K/N of 1, batches across threads
// and one product threaded) and layer_norm (affine, weight only, no affine, D = 1, a large eps,
// rows past the threading threshold, a 4-D input).
// Shape letters: B batches, M rows, K summed dim, N columns; D normalised features.
#include "runtime/ops.h"
#include "tests/conformance/case.h"

namespace gb::conformance {

std::vector<Case> matmul_cases() {
  auto plain = [](const Ts& v) { return ops::matmul(v[0], v[1]); };
  // b given as [..., N, K]: q k^T, the attention score (trans_b read in place).
  auto abt = [](const Ts& v) { return ops::matmul(v[0], ops::transpose(v[1], -2, -1)); };
  // a given as [..., K, M] (trans_a).
  auto atb = [](const Ts& v) { return ops::matmul(ops::transpose(v[0], -2, -1), v[1]); };
  auto atbt = [](const Ts& v) {
    return ops::matmul(ops::transpose(v[0], -2, -1), ops::transpose(v[1], -2, -1));
  };
  // A permuted (not merely transposed) operand is copied first.
  auto permuted = [](const Ts& v) { return ops::matmul(ops::permute(v[0], {1, 0, 2}), v[1]); };
  std::vector<Case> out = {
      {"2-D 3x5 x 5x4", {randn({3, 5}, 1), randn({5, 4}, 2)}, plain},
      {"batched [2,3,7,5] x [2,3,5,6]", {randn({2, 3, 7, 5}, 3), randn({2, 3, 5, 6}, 4)}, plain},
      {"q k^T [2,3,7,5] x [2,3,6,5]^T", {randn({2, 3, 7, 5}, 5), randn({2, 3, 6, 5}, 6)}, abt},
      {"a^T [3,5,7]^T x [3,5,4]", {randn({3, 5, 7}, 7), randn({3, 5, 4}, 8)}, atb},
      {"a^T b^T [2,4,3]^T x [2,5,4]^T", {randn({2, 4, 3}, 9), randn({2, 5, 4}, 10)}, atbt},
      {"shared b [2,7,5] x [5,3]", {randn({2, 7, 5}, 11), randn({5, 3}, 12)}, plain},
      {"shared b^T [2,7,5] x [3,5]^T", {randn({2, 7, 5}, 13), randn({3, 5}, 14)}, abt},
      {"shared a [7,5] x [3,5,4]", {randn({7, 5}, 15), randn({3, 5, 4}, 16)}, plain},
      {"a^T with shared b [2,5,7]^T x [5,3]", {randn({2, 5, 7}, 17), randn({5, 3}, 18)}, atb},
      {"M 1, N 1", {randn({3, 1, 6}, 19), randn({3, 6, 1}, 20)}, plain},
      {"K 1", {randn({2, 4, 1}, 21), randn({2, 1, 5}, 22)}, plain},
      {"permuted a [3,2,5] -> [2,3,5] x [2,5,4]",
       {randn({3, 2, 5}, 23), randn({2, 5, 4}, 24)},
       permuted},
      {"threads: 16 batches [16,33,17] x [16,29,17]^T",
       {randn({16, 33, 17}, 25), randn({16, 29, 17}, 26)},
       abt},
      {"one threaded product [65,130] x [130,67]",
       {randn({65, 130}, 27), randn({130, 67}, 28)},
       plain},
  };
  for (size_t i = 12; i < out.size(); ++i) out[i].grad = GradCheck::Projection;
  for (auto& c : out) c.rtol = 1e-4;  // blocked float sums against the double reference
  return out;
}

std::vector<Case> layer_norm_cases() {
  auto affine = [](const Ts& v) { return ops::layer_norm(v[0], v[1], v[2]); };
  std::vector<Case> out = {
      {"[3,7] affine", {randn({3, 7}, 1, 2.0f), randn({7}, 2), randn({7}, 3)}, affine},
      {"[2,3,5] no affine",
       {randn({2, 3, 5}, 4)},
       [](const Ts& v) { return ops::layer_norm(v[0], {}, {}); }},
      {"[4,6] weight only",
       {randn({4, 6}, 5), randn({6}, 6)},
       [](const Ts& v) { return ops::layer_norm(v[0], v[1], {}); }},
      {"D 1 (output = bias)", {randn({5, 1}, 7), randn({1}, 8), randn({1}, 9)}, affine},
      {"eps 0.5 [2,9]",
       {randn({2, 9}, 10, 0.3f), randn({9}, 11), randn({9}, 12)},
       [](const Ts& v) { return ops::layer_norm(v[0], v[1], v[2], 0.5f); }},
      {"4-D [2,2,3,4] affine", {randn({2, 2, 3, 4}, 13), randn({4}, 14), randn({4}, 15)}, affine},
      {"threads [300,131] affine (blocks of rows)",
       {randn({300, 131}, 16, 3.0f), randn({131}, 17), randn({131}, 18)},
       affine},
  };
  out.back().grad = GradCheck::Projection;
  for (auto& c : out) c.rtol = 1e-4;
  // Zero variance: rstd = 1/sqrt(eps) (316) scales the rounding of g - mean(g) in dx, which is 0
  // in the double reference and a few ulp of g with a fused multiply-add.
  out[3].atol = 1e-4;
  return out;
}

}  // namespace gb::conformance
