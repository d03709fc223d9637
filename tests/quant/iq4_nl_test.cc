// IQ4_NL: layout on a hand-built block, quantizer error, reference dot, SIMD kernel vs scalar.
#include "quant/iq4_nl.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "base/half.h"
#include "kernels/gemm.h"
#include "quant/blocks.h"
#include "quant/quantize.h"

namespace bastion {
namespace {

TEST(Iq4Nl, HandBuiltBlockDequantizes) {
  BlockIQ4_NL b{};
  b.d = F32ToF16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float out[32];
  DequantizeRow(GgmlType::kIQ4_NL, &b, out, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], 0.5f * kIq4NlLevels[j]);            // low nibble: element j
    EXPECT_EQ(out[j + 16], 0.5f * kIq4NlLevels[15 - j]);  // high nibble: element j + 16
  }
  EXPECT_EQ(TypeSize(GgmlType::kIQ4_NL), 18u);
  EXPECT_EQ(VecDotType(GgmlType::kIQ4_NL), GgmlType::kQ8_0);
}

std::vector<float> Gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(Iq4Nl, QuantizeRoundTripError) {
  const int64_t n = 4096;
  const auto x = Gaussian(n, 1);
  std::vector<uint8_t> q(RowBytes(GgmlType::kIQ4_NL, n));
  std::vector<float> back(n);
  QuantizeRow(GgmlType::kIQ4_NL, x.data(), q.data(), n);
  DequantizeRow(GgmlType::kIQ4_NL, q.data(), back.data(), n);
  double err = 0, ref = 0;
  for (int64_t i = 0; i < n; ++i) {
    err += (x[i] - back[i]) * (x[i] - back[i]);
    ref += x[i] * x[i];
  }
  // 4-bit non-linear levels on Gaussian data: relative RMS error about 0.1 (Q4_0 gives ~0.12).
  EXPECT_LT(std::sqrt(err / ref), 0.12);
}

TEST(Iq4Nl, DotMatchesDequantizedProduct) {
  const int64_t n = 896;
  const auto w = Gaussian(n, 2), a = Gaussian(n, 3);
  std::vector<uint8_t> wq(RowBytes(GgmlType::kIQ4_NL, n)), aq(RowBytes(GgmlType::kQ8_0, n));
  QuantizeRow(GgmlType::kIQ4_NL, w.data(), wq.data(), n);
  QuantizeRow(GgmlType::kQ8_0, a.data(), aq.data(), n);
  std::vector<float> wd(n), ad(n);
  DequantizeRow(GgmlType::kIQ4_NL, wq.data(), wd.data(), n);
  DequantizeRow(GgmlType::kQ8_0, aq.data(), ad.data(), n);
  double exact = 0, mag = 0;
  for (int64_t i = 0; i < n; ++i) {
    exact += static_cast<double>(wd[i]) * ad[i];
    mag += std::fabs(static_cast<double>(wd[i]) * ad[i]);
  }
  // Integer sums are exact; only the per-block float products and the running sum round.
  EXPECT_NEAR(DotRow(GgmlType::kIQ4_NL, wq.data(), aq.data(), n), exact, 1e-6 * mag);
}

TEST(Iq4Nl, SimdKernelsMatchScalar) {
  const int64_t k = 896, nr = 37, nc = 5;
  const auto w = Gaussian(k * nr, 4), a = Gaussian(k * nc, 5);
  const size_t wrow = RowBytes(GgmlType::kIQ4_NL, k), arow = RowBytes(GgmlType::kQ8_0, k);
  std::vector<uint8_t> wq(wrow * nr), aq(arow * nc);
  for (int64_t r = 0; r < nr; ++r) QuantizeRow(GgmlType::kIQ4_NL, &w[r * k], &wq[r * wrow], k);
  for (int64_t c = 0; c < nc; ++c) QuantizeRow(GgmlType::kQ8_0, &a[c * k], &aq[c * arow], k);
  std::vector<float> ref(nr * nc), got(nr * nc);
  GetGemm(GgmlType::kIQ4_NL, SimdLevel::kScalar)(k, wq.data(), wrow, nr, aq.data(), arow, nc, ref.data(), nr);
  for (int l = 1; l <= static_cast<int>(DetectSimdLevel()); ++l) {
    const auto level = static_cast<SimdLevel>(l);
    GetGemm(GgmlType::kIQ4_NL, level)(k, wq.data(), wrow, nr, aq.data(), arow, nc, got.data(), nr);
    for (int64_t i = 0; i < nr * nc; ++i) {
      // Same integer block sums; float summation order differs: bound by blocks * eps * |sum|.
      EXPECT_NEAR(got[i], ref[i], 28 * 1.2e-7 * (std::fabs(ref[i]) + 1.0)) << SimdLevelName(level) << " " << i;
    }
  }
}

}  // namespace
}  // namespace bastion
