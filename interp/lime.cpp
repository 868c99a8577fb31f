// LIME: seeded coalition sampling, kernel weights, and the weighted ridge surrogate (Eigen).
// Shape letters: S players, M samples.
#include "interp/lime.h"

#include <Eigen/Dense>
#include <cmath>
#include <stdexcept>

#include "runtime/rng.h"

namespace gb::interp {
namespace {
constexpr uint64_t kLimeStream = 0x4c494d45;  // "LIME": the Philox stream of the coalitions
}  // namespace

std::vector<uint8_t> lime_coalitions(int64_t players, int64_t samples, uint64_t seed) {
  if (players < 1 || samples < 1) {
    throw std::invalid_argument("lime: need players >= 1 and samples >= 1");
  }
  const Philox rng(seed, kLimeStream);
  std::vector<uint8_t> z(static_cast<size_t>(players * samples), 1);
  for (int64_t m = 1; m < samples; ++m) {
    for (int64_t s = 0; s < players; ++s) {
      const auto i = static_cast<uint64_t>(m * players + s);
      z[i] = rng.uniform(i) < 0.5f ? 1 : 0;
    }
  }
  return z;
}

LimeResult weighted_ridge(const std::vector<double>& X, const std::vector<double>& y,
                          const std::vector<double>& w, int64_t features, double ridge) {
  const auto M = static_cast<int64_t>(y.size());
  if (static_cast<int64_t>(w.size()) != M || static_cast<int64_t>(X.size()) != M * features) {
    throw std::invalid_argument("weighted_ridge: X, y and w sizes disagree");
  }
  if (ridge < 0.0) throw std::invalid_argument("weighted_ridge: ridge must be >= 0");
  using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  // Copies into Eigen's own (aligned) storage: over a Map of std::vector memory, whose alignment
  // varies from run to run, Eigen's vectorised reductions split the sums differently and the
  // results would not be bit-identical.
  const Mat x = Eigen::Map<const Mat>(X.data(), M, features);
  const Eigen::VectorXd yy = Eigen::Map<const Eigen::VectorXd>(y.data(), M);
  const Eigen::VectorXd ww = Eigen::Map<const Eigen::VectorXd>(w.data(), M);
  const double wsum = ww.sum();
  if (!(wsum > 0.0)) throw std::invalid_argument("weighted_ridge: weights sum to zero");
  // Centre on the weighted means so the intercept drops out of the penalised system.
  const Eigen::RowVectorXd xbar = (ww.transpose() * x) / wsum;
  const double ybar = ww.dot(yy) / wsum;
  const Mat xc = x.rowwise() - xbar;
  const Eigen::VectorXd yc = yy.array() - ybar;
  Eigen::MatrixXd A = xc.transpose() * ww.asDiagonal() * xc;
  A.diagonal().array() += ridge;
  const Eigen::VectorXd rhs = xc.transpose() * (ww.asDiagonal() * yc);
  // A is symmetric positive semi-definite; the complete orthogonal decomposition also handles a
  // singular A (ridge 0 with too few samples) by returning the minimum-norm solution.
  const Eigen::VectorXd c = A.completeOrthogonalDecomposition().solve(rhs);
  LimeResult r;
  r.coef.assign(c.data(), c.data() + features);
  r.intercept = ybar - xbar.dot(c);
  const Eigen::VectorXd resid = yc - xc * c;
  const double ss_res = ww.dot(resid.cwiseAbs2());
  const double ss_tot = ww.dot(yc.cwiseAbs2());
  r.r2 = ss_tot > 0.0 ? 1.0 - ss_res / ss_tot : (ss_res == 0.0 ? 1.0 : 0.0);
  r.evaluations = M;
  return r;
}

LimeResult lime(const ValueFn& v, int64_t players, const LimeOptions& opt) {
  if (players < 1) throw std::invalid_argument("lime: players must be >= 1");
  if (opt.samples < 2) throw std::invalid_argument("lime: samples must be >= 2");
  if (!(opt.kernel_width > 0.0f)) throw std::invalid_argument("lime: kernel_width must be > 0");
  const int64_t M = opt.samples, S = players;
  const std::vector<uint8_t> z = lime_coalitions(S, M, opt.seed);
  std::vector<float> values(static_cast<size_t>(M));
  evaluate_coalitions(v, z, M, S, opt.eval_chunk, values.data());

  std::vector<double> X(z.begin(), z.end()), y(values.begin(), values.end()), w(M);
  const double width2 = static_cast<double>(opt.kernel_width) * opt.kernel_width;
  for (int64_t m = 0; m < M; ++m) {
    int64_t on = 0;
    for (int64_t s = 0; s < S; ++s) on += z[static_cast<size_t>(m * S + s)];
    const double frac = static_cast<double>(on) / static_cast<double>(S);
    const double d = opt.distance == LimeDistance::Cosine ? 1.0 - std::sqrt(frac) : 1.0 - frac;
    w[static_cast<size_t>(m)] = std::exp(-d * d / width2);
  }
  LimeResult r = weighted_ridge(X, y, w, S, opt.ridge);
  r.score = values[0];
  return r;
}

}  // namespace gb::interp
