// Noisy linear imputation (see imputation.h). Shape letters: C channels, H/W size, P = H*W.
#include "interp/eval/imputation.h"

#include <Eigen/Sparse>
#include <Eigen/SparseCholesky>
#include <stdexcept>
#include <string>

namespace gb::interp::eval {
namespace {

struct Neighbour {
  int dy, dx;
  double w;
};
// Rong et al. 2022, reference NoisyLinearImputer: axial neighbours 1/6, diagonal 1/12.
constexpr Neighbour kNeighbours[8] = {{-1, 0, 1.0 / 6},  {1, 0, 1.0 / 6},    {0, -1, 1.0 / 6},
                                      {0, 1, 1.0 / 6},   {-1, -1, 1.0 / 12}, {-1, 1, 1.0 / 12},
                                      {1, -1, 1.0 / 12}, {1, 1, 1.0 / 12}};

}  // namespace

void noisy_linear_impute(std::vector<float>& pixels, int64_t C, int64_t H, int64_t W,
                         const std::vector<uint8_t>& removed, double noise, const Philox& rng,
                         uint64_t offset) {
  const int64_t P = H * W;
  if (C < 1 || P < 1 || static_cast<int64_t>(pixels.size()) != C * P ||
      static_cast<int64_t>(removed.size()) != P || noise < 0) {
    throw std::invalid_argument("noisy_linear_impute: sizes do not match or noise < 0");
  }
  std::vector<int64_t> unknown(static_cast<size_t>(P), -1), where;
  for (int64_t p = 0; p < P; ++p) {
    if (removed[static_cast<size_t>(p)]) {
      unknown[static_cast<size_t>(p)] = static_cast<int64_t>(where.size());
      where.push_back(p);
    }
  }
  const auto U = static_cast<int64_t>(where.size());
  if (U == 0) return;
  if (U == P) {
    throw std::invalid_argument(
        "noisy_linear_impute: every pixel is removed, nothing to impute from (ROAD needs "
        "fractions < 1)");
  }
  // -A x = -b: diagonal sum of in-image weights, off-diagonal -w for unknown neighbours,
  // right-hand side w * known neighbour.
  std::vector<Eigen::Triplet<double>> entries;
  Eigen::MatrixXd rhs = Eigen::MatrixXd::Zero(U, C);
  for (int64_t u = 0; u < U; ++u) {
    const int64_t y = where[static_cast<size_t>(u)] / W, x = where[static_cast<size_t>(u)] % W;
    double diag = 0;
    for (const Neighbour& n : kNeighbours) {
      const int64_t ny = y + n.dy, nx = x + n.dx;
      if (ny < 0 || ny >= H || nx < 0 || nx >= W) continue;
      diag += n.w;
      const int64_t q = ny * W + nx;
      const int64_t v = unknown[static_cast<size_t>(q)];
      if (v >= 0) {
        entries.emplace_back(u, v, -n.w);
      } else {
        for (int64_t c = 0; c < C; ++c) rhs(u, c) += n.w * pixels[static_cast<size_t>(c * P + q)];
      }
    }
    entries.emplace_back(u, u, diag);
  }
  Eigen::SparseMatrix<double> A(U, U);
  A.setFromTriplets(entries.begin(), entries.end());
  Eigen::SimplicialLDLT<Eigen::SparseMatrix<double>> solver(A);
  if (solver.info() != Eigen::Success) {
    throw std::runtime_error("noisy_linear_impute: factorisation failed");
  }
  const Eigen::MatrixXd x = solver.solve(rhs);
  for (int64_t u = 0; u < U; ++u) {
    const int64_t p = where[static_cast<size_t>(u)];
    for (int64_t c = 0; c < C; ++c) {
      const auto i = static_cast<size_t>(c * P + p);
      pixels[i] = static_cast<float>(x(u, c) + noise * static_cast<double>(rng.normal(offset + i)));
    }
  }
}

}  // namespace gb::interp::eval
