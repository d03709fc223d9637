// Tests of the decode-attention kernels (GetAttentionGemm, kernels/gemm_attention_avx512.cc):
// over many shapes — head sizes with and without a kernel of their own, ragged key blocks and
// tiles, more columns than one tile, rows interleaved with other heads' rows as in the KV cache —
// the results must be bit-identical to GetGemm(kF16) at the same level (the property the
// attention's batch-independence rests on) and close to the scalar reference. Weights end at an
// inaccessible page, so an over-read faults. Skipped on CPUs without AVX-512.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "kernels/gemm.h"
#include "kernels/guarded_buffer.h"

namespace bastion {
namespace {

using GuardedBytes = testing::GuardedBuffer;

// Runs one product with the attention kernel, GetGemm(kF16, level) and the scalar reference.
void Check(AttentionProduct product, int64_t k, int64_t nr, int64_t nc, size_t w_stride_elems, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << (product == AttentionProduct::kScores ? "scores" : "values") << " k=" << k
                                  << " nr=" << nr << " nc=" << nc << " w_stride=" << w_stride_elems);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const size_t w_stride = w_stride_elems * 2;
  const size_t w_bytes = (nr - 1) * w_stride + k * 2;  // the last row ends at the guard page
  GuardedBytes w(w_bytes);
  auto* wh = reinterpret_cast<uint16_t*>(w.data());
  for (size_t i = 0; i < w_bytes / 2; ++i) wh[i] = F32ToF16(dist(rng));
  const size_t a_stride = (k + 3) * 2;  // padded rows
  std::vector<uint16_t> a(nc * a_stride / 2);
  for (auto& x : a) x = F32ToF16(product == AttentionProduct::kValues ? std::fabs(dist(rng)) / 8 : dist(rng));

  const size_t y_stride = nr + 5;
  std::vector<float> got(nc * y_stride, -1.0f), same(got), ref(got);
  const SimdLevel level = SimdLevel::kAvx512;
  GetAttentionGemm(GgmlType::kF16, product, level)(k, w.data(), w_stride, nr, a.data(), a_stride, nc, got.data(), y_stride);
  GetGemm(GgmlType::kF16, level)(k, w.data(), w_stride, nr, a.data(), a_stride, nc, same.data(), y_stride);
  GetGemm(GgmlType::kF16, SimdLevel::kScalar)(k, w.data(), w_stride, nr, a.data(), a_stride, nc, ref.data(), y_stride);
  for (int64_t c = 0; c < nc; ++c) {
    for (size_t r = 0; r < y_stride; ++r) {
      const size_t i = c * y_stride + r;
      if (r >= static_cast<size_t>(nr)) {  // padding untouched
        ASSERT_EQ(got[i], -1.0f) << "c=" << c << " r=" << r;
        continue;
      }
      ASSERT_EQ(std::memcmp(&got[i], &same[i], sizeof(float)), 0)
          << "c=" << c << " r=" << r << ": " << got[i] << " vs GetGemm's " << same[i];
      // Two float summation orders of k exact products: a loose bound relative to the magnitudes.
      double mag = 0;
      for (int64_t j = 0; j < k; ++j) {
        mag += std::fabs(F16ToF32(wh[r * w_stride_elems + j]) * F16ToF32(a[c * a_stride / 2 + j]));
      }
      ASSERT_NEAR(got[i], ref[i], (2.0 * k + 64) * std::ldexp(1.0, -24) * mag + 1e-30) << "c=" << c << " r=" << r;
    }
  }
}

class AttentionGemmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (DetectSimdLevel() < SimdLevel::kAvx512) GTEST_SKIP() << "no AVX-512";
  }
};

TEST_F(AttentionGemmTest, ScoresMatchGenericKernelBitForBit) {
  uint32_t seed = 1;
  // head_dim 32/64/128 have kernels of their own; 48 and 80 take the generic path.
  for (int64_t k : {32, 64, 128, 48, 80}) {
    for (int64_t nr : {1, 5, 16, 17, 47, 257}) {
      for (int64_t nc : {1, 2, 7, 8, 14, 17}) {
        Check(AttentionProduct::kScores, k, nr, nc, /*interleaved with another head*/ 2 * k, seed++);
      }
    }
  }
  Check(AttentionProduct::kScores, 64, 300, 7, 64, seed++);  // dense rows
}

TEST_F(AttentionGemmTest, ValuesMatchGenericKernelBitForBit) {
  uint32_t seed = 100;
  for (int64_t k : {1, 15, 16, 17, 100, 1000, 4097}) {
    for (int64_t nr : {1, 2, 3, 16}) {
      for (int64_t nc : {1, 5, 7, 8, 9, 14}) {
        Check(AttentionProduct::kValues, k, nr, nc, /*a row of a longer cache*/ k + 40, seed++);
      }
    }
  }
}

TEST(AttentionGemm, OtherTypesAndLevelsAreTheGenericKernel) {
  EXPECT_EQ(GetAttentionGemm(GgmlType::kF32, AttentionProduct::kScores, SimdLevel::kAvx512),
            GetGemm(GgmlType::kF32, SimdLevel::kAvx512));
  EXPECT_EQ(GetAttentionGemm(GgmlType::kF16, AttentionProduct::kValues, SimdLevel::kScalar),
            GetGemm(GgmlType::kF16, SimdLevel::kScalar));
}

}  // namespace
}  // namespace bastion
