// Tests of the scalar reference for the legacy types (quant/legacy_quants.cc): byte layouts
// against hand-built blocks, llama.cpp's x86 activation rounding on hand-picked values,
// quantize->dequantize round trips within per-type error bounds, and the reference dot products
// against exact (double) sums of the dequantized values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/half.h"
#include "quant/blocks.h"
#include "quant/quantize.h"
#include "quant/types.h"

namespace bastion {
namespace {

std::vector<float> Dequantize(GgmlType type, const std::vector<uint8_t>& bytes, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  DequantizeRow(type, bytes.data(), out.data(), n);
  return out;
}

std::vector<uint8_t> Quantize(GgmlType type, const std::vector<float>& x) {
  std::vector<uint8_t> out(RowBytes(type, static_cast<int64_t>(x.size())));
  QuantizeRow(type, x.data(), out.data(), static_cast<int64_t>(x.size()));
  return out;
}

void PutU16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v & 0xFF);
  b[at + 1] = static_cast<uint8_t>(v >> 8);
}

// ---- Layout: field offsets as in ggml-common.h --------------------------------------------------

TEST(LegacyLayout, FieldOffsetsMatchGgml) {
  EXPECT_EQ(offsetof(BlockQ4_0, qs), 2u);
  EXPECT_EQ(offsetof(BlockQ4_1, m), 2u);
  EXPECT_EQ(offsetof(BlockQ4_1, qs), 4u);
  EXPECT_EQ(offsetof(BlockQ5_0, qh), 2u);
  EXPECT_EQ(offsetof(BlockQ5_0, qs), 6u);
  EXPECT_EQ(offsetof(BlockQ5_1, m), 2u);
  EXPECT_EQ(offsetof(BlockQ5_1, qh), 4u);
  EXPECT_EQ(offsetof(BlockQ5_1, qs), 8u);
  EXPECT_EQ(offsetof(BlockQ8_0, qs), 2u);
  EXPECT_EQ(offsetof(BlockQ8_1, s), 2u);
  EXPECT_EQ(offsetof(BlockQ8_1, qs), 4u);
  for (GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                     GgmlType::kQ8_0, GgmlType::kQ8_1}) {
    EXPECT_EQ(BlockSize(t), 32) << TypeName(t);
    EXPECT_NE(GetLegacyQuantOps(t), nullptr) << TypeName(t);
  }
  EXPECT_EQ(GetLegacyQuantOps(GgmlType::kQ8_1)->dot, nullptr);  // activation-only
  EXPECT_EQ(GetLegacyQuantOps(GgmlType::kQ4_K), nullptr);
}

// ---- Hand-built blocks, as raw bytes in file order ------------------------------------------------

TEST(LegacyKnownBlocks, Q4_0) {
  std::vector<uint8_t> b(18);
  PutU16(b, 0, 0x3800);  // d = 0.5
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto x = Dequantize(GgmlType::kQ4_0, b, 32);
  EXPECT_EQ(x[0], -4.0f);   // low nibble 0: (0 - 8) * 0.5
  EXPECT_EQ(x[8], 0.0f);    // low nibble 8
  EXPECT_EQ(x[15], 3.5f);   // low nibble 15
  EXPECT_EQ(x[16], 3.5f);   // high nibble of byte 0 = 15
  EXPECT_EQ(x[31], -4.0f);  // high nibble of byte 15 = 0
  EXPECT_EQ(x[20], 1.5f);   // high nibble of byte 4 = 11
}

TEST(LegacyKnownBlocks, Q4_1) {
  std::vector<uint8_t> b(20);
  PutU16(b, 0, 0x3C00);  // d = 1
  PutU16(b, 2, 0xC000);  // m = -2
  for (int j = 0; j < 16; ++j) b[4 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto x = Dequantize(GgmlType::kQ4_1, b, 32);
  EXPECT_EQ(x[0], -2.0f);
  EXPECT_EQ(x[5], 3.0f);
  EXPECT_EQ(x[16], 13.0f);  // 15 - 2
  EXPECT_EQ(x[31], -2.0f);
}

TEST(LegacyKnownBlocks, Q5_0) {
  std::vector<uint8_t> b(22);
  PutU16(b, 0, 0x3400);  // d = 0.25
  b[2] = 0xF0;           // qh bytes: bits 4-7, 12-15, 20-23, 28-31 set
  b[3] = 0xF0;
  b[4] = 0xF0;
  b[5] = 0xF0;
  for (int j = 0; j < 16; ++j) b[6 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto x = Dequantize(GgmlType::kQ5_0, b, 32);
  EXPECT_EQ(x[0], -4.0f);   // q = 0: (0 - 16) * 0.25
  EXPECT_EQ(x[4], 1.0f);    // q = 4 | 16 = 20
  EXPECT_EQ(x[16], -0.25f); // q = 15, bit 16 clear
  EXPECT_EQ(x[20], 2.75f);  // q = 11 | 16 = 27
  EXPECT_EQ(x[31], 0.0f);   // q = 0 | 16 = 16
}

TEST(LegacyKnownBlocks, Q5_1) {
  std::vector<uint8_t> b(24);
  PutU16(b, 0, 0x4000);  // d = 2
  PutU16(b, 2, 0x3C00);  // m = 1
  b[4] = 0x01;           // only element 0 has bit 4
  b[7] = 0x80;           // and element 31
  for (int j = 0; j < 16; ++j) b[8 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto x = Dequantize(GgmlType::kQ5_1, b, 32);
  EXPECT_EQ(x[0], 33.0f);  // q = 16: 16 * 2 + 1
  EXPECT_EQ(x[1], 3.0f);   // q = 1
  EXPECT_EQ(x[16], 31.0f); // q = 15
  EXPECT_EQ(x[31], 33.0f); // q = 0 | 16
}

TEST(LegacyKnownBlocks, Q8_0AndQ8_1) {
  std::vector<uint8_t> b(34);
  PutU16(b, 0, 0x3C00);  // d = 1
  for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
  b[2 + 31] = 0x80;  // -128 is a legal weight byte
  auto x = Dequantize(GgmlType::kQ8_0, b, 32);
  EXPECT_EQ(x[0], -16.0f);
  EXPECT_EQ(x[17], 1.0f);
  EXPECT_EQ(x[31], -128.0f);

  std::vector<uint8_t> c(36);
  PutU16(c, 0, 0xB800);  // d = -0.5
  PutU16(c, 2, 0x7C00);  // s is not used by dequantization
  for (int j = 0; j < 32; ++j) c[4 + j] = static_cast<uint8_t>(j);
  x = Dequantize(GgmlType::kQ8_1, c, 32);
  EXPECT_EQ(x[0], -0.0f);
  EXPECT_EQ(x[3], -1.5f);
}

TEST(LegacyKnownBlocks, FloatTypes) {
  const std::vector<uint8_t> f16 = {0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00};
  auto x = Dequantize(GgmlType::kF16, f16, 4);
  EXPECT_EQ(x[0], 1.0f);
  EXPECT_EQ(x[1], -2.0f);
  EXPECT_EQ(x[2], 65504.0f);
  EXPECT_EQ(x[3], std::ldexp(1.0f, -24));
  const std::vector<uint8_t> bf16 = {0x80, 0x3F, 0x40, 0xC0};
  x = Dequantize(GgmlType::kBF16, bf16, 2);
  EXPECT_EQ(x[0], 1.0f);
  EXPECT_EQ(x[1], -3.0f);
}

// ---- Quantizer rounding as llama.cpp does it on x86 ---------------------------------------------

TEST(LegacyQuantize, Q8_0RoundsHalfToEvenLikeX86) {
  // amax = 127 makes the multiplier exactly 1, so the rounding of ties is visible. ggml's
  // reference (roundf) would give 3, 4, -3, 1, 2; the AVX2 path (and so the golden data) gives:
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = 3.5f;
  x[3] = -2.5f;
  x[4] = 0.5f;
  x[5] = 1.5f;
  x[6] = -127.0f;
  const auto b = Quantize(GgmlType::kQ8_0, x);
  BlockQ8_0 q;
  std::memcpy(&q, b.data(), sizeof q);
  EXPECT_EQ(q.d, 0x3C00);  // F16(127 / 127)
  EXPECT_EQ(q.qs[0], 127);
  EXPECT_EQ(q.qs[1], 2);
  EXPECT_EQ(q.qs[2], 4);
  EXPECT_EQ(q.qs[3], -2);
  EXPECT_EQ(q.qs[4], 0);
  EXPECT_EQ(q.qs[5], 2);
  EXPECT_EQ(q.qs[6], -127);
}

TEST(LegacyQuantize, Q8_1SumUsesFloatScale) {
  std::vector<float> x(32, 0.0f);
  x[0] = 1.0f;   // amax = 1: d = 1/127 (not exact in F16), id = 127
  x[1] = 0.5f;   // 63.5 -> 64 (tie to even)
  x[2] = -0.25f; // -31.75 -> -32
  const auto b = Quantize(GgmlType::kQ8_1, x);
  BlockQ8_1 q;
  std::memcpy(&q, b.data(), sizeof q);
  EXPECT_EQ(q.qs[0], 127);
  EXPECT_EQ(q.qs[1], 64);
  EXPECT_EQ(q.qs[2], -32);
  EXPECT_EQ(q.d, F32ToF16(1.0f / 127.0f));
  EXPECT_EQ(q.s, F32ToF16((1.0f / 127.0f) * 159.0f));  // d * (127 + 64 - 32), d in float
}

TEST(LegacyQuantize, ZeroBlocks) {
  const std::vector<float> zeros(64, 0.0f);
  for (GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                     GgmlType::kQ8_0, GgmlType::kQ8_1}) {
    const auto x = Dequantize(t, Quantize(t, zeros), 64);
    for (float v : x) EXPECT_EQ(v, 0.0f) << TypeName(t);
  }
}

TEST(LegacyQuantize, Q4_0UsesSignedMaxAsMinusEight) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j % 16) - 8.0f;  // max |x| is -8
  const auto b = Quantize(GgmlType::kQ4_0, x);
  BlockQ4_0 q;
  std::memcpy(&q, b.data(), sizeof q);
  EXPECT_EQ(q.d, 0x3C00);  // -8 / -8 = 1
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q.qs[j], j | (j << 4));
}

// ---- Round trips ----------------------------------------------------------------------------------

// Largest error a round trip may make for one element, given the block's values (ggml's
// quantizers, as mirrored by the reference):
//  Q8_0/Q8_1: |q*d16 - x| <= d/2 + 127*|d - d16| <= amax/127 * (0.5 + 127 * 2^-11), d = amax/127.
//  Q4_0/Q5_0: d = max/-L (L = 8, 16) maps max to q = 0; the opposite end can clamp at 2L-1, one
//             full step: error <= |d| + 2L*|d|*2^-11 (F16 scale) and <= |d|/2 + ... elsewhere.
//  Q4_1/Q5_1: d = (max-min)/L (L = 15, 31), error <= d/2 + L*d*2^-11 + |min|*2^-11.
double RoundTripBound(GgmlType t, const float* x) {
  float amax = 0, max = 0, mn = x[0], mx = x[0];
  for (int j = 0; j < 32; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
    mn = std::min(mn, x[j]);
    mx = std::max(mx, x[j]);
  }
  const double u = std::ldexp(1.0, -11);
  switch (t) {
    case GgmlType::kQ8_0:
    case GgmlType::kQ8_1: return amax / 127.0 * (0.5 + 127 * u) * 1.001;
    case GgmlType::kQ4_0: return std::fabs(max / 8.0) * (1 + 16 * u) * 1.001;
    case GgmlType::kQ5_0: return std::fabs(max / 16.0) * (1 + 32 * u) * 1.001;
    case GgmlType::kQ4_1: return ((mx - mn) / 15.0 * (0.5 + 15 * u) + std::fabs(mn) * u) * 1.001;
    case GgmlType::kQ5_1: return ((mx - mn) / 31.0 * (0.5 + 31 * u) + std::fabs(mn) * u) * 1.001;
    default: return 0;
  }
}

class LegacyRoundTrip : public ::testing::TestWithParam<GgmlType> {};

TEST_P(LegacyRoundTrip, ErrorWithinBound) {
  const GgmlType t = GetParam();
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 32 * 64;
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    // Vary the block scale and (for the *_1 types' sake) the offset from block to block.
    const int64_t blk = i / 32;
    x[static_cast<size_t>(i)] = normal(rng) * std::ldexp(1.0f, static_cast<int>(blk % 9) - 4) +
                                static_cast<float>(blk % 3) - 1.0f;
  }
  const auto y = Dequantize(t, Quantize(t, x), n);
  double err2 = 0, ref2 = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = x.data() + b * 32;
    const double bound = RoundTripBound(t, xb);
    for (int j = 0; j < 32; ++j) {
      const double e = std::fabs(static_cast<double>(y[b * 32 + j]) - xb[j]);
      EXPECT_LE(e, bound) << TypeName(t) << " block " << b << " element " << j;
      err2 += e * e;
      ref2 += static_cast<double>(xb[j]) * xb[j];
    }
  }
  // Sanity on the overall quality: relative RMS error of a b-bit quantizer is about 2^-b.
  const double rel = std::sqrt(err2 / ref2);
  const double expected = t == GgmlType::kQ8_0 || t == GgmlType::kQ8_1 ? 0.01
                          : t == GgmlType::kQ5_0 || t == GgmlType::kQ5_1 ? 0.05
                                                                          : 0.1;
  EXPECT_LT(rel, expected) << TypeName(t);
}

INSTANTIATE_TEST_SUITE_P(Blocks, LegacyRoundTrip,
                         ::testing::Values(GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0,
                                           GgmlType::kQ5_1, GgmlType::kQ8_0, GgmlType::kQ8_1),
                         [](const auto& info) { return std::string(TypeName(info.param)); });

TEST(LegacyRoundTripFloat, F32F16BF16) {
  std::mt19937 rng(99);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> x(1000);
  for (float& v : x) v = normal(rng);
  // F32 exact; F16 / BF16 round to nearest: relative error <= 2^-11 / 2^-8 (normal range).
  const auto f32 = Dequantize(GgmlType::kF32, Quantize(GgmlType::kF32, x), 1000);
  const auto f16 = Dequantize(GgmlType::kF16, Quantize(GgmlType::kF16, x), 1000);
  const auto bf16 = Dequantize(GgmlType::kBF16, Quantize(GgmlType::kBF16, x), 1000);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(f32[i], x[i]);
    if (std::fabs(x[i]) > 1e-4f) {
      EXPECT_LE(std::fabs(f16[i] - x[i]), std::ldexp(std::fabs(x[i]), -11));
    }
    EXPECT_LE(std::fabs(bf16[i] - x[i]), std::ldexp(std::fabs(x[i]), -8));
  }
}

// ---- Reference dot products -----------------------------------------------------------------------

class LegacyDot : public ::testing::TestWithParam<GgmlType> {};

// DotRow = sum over blocks of float((d_w*d_a)*sumi) (+ m_w*s_a). Compared with the exact sum of
// dequantized products; the *_1 types' s = F16(d_a*sum q_a) is the activation's own rounding, so
// their min term may differ from m*sum(deq(a)) by |m*s| * 2^-10 (s and d_a each F16-rounded).
TEST_P(LegacyDot, MatchesExactSumOfDequantizedProducts) {
  const GgmlType wt = GetParam();
  const GgmlType at = VecDotType(wt);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t n : {32, 64, 896, 4864}) {
    std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
    for (auto& v : wf) v = normal(rng) + 0.3f;
    for (auto& v : af) v = normal(rng);
    const auto w = Quantize(wt, wf);
    const auto a = Quantize(at, af);
    const auto wd = Dequantize(wt, w, n);
    const auto ad = Dequantize(at, a, n);
    double exact = 0, abs_sum = 0, min_terms = 0;
    for (int64_t i = 0; i < n; ++i) {
      exact += static_cast<double>(wd[i]) * ad[i];
      abs_sum += std::fabs(static_cast<double>(wd[i]) * ad[i]);
    }
    if (at == GgmlType::kQ8_1) {
      const auto* blocks = reinterpret_cast<const BlockQ8_1*>(a.data());
      const size_t stride = TypeSize(wt);
      for (int64_t b = 0; b < n / 32; ++b) {
        uint16_t m;
        std::memcpy(&m, w.data() + b * stride + 2, sizeof m);
        min_terms += std::fabs(static_cast<double>(F16ToF32(m)) * F16ToF32(blocks[b].s));
      }
    }
    const double nb = (at == GgmlType::kF32 || at == GgmlType::kF16 || at == GgmlType::kBF16) ? n : n / 32;
    const double bound = (nb + 4) * std::ldexp(1.0, -23) * (abs_sum + min_terms) + min_terms * std::ldexp(1.0, -9);
    const float got = DotRow(wt, w.data(), a.data(), n);
    EXPECT_NEAR(got, exact, bound) << TypeName(wt) << " n=" << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Weights, LegacyDot,
                         ::testing::Values(GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16,
                                           GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0,
                                           GgmlType::kQ5_1, GgmlType::kQ8_0),
                         [](const auto& info) { return std::string(TypeName(info.param)); });

TEST(LegacyDot, VecDotTypes) {
  EXPECT_EQ(VecDotType(GgmlType::kQ4_0), GgmlType::kQ8_0);
  EXPECT_EQ(VecDotType(GgmlType::kQ5_0), GgmlType::kQ8_0);
  EXPECT_EQ(VecDotType(GgmlType::kQ8_0), GgmlType::kQ8_0);
  EXPECT_EQ(VecDotType(GgmlType::kQ4_1), GgmlType::kQ8_1);
  EXPECT_EQ(VecDotType(GgmlType::kQ5_1), GgmlType::kQ8_1);
  EXPECT_EQ(VecDotType(GgmlType::kF16), GgmlType::kF16);
  EXPECT_EQ(VecDotType(GgmlType::kBF16), GgmlType::kBF16);
}

}  // namespace
}  // namespace bastion
