// F16/BF16 conversions: exhaustive round trips and rounding against a double-precision model.
#include "base/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace bastion {
namespace {

TEST(Half, EveryF16RoundTripsThroughF32) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = F16ToF32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(F16ToF32(F32ToF16(f)))) << h;
      continue;
    }
    EXPECT_EQ(F32ToF16(f), h) << "half bits " << h;
  }
}

// Nearest-even rounding to F16, modelled in double: among all finite halves pick the closest,
// ties to the even mantissa.
uint16_t ModelF32ToF16(float f) {
  if (std::fabs(f) >= 65520.0f) return f > 0 ? 0x7c00 : 0xfc00;
  uint16_t best = 0;
  double best_err = INFINITY;
  // Search the two neighbours around a coarse guess: halves are monotonic in magnitude.
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(f));
  for (uint32_t m = 0; m < 0x7c00; ++m) {
    const double v = std::fabs(static_cast<double>(F16ToF32(static_cast<uint16_t>(m))));
    const double err = std::fabs(v - a);
    if (err < best_err || (err == best_err && (m & 1u) == 0)) {
      best_err = err;
      best = static_cast<uint16_t>(m);
    }
    if (v > a) break;
  }
  return static_cast<uint16_t>(sign | best);
}

TEST(Half, F32ToF16RoundsToNearestEven) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> exp(-26.0f, 16.0f);
  std::uniform_real_distribution<float> mant(1.0f, 2.0f);
  for (int i = 0; i < 3000; ++i) {
    float f = std::ldexp(mant(rng), static_cast<int>(exp(rng)));
    if (i % 2) f = -f;
    ASSERT_EQ(F32ToF16(f), ModelF32ToF16(f)) << f;
  }
  // Exact ties: halfway between 1 and the next half (1 + 2^-10) rounds to 1 (even).
  EXPECT_EQ(F32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(F32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(F32ToF16(65504.0f), 0x7bff);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7c00);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25)), 0x0000);                     // tie -> 0 (even)
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25) * 1.0001f), 0x0001);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -24)), 0x0001);
}

TEST(Half, Bf16) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = Bf16ToF32(static_cast<uint16_t>(b));
    if (std::isnan(f)) continue;
    EXPECT_EQ(F32ToBf16(f), b);
  }
  EXPECT_EQ(F32ToBf16(BitsToFloat(0x3f808000u)), 0x3f80);  // tie to even (down)
  EXPECT_EQ(F32ToBf16(BitsToFloat(0x3f818000u)), 0x3f82);  // tie to even (up)
  EXPECT_EQ(F32ToBf16(BitsToFloat(0x3f808001u)), 0x3f81);
  EXPECT_TRUE(std::isnan(Bf16ToF32(F32ToBf16(NAN))));
}

}  // namespace
}  // namespace bastion
