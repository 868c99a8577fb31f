// Exact Shapley by enumeration, KernelSHAP with the efficiency constraint, permutation sampling.
// Shape letters: n players, R regression rows, P permutations.
#include "interp/shapley.h"

#include <Eigen/Dense>
#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "runtime/rng.h"

namespace gb::interp {
namespace {

constexpr uint64_t kKernelShapStream = 0x4b534850;   // "KSHP"
constexpr uint64_t kPermutationStream = 0x5045524d;  // "PERM"

double binomial(int64_t n, int64_t k) {
  if (k < 0 || k > n) return 0.0;
  k = std::min(k, n - k);
  double r = 1.0;
  for (int64_t i = 1; i <= k; ++i) r = r * static_cast<double>(n - k + i) / static_cast<double>(i);
  return r < 1e15 ? std::round(r) : r;
}

void check_players(int64_t n, const char* who) {
  if (n < 1) throw std::invalid_argument(std::string(who) + ": players must be >= 1");
}

// Evaluates the empty and the full coalition.
void evaluate_ends(const ValueFn& v, int64_t n, ShapleyResult& r) {
  std::vector<uint8_t> z(static_cast<size_t>(2 * n), 0);
  std::fill(z.begin() + n, z.end(), 1);
  float ends[2];
  v(z, 2, ends);
  r.v_empty = ends[0];
  r.v_full = ends[1];
  r.evaluations += 2;
}

// The rows of a KernelSHAP regression: coalitions with their kernel weights, duplicates merged.
class CoalitionSet {
 public:
  explicit CoalitionSet(int64_t n) : n_(n) {}
  // Adds `z` with `weight`, or adds the weight to an identical row. Returns true for a new row.
  bool add(const std::vector<uint8_t>& z, double weight) {
    const std::string key(z.begin(), z.end());
    const auto [it, inserted] = index_.try_emplace(key, weights_.size());
    if (!inserted) {
      weights_[it->second] += weight;
      return false;
    }
    rows_.insert(rows_.end(), z.begin(), z.end());
    weights_.push_back(weight);
    return true;
  }
  int64_t size() const { return static_cast<int64_t>(weights_.size()); }
  const std::vector<uint8_t>& rows() const { return rows_; }
  std::vector<double>& weights() { return weights_; }
  int64_t players() const { return n_; }

 private:
  int64_t n_;
  std::vector<uint8_t> rows_;
  std::vector<double> weights_;
  std::unordered_map<std::string, size_t> index_;
};

std::vector<uint8_t> complement(const std::vector<uint8_t>& z) {
  std::vector<uint8_t> c(z.size());
  for (size_t i = 0; i < z.size(); ++i) c[i] = z[i] ? 0 : 1;
  return c;
}

// Calls emit(z) for every coalition of exactly `size` of the n players, in lexicographic order of
// the member indices.
template <class Emit>
void for_each_subset(int64_t n, int64_t size, Emit emit) {
  std::vector<int64_t> idx(static_cast<size_t>(size));
  std::iota(idx.begin(), idx.end(), 0);
  std::vector<uint8_t> z(static_cast<size_t>(n));
  while (true) {
    std::fill(z.begin(), z.end(), 0);
    for (const int64_t i : idx) z[static_cast<size_t>(i)] = 1;
    emit(z);
    int64_t i = size - 1;
    while (i >= 0 && idx[static_cast<size_t>(i)] == n - size + i) --i;
    if (i < 0) return;
    ++idx[static_cast<size_t>(i)];
    for (int64_t j = i + 1; j < size; ++j) idx[j] = idx[j - 1] + 1;
  }
}

// Chooses the KernelSHAP rows for a budget of `samples` coalitions (see kernel_shap's contract).
CoalitionSet kernel_shap_rows(int64_t n, int64_t samples, uint64_t seed) {
  CoalitionSet set(n);
  const auto kernel = [n](int64_t s) {
    return static_cast<double>(n - 1) / (binomial(n, s) * static_cast<double>(s * (n - s)));
  };
  const bool all = n < 31 && (int64_t{1} << n) - 2 <= samples;
  if (all) {
    for (int64_t s = 1; s < n; ++s) {
      for_each_subset(n, s, [&](const std::vector<uint8_t>& z) { set.add(z, kernel(s)); });
    }
    return set;
  }
  // Mass of each size s (and n-s, for the paired sizes) under the kernel, normalised.
  const int64_t sizes = n / 2, paired = (n - 1) / 2;  // ceil((n-1)/2), floor((n-1)/2)
  std::vector<double> mass(static_cast<size_t>(sizes + 1), 0.0);
  for (int64_t s = 1; s <= sizes; ++s) {
    mass[s] = static_cast<double>(n - 1) / static_cast<double>(s * (n - s)) * (s <= paired ? 2 : 1);
  }
  const double total = std::accumulate(mass.begin(), mass.end(), 0.0);
  for (double& m : mass) m /= total;
  std::vector<double> remaining = mass;
  double left = static_cast<double>(samples);
  int64_t full = 0;
  for (int64_t s = 1; s <= sizes; ++s) {
    const double count = binomial(n, s) * (s <= paired ? 2.0 : 1.0);
    if (left * remaining[s] / count < 1.0 - 1e-8) break;
    ++full;
    left -= count;
    if (remaining[s] < 1.0) {
      for (int64_t t = s + 1; t <= sizes; ++t) remaining[t] /= 1.0 - remaining[s];
    }
    const double w = mass[s] / binomial(n, s) / (s <= paired ? 2.0 : 1.0);
    for_each_subset(n, s, [&](const std::vector<uint8_t>& z) {
      set.add(z, w);
      if (s <= paired) set.add(complement(z), w);
    });
  }
  if (full == sizes) return set;
  // Sample the remaining budget from the sizes not enumerated.
  const int64_t fixed = set.size();
  double weight_left = 0.0, cum_total = 0.0;
  for (int64_t s = full + 1; s <= sizes; ++s) weight_left += mass[s], cum_total += remaining[s];
  Generator gen(seed, kKernelShapStream);
  auto budget = static_cast<int64_t>(left);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::vector<uint8_t> z(static_cast<size_t>(n));
  for (int64_t attempts = 4 * budget + 64; budget > 0 && attempts > 0; --attempts) {
    const double u = static_cast<double>(gen.uniform()) * cum_total;
    int64_t s = full + 1;
    for (double acc = remaining[s]; acc <= u && s < sizes;) acc += remaining[++s];
    std::iota(perm.begin(), perm.end(), 0);
    std::fill(z.begin(), z.end(), 0);
    for (int64_t i = 0; i < s; ++i) {
      const auto j = i + static_cast<int64_t>(gen.below(static_cast<uint64_t>(n - i)));
      std::swap(perm[i], perm[j]);
      z[static_cast<size_t>(perm[i])] = 1;
    }
    if (set.add(z, 1.0)) --budget;
    if (budget > 0 && s <= paired && set.add(complement(z), 1.0)) --budget;
  }
  double sampled = 0.0;
  for (int64_t i = fixed; i < set.size(); ++i) sampled += set.weights()[i];
  for (int64_t i = fixed; i < set.size(); ++i) set.weights()[i] *= weight_left / sampled;
  return set;
}

}  // namespace

double ShapleyResult::efficiency_gap() const {
  double s = 0.0;
  for (const double p : phi) s += p;
  return s - (v_full - v_empty);
}

ShapleyResult exact_shapley(const ValueFn& v, int64_t players, const ExactShapleyOptions& opt) {
  check_players(players, "exact_shapley");
  if (players > 20) throw std::invalid_argument("exact_shapley: at most 20 players (2^20 values)");
  if (opt.eval_chunk < 1) throw std::invalid_argument("exact_shapley: eval_chunk must be >= 1");
  const int64_t n = players, total = int64_t{1} << n;
  std::vector<float> table(static_cast<size_t>(total));
  std::vector<uint8_t> z;
  for (int64_t begin = 0; begin < total; begin += opt.eval_chunk) {
    const int64_t count = std::min(opt.eval_chunk, total - begin);
    z.resize(static_cast<size_t>(count * n));
    for (int64_t i = 0; i < count; ++i) {
      const auto m = static_cast<uint64_t>(begin + i);
      for (int64_t j = 0; j < n; ++j) z[static_cast<size_t>(i * n + j)] = (m >> j) & 1u;
    }
    v(z, count, table.data() + begin);
  }
  // weight(s) = s! (n-s-1)! / n! = 1 / (n C(n-1, s)).
  std::vector<double> weight(static_cast<size_t>(n));
  for (int64_t s = 0; s < n; ++s) weight[s] = 1.0 / (static_cast<double>(n) * binomial(n - 1, s));
  ShapleyResult r;
  r.phi.assign(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t bit = uint64_t{1} << i;
    double acc = 0.0;
    for (uint64_t m = 0; m < static_cast<uint64_t>(total); ++m) {
      if (m & bit) continue;
      acc += weight[static_cast<size_t>(std::popcount(m))] *
             (static_cast<double>(table[m | bit]) - table[m]);
    }
    r.phi[i] = acc;
  }
  r.v_empty = table.front();
  r.v_full = table.back();
  r.evaluations = total;
  return r;
}

ShapleyResult kernel_shap(const ValueFn& v, int64_t players, const KernelShapOptions& opt) {
  check_players(players, "kernel_shap");
  if (opt.samples < 1) throw std::invalid_argument("kernel_shap: samples must be >= 1");
  if (opt.eval_chunk < 1) throw std::invalid_argument("kernel_shap: eval_chunk must be >= 1");
  const int64_t n = players;
  ShapleyResult r;
  evaluate_ends(v, n, r);
  const double delta = r.v_full - r.v_empty;
  if (n == 1) {
    r.phi = {delta};
    return r;
  }
  CoalitionSet set = kernel_shap_rows(n, opt.samples, opt.seed);
  const int64_t R = set.size();
  std::vector<float> values(static_cast<size_t>(R));
  evaluate_coalitions(v, set.rows(), R, n, opt.eval_chunk, values.data());
  r.evaluations += R;
  // Eliminate the last player: phi_last = delta - sum(others), so for each row
  // y - z_last * delta = sum_j (z_j - z_last) phi_j over the first n-1 players.
  const int64_t m = n - 1;
  Eigen::MatrixXd A = Eigen::MatrixXd::Zero(m, m);
  Eigen::VectorXd b = Eigen::VectorXd::Zero(m);
  Eigen::VectorXd x(m);
  const std::vector<uint8_t>& rows = set.rows();
  for (int64_t k = 0; k < R; ++k) {
    const uint8_t* z = rows.data() + k * n;
    const double last = z[n - 1];
    for (int64_t j = 0; j < m; ++j) x[j] = static_cast<double>(z[j]) - last;
    const double t = static_cast<double>(values[k]) - r.v_empty - last * delta;
    const double w = set.weights()[k];
    A.selfadjointView<Eigen::Lower>().rankUpdate(x, w);
    b += w * t * x;
  }
  A = A.selfadjointView<Eigen::Lower>();
  const Eigen::VectorXd phi = A.completeOrthogonalDecomposition().solve(b);
  r.phi.assign(phi.data(), phi.data() + m);
  r.phi.push_back(delta - phi.sum());
  return r;
}

ShapleyResult shapley_sampling(const ValueFn& v, int64_t players,
                               const PermutationShapleyOptions& opt) {
  check_players(players, "shapley_sampling");
  if (opt.permutations < 1) throw std::invalid_argument("shapley_sampling: permutations >= 1");
  if (opt.eval_chunk < 1) throw std::invalid_argument("shapley_sampling: eval_chunk must be >= 1");
  const int64_t n = players;
  const int64_t P = opt.antithetic ? (opt.permutations + 1) / 2 * 2 : opt.permutations;
  const int64_t unit = opt.antithetic ? 2 : 1;  // permutations per independent unit
  ShapleyResult r;
  evaluate_ends(v, n, r);
  const Philox rng(opt.seed, kPermutationStream);
  // Permutations per value-function call: whole units, enough to fill eval_chunk prefixes.
  int64_t group = std::max<int64_t>(1, opt.eval_chunk / std::max<int64_t>(1, n - 1));
  group = std::max(unit, group / unit * unit);
  std::vector<double> sum(static_cast<size_t>(n), 0.0), sumsq(sum), pending(sum);
  std::vector<int64_t> perms;
  std::vector<uint8_t> z;
  std::vector<float> values;
  for (int64_t p0 = 0; p0 < P; p0 += group) {
    const int64_t g = std::min(group, P - p0);
    perms.resize(static_cast<size_t>(g * n));
    for (int64_t q = 0; q < g; ++q) {
      const int64_t p = p0 + q;
      int64_t* pi = perms.data() + q * n;
      if (opt.antithetic && p % 2 == 1) {
        std::reverse_copy(pi - n, pi, pi);
        continue;
      }
      std::iota(pi, pi + n, 0);
      for (int64_t i = n - 1; i >= 1; --i) {
        const auto c = static_cast<uint64_t>(p * n + i);
        std::swap(pi[i], pi[static_cast<int64_t>(rng.below(c, static_cast<uint64_t>(i + 1)))]);
      }
    }
    // Rows: the prefixes of length 1..n-1 of each permutation.
    const int64_t rows = g * (n - 1);
    z.assign(static_cast<size_t>(rows * n), 0);
    for (int64_t q = 0; q < g; ++q) {
      const int64_t* pi = perms.data() + q * n;
      for (int64_t k = 1; k < n; ++k) {
        uint8_t* row = z.data() + (q * (n - 1) + k - 1) * n;
        for (int64_t i = 0; i < k; ++i) row[pi[i]] = 1;
      }
    }
    values.resize(static_cast<size_t>(rows));
    if (rows > 0) v(z, rows, values.data());
    r.evaluations += rows;
    for (int64_t q = 0; q < g; ++q) {
      const int64_t* pi = perms.data() + q * n;
      double prev = r.v_empty;
      for (int64_t k = 1; k <= n; ++k) {
        const double cur = k < n ? static_cast<double>(values[q * (n - 1) + k - 1]) : r.v_full;
        pending[static_cast<size_t>(pi[k - 1])] += cur - prev;
        prev = cur;
      }
      if ((p0 + q) % unit == unit - 1) {
        for (int64_t i = 0; i < n; ++i) {
          const double u = pending[i] / static_cast<double>(unit);
          sum[i] += u;
          sumsq[i] += u * u;
          pending[i] = 0.0;
        }
      }
    }
  }
  const double units = static_cast<double>(P / unit);
  r.phi.resize(static_cast<size_t>(n));
  r.std_error.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    r.phi[i] = sum[i] / units;
    const double var =
        units > 1 ? std::max(0.0, (sumsq[i] - units * r.phi[i] * r.phi[i]) / (units - 1)) : 0.0;
    r.std_error[i] = std::sqrt(var / units);
  }
  return r;
}

}  // namespace gb::interp
