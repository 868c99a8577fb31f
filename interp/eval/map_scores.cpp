// Sparseness (Gini) and complexity (entropy) of a map (see map_scores.h).
#include "interp/eval/map_scores.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace gb::interp::eval {
namespace {

// |a| / max |a| (all zeros stay zeros).
std::vector<double> abs_max_normalised(const std::vector<float>& map, const char* who) {
  if (map.empty()) throw std::invalid_argument(std::string(who) + ": empty map");
  std::vector<double> a(map.size());
  double peak = 0;
  for (size_t i = 0; i < map.size(); ++i) {
    a[i] = std::fabs(static_cast<double>(map[i]));
    peak = std::max(peak, a[i]);
  }
  if (peak > 0) {
    for (double& v : a) v /= peak;
  }
  return a;
}

}  // namespace

double sparseness_gini(const std::vector<float>& map) {
  std::vector<double> a = abs_max_normalised(map, "sparseness_gini");
  for (double& v : a) v += 1e-7;
  std::sort(a.begin(), a.end());
  const auto n = static_cast<double>(a.size());
  double weighted = 0, total = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    weighted += (2.0 * static_cast<double>(i + 1) - n - 1.0) * a[i];
    total += a[i];
  }
  return weighted / (n * total);
}

double sparseness_gini(const Tensor& map) { return sparseness_gini(map.to_vector()); }

double complexity_entropy(const std::vector<float>& map) {
  std::vector<double> a = abs_max_normalised(map, "complexity_entropy");
  double total = 0;
  for (double v : a) total += v;
  if (total == 0) return std::log(static_cast<double>(a.size()));
  double h = 0;
  for (double v : a) {
    const double p = v / total;
    h -= p * std::log(p + 1e-12);
  }
  return h;
}

double complexity_entropy(const Tensor& map) { return complexity_entropy(map.to_vector()); }

}  // namespace gb::interp::eval
