// Tests of the Philox4x32-10 generator: Random123's known-answer vectors, the statistics of the
// uniform/normal/integer conversions, and determinism (value i depends only on seed, stream, i).
#include "runtime/rng.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

using gb::Generator;
using gb::Philox;

namespace {

// Philox's counter words are (counter low, counter high, stream low, stream high) and its key
// words are (seed low, seed high): build the block for Random123's ctr[4], key[2].
std::array<uint32_t, 4> random123(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
  const auto join = [](uint32_t lo, uint32_t hi) { return (uint64_t{hi} << 32) | lo; };
  const Philox p(join(key[0], key[1]), join(ctr[2], ctr[3]));
  return p.block(join(ctr[0], ctr[1]));
}

constexpr int kDraws = 100'000;

}  // namespace

TEST(Philox, Random123KnownAnswers) {
  using A = std::array<uint32_t, 4>;
  EXPECT_EQ(random123({0, 0, 0, 0}, {0, 0}), (A{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(random123({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (A{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(random123({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (A{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, UniformIsInRangeWithTheRightMoments) {
  const Philox p(42, 7);
  double sum = 0, sum2 = 0;
  int low = 0;
  for (int i = 0; i < kDraws; ++i) {
    const float u = p.uniform(i);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    sum += u;
    sum2 += double{u} * u;
    low += u < 0.1f;
  }
  const double mean = sum / kDraws, var = sum2 / kDraws - mean * mean;
  EXPECT_NEAR(mean, 0.5, 0.005);          // standard error 0.0009
  EXPECT_NEAR(var, 1.0 / 12.0, 0.002);    // standard error 0.0001
  EXPECT_NEAR(low, kDraws / 10, 500);     // standard deviation ~95
}

TEST(Philox, NormalHasMeanZeroVarianceOne) {
  const Philox p(1234, 0);
  double sum = 0, sum2 = 0, sum3 = 0, sum4 = 0;
  int beyond2 = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double x = p.normal(i);
    ASSERT_TRUE(std::isfinite(x));
    sum += x;
    sum2 += x * x;
    sum3 += x * x * x;
    sum4 += x * x * x * x;
    beyond2 += std::abs(x) > 2.0;
  }
  const double mean = sum / kDraws, var = sum2 / kDraws - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.02);                 // standard error 0.003
  EXPECT_NEAR(var, 1.0, 0.03);                  // standard error 0.0045
  EXPECT_NEAR(sum3 / kDraws, 0.0, 0.06);        // skewness, standard error ~0.008
  EXPECT_NEAR(sum4 / kDraws, 3.0, 0.15);        // kurtosis, standard error ~0.03
  EXPECT_NEAR(beyond2, 0.0455 * kDraws, 400);   // P(|x| > 2) = 4.55%, sd ~66
}

TEST(Philox, BelowIsInRangeAndRoughlyUniform) {
  const Philox p(99, 3);
  constexpr uint64_t kN = 10;
  std::vector<int> counts(kN, 0);
  for (int i = 0; i < kDraws; ++i) {
    const uint64_t v = p.below(i, kN);
    ASSERT_LT(v, kN);
    ++counts[v];
  }
  double chi2 = 0;
  for (int c : counts) {
    EXPECT_NEAR(c, kDraws / kN, 500);  // sd ~95
    chi2 += (c - kDraws / 10.0) * (c - kDraws / 10.0) / (kDraws / 10.0);
  }
  EXPECT_LT(chi2, 30.0);  // 9 degrees of freedom: P(chi2 > 30) < 0.001

  for (int i = 0; i < 1000; ++i) EXPECT_EQ(p.below(i, 1), 0u);
  const uint64_t big = (uint64_t{1} << 40) + 12345;
  bool high_half = false;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t v = p.below(i, big);
    ASSERT_LT(v, big);
    high_half |= v >= big / 2;
  }
  EXPECT_TRUE(high_half);
}

TEST(Philox, Deterministic) {
  const Philox a(5, 9), b(5, 9);
  // Value i depends only on (seed, stream, i): drawing in reverse order gives the same numbers.
  std::vector<float> forward(1000);
  for (int i = 0; i < 1000; ++i) forward[i] = a.uniform(i);
  for (int i = 999; i >= 0; --i) EXPECT_EQ(b.uniform(i), forward[i]);
  EXPECT_EQ(a.block(77), b.block(77));
  EXPECT_EQ(a.normal(77), b.normal(77));
  EXPECT_EQ(a.seed(), 5u);
  EXPECT_EQ(a.stream(), 9u);

  // Different seeds, streams and counters give different blocks.
  EXPECT_NE(Philox(5, 9).block(0), Philox(6, 9).block(0));
  EXPECT_NE(Philox(5, 9).block(0), Philox(5, 10).block(0));
  EXPECT_NE(Philox(5, 9).block(0), Philox(5, 9).block(1));
  EXPECT_NE(Philox(5, 9).block(0), Philox(5, 9).block(uint64_t{1} << 32));  // counter high word
  EXPECT_NE(Philox(0, 0).block(0), Philox(uint64_t{1} << 32, 0).block(0));  // seed high word
  EXPECT_NE(Philox(0, 0).block(0), Philox(0, uint64_t{1} << 32).block(0));  // stream high word
}

TEST(Generator, DrawsTheStreamInOrder) {
  Generator g(11, 2), h(11, 2);
  const Philox p(11, 2);
  for (uint64_t i = 0; i < 100; ++i) {
    EXPECT_EQ(g.counter(), i);
    switch (i % 3) {
      case 0: EXPECT_EQ(g.uniform(), p.uniform(i)); break;
      case 1: EXPECT_EQ(g.normal(), p.normal(i)); break;
      default: EXPECT_EQ(g.below(17), p.below(i, 17)); break;
    }
  }
  EXPECT_EQ(g.counter(), 100u);
  h.set_counter(50);
  EXPECT_EQ(h.uniform(), p.uniform(50));
  EXPECT_EQ(h.counter(), 51u);
  EXPECT_EQ(h.philox().seed(), 11u);
  EXPECT_EQ(h.philox().stream(), 2u);

  Generator x(3), y(3), z(4);
  bool differs = false;
  for (int i = 0; i < 10; ++i) {
    const float xv = x.uniform();
    EXPECT_EQ(xv, y.uniform());
    differs |= xv != z.uniform();
  }
  EXPECT_TRUE(differs);
}
