// The 16-bit float formats (kernels/float_formats.h) and the cast op: the conversion rules checked
// against independent oracles (x86's F16C instructions for f16; the nearest bf16 found in double
// arithmetic for bf16), every f16 and bf16 value widened, a sample of all float32 bit patterns
// narrowed, the fast CPU kernel equal to the reference bit for bit on each, the documented edge
// cases by value, and ops::cast through autograd and the op table (dtype errors name the op).
#include <gtest/gtest.h>
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/cast.h"
#include "runtime/autograd.h"
#include "runtime/op_table.h"
#include "runtime/ops.h"

namespace gb {
namespace {

using kernels::FloatFormat;

uint32_t bits(float f) { return kernels::float_bits(f); }
float from_bits(uint32_t u) { return kernels::float_from_bits(u); }

// Every float32 bit pattern in steps of `step`, plus the neighbourhoods of the formats' edges.
std::vector<float> float_sample(uint32_t step) {
  std::vector<float> v;
  for (uint64_t u = 0; u <= 0xffffffffull; u += step)
    v.push_back(from_bits(static_cast<uint32_t>(u)));
  for (uint32_t edge : {0x477fe000u, 0x477ff000u, 0x38800000u, 0x33000000u, 0x33800000u,
                        0x7f7f8000u, 0x7f800000u, 0x3f808000u, 0x3f818000u, 0x00000001u}) {
    for (uint32_t d = 0; d < 64; ++d) {
      v.push_back(from_bits(edge + d));
      v.push_back(from_bits(edge - d));
      v.push_back(-from_bits(edge + d));
    }
  }
  return v;
}

// The bf16 nearest to f (ties to the even one), found by comparing the two candidates around f in
// double; NaNs by the rule (quiet, sign and top payload kept).
uint16_t bf16_oracle(float f) {
  const uint32_t u = bits(f);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40u);
  const uint16_t down = static_cast<uint16_t>(u >> 16);  // toward zero
  if ((u & 0xffffu) == 0) return down;
  const uint16_t up = static_cast<uint16_t>(down + 1);  // away from zero (may become infinity)
  const double d_down = std::fabs(double(f) - double(kernels::float_from_bf16(down)));
  const double up_value = double(kernels::float_from_bf16(up));
  // Past the largest finite bf16, "up" is infinity: compare with where the next value would be.
  const double d_up = std::isinf(up_value)
                          ? std::fabs(std::ldexp(f < 0 ? -1.0 : 1.0, 128) - double(f))
                          : std::fabs(up_value - double(f));
  if (d_down < d_up) return down;
  if (d_up < d_down) return up;
  return (down & 1u) ? up : down;
}

std::vector<uint16_t> all_16_bit_patterns() {
  std::vector<uint16_t> v(65536);
  for (uint32_t i = 0; i < 65536; ++i) v[i] = static_cast<uint16_t>(i);
  return v;
}

std::vector<float> widen(kernels::CastFn* cast, const std::vector<uint16_t>& h, FloatFormat f) {
  std::vector<float> out(h.size());
  cast(static_cast<int64_t>(h.size()), h.data(), f, out.data(), FloatFormat::F32);
  return out;
}

std::vector<uint16_t> narrow(kernels::CastFn* cast, const std::vector<float>& x, FloatFormat f) {
  std::vector<uint16_t> out(x.size());
  cast(static_cast<int64_t>(x.size()), x.data(), FloatFormat::F32, out.data(), f);
  return out;
}

TEST(FloatFormats, EveryF16AndBf16ValueWidensExactlyOnEveryKernel) {
  const std::vector<uint16_t> h = all_16_bit_patterns();
  for (FloatFormat f : {FloatFormat::F16, FloatFormat::BF16}) {
    const std::vector<float> ref = widen(kernels::ref::cast, h, f),
                             fast = widen(kernels::cpu::cast, h, f);
    for (size_t i = 0; i < h.size(); ++i) {
      const float oracle =
          f == FloatFormat::F16 ? _cvtsh_ss(h[i]) : from_bits(uint32_t(h[i]) << 16);
      ASSERT_EQ(bits(ref[i]), bits(oracle)) << kernels::float_format_name(f) << " bits " << h[i];
      ASSERT_EQ(bits(fast[i]), bits(oracle)) << kernels::float_format_name(f) << " bits " << h[i];
    }
  }
}

TEST(FloatFormats, NarrowingRoundsToNearestEvenAsTheOracles) {
  const std::vector<float> x = float_sample(4099);  // about a million patterns
  for (FloatFormat f : {FloatFormat::F16, FloatFormat::BF16}) {
    const std::vector<uint16_t> ref = narrow(kernels::ref::cast, x, f);
    const std::vector<uint16_t> fast = narrow(kernels::cpu::cast, x, f);
    for (size_t i = 0; i < x.size(); ++i) {
      const uint16_t oracle =
          f == FloatFormat::F16 ? static_cast<uint16_t>(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT))
                                : bf16_oracle(x[i]);
      ASSERT_EQ(ref[i], oracle) << kernels::float_format_name(f) << " of bits " << bits(x[i]);
      ASSERT_EQ(fast[i], oracle) << kernels::float_format_name(f) << " of bits " << bits(x[i]);
    }
  }
}

TEST(FloatFormats, TheDocumentedEdgesByValue) {
  using kernels::bf16_from_float;
  using kernels::f16_from_float;
  EXPECT_EQ(f16_from_float(65504.0f), 0x7bffu);  // the largest f16
  EXPECT_EQ(f16_from_float(65519.99f), 0x7bffu);
  EXPECT_EQ(f16_from_float(65520.0f), 0x7c00u);  // the tie above it rounds to even: infinity
  EXPECT_EQ(f16_from_float(-1e6f), 0xfc00u);
  EXPECT_EQ(f16_from_float(std::ldexp(1.0f, -24)), 0x0001u);  // the smallest subnormal
  EXPECT_EQ(f16_from_float(std::ldexp(1.0f, -25)), 0x0000u);  // half of it: a tie, to zero
  EXPECT_EQ(f16_from_float(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001u);
  EXPECT_EQ(f16_from_float(-0.0f), 0x8000u);
  EXPECT_EQ(f16_from_float(1.00048828125f), 0x3c00u);  // 1 + 2^-11: a tie, to even (1)
  EXPECT_EQ(bf16_from_float(1.00390625f), 0x3f80u);    // 1 + 2^-8: a tie, to even (1)
  EXPECT_EQ(bf16_from_float(1.01171875f), 0x3f82u);    // 1 + 3 * 2^-8: a tie, up to even
  EXPECT_EQ(bf16_from_float(std::numeric_limits<float>::max()), 0x7f80u);  // infinity
  EXPECT_NE(bf16_from_float(1e-39f) & 0x7fffu, 0u);  // a float32 subnormal stays nonzero
  const float snan = from_bits(0xff812345u);         // signalling NaN, negative, payload 0x012345
  EXPECT_EQ(bf16_from_float(snan), 0xffc1u);
  EXPECT_EQ(f16_from_float(snan), 0xfe09u);  // 0xfc00 | quiet 0x200 | top payload bits 0x009
  EXPECT_TRUE(std::isnan(kernels::float_from_f16(0x7c01u)));
  EXPECT_EQ(kernels::float_from_f16(0x0001u), std::ldexp(1.0f, -24));
}

TEST(FloatFormats, SameFormatCopiesTheBitsAndOddLengthsUseTheTail) {
  const std::vector<uint16_t> h = {0x7c01u, 0x8001u, 0x1234u};  // a NaN payload kept as it is
  std::vector<uint16_t> out(3);
  kernels::cpu::cast(3, h.data(), FloatFormat::F16, out.data(), FloatFormat::F16);
  EXPECT_EQ(out, h);
  std::vector<float> x(13);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 1.0f + static_cast<float>(i) / 3.0f;
  EXPECT_EQ(narrow(kernels::cpu::cast, x, FloatFormat::BF16),
            narrow(kernels::ref::cast, x, FloatFormat::BF16));
}

TEST(Cast, OpRoundTripsAndCastsTheGradientBack) {
  Tensor x = Tensor::from_vector({5}, {1.00390625f, -2.5f, 65520.0f, 1e-8f, 3.0f});
  x.set_requires_grad(true);
  Tensor h = ops::cast(x, DType::BF16);
  EXPECT_EQ(h.dtype(), DType::BF16);
  EXPECT_TRUE(ops::cast(h, DType::BF16).same(h));  // already that dtype: the tensor itself
  Tensor y = ops::cast(h, DType::F32);
  const std::vector<float> v = y.to_vector();
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.5f);
  EXPECT_EQ(v[2], 65536.0f);
  EXPECT_EQ(ops::cast(ops::cast(x, DType::F16), DType::F32).to_vector()[2],
            std::numeric_limits<float>::infinity());
  Tensor seed = Tensor::from_vector({5}, {1.0f, 0.5f, 1.00390625f, -3.0f, 0.0f});
  backward(y, seed);
  const std::vector<float> g = x.grad().to_vector();
  EXPECT_EQ(g[0], 1.0f);
  EXPECT_EQ(g[2], 1.0f);  // the gradient went through bf16 too
  EXPECT_EQ(g[3], -3.0f);
}

TEST(Cast, TheTableSaysWhichOpsTakeWhichDtypeAndOpsNameTheirs) {
  EXPECT_TRUE(supports(OpId::Cast, DeviceType::Cpu, DType::BF16));
  EXPECT_TRUE(supports(OpId::Cast, DeviceType::Cpu, DType::F16));
  EXPECT_FALSE(supports(OpId::Relu, DeviceType::Cpu, DType::BF16));
  EXPECT_EQ(dtype_set_name(op_row(OpId::Cast).dtypes), "F32 F16 BF16");
  Tensor h = ops::cast(Tensor::ones({4}), DType::F16);
  try {
    ops::relu(h);
    FAIL() << "relu took an F16 tensor";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("relu: input must be F32, got F16"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(ops::cast(Tensor::ones({2}), DType::I64), std::invalid_argument);
}

}  // namespace
}  // namespace gb
