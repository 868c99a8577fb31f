// Sparseness (Gini), complexity (entropy), pointing game and relevance mass of a map
// (see map_scores.h). Shape letters: H/W map size.
#include "interp/eval/map_scores.h"

#include <algorithm>
#include <cmath>
#include <limits>
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

PointingResult pointing_game(const Tensor& map, const std::vector<uint8_t>& mask,
                             double tolerance) {
  const std::vector<float> a = map.to_vector();
  if (a.empty() || mask.size() != a.size() || !(tolerance >= 0)) {
    throw std::invalid_argument("pointing_game: mask size differs from the map, or tolerance < 0");
  }
  const int64_t W = map.size(-1);
  const auto first = std::max_element(a.begin(), a.end());  // the first of equal maxima
  PointingResult r;
  const int64_t p = first - a.begin();
  r.y = p / W;
  r.x = p % W;
  r.ties = std::count(a.begin(), a.end(), *first);
  const double t2 = tolerance * tolerance;
  for (size_t q = 0; q < mask.size() && !r.hit; ++q) {
    if (!mask[q]) continue;
    const double dy = static_cast<double>(static_cast<int64_t>(q) / W - r.y);
    const double dx = static_cast<double>(static_cast<int64_t>(q) % W - r.x);
    r.hit = dy * dy + dx * dx <= t2;
  }
  return r;
}

MassSign parse_mass_sign(const std::string& s) {
  if (s == "abs") return MassSign::Abs;
  if (s == "positive") return MassSign::Positive;
  if (s == "signed") return MassSign::Signed;
  throw std::invalid_argument("--mass-sign: '" + s + "' (known: abs, positive, signed)");
}

double relevance_mass(const Tensor& map, const std::vector<uint8_t>& mask, MassSign sign) {
  const std::vector<float> a = map.to_vector();
  if (mask.size() != a.size()) throw std::invalid_argument("relevance_mass: mask size differs");
  double inside = 0, total = 0;
  bool any = false;
  for (size_t i = 0; i < a.size(); ++i) {
    const double v = sign == MassSign::Abs        ? std::fabs(static_cast<double>(a[i]))
                     : sign == MassSign::Positive ? std::max(0.0, static_cast<double>(a[i]))
                                                  : static_cast<double>(a[i]);
    total += v;
    if (mask[i]) inside += v, any = true;
  }
  if (!any || total == 0) return std::numeric_limits<double>::quiet_NaN();
  return inside / total;
}

}  // namespace gb::interp::eval
