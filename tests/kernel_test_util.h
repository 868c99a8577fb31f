// Helpers shared by the kernel test suites (test_kernels*.cpp): random vectors, the fast-vs-
// reference tolerance check (the model is in test_kernels.cpp's header comment) and running a
// function at a given OpenMP thread count. Header-only, for tests.
#pragma once
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace gb::kernels::test {

constexpr double kAbsTol = 1e-6;
constexpr double kRelTol = 1e-5;

using Vec = std::vector<float>;

inline Vec random_vec(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Vec v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

inline Vec abs_vec(const Vec& v) {
  Vec out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = std::fabs(v[i]);
  return out;
}

inline double dot(const Vec& a, const Vec& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// |got - want| <= abs_tol + rel_tol * mag (mag empty: |want|), reporting the worst element.
inline ::testing::AssertionResult all_close(const Vec& got, const Vec& want, const Vec& mag,
                                            double abs_tol = kAbsTol, double rel_tol = kRelTol) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "size mismatch";
  size_t worst = 0, bad = 0;
  double worst_ratio = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double m = mag.empty() ? std::fabs(want[i]) : mag[i];
    const double tol = abs_tol + rel_tol * m;
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double ratio = std::isnan(err) ? std::numeric_limits<double>::infinity() : err / tol;
    if (ratio > 1.0) ++bad;
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << got.size() << " elements out of tolerance; worst [" << worst
         << "] got " << got[worst] << " want " << want[worst] << " (err/tol " << worst_ratio << ")";
}

inline bool bit_equal(const Vec& a, const Vec& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](float x, float y) {
           return std::memcmp(&x, &y, sizeof(float)) == 0;
         });
}

// Runs fn with the OpenMP thread count set to threads, restoring it afterwards.
template <typename Fn>
void with_threads(int threads, Fn fn) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  fn();
  omp_set_num_threads(saved);
}

}  // namespace gb::kernels::test
