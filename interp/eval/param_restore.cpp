// Parameter save/restore and the spread re-draw (see param_restore.h).
#include "interp/eval/param_restore.h"

#include <cmath>

#include "runtime/rng.h"

namespace gb::interp {

ParameterRestorer::~ParameterRestorer() {
  for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) it->first.detach().copy_(it->second);
}

bool ParameterRestorer::save(const Tensor& t) {
  if (!seen_.insert(t.impl()).second) return false;
  saved_.emplace_back(t, t.clone());
  return true;
}

void randomize_like(const Tensor& t, uint64_t seed, uint64_t stream) {
  const std::vector<float> v = t.to_vector();
  if (v.empty()) return;
  double mean = 0.0;
  for (const float e : v) mean += e;
  mean /= static_cast<double>(v.size());
  double var = 0.0;
  for (const float e : v) var += (e - mean) * (e - mean);
  const double sd = std::sqrt(var / static_cast<double>(v.size()));
  if (!(sd > 0.0)) return;
  const Philox rng(seed, stream);
  std::vector<float> r(v.size());
  for (size_t i = 0; i < r.size(); ++i) {
    r[i] = static_cast<float>(mean + sd * static_cast<double>(rng.normal(i)));
  }
  t.detach().copy_(Tensor::from_vector(t.shape(), r));
}

}  // namespace gb::interp
