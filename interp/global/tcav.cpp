// TCAV scores, the random-run protocol and its statistics (see tcav.h).
// Shape letters: n inputs, D activation size, R random runs.
#include "interp/global/tcav.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace gb::interp {

TcavScore tcav_score(const ActivationRows& grads, const std::vector<double>& cav) {
  if (grads.n < 1) throw std::invalid_argument("tcav_score: no class inputs");
  const std::vector<double> s = project_rows(grads, cav);
  TcavScore out;
  out.count = grads.n;
  double positive = 0, total = 0;
  int64_t above = 0;
  for (double v : s) {
    if (v > 0) {
      ++above;
      positive += v;
    }
    total += std::fabs(v);
  }
  out.score = static_cast<double>(above) / static_cast<double>(grads.n);
  out.magnitude = total > 0 ? positive / total : 0.0;
  return out;
}

namespace {

// The continued fraction of I_x(a,b) (Numerical Recipes 3rd ed., betacf, modified Lentz).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300, kEps = 1e-15;
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < kEps) break;
  }
  return h;
}

}  // namespace

double regularized_incomplete_beta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0) || !(x >= 0 && x <= 1)) {
    throw std::invalid_argument("regularized_incomplete_beta: needs a, b > 0 and 0 <= x <= 1");
  }
  if (x == 0 || x == 1) return x;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1) / (a + b + 2)) {
    return std::exp(log_front) * beta_continued_fraction(a, b, x) / a;
  }
  return 1 - std::exp(log_front) * beta_continued_fraction(b, a, 1 - x) / b;
}

double student_t_two_sided_p(double t, double df) {
  if (std::isinf(t)) return 0.0;
  return regularized_incomplete_beta(df / 2, 0.5, df / (df + t * t));
}

namespace {

double mean_of(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

// Sum of squared deviations from the mean.
double squared_deviations(const std::vector<double>& v, double mean) {
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  return ss;
}

}  // namespace

MeanStd mean_std(const std::vector<double>& v) {
  MeanStd out;
  if (v.empty()) return out;
  out.mean = mean_of(v);
  out.std = std::sqrt(squared_deviations(v, out.mean) / static_cast<double>(v.size()));
  return out;
}

TTest student_t_test(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty() || a.size() + b.size() < 3) {
    throw std::invalid_argument("student_t_test: needs one value per sample and three in all");
  }
  const auto na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  const double ma = mean_of(a), mb = mean_of(b);
  TTest out;
  out.df = na + nb - 2;
  const double pooled = (squared_deviations(a, ma) + squared_deviations(b, mb)) / out.df;  // s_p^2
  const double se = std::sqrt(pooled * (1 / na + 1 / nb));
  const double diff = ma - mb;
  if (se == 0) {
    out.t = diff == 0 ? 0.0 : std::copysign(std::numeric_limits<double>::infinity(), diff);
    out.p = diff == 0 ? 1.0 : 0.0;
    return out;
  }
  out.t = diff / se;
  out.p = student_t_two_sided_p(out.t, out.df);
  return out;
}

std::vector<double> bonferroni(const std::vector<double>& p) {
  std::vector<double> out(p.size());
  const auto m = static_cast<double>(p.size());
  for (size_t i = 0; i < p.size(); ++i) out[i] = std::min(1.0, p[i] * m);
  return out;
}

namespace {

TcavRun run_once(const ActivationRows& positive, const ActivationRows& negative,
                 const ActivationRows& grads, CavOptions opt, uint64_t run) {
  opt.seed = opt.seed * 1000003ULL + run;
  TcavRun r;
  r.cav = train_cav(positive, negative, opt);
  r.score = tcav_score(grads, r.cav.direction);
  return r;
}

// Mean and std of one field over runs.
template <class F>
MeanStd over_runs(const std::vector<TcavRun>& runs, F field) {
  std::vector<double> v;
  v.reserve(runs.size());
  for (const TcavRun& r : runs) v.push_back(field(r));
  return mean_std(v);
}

std::vector<double> scores_of(const std::vector<TcavRun>& runs) {
  std::vector<double> v;
  for (const TcavRun& r : runs) v.push_back(r.score.score);
  return v;
}

}  // namespace

TcavConcept tcav_concept(const ActivationRows& concept_acts,
                         const std::vector<ActivationRows>& randoms, const ActivationRows& grads,
                         const CavOptions& opt) {
  const size_t R = randoms.size();
  if (R < 2) {
    throw std::invalid_argument("tcav: at least 2 random sets are needed, got " +
                                std::to_string(R));
  }
  TcavConcept out;
  for (size_t r = 0; r < R; ++r) {
    out.concept_runs.push_back(run_once(concept_acts, randoms[r], grads, opt, r));
    out.random_runs.push_back(run_once(randoms[r], randoms[(r + 1) % R], grads, opt, R + r));
  }
  const auto score = [](const TcavRun& r) { return r.score.score; };
  const auto magnitude = [](const TcavRun& r) { return r.score.magnitude; };
  const auto accuracy = [](const TcavRun& r) { return r.cav.test_accuracy; };
  out.score = over_runs(out.concept_runs, score);
  out.magnitude = over_runs(out.concept_runs, magnitude);
  out.test_accuracy = over_runs(out.concept_runs, accuracy);
  out.random_score = over_runs(out.random_runs, score);
  out.random_magnitude = over_runs(out.random_runs, magnitude);
  out.random_test_accuracy = over_runs(out.random_runs, accuracy);
  out.test = student_t_test(scores_of(out.concept_runs), scores_of(out.random_runs));
  return out;
}

}  // namespace gb::interp
