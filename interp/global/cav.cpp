// The CAV probe: L2-regularised logistic regression in its dual form, solved by Newton's method
// with a backtracking line search (see cav.h). Shape letters: n examples, D activation size.
#include "interp/global/cav.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "runtime/rng.h"

namespace gb::interp {

namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

void check_rows(const ActivationRows& r, const char* what) {
  if (r.n < 2) {
    throw std::invalid_argument(std::string("train_cav: the ") + what +
                                " side needs at least 2 examples, got " + std::to_string(r.n));
  }
  if (r.d < 1 || static_cast<int64_t>(r.values.size()) != r.n * r.d) {
    throw std::invalid_argument(std::string("train_cav: the ") + what +
                                " activations do not hold n * d values");
  }
}

// Indices 0..n-1 shuffled by Philox(seed, stream) (Fisher-Yates, from the back).
std::vector<int64_t> shuffled(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  Generator g(seed, stream);
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(g.below(static_cast<uint64_t>(i + 1)));
    std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(j)]);
  }
  return idx;
}

struct Split {
  std::vector<const float*> train, test;
  std::vector<double> train_y, test_y;
};

void split_side(const ActivationRows& r, double label, const CavOptions& opt, uint64_t stream,
                Split& s) {
  const std::vector<int64_t> order = shuffled(r.n, opt.seed, stream);
  const auto held = std::min<int64_t>(
      r.n - 1, static_cast<int64_t>(std::floor(opt.test_fraction * static_cast<double>(r.n))));
  for (int64_t i = 0; i < r.n; ++i) {
    const float* row = r.values.data() + order[static_cast<size_t>(i)] * r.d;
    if (i < held) {
      s.test.push_back(row);
      s.test_y.push_back(label);
    } else {
      s.train.push_back(row);
      s.train_y.push_back(label);
    }
  }
}

double softplus(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }
double sigmoid(double z) {
  return z >= 0 ? 1.0 / (1.0 + std::exp(-z)) : std::exp(z) / (1.0 + std::exp(z));
}

// J(alpha, b) = (1/n) sum softplus(-y_i f_i) + (l2/2) alpha^T K alpha, f = K alpha + b.
double objective(const MatrixXd& K, const VectorXd& y, const VectorXd& alpha, double b, double l2) {
  const VectorXd Ka = K * alpha;
  double loss = 0;
  for (Eigen::Index i = 0; i < y.size(); ++i) loss += softplus(-y(i) * (Ka(i) + b));
  return loss / static_cast<double>(y.size()) + 0.5 * l2 * alpha.dot(Ka);
}

struct DualFit {
  VectorXd alpha;
  double b = 0;
  int iterations = 0;
};

// Newton on (alpha, b). With r_i = dJ/df_i = -(1/n) y_i sigma(-y_i f_i) and
// s_i = (1/n) sigma(f_i) sigma(-f_i): grad_alpha = K (r + l2 alpha), grad_b = sum r; the Hessian
// is [[K S K + l2 K, K s], [s^T K, sum s]]. Dividing the first block row by K (any solution of
// the reduced system solves the full one) gives the (n+1) x (n+1) system solved here.
DualFit fit_dual(const MatrixXd& K, const VectorXd& y, double l2, int max_iterations) {
  const Eigen::Index n = y.size();
  const double inv_n = 1.0 / static_cast<double>(n);
  DualFit fit;
  fit.alpha = VectorXd::Zero(n);
  for (int it = 0; it < max_iterations; ++it) {
    const VectorXd f = K * fit.alpha + VectorXd::Constant(n, fit.b);
    VectorXd r(n), s(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      r(i) = -inv_n * y(i) * sigmoid(-y(i) * f(i));
      s(i) = inv_n * sigmoid(f(i)) * sigmoid(-f(i));
    }
    const VectorXd g = r + l2 * fit.alpha;
    const double gb = r.sum();
    if (std::max(g.lpNorm<Eigen::Infinity>(), std::fabs(gb)) < 1e-12) break;
    MatrixXd H(n + 1, n + 1);
    H.topLeftCorner(n, n) = s.asDiagonal() * K;
    H.topLeftCorner(n, n).diagonal().array() += l2;
    H.topRightCorner(n, 1) = s;
    H.bottomLeftCorner(1, n) = (K * s).transpose();
    H(n, n) = s.sum();
    VectorXd rhs(n + 1);
    rhs << -g, -gb;
    const VectorXd step = H.fullPivLu().solve(rhs);
    const double j0 = objective(K, y, fit.alpha, fit.b, l2);
    double t = 1.0;
    for (int k = 0; k < 40; ++k, t *= 0.5) {
      const VectorXd a1 = fit.alpha + t * step.head(n);
      if (objective(K, y, a1, fit.b + t * step(n), l2) <= j0) break;
    }
    fit.alpha += t * step.head(n);
    fit.b += t * step(n);
    fit.iterations = it + 1;
    if (t * step.lpNorm<Eigen::Infinity>() < 1e-13 * (1.0 + fit.alpha.lpNorm<Eigen::Infinity>())) {
      break;
    }
  }
  return fit;
}

double accuracy(const std::vector<const float*>& rows, const std::vector<double>& y,
                const std::vector<double>& w, double b, int64_t d) {
  if (rows.empty()) return 0;
  int64_t right = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    double z = b;
    for (int64_t j = 0; j < d; ++j) z += w[static_cast<size_t>(j)] * rows[i][j];
    right += (z > 0) == (y[i] > 0) ? 1 : 0;
  }
  return static_cast<double>(right) / static_cast<double>(rows.size());
}

}  // namespace

Cav train_cav(const ActivationRows& concept_acts, const ActivationRows& random_acts,
              const CavOptions& opt) {
  check_rows(concept_acts, "concept");
  check_rows(random_acts, "random");
  if (concept_acts.d != random_acts.d) {
    throw std::invalid_argument("train_cav: concept activations have " +
                                std::to_string(concept_acts.d) + " values, random ones " +
                                std::to_string(random_acts.d));
  }
  if (!(opt.test_fraction >= 0 && opt.test_fraction < 1) || !(opt.l2 > 0)) {
    throw std::invalid_argument("train_cav: test_fraction must be in [0,1) and l2 > 0");
  }
  const int64_t d = concept_acts.d;
  Split s;
  split_side(concept_acts, 1.0, opt, 0, s);
  split_side(random_acts, -1.0, opt, 1, s);
  const auto n = static_cast<Eigen::Index>(s.train.size());
  MatrixXd A(n, d);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) A(i, j) = s.train[static_cast<size_t>(i)][j];
  }
  const VectorXd y = Eigen::Map<const VectorXd>(s.train_y.data(), n);
  MatrixXd K = MatrixXd::Zero(n, n);  // the Gram matrix A A^T, half of it computed
  K.selfadjointView<Eigen::Lower>().rankUpdate(A);
  K.triangularView<Eigen::StrictlyUpper>() = K.transpose();
  const DualFit fit = fit_dual(K, y, opt.l2, opt.max_iterations);
  const VectorXd w = A.transpose() * fit.alpha;
  const double norm = w.norm();
  if (!(norm > 0) || !std::isfinite(norm)) {
    throw std::runtime_error("train_cav: the probe found no direction (all activations equal?)");
  }
  Cav cav;
  cav.weight_norm = norm;
  cav.bias = fit.b;
  cav.iterations = fit.iterations;
  cav.direction.resize(static_cast<size_t>(d));
  std::vector<double> wv(static_cast<size_t>(d));
  for (int64_t j = 0; j < d; ++j) {
    wv[static_cast<size_t>(j)] = w(j);
    cav.direction[static_cast<size_t>(j)] = w(j) / norm;
  }
  cav.train_accuracy = accuracy(s.train, s.train_y, wv, fit.b, d);
  cav.test_accuracy = accuracy(s.test, s.test_y, wv, fit.b, d);
  cav.train_count = static_cast<int64_t>(s.train.size());
  cav.test_count = static_cast<int64_t>(s.test.size());
  return cav;
}

std::vector<double> project_rows(const ActivationRows& rows, const std::vector<double>& direction) {
  if (static_cast<int64_t>(direction.size()) != rows.d) {
    throw std::invalid_argument("project_rows: direction has " + std::to_string(direction.size()) +
                                " values, the rows " + std::to_string(rows.d));
  }
  std::vector<double> out(static_cast<size_t>(rows.n));
  for (int64_t i = 0; i < rows.n; ++i) {
    double z = 0;
    const float* row = rows.values.data() + i * rows.d;
    for (int64_t j = 0; j < rows.d; ++j) z += direction[static_cast<size_t>(j)] * row[j];
    out[static_cast<size_t>(i)] = z;
  }
  return out;
}

}  // namespace gb::interp
