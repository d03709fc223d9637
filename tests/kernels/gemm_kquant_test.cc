// K-quant SIMD kernels against the scalar reference: every weight type at every SIMD level the
// CPU has, over shapes that hit the row and column kernels, their register tiles and every ragged
// edge (nr, nc not multiples of the tiles, nc = 1, k = 256 and k = 4864), with padded strides.
// Also the Q8_K activation quantizers, which must be bit-identical at every level.
//
// Error bound: integer parts are exact at every level, so results differ only by float rounding
// of the per-super-block products d*y.d*isum and of the summation. Both sides err by at most
// about (blocks + 8) * eps * S, where S = sum over elements of |weight term| * |activation| (the
// magnitudes the float products and sums carry), so we allow 3 * (blocks + 8) * eps * S.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "kernels/gemm.h"
#include "kernels/gemm_kquant_internal.h"
#include "quant/blocks.h"
#include "quant/quantize.h"
#include "quant/types.h"

namespace bastion {
namespace {

constexpr GgmlType kWeightTypes[] = {GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K,
                                     GgmlType::kQ5_K, GgmlType::kQ6_K};

std::vector<SimdLevel> SimdLevels() {
  std::vector<SimdLevel> levels;
  const SimdLevel best = DetectSimdLevel();
  if (static_cast<int>(best) >= static_cast<int>(SimdLevel::kAvx2)) levels.push_back(SimdLevel::kAvx2);
  if (static_cast<int>(best) >= static_cast<int>(SimdLevel::kAvx512)) levels.push_back(SimdLevel::kAvx512);
  return levels;
}

// Sets a block's F16 scale fields to finite values of either sign.
void SaneScales(GgmlType t, uint8_t* block, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-0.02f, 0.02f);
  auto set = [&](size_t offset) {
    const uint16_t h = F32ToF16(dist(rng));
    std::memcpy(block + offset, &h, 2);
  };
  switch (t) {
    case GgmlType::kQ2_K: set(offsetof(BlockQ2_K, d)); set(offsetof(BlockQ2_K, dmin)); break;
    case GgmlType::kQ3_K: set(offsetof(BlockQ3_K, d)); break;
    case GgmlType::kQ4_K: set(offsetof(BlockQ4_K, d)); set(offsetof(BlockQ4_K, dmin)); break;
    case GgmlType::kQ5_K: set(offsetof(BlockQ5_K, d)); set(offsetof(BlockQ5_K, dmin)); break;
    case GgmlType::kQ6_K: set(offsetof(BlockQ6_K, d)); break;
    default: FAIL();
  }
}

// |value| of each weight term: for types with mins, d*s*q and dmin*m are made both positive by
// flipping signs so the dequantized value is the sum of their magnitudes.
std::vector<float> WeightMagnitudes(GgmlType t, const uint8_t* row, int64_t k) {
  const size_t bytes = RowBytes(t, k);
  std::vector<uint8_t> copy(row, row + bytes);
  size_t d_off = 0, dmin_off = 0;
  bool has_min = false;
  switch (t) {
    case GgmlType::kQ2_K: d_off = offsetof(BlockQ2_K, d); dmin_off = offsetof(BlockQ2_K, dmin); has_min = true; break;
    case GgmlType::kQ4_K: d_off = offsetof(BlockQ4_K, d); dmin_off = offsetof(BlockQ4_K, dmin); has_min = true; break;
    case GgmlType::kQ5_K: d_off = offsetof(BlockQ5_K, d); dmin_off = offsetof(BlockQ5_K, dmin); has_min = true; break;
    default: break;
  }
  if (has_min) {
    const size_t bs = TypeSize(t);
    for (size_t off = 0; off < bytes; off += bs) {
      uint16_t d, dmin;
      std::memcpy(&d, &copy[off + d_off], 2);
      std::memcpy(&dmin, &copy[off + dmin_off], 2);
      d &= 0x7fff;
      dmin |= 0x8000;
      std::memcpy(&copy[off + d_off], &d, 2);
      std::memcpy(&copy[off + dmin_off], &dmin, 2);
    }
  }
  std::vector<float> out(k);
  DequantizeRow(t, copy.data(), out.data(), k);
  for (float& v : out) v = std::fabs(v);
  return out;
}

struct Shape {
  int64_t k, nr, nc;
};

// Row kernels (nc < 6 at AVX-512), column kernels (16-column groups, 4-row tiles), AVX2's row
// lanes (16+ columns: 8-row groups, 4-column tiles, leftovers of 1-3 columns) and their edges.
constexpr Shape kShapes[] = {
    {256, 1, 1},   {256, 3, 1},   {256, 4, 1},   {256, 5, 1},   {512, 9, 1},    {4864, 7, 1},
    {4864, 16, 1}, {256, 2, 2},   {256, 5, 2},   {256, 7, 3},   {512, 3, 4},    {768, 6, 5},
    {256, 1, 6},   {256, 5, 7},   {256, 13, 16}, {512, 17, 17}, {256, 6, 31},   {256, 4, 32},
    {256, 3, 33},  {4864, 9, 2},  {4864, 5, 33}, {4864, 6, 64}, {256, 2, 65},   {512, 33, 8},
    {1024, 11, 48}, {256, 1, 100}, {512, 9, 18},
};

class KQuantGemmTest : public ::testing::TestWithParam<GgmlType> {};

void RunShape(GgmlType t, const Shape& s, std::mt19937& rng, bool random_bytes) {
  const size_t row_bytes = RowBytes(t, s.k);
  const size_t w_stride = row_bytes + (s.nr % 2 ? 0 : 48);
  const size_t act_bytes = RowBytes(GgmlType::kQ8_K, s.k);
  const size_t a_stride = act_bytes + (s.nc % 3 ? 0 : 20);
  const size_t y_stride = static_cast<size_t>(s.nr) + (s.nc % 2 ? 3 : 0);
  std::normal_distribution<float> normal(0.0f, 1.0f);

  std::vector<uint8_t> w(w_stride * s.nr + 64, 0xCD);
  std::vector<float> row(s.k);
  for (int64_t r = 0; r < s.nr; ++r) {
    uint8_t* dst = w.data() + r * w_stride;
    if (random_bytes) {
      for (size_t i = 0; i < row_bytes; ++i) dst[i] = static_cast<uint8_t>(rng());
      for (size_t off = 0; off < row_bytes; off += TypeSize(t)) SaneScales(t, dst + off, rng);
    } else {
      for (float& v : row) v = normal(rng) * 0.05f;
      QuantizeRow(t, row.data(), dst, s.k);
    }
  }
  std::vector<uint8_t> a(a_stride * s.nc + 64, 0xEF);
  for (int64_t c = 0; c < s.nc; ++c) {
    const float scale = std::ldexp(1.0f, static_cast<int>(c % 7) - 3);
    for (float& v : row) v = normal(rng) * scale;
    if (c % 5 == 1) std::fill(row.begin(), row.begin() + 256, 0.0f);  // an all-zero block
    if (c % 4 == 2) row[s.k / 2] = 100.0f * scale;                     // a spike
    QuantizeRow(GgmlType::kQ8_K, row.data(), a.data() + c * a_stride, s.k);
  }

  std::vector<float> ref(y_stride * s.nc, NAN);
  const GemmFn scalar = GetGemm(t, SimdLevel::kScalar);
  scalar(s.k, w.data(), w_stride, s.nr, a.data(), a_stride, s.nc, ref.data(), y_stride);

  std::vector<std::vector<float>> wmag(s.nr);
  for (int64_t r = 0; r < s.nr; ++r) wmag[r] = WeightMagnitudes(t, w.data() + r * w_stride, s.k);
  std::vector<std::vector<float>> amag(s.nc, std::vector<float>(s.k));
  for (int64_t c = 0; c < s.nc; ++c) {
    DequantizeRow(GgmlType::kQ8_K, a.data() + c * a_stride, amag[c].data(), s.k);
    for (float& v : amag[c]) v = std::fabs(v);
  }

  const double nb = static_cast<double>(s.k / kQK_K);
  for (SimdLevel level : SimdLevels()) {
    const GemmFn fn = GetGemm(t, level);
    std::vector<float> y(y_stride * s.nc, NAN);
    fn(s.k, w.data(), w_stride, s.nr, a.data(), a_stride, s.nc, y.data(), y_stride);
    for (int64_t c = 0; c < s.nc; ++c) {
      for (size_t r = 0; r < y_stride; ++r) {
        const float got = y[c * y_stride + r];
        if (static_cast<int64_t>(r) >= s.nr) {
          ASSERT_TRUE(std::isnan(got)) << "wrote past nr at row " << r;
          continue;
        }
        double mag = 0;
        for (int64_t e = 0; e < s.k; ++e) mag += static_cast<double>(wmag[r][e]) * amag[c][e];
        const double tol = 3.0 * (nb + 8) * FLT_EPSILON * mag + 1e-30;
        const float want = ref[c * y_stride + r];
        ASSERT_NEAR(got, want, tol) << TypeName(t) << " " << SimdLevelName(level) << " k=" << s.k
                                    << " nr=" << s.nr << " nc=" << s.nc << " r=" << r << " c=" << c
                                    << (random_bytes ? " random bytes" : " quantized");
      }
    }
  }
}

TEST_P(KQuantGemmTest, MatchesScalarOnQuantizedWeights) {
  if (SimdLevels().empty()) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937 rng(static_cast<unsigned>(GetParam()) * 7919u);
  for (const Shape& s : kShapes) RunShape(GetParam(), s, rng, false);
}

TEST_P(KQuantGemmTest, MatchesScalarOnRandomBlocks) {
  // Random bytes reach every quant, scale and min value (e.g. Q6_K scale -128, Q3_K -32).
  if (SimdLevels().empty()) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937 rng(static_cast<unsigned>(GetParam()) * 104729u);
  for (const Shape& s : kShapes) RunShape(GetParam(), s, rng, true);
}

TEST_P(KQuantGemmTest, KernelExistsAtEveryLevel) {
  for (SimdLevel level : SimdLevels()) {
    EXPECT_NE(GetKQuantGemm(GetParam(), level), nullptr) << SimdLevelName(level);
  }
  EXPECT_EQ(GetKQuantGemm(GetParam(), SimdLevel::kScalar), nullptr);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, KQuantGemmTest, ::testing::ValuesIn(kWeightTypes),
                         [](const auto& info) { return std::string(TypeName(info.param)); });

// s.nr rows of random blocks of type t (finite scales) and s.nc Q8_K rows quantized from normal
// floats, packed (no stride padding).
void RandomBlocksAndActs(GgmlType t, const Shape& s, std::mt19937& rng, std::vector<uint8_t>* w,
                         std::vector<uint8_t>* a) {
  const size_t w_row = RowBytes(t, s.k), a_row = RowBytes(GgmlType::kQ8_K, s.k);
  w->resize(s.nr * w_row);
  a->resize(s.nc * a_row);
  for (auto& byte : *w) byte = static_cast<uint8_t>(rng());
  for (size_t off = 0; off < w->size(); off += TypeSize(t)) SaneScales(t, w->data() + off, rng);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> row(s.k);
  for (int64_t c = 0; c < s.nc; ++c) {
    for (float& v : row) v = normal(rng);
    QuantizeRow(GgmlType::kQ8_K, row.data(), a->data() + c * a_row, s.k);
  }
}

// AVX2: decode (one column) unpacks Q4_K/Q6_K blocks in registers instead of the Prep buffer the
// batch path uses, with the same arithmetic step for step: one column alone gives exactly that
// column's outputs of a batch, for every type.
TEST(KQuantGemmAvx2, OneColumnBitEqualToBatch) {
  if (DetectSimdLevel() < SimdLevel::kAvx2) GTEST_SKIP() << "no AVX2 here";
  std::mt19937 rng(33);
  for (const GgmlType t : kWeightTypes) {
    const GemmFn fn = GetKQuantGemm(t, SimdLevel::kAvx2);
    ASSERT_NE(fn, nullptr) << TypeName(t);
    for (const Shape& s : {Shape{256, 1, 3}, Shape{4864, 9, 5}, Shape{768, 6, 2}}) {
      const size_t w_row = RowBytes(t, s.k), a_row = RowBytes(GgmlType::kQ8_K, s.k);
      std::vector<uint8_t> w, a;
      RandomBlocksAndActs(t, s, rng, &w, &a);
      const size_t y_stride = static_cast<size_t>(s.nr);
      std::vector<float> batch(y_stride * s.nc, NAN);
      fn(s.k, w.data(), w_row, s.nr, a.data(), a_row, s.nc, batch.data(), y_stride);
      for (int64_t c = 0; c < s.nc; ++c) {
        std::vector<float> one(y_stride, NAN);
        fn(s.k, w.data(), w_row, s.nr, a.data() + c * a_row, a_row, 1, one.data(), y_stride);
        ASSERT_EQ(0, std::memcmp(one.data(), batch.data() + c * y_stride, y_stride * sizeof(float)))
            << TypeName(t) << " k=" << s.k << " nr=" << s.nr << " column " << c;
      }
    }
  }
}

#if defined(BASTION_HAVE_AVX512)
// The small-batch kernel (two weight rows per vector, up to 8 columns) does each lane's integer
// and float operations exactly as the column kernel does, so the runtime may pick either by
// batch size without changing a result: bit-equal, on random blocks, odd and even row counts.
TEST(KQuantGemmPairs, BitEqualToColumnKernel) {
  if (DetectSimdLevel() != SimdLevel::kAvx512) GTEST_SKIP() << "no AVX-512 here";
  using ColsFn = void (*)(int64_t, const void*, size_t, int64_t, const void*, size_t, int64_t, float*, size_t);
  const ColsFn cols[] = {kquant::Avx512ColsQ2K, kquant::Avx512ColsQ3K, kquant::Avx512ColsQ4K,
                         kquant::Avx512ColsQ5K, kquant::Avx512ColsQ6K};
  std::mt19937 rng(21);
  for (size_t ti = 0; ti < std::size(kWeightTypes); ++ti) {
    const GgmlType t = kWeightTypes[ti];
    const GemmFn pairs = kquant::Avx512PairGemm(t);
    ASSERT_NE(pairs, nullptr) << TypeName(t);
    for (const Shape& s : {Shape{256, 1, 1}, Shape{4864, 13, 8}, Shape{512, 12, 5}, Shape{256, 25, 4},
                           Shape{768, 2, 7}, Shape{256, 11, 3}, Shape{256, 7, 9}}) {
      const size_t w_row = RowBytes(t, s.k), a_row = RowBytes(GgmlType::kQ8_K, s.k);
      std::vector<uint8_t> w, a;
      RandomBlocksAndActs(t, s, rng, &w, &a);
      const size_t y_stride = static_cast<size_t>(s.nr) + 1;  // the pad must stay untouched
      std::vector<float> got(y_stride * s.nc, NAN), want(y_stride * s.nc, NAN);
      pairs(s.k, w.data(), w_row, s.nr, a.data(), a_row, s.nc, got.data(), y_stride);
      cols[ti](s.k, w.data(), w_row, s.nr, a.data(), a_row, s.nc, want.data(), y_stride);
      for (size_t i = 0; i < got.size(); ++i) {
        uint32_t g, e;
        std::memcpy(&g, &got[i], 4);
        std::memcpy(&e, &want[i], 4);
        ASSERT_EQ(g, e) << TypeName(t) << " k=" << s.k << " nr=" << s.nr << " nc=" << s.nc << " at " << i;
      }
    }
  }
}
#endif

// ---- Q8_K activation quantizer ------------------------------------------------------------------

void ExpectSameQ8K(const std::vector<float>& x, const char* what) {
  const int64_t k = static_cast<int64_t>(x.size());
  std::vector<uint8_t> want(RowBytes(GgmlType::kQ8_K, k)), got(want.size());
  QuantizeRow(GgmlType::kQ8_K, x.data(), want.data(), k);
  for (SimdLevel level : SimdLevels()) {
    const QuantizeActFn fn = GetKQuantQuantizeAct(GgmlType::kQ8_K, level);
    ASSERT_NE(fn, nullptr);
    std::fill(got.begin(), got.end(), 0xAB);
    fn(x.data(), got.data(), k);
    ASSERT_EQ(std::memcmp(got.data(), want.data(), want.size()), 0) << what << " at " << SimdLevelName(level);
    EXPECT_EQ(GetQuantizeAct(GgmlType::kQ8_K, level), fn);
  }
}

TEST(KQuantQ8K, BitIdenticalAcrossLevels) {
  if (SimdLevels().empty()) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<float> x(256 * (1 + trial % 5));
    const float scale = std::ldexp(1.0f, trial % 40 - 20);
    for (float& v : x) v = normal(rng) * scale;
    if (trial % 3 == 0) x[trial % x.size()] = -50.0f * scale;
    ExpectSameQ8K(x, "gaussian");
  }
}

TEST(KQuantQ8K, EdgeCasesBitIdentical) {
  if (SimdLevels().empty()) GTEST_SKIP() << "no AVX2 on this CPU";
  std::vector<float> x(512, 0.0f);
  ExpectSameQ8K(x, "all zero");
  x[0] = -127.0f;  // unit iscale: exact .5 ties everywhere below
  for (int i = 1; i < 256; ++i) x[i] = static_cast<float>((i % 64) - 32) + 0.5f;
  x[300] = 5.0f;
  ExpectSameQ8K(x, "ties");
  std::fill(x.begin(), x.end(), 0.0f);
  x[17] = 3.0f;
  x[200] = -3.0f;  // equal magnitude: the first one decides the sign
  x[400] = -1e-30f;
  x[401] = 1e-31f;
  ExpectSameQ8K(x, "first max and tiny block");
  for (int i = 0; i < 512; ++i) x[i] = (i % 2 ? 1.0f : -1.0f) * 1e30f / static_cast<float>(i + 1);
  ExpectSameQ8K(x, "huge");
}

}  // namespace
}  // namespace bastion
