// Tests for the softmax family of kernels/ (softmax, log-softmax, cross-entropy): the reference
// kernels against hand-computed values and finite differences, the fast cpu:: kernels against
// them over awkward shapes (tolerance model: test_kernels.cpp's header), NaN rows, and
// bit-identical results for a fixed thread count. Shape letters: N rows, D the softmax dimension.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/softmax.h"
#include "tests/kernel_test_util.h"

namespace gb::kernels {
namespace {
using namespace test;  // NOLINT: the shared kernel-test helpers

// The loss a cross_entropy_forward kernel writes through its pointer.
float ce_loss(const CrossEntropyForwardFn& forward, int64_t N, int64_t D, const float* logits,
              const int64_t* targets, float eps, float* probs) {
  float loss = 0.0f;
  forward(N, D, logits, targets, eps, probs, &loss);
  return loss;
}
// The upstream gradient of the loss the cross-entropy backward tests use.
constexpr float kDloss = 0.7f;

// ---------------------------------------------------------------------------------------------
// Softmax family

TEST(SoftmaxRef, RowsSumToOneAndAreStable) {
  const int64_t N = 4, D = 7;
  Vec x = random_vec(N * D, 9, -5.0f, 5.0f);
  x[3] = 1000.0f;  // would overflow exp() without max subtraction
  Vec y(N * D), lp(N * D);
  ref::softmax_forward(N, D, x.data(), y.data());
  ref::log_softmax_forward(N, D, x.data(), lp.data());
  for (int64_t n = 0; n < N; ++n) {
    double sum = 0.0;
    for (int64_t d = 0; d < D; ++d) {
      sum += y[n * D + d];
      EXPECT_TRUE(std::isfinite(lp[n * D + d]));
      EXPECT_NEAR(std::exp(lp[n * D + d]), y[n * D + d], 1e-6);
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
  const Vec three = {1, 2, 3};
  Vec p(3);
  ref::softmax_forward(1, 3, three.data(), p.data());
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(p[0], std::exp(1.0) / z, 1e-7);
  EXPECT_NEAR(p[2], std::exp(3.0) / z, 1e-7);
}

// Central-difference directional derivative of s(x) = sum(v * f(x)) along u.
template <typename F>
double directional(F f, const Vec& x, const Vec& v, const Vec& u, double h) {
  Vec xp = x, xm = x, yp(x.size()), ym(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    xp[i] = static_cast<float>(x[i] + h * u[i]);
    xm[i] = static_cast<float>(x[i] - h * u[i]);
  }
  f(xp, yp);
  f(xm, ym);
  return (dot(yp, v) - dot(ym, v)) / (2 * h);
}

TEST(SoftmaxRef, BackwardsMatchFiniteDifferences) {
  const int64_t N = 3, D = 5;
  const Vec x = random_vec(N * D, 1, -2.0f, 2.0f), v = random_vec(N * D, 2),
            u = random_vec(N * D, 3);
  Vec y(N * D), dx(N * D);
  ref::softmax_forward(N, D, x.data(), y.data());
  ref::softmax_backward(N, D, y.data(), v.data(), dx.data());
  auto sm = [&](const Vec& in, Vec& out) { ref::softmax_forward(N, D, in.data(), out.data()); };
  EXPECT_NEAR(dot(dx, u), directional(sm, x, v, u, 1e-2), 1e-4);
  ref::log_softmax_forward(N, D, x.data(), y.data());
  ref::log_softmax_backward(N, D, y.data(), v.data(), dx.data());
  auto lsm = [&](const Vec& in, Vec& out) {
    ref::log_softmax_forward(N, D, in.data(), out.data());
  };
  EXPECT_NEAR(dot(dx, u), directional(lsm, x, v, u, 1e-2), 1e-4);
}

TEST(SoftmaxRef, CrossEntropyWithLabelSmoothing) {
  // logits [1 2 3], target 0: nll = log(e + e^2 + e^3) - 1 = 2.40760596;
  // mean over classes of -logp = nll - 1; with eps = 0.1: nll - 0.1 = 2.30760596.
  const Vec logits = {1, 2, 3};
  const std::vector<int64_t> target = {0};
  Vec probs(3);
  EXPECT_NEAR(
      ce_loss(ref::cross_entropy_forward, 1, 3, logits.data(), target.data(), 0.0f, probs.data()),
      2.40760596, 1e-6);
  EXPECT_NEAR(
      ce_loss(ref::cross_entropy_forward, 1, 3, logits.data(), target.data(), 0.1f, probs.data()),
      2.30760596, 1e-6);
  // General hand formula over a batch: mean_n [(1 - eps) nll_n + eps * mean_d(-logp_nd)].
  const int64_t N = 4, D = 6;
  const float eps = 0.2f;
  const Vec z = random_vec(N * D, 4, -3.0f, 3.0f);
  const std::vector<int64_t> t = {0, 5, 2, 2};
  Vec pr(N * D);
  const float loss = ce_loss(ref::cross_entropy_forward, N, D, z.data(), t.data(), eps, pr.data());
  double want = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    double lse = 0.0;
    for (int64_t d = 0; d < D; ++d) lse += std::exp(static_cast<double>(z[n * D + d]));
    lse = std::log(lse);
    double mean_neg = 0.0;
    for (int64_t d = 0; d < D; ++d) mean_neg += (lse - z[n * D + d]) / D;
    want += ((1 - eps) * (lse - z[n * D + t[n]]) + eps * mean_neg) / N;
    for (int64_t d = 0; d < D; ++d) EXPECT_NEAR(pr[n * D + d], std::exp(z[n * D + d] - lse), 1e-7);
  }
  EXPECT_NEAR(loss, want, 1e-6);
  // Backward against central differences of the loss, scaled by dloss.
  Vec dz(N * D);
  const float dloss = 0.7f;
  ref::cross_entropy_backward(N, D, pr.data(), t.data(), eps, &dloss, dz.data());
  const Vec u = random_vec(N * D, 5);
  Vec zp = z, zm = z, scratch(N * D);
  const double h = 1e-2;
  for (int64_t i = 0; i < N * D; ++i) {
    zp[i] = static_cast<float>(z[i] + h * u[i]);
    zm[i] = static_cast<float>(z[i] - h * u[i]);
  }
  const double fd =
      dloss *
      (ce_loss(ref::cross_entropy_forward, N, D, zp.data(), t.data(), eps, scratch.data()) -
       ce_loss(ref::cross_entropy_forward, N, D, zm.data(), t.data(), eps, scratch.data())) /
      (2 * h);
  EXPECT_NEAR(dot(dz, u), fd, 1e-4);
}

// Fast softmax family against the reference, N in {1, 7, 300}, D in {1, 10, 1000}, moderate and
// large (+-80) logits. Magnitudes: softmax |y|; log-softmax |x - max| + |lse - max|, which is
// |y| - max_d y over the row; softmax backward y * (|dy| + sum |dy * y|); log-softmax backward
// |dy| + exp(y) * sum |dy|. Cross-entropy backward is ref's double formula: equal bit for bit.

struct SoftmaxCase {
  int64_t N, D;
  float range;  // logits uniform in [-range, range]
};

std::vector<SoftmaxCase> softmax_cases() {
  std::vector<SoftmaxCase> cases;
  for (int64_t N : {1, 7, 300}) {
    for (int64_t D : {1, 10, 1000}) {
      for (float range : {5.0f, 80.0f}) cases.push_back({N, D, range});
    }
  }
  return cases;
}

std::string describe(const SoftmaxCase& c) {
  return "N=" + std::to_string(c.N) + " D=" + std::to_string(c.D) +
         " range=" + std::to_string(static_cast<int>(c.range));
}

// Logits for a case; with the large range every row also holds a +80 and a -80 entry.
Vec softmax_logits(const SoftmaxCase& c, uint32_t seed) {
  Vec x = random_vec(c.N * c.D, seed, -c.range, c.range);
  if (c.range > 10.0f && c.D > 1) {
    for (int64_t n = 0; n < c.N; ++n) {
      x[n * c.D + (n % c.D)] = 80.0f;
      x[n * c.D + ((n + 1) % c.D)] = -80.0f;
    }
  }
  return x;
}

TEST(Softmax, ForwardAndBackwardMatchReference) {
  uint32_t seed = 1600;
  for (const SoftmaxCase& c : softmax_cases()) {
    SCOPED_TRACE(describe(c));
    const int64_t N = c.N, D = c.D, n = N * D;
    const Vec x = softmax_logits(c, seed++), dy = random_vec(n, seed++);
    Vec y_w(n), y_g(n, 7.0f);
    ref::softmax_forward(N, D, x.data(), y_w.data());
    cpu::softmax_forward(N, D, x.data(), y_g.data());
    EXPECT_TRUE(all_close(y_g, y_w, {})) << "softmax";
    // Backward from the reference's output, so both see the same inputs.
    Vec dx_w(n), dx_g(n, 7.0f), mag(n);
    ref::softmax_backward(N, D, y_w.data(), dy.data(), dx_w.data());
    cpu::softmax_backward(N, D, y_w.data(), dy.data(), dx_g.data());
    for (int64_t r = 0; r < N; ++r) {
      double dot_abs = 0.0;
      for (int64_t d = 0; d < D; ++d) dot_abs += std::fabs(dy[r * D + d] * y_w[r * D + d]);
      for (int64_t d = 0; d < D; ++d) {
        const int64_t i = r * D + d;
        mag[i] = static_cast<float>(std::fabs(y_w[i]) * (std::fabs(dy[i]) + dot_abs));
      }
    }
    EXPECT_TRUE(all_close(dx_g, dx_w, mag)) << "softmax backward";
  }
}

TEST(Softmax, LogSoftmaxForwardAndBackwardMatchReference) {
  uint32_t seed = 1700;
  for (const SoftmaxCase& c : softmax_cases()) {
    SCOPED_TRACE(describe(c));
    const int64_t N = c.N, D = c.D, n = N * D;
    const Vec x = softmax_logits(c, seed++), dy = random_vec(n, seed++);
    Vec y_w(n), y_g(n, 7.0f), mag(n), dx_w(n), dx_g(n, 7.0f), dmag(n);
    ref::log_softmax_forward(N, D, x.data(), y_w.data());
    cpu::log_softmax_forward(N, D, x.data(), y_g.data());
    for (int64_t r = 0; r < N; ++r) {
      const float top = *std::max_element(y_w.begin() + r * D, y_w.begin() + (r + 1) * D);
      double dy_abs = 0.0;
      for (int64_t d = 0; d < D; ++d) dy_abs += std::fabs(dy[r * D + d]);
      for (int64_t d = 0; d < D; ++d) {
        const int64_t i = r * D + d;
        mag[i] = std::fabs(y_w[i]) - top;
        dmag[i] = static_cast<float>(std::fabs(dy[i]) + std::exp(y_w[i]) * dy_abs);
      }
    }
    EXPECT_TRUE(all_close(y_g, y_w, mag)) << "log_softmax";
    ref::log_softmax_backward(N, D, y_w.data(), dy.data(), dx_w.data());
    cpu::log_softmax_backward(N, D, y_w.data(), dy.data(), dx_g.data());
    EXPECT_TRUE(all_close(dx_g, dx_w, dmag)) << "log_softmax backward";
  }
}

TEST(Softmax, CrossEntropyMatchesReference) {
  uint32_t seed = 1800;
  for (const SoftmaxCase& c : softmax_cases()) {
    for (float eps : {0.0f, 0.1f}) {
      SCOPED_TRACE(describe(c) + " eps=" + std::to_string(eps));
      const int64_t N = c.N, D = c.D, n = N * D;
      const Vec x = softmax_logits(c, seed++);
      std::vector<int64_t> t(static_cast<size_t>(N));
      std::mt19937 gen(seed++);
      for (int64_t& v : t) v = std::uniform_int_distribution<int64_t>(0, D - 1)(gen);
      Vec p_w(n), p_g(n, 7.0f);
      const float loss_w =
          ce_loss(ref::cross_entropy_forward, N, D, x.data(), t.data(), eps, p_w.data());
      const float loss_g =
          ce_loss(cpu::cross_entropy_forward, N, D, x.data(), t.data(), eps, p_g.data());
      EXPECT_TRUE(all_close({loss_g}, {loss_w}, {})) << "loss";
      EXPECT_TRUE(all_close(p_g, p_w, {})) << "probs";
      Vec dl_w(n), dl_g(n, 7.0f);
      ref::cross_entropy_backward(N, D, p_w.data(), t.data(), eps, &kDloss, dl_w.data());
      cpu::cross_entropy_backward(N, D, p_w.data(), t.data(), eps, &kDloss, dl_g.data());
      EXPECT_TRUE(bit_equal(dl_g, dl_w)) << "dlogits";
    }
  }
}

TEST(Softmax, NanRowsStayNanAndOtherRowsAreUntouched) {
  const int64_t N = 3, D = 11;
  Vec x = random_vec(N * D, 1900);
  x[1 * D + 9] = std::nanf("");  // row 1, in the vector tail
  Vec y(N * D), lp(N * D), want(N * D);
  cpu::softmax_forward(N, D, x.data(), y.data());
  cpu::log_softmax_forward(N, D, x.data(), lp.data());
  ref::softmax_forward(N, D, x.data(), want.data());
  for (int64_t d = 0; d < D; ++d) {
    EXPECT_TRUE(std::isnan(y[D + d])) << d;
    EXPECT_TRUE(std::isnan(lp[D + d])) << d;
    EXPECT_NEAR(y[d], want[d], 1e-6);
    EXPECT_NEAR(y[2 * D + d], want[2 * D + d], 1e-6);
  }
  const std::vector<int64_t> t = {0, 1, 2};
  EXPECT_TRUE(
      std::isnan(ce_loss(cpu::cross_entropy_forward, N, D, x.data(), t.data(), 0.1f, y.data())));
}

TEST(Softmax, BitIdenticalForAnyThreadCount) {
  const int64_t N = 300, D = 1000, n = N * D;  // above the threading threshold
  const Vec x = random_vec(n, 2000, -20.0f, 20.0f), dy = random_vec(n, 2001);
  std::vector<int64_t> t(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) t[static_cast<size_t>(i)] = (i * 37) % D;
  struct Out {
    Vec y, dx, ly, ldx, probs, dl;
    float loss = 0.0f;
  };
  auto run = [&](int threads) {
    Out o{Vec(n), Vec(n), Vec(n), Vec(n), Vec(n), Vec(n)};
    with_threads(threads, [&] {
      cpu::softmax_forward(N, D, x.data(), o.y.data());
      cpu::softmax_backward(N, D, o.y.data(), dy.data(), o.dx.data());
      cpu::log_softmax_forward(N, D, x.data(), o.ly.data());
      cpu::log_softmax_backward(N, D, o.ly.data(), dy.data(), o.ldx.data());
      o.loss = ce_loss(cpu::cross_entropy_forward, N, D, x.data(), t.data(), 0.1f, o.probs.data());
      cpu::cross_entropy_backward(N, D, o.probs.data(), t.data(), 0.1f, &kDloss, o.dl.data());
    });
    return o;
  };
  const Out one = run(1), three = run(3);
  EXPECT_TRUE(bit_equal(three.y, one.y));
  EXPECT_TRUE(bit_equal(three.dx, one.dx));
  EXPECT_TRUE(bit_equal(three.ly, one.ly));
  EXPECT_TRUE(bit_equal(three.ldx, one.ldx));
  EXPECT_TRUE(bit_equal(three.probs, one.probs));
  EXPECT_TRUE(bit_equal(three.dl, one.dl));
  EXPECT_TRUE(bit_equal({three.loss}, {one.loss}));
}

}  // namespace
}  // namespace gb::kernels
