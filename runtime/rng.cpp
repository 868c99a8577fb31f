// Philox4x32-10 and the float/integer conversions built on it.
#include "runtime/rng.h"

#include <cmath>

namespace gb {
namespace {
constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;

inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}
}  // namespace

std::array<uint32_t, 4> Philox::block(uint64_t counter) const {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream_), c3 = static_cast<uint32_t>(stream_ >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed_), k1 = static_cast<uint32_t>(seed_ >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kMul0, c0, hi0, lo0);
    mulhilo(kMul1, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return {c0, c1, c2, c3};
}

float Philox::uniform(uint64_t i) const {
  return static_cast<float>(block(i)[0] >> 8) * (1.0f / 16777216.0f);
}

float Philox::normal(uint64_t i) const {
  const auto b = block(i);
  // u1 in (0, 1] so log never sees zero.
  const double u1 = (static_cast<double>(b[0]) + 1.0) / 4294967296.0;
  const double u2 = static_cast<double>(b[1]) / 4294967296.0;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

uint64_t Philox::below(uint64_t i, uint64_t n) const {
  const auto b = block(i);
  const uint64_t r = (static_cast<uint64_t>(b[0]) << 32) | b[1];
  // 64 random bits reduced by multiply-high: bias below 2^-32 for any n < 2^32.
  __extension__ using u128 = unsigned __int128;  // __extension__: no -Wpedantic warning
  return static_cast<uint64_t>((static_cast<u128>(r) * n) >> 64);
}

}  // namespace gb
