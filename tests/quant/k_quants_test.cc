// K-quant reference tests: bit layouts against independently written decoders (structured the
// way llama.cpp's dequantize_row_qN_K loops are), literal scale encodings decoded by hand, Q8_K
// quantization rules, quantize -> dequantize error bounds, and the integer dot products against a
// float dot of the dequantized rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "quant/blocks.h"
#include "quant/k_quants_internal.h"
#include "quant/quantize.h"
#include "quant/types.h"

namespace bastion {
namespace {

constexpr GgmlType kWeightTypes[] = {GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K,
                                     GgmlType::kQ5_K, GgmlType::kQ6_K};

// Random block bytes with the F16 scale fields replaced by modest finite values.
template <typename Block>
Block RandomBlock(std::mt19937& rng) {
  Block b;
  auto* bytes = reinterpret_cast<uint8_t*>(&b);
  for (size_t i = 0; i < sizeof b; ++i) bytes[i] = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> dist(-0.05f, 0.05f);
  b.d = F32ToF16(dist(rng));
  if constexpr (requires { b.dmin; }) b.dmin = F32ToF16(dist(rng));
  return b;
}

// ---- Independent decoders (llama.cpp loop structure) ------------------------------------------

std::vector<float> ModelQ2K(const BlockQ2_K& x) {
  std::vector<float> y;
  const float d = F16ToF32(x.d), dmin = F16ToF32(x.dmin);
  const uint8_t* q = x.qs;
  int is = 0;
  for (int n = 0; n < 256; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const uint8_t sc = x.scales[is++];
        const float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
        for (int l = 0; l < 16; ++l) y.push_back(dl * ((q[l + 16 * half] >> shift) & 3) - ml);
      }
    }
    q += 32;
  }
  return y;
}

std::vector<float> ModelQ3K(const BlockQ3_K& x) {
  // Scale decode via the 32-bit masks trick rather than per-scale bit picking.
  uint32_t aux[4];
  std::memcpy(aux, x.scales, 12);
  const uint32_t tmp = aux[2], m1 = 0x03030303u, m2 = 0x0f0f0f0fu;
  aux[2] = ((aux[0] >> 4) & m2) | (((tmp >> 4) & m1) << 4);
  aux[3] = ((aux[1] >> 4) & m2) | (((tmp >> 6) & m1) << 4);
  aux[0] = (aux[0] & m2) | (((tmp >> 0) & m1) << 4);
  aux[1] = (aux[1] & m2) | (((tmp >> 2) & m1) << 4);
  int8_t scales[16];
  std::memcpy(scales, aux, 16);
  std::vector<float> y;
  const float d = F16ToF32(x.d);
  const uint8_t* q = x.qs;
  uint8_t m = 1;
  int is = 0;
  for (int n = 0; n < 256; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const float dl = d * static_cast<float>(scales[is++] - 32);
        for (int l = 16 * half; l < 16 * half + 16; ++l) {
          const int v = ((q[l] >> shift) & 3) - ((x.hmask[l] & m) ? 0 : 4);
          y.push_back(dl * static_cast<float>(v));
        }
      }
      m = static_cast<uint8_t>(m << 1);
    }
    q += 32;
  }
  return y;
}

void ModelScaleMinK4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

template <typename Block>
std::vector<float> ModelQ45K(const Block& x, bool five) {
  std::vector<float> y;
  const float d = F16ToF32(x.d), dmin = F16ToF32(x.dmin);
  const uint8_t* ql = x.qs;
  int is = 0;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < 256; j += 64) {
    uint8_t sc, mn;
    ModelScaleMinK4(is + 0, x.scales, &sc, &mn);
    const float d1 = d * sc, m1 = dmin * mn;
    ModelScaleMinK4(is + 1, x.scales, &sc, &mn);
    const float d2 = d * sc, m2 = dmin * mn;
    for (int l = 0; l < 32; ++l) {
      int v = ql[l] & 0xF;
      if constexpr (requires { x.qh; }) v += (five && (x.qh[l] & u1)) ? 16 : 0;
      y.push_back(d1 * static_cast<float>(v) - m1);
    }
    for (int l = 0; l < 32; ++l) {
      int v = ql[l] >> 4;
      if constexpr (requires { x.qh; }) v += (five && (x.qh[l] & u2)) ? 16 : 0;
      y.push_back(d2 * static_cast<float>(v) - m2);
    }
    ql += 32;
    is += 2;
    u1 = static_cast<uint8_t>(u1 << 2);
    u2 = static_cast<uint8_t>(u2 << 2);
  }
  return y;
}

std::vector<float> ModelQ6K(const BlockQ6_K& x) {
  std::vector<float> y(256);
  const float d = F16ToF32(x.d);
  const uint8_t* ql = x.ql;
  const uint8_t* qh = x.qh;
  const int8_t* sc = x.scales;
  for (int n = 0; n < 256; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[n + l] = d * sc[is + 0] * q1;
      y[n + l + 32] = d * sc[is + 2] * q2;
      y[n + l + 64] = d * sc[is + 4] * q3;
      y[n + l + 96] = d * sc[is + 6] * q4;
    }
    ql += 64;
    qh += 32;
    sc += 8;
  }
  return y;
}

template <typename Block, typename Model>
void CheckAgainstModel(GgmlType type, Model model) {
  std::mt19937 rng(1234 + static_cast<int>(type));
  for (int trial = 0; trial < 200; ++trial) {
    const Block block = RandomBlock<Block>(rng);
    const std::vector<float> want = model(block);
    std::vector<float> got(256);
    DequantizeRow(type, &block, got.data(), 256);
    for (int e = 0; e < 256; ++e) {
      ASSERT_EQ(got[e], want[e]) << TypeName(type) << " trial " << trial << " element " << e;
    }
  }
}

TEST(KQuantLayout, Q2KMatchesModel) { CheckAgainstModel<BlockQ2_K>(GgmlType::kQ2_K, ModelQ2K); }
TEST(KQuantLayout, Q3KMatchesModel) { CheckAgainstModel<BlockQ3_K>(GgmlType::kQ3_K, ModelQ3K); }
TEST(KQuantLayout, Q4KMatchesModel) {
  CheckAgainstModel<BlockQ4_K>(GgmlType::kQ4_K, [](const BlockQ4_K& b) { return ModelQ45K(b, false); });
}
TEST(KQuantLayout, Q5KMatchesModel) {
  CheckAgainstModel<BlockQ5_K>(GgmlType::kQ5_K, [](const BlockQ5_K& b) { return ModelQ45K(b, true); });
}
TEST(KQuantLayout, Q6KMatchesModel) { CheckAgainstModel<BlockQ6_K>(GgmlType::kQ6_K, ModelQ6K); }

// ---- Literal encodings decoded by hand ---------------------------------------------------------

TEST(KQuantLayout, Q4KScaleMinLiteral) {
  // scales {1,2,3,4,33,45,62,63}, mins {5,6,7,8,17,29,48,60}, packed by hand.
  const uint8_t packed[12] = {129, 130, 195, 196, 69, 70, 199, 200, 17, 221, 14, 207};
  uint8_t sc[8], mn[8];
  kquant::UnpackScaleMinK4(packed, sc, mn);
  const uint8_t want_sc[8] = {1, 2, 3, 4, 33, 45, 62, 63};
  const uint8_t want_mn[8] = {5, 6, 7, 8, 17, 29, 48, 60};
  for (int j = 0; j < 8; ++j) {
    EXPECT_EQ(sc[j], want_sc[j]) << j;
    EXPECT_EQ(mn[j], want_mn[j]) << j;
  }
  uint8_t repacked[12];
  kquant::PackScaleMinK4(want_sc, want_mn, repacked);
  EXPECT_EQ(std::memcmp(repacked, packed, 12), 0);

  // A whole block: d = 1, dmin = 0.5; element 0 is the low nibble of qs[0] (sub-block 0),
  // element 32 the high nibble of qs[0] (sub-block 1), element 224 the high nibble of qs[96].
  BlockQ4_K b{};
  b.d = F32ToF16(1.0f);
  b.dmin = F32ToF16(0.5f);
  std::memcpy(b.scales, packed, 12);
  b.qs[0] = 0x7A;   // e0 = 10, e32 = 7
  b.qs[96] = 0xF3;  // e192 = 3, e224 = 15
  float y[256];
  DequantizeRow(GgmlType::kQ4_K, &b, y, 256);
  EXPECT_EQ(y[0], 1.0f * 10 - 0.5f * 5);
  EXPECT_EQ(y[32], 2.0f * 7 - 0.5f * 6);
  EXPECT_EQ(y[192], 62.0f * 3 - 0.5f * 48);
  EXPECT_EQ(y[224], 63.0f * 15 - 0.5f * 60);
  EXPECT_EQ(y[1], -0.5f * 5);
}

TEST(KQuantLayout, Q3KScalesLiteral) {
  const uint8_t packed[12] = {0xA5, 0xA5, 0xA5, 0xA5, 0xA5, 0xA5, 0xA5, 0xA5, 0xE4, 0x00, 0xFF, 0x1B};
  int8_t sc[16];
  kquant::UnpackScalesQ3K(packed, sc);
  EXPECT_EQ(sc[0], -27);
  EXPECT_EQ(sc[1], -27);
  EXPECT_EQ(sc[2], 21);
  EXPECT_EQ(sc[3], 21);
  EXPECT_EQ(sc[4], -11);
  EXPECT_EQ(sc[7], 5);
  EXPECT_EQ(sc[8], 10);
  EXPECT_EQ(sc[11], -6);
  EXPECT_EQ(sc[12], 26);
  EXPECT_EQ(sc[15], -22);
  uint8_t repacked[12];
  kquant::PackScalesQ3K(sc, repacked);
  EXPECT_EQ(std::memcmp(repacked, packed, 12), 0);

  // hmask: element 0 uses bit 0 of hmask[0], element 32 bit 1, element 128 bit 4.
  BlockQ3_K b{};
  b.d = F32ToF16(1.0f);
  std::memcpy(b.scales, packed, 12);
  b.qs[0] = 0b00000110;  // e0 = 2, e32 = 1, e64 = 0, e96 = 0
  b.qs[32] = 0b11000000; // e128 = 0, e224 = 3
  b.hmask[0] = 0b10010001;  // e0 and e128 and e224 have the high bit set
  float y[256];
  DequantizeRow(GgmlType::kQ3_K, &b, y, 256);
  EXPECT_EQ(y[0], -27.0f * 2);          // (2 | 4) - 4 = 2, scale group 0
  EXPECT_EQ(y[32], 21.0f * (1 - 4));    // group 2
  EXPECT_EQ(y[128], 10.0f * 0);         // group 8, (0 | 4) - 4
  EXPECT_EQ(y[224], 26.0f * 3);         // group 14, (3 | 4) - 4
}

TEST(KQuantLayout, Q6KLiteral) {
  BlockQ6_K b{};
  b.d = F32ToF16(1.0f);
  for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<int8_t>(g - 8);
  b.ql[0] = 0x3A;   // e0 low nibble 10, e64 low nibble 3
  b.ql[32] = 0x5C;  // e32 low nibble 12, e96 low nibble 5
  b.qh[0] = 0xE4;   // bits: e0 -> 0, e32 -> 1, e64 -> 2, e96 -> 3
  b.ql[64] = 0x01;  // e128 low nibble 1
  b.qh[32] = 0x03;  // e128 high bits 3
  float y[256];
  DequantizeRow(GgmlType::kQ6_K, &b, y, 256);
  EXPECT_EQ(y[0], -8.0f * (10 - 32));
  EXPECT_EQ(y[32], -6.0f * (12 + 16 - 32));
  EXPECT_EQ(y[64], -4.0f * (3 + 32 - 32));
  EXPECT_EQ(y[96], -2.0f * (5 + 48 - 32));
  EXPECT_EQ(y[128], 0.0f * (1 + 48 - 32));
  EXPECT_EQ(y[1], -8.0f * -32);
}

// ---- Q8_K activation quantization --------------------------------------------------------------

TEST(Q8K, RoundsHalfToEvenWithUnitScale) {
  float x[256];
  x[0] = -127.0f;  // largest magnitude, negative: iscale = -127 / -127 = 1 exactly
  for (int i = 1; i < 256; ++i) x[i] = static_cast<float>((i % 64) - 32) + 0.5f;
  BlockQ8_K b;
  QuantizeRow(GgmlType::kQ8_K, x, &b, 256);
  EXPECT_EQ(b.d, 1.0f);
  EXPECT_EQ(b.qs[0], -127);
  for (int i = 1; i < 256; ++i) {
    EXPECT_EQ(b.qs[i], static_cast<int>(std::nearbyint(x[i]))) << i;  // ties to even
  }
  for (int g = 0; g < 16; ++g) {
    int s = 0;
    for (int i = 0; i < 16; ++i) s += b.qs[16 * g + i];
    EXPECT_EQ(b.bsums[g], s);
  }
}

TEST(Q8K, FirstLargestMagnitudeSetsTheSign) {
  float x[256] = {};
  x[3] = 2.0f;
  x[10] = -2.0f;  // same magnitude, later: ignored for the sign
  x[20] = 1.0f;
  BlockQ8_K b;
  QuantizeRow(GgmlType::kQ8_K, x, &b, 256);
  const float iscale = -127.0f / 2.0f;
  EXPECT_EQ(b.d, 1.0f / iscale);
  EXPECT_EQ(b.qs[3], -127);
  EXPECT_EQ(b.qs[10], 127);
  EXPECT_EQ(b.qs[20], -64);  // -63.5 rounds to even
  EXPECT_EQ(b.bsums[0], 0);  // -127 + 127
  EXPECT_EQ(b.bsums[1], -64);
}

TEST(Q8K, ZeroBlock) {
  std::vector<float> x(512, 0.0f);
  x[300] = 3.0f;
  std::vector<BlockQ8_K> b(2);
  std::memset(b.data(), 0x5A, 2 * sizeof(BlockQ8_K));
  QuantizeRow(GgmlType::kQ8_K, x.data(), b.data(), 512);
  EXPECT_EQ(b[0].d, 0.0f);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(b[0].qs[i], 0);
  for (int g = 0; g < 16; ++g) EXPECT_EQ(b[0].bsums[g], 0);
  EXPECT_EQ(b[1].qs[44], -127);
}

// ---- Round trips -------------------------------------------------------------------------------

// Relative RMS error of quantize -> dequantize on Gaussian rows, and the bound we hold each type
// to. Measured: Q2_K 0.269, Q3_K 0.144, Q4_K 0.072, Q5_K 0.036, Q6_K 0.017, Q8_K 0.0069.
struct RoundTripCase {
  GgmlType type;
  double max_rel_rmse;
};

TEST(KQuantRoundTrip, GaussianErrorWithinBounds) {
  const RoundTripCase cases[] = {{GgmlType::kQ2_K, 0.30}, {GgmlType::kQ3_K, 0.16},
                                 {GgmlType::kQ4_K, 0.08}, {GgmlType::kQ5_K, 0.04},
                                 {GgmlType::kQ6_K, 0.02}, {GgmlType::kQ8_K, 0.008}};
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const int n = 256 * 64;
  std::vector<float> x(n), y(n);
  for (float& v : x) v = dist(rng);
  for (const auto& c : cases) {
    std::vector<uint8_t> q(RowBytes(c.type, n));
    QuantizeRow(c.type, x.data(), q.data(), n);
    DequantizeRow(c.type, q.data(), y.data(), n);
    double err = 0, ref = 0;
    for (int i = 0; i < n; ++i) {
      err += (y[i] - x[i]) * static_cast<double>(y[i] - x[i]);
      ref += x[i] * static_cast<double>(x[i]);
    }
    const double rel = std::sqrt(err / ref);
    EXPECT_LT(rel, c.max_rel_rmse) << TypeName(c.type);
    RecordProperty(TypeName(c.type), std::to_string(rel));
    std::printf("%s relative RMSE %.4f (bound %.3f)\n", TypeName(c.type), rel, c.max_rel_rmse);
  }
}

TEST(KQuantRoundTrip, EdgeRows) {
  // Constant, all-zero, all-positive and one-spike rows must quantize without NaN and keep the
  // spike's sign and rough size.
  const int n = 256;
  std::vector<std::vector<float>> rows(4, std::vector<float>(n, 0.0f));
  for (int i = 0; i < n; ++i) rows[0][i] = 0.25f;
  for (int i = 0; i < n; ++i) rows[2][i] = 1.0f + static_cast<float>(i) / n;
  rows[3][77] = -5.0f;
  for (GgmlType t : kWeightTypes) {
    for (size_t r = 0; r < rows.size(); ++r) {
      std::vector<uint8_t> q(RowBytes(t, n));
      std::vector<float> y(n);
      QuantizeRow(t, rows[r].data(), q.data(), n);
      DequantizeRow(t, q.data(), y.data(), n);
      double max_err = 0, max_abs = 0;
      for (int i = 0; i < n; ++i) {
        ASSERT_TRUE(std::isfinite(y[i])) << TypeName(t) << " row " << r;
        max_err = std::max(max_err, std::fabs(static_cast<double>(y[i]) - rows[r][i]));
        max_abs = std::max(max_abs, std::fabs(static_cast<double>(rows[r][i])));
      }
      EXPECT_LE(max_err, 0.5 * max_abs + 1e-6) << TypeName(t) << " row " << r;
    }
  }
}

// ---- Dot products vs dequantized float dots ----------------------------------------------------

TEST(KQuantDot, MatchesDequantizedDot) {
  std::mt19937 rng(99);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const int n = 256 * 19;
  std::vector<float> w(n), a(n), wd(n), ad(n);
  for (GgmlType t : kWeightTypes) {
    for (int trial = 0; trial < 8; ++trial) {
      for (float& v : w) v = dist(rng);
      for (float& v : a) v = dist(rng) * (trial % 2 ? 10.0f : 0.01f);
      std::vector<uint8_t> wq(RowBytes(t, n)), aq(RowBytes(GgmlType::kQ8_K, n));
      QuantizeRow(t, w.data(), wq.data(), n);
      QuantizeRow(GgmlType::kQ8_K, a.data(), aq.data(), n);
      DequantizeRow(t, wq.data(), wd.data(), n);
      DequantizeRow(GgmlType::kQ8_K, aq.data(), ad.data(), n);
      double ref = 0, mag = 0;
      for (int i = 0; i < n; ++i) {
        ref += static_cast<double>(wd[i]) * ad[i];
        mag += std::fabs(static_cast<double>(wd[i]) * ad[i]);
      }
      const float got = DotRow(t, wq.data(), aq.data(), n);
      // Float rounding only: a few ulps per block of the magnitude sum.
      EXPECT_NEAR(got, ref, 4e-6 * mag) << TypeName(t) << " trial " << trial;
    }
  }
}

TEST(KQuantDot, RandomBlocksMatchDequantizedDot) {
  // Random bytes reach every scale/min/quant value, including Q6_K scale -128 and Q3_K -32.
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> a(256), ad(256), wd(256);
  auto check = [&](GgmlType t, const void* block) {
    for (float& v : a) v = dist(rng);
    BlockQ8_K aq;
    QuantizeRow(GgmlType::kQ8_K, a.data(), &aq, 256);
    DequantizeRow(t, block, wd.data(), 256);
    DequantizeRow(GgmlType::kQ8_K, &aq, ad.data(), 256);
    double ref = 0, mag = 0;
    for (int i = 0; i < 256; ++i) {
      ref += static_cast<double>(wd[i]) * ad[i];
      mag += std::fabs(static_cast<double>(wd[i]) * ad[i]);
    }
    // Q2_K/Q4_K/Q5_K subtract the mins in a separate term, so allow for cancellation.
    EXPECT_NEAR(DotRow(t, block, &aq, 256), ref, 1e-5 * mag + 1e-6) << TypeName(t);
  };
  for (int trial = 0; trial < 100; ++trial) {
    const auto b2 = RandomBlock<BlockQ2_K>(rng);
    check(GgmlType::kQ2_K, &b2);
    const auto b3 = RandomBlock<BlockQ3_K>(rng);
    check(GgmlType::kQ3_K, &b3);
    const auto b4 = RandomBlock<BlockQ4_K>(rng);
    check(GgmlType::kQ4_K, &b4);
    const auto b5 = RandomBlock<BlockQ5_K>(rng);
    check(GgmlType::kQ5_K, &b5);
    const auto b6 = RandomBlock<BlockQ6_K>(rng);
    check(GgmlType::kQ6_K, &b6);
  }
}

TEST(KQuantOps, Q8KHasNoDot) {
  ASSERT_NE(GetKQuantOps(GgmlType::kQ8_K), nullptr);
  EXPECT_EQ(GetKQuantOps(GgmlType::kQ8_K)->dot, nullptr);
  EXPECT_EQ(GetKQuantOps(GgmlType::kQ4_0), nullptr);
  for (GgmlType t : kWeightTypes) EXPECT_NE(GetKQuantOps(t)->dot, nullptr);
}

}  // namespace
}  // namespace bastion
