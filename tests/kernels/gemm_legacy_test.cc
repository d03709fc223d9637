// Tests of the legacy-type SIMD kernels (kernels/gemm_legacy_*.cc) against the scalar reference:
//  * every level's gemm vs the scalar DotRow kernel over many (k, nr, nc) shapes, ragged edges,
//    padded strides and buffers that end at an unmapped page (no over-reads), within
//    |y - ref| <= (2 n + 64) * 2^-24 * sum|products| (n = summed terms: blocks, or elements for
//    float types; a worst-case float summation bound for two different orders);
//  * the same with values chosen so every partial sum is exact in float: results must be equal;
//  * activation converters bit-identical to QuantizeRow at every level, special values included.
// Levels the CPU lacks are skipped.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "base/half.h"
#include "kernels/gemm.h"
#include "kernels/gemm_legacy_internal.h"
#include "kernels/guarded_buffer.h"
#include "quant/blocks.h"
#include "quant/quantize.h"
#include "quant/types.h"

namespace bastion {
namespace {

bool IsFloatType(GgmlType t) {
  return t == GgmlType::kF32 || t == GgmlType::kF16 || t == GgmlType::kBF16;
}

using testing::GuardedBuffer;

// Kernels under test at one level. "avx512" is what the runtime picks; the other AVX-512
// variants pin one of its internal paths for every shape: the row kernel or the column kernel of
// the block types (the runtime switches at kAvx512MinColsForColumnKernel columns), and the
// plain-AVX-512F BF16 kernel (what CPUs without AVX512_BF16 run).
enum class Variant { kRuntime, kLanes, kRows, kCols, kPairs, kNoBf16, kAmx };

struct Level {
  std::string name;
  SimdLevel level;
  Variant variant;
};

void PrintTo(const Level& lv, std::ostream* os) { *os << lv.name; }

std::vector<Level> Levels() {
  return {{"avx2", SimdLevel::kAvx2, Variant::kRuntime},
          {"avx2_lanes", SimdLevel::kAvx2, Variant::kLanes},
          {"avx512", SimdLevel::kAvx512, Variant::kRuntime},
          {"avx512_rows", SimdLevel::kAvx512, Variant::kRows},
          {"avx512_cols", SimdLevel::kAvx512, Variant::kCols},
          {"avx512_pairs", SimdLevel::kAvx512, Variant::kPairs},
          {"avx512_nobf16", SimdLevel::kAvx512, Variant::kNoBf16},
          {"amx", SimdLevel::kAvx512, Variant::kAmx}};
}

// Whether the level variant applies to the type at all.
bool Applies(GgmlType t, const Level& lv) {
  switch (lv.variant) {
    case Variant::kRuntime: return true;
    case Variant::kLanes: return t == GgmlType::kQ4_0 || t == GgmlType::kQ5_0 || t == GgmlType::kQ8_0;
    case Variant::kRows:
    case Variant::kCols: return !IsFloatType(t);
    case Variant::kNoBf16: return t == GgmlType::kBF16;
    case Variant::kPairs: return t == GgmlType::kQ4_0 || t == GgmlType::kQ5_0 || t == GgmlType::kQ8_0;
    case Variant::kAmx:
      return t == GgmlType::kBF16 || t == GgmlType::kF16 || t == GgmlType::kQ4_0 || t == GgmlType::kQ5_0 ||
             t == GgmlType::kQ8_0;
  }
  return false;
}

// Returns nullptr (and the reason) when this machine/binary cannot run the level.
GemmFn KernelFor(GgmlType t, const Level& lv, std::string* why) {
  if (static_cast<int>(DetectSimdLevel()) < static_cast<int>(lv.level)) {
    *why = std::string("CPU (or BASTION_SIMD) lacks ") + SimdLevelName(lv.level);
    return nullptr;
  }
#if defined(BASTION_HAVE_AVX2)
  // The row-lanes kernel at every column count (the runtime gives it 16 or more).
  if (lv.variant == Variant::kLanes) return legacy::GemmRowLanesAvx2(t, /*q5_0_pairs=*/false);
#endif
#if defined(BASTION_HAVE_AVX512)
  switch (lv.variant) {
    case Variant::kRuntime:
    case Variant::kLanes: break;
    case Variant::kRows: return legacy::GemmRowsAvx512(t);
    case Variant::kCols: return legacy::GemmColsAvx512(t);
    case Variant::kPairs: return legacy::GemmColsPairsAvx512(t);
    case Variant::kNoBf16: return legacy::GemmFloatAvx512(t, false);
    case Variant::kAmx:
      if (!IsFloatType(t)) {
        if (GemmFn fn = legacy::GemmQ8Amx(t, /*all_shapes=*/true)) return fn;
        *why = "no AMX-INT8 on this CPU (or the OS does not grant it)";
        return nullptr;
      }
      if (GemmFn fn = t == GgmlType::kF16 ? legacy::GemmF16Amx(/*all_shapes=*/true)
                                          : legacy::GemmBf16Amx(/*all_shapes=*/true)) {
        return fn;
      }
      *why = "no AMX-BF16 on this CPU (or the OS does not grant it)";
      return nullptr;
  }
#endif
  GemmFn fn = GetLegacyGemm(t, lv.level);
  if (fn == nullptr) *why = "no kernel at this level";
  return fn;
}

// ---- Test data --------------------------------------------------------------------------------

// A weight row with random bits where every bit pattern is legal (nibbles, qh, Q8 bytes including
// -128) and random scales of moderate size, so the kernels see every code.
void RandomWeightRow(GgmlType t, int64_t k, std::mt19937& rng, uint8_t* out, bool exact) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  if (IsFloatType(t)) {
    std::vector<float> f(static_cast<size_t>(k));
    for (auto& v : f) v = exact ? static_cast<float>(byte(rng) % 17 - 8) : normal(rng);
    QuantizeRow(t, f.data(), out, k);
    return;
  }
  const size_t bytes = TypeSize(t);
  for (int64_t b = 0; b < k / 32; ++b) {
    uint8_t* blk = out + b * bytes;
    for (size_t i = 0; i < bytes; ++i) blk[i] = static_cast<uint8_t>(byte(rng));
    // Exact mode: scales 1/2, 1 or 2 (and mins of small integers) keep every sum exact.
    const float d = exact ? std::ldexp(1.0f, byte(rng) % 3 - 1) : normal(rng) * 0.05f;
    const uint16_t dh = F32ToF16(d);
    std::memcpy(blk, &dh, 2);
    if (t == GgmlType::kQ4_1 || t == GgmlType::kQ5_1) {
      const uint16_t mh = F32ToF16(exact ? static_cast<float>(byte(rng) % 9 - 4) : normal(rng) * 0.3f);
      std::memcpy(blk + 2, &mh, 2);
    }
  }
}

// An activation row in the weight type's VecDotType. Exact mode builds Q8 blocks by hand with
// small quants and power-of-two scales (and s = F16(d * sum), exact for these ranges).
void RandomActRow(GgmlType wt, int64_t k, std::mt19937& rng, uint8_t* out, bool exact) {
  const GgmlType at = VecDotType(wt);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> small(-20, 20);
  if (!exact || IsFloatType(at)) {
    std::vector<float> f(static_cast<size_t>(k));
    for (auto& v : f) v = exact ? static_cast<float>(small(rng) % 9) : normal(rng);
    QuantizeRow(at, f.data(), out, k);
    return;
  }
  const size_t bytes = TypeSize(at);
  const size_t qoff = at == GgmlType::kQ8_1 ? 4 : 2;
  for (int64_t b = 0; b < k / 32; ++b) {
    uint8_t* blk = out + b * bytes;
    const float d = std::ldexp(1.0f, small(rng) % 2);
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      const int q = small(rng);
      sum += q;
      blk[qoff + j] = static_cast<uint8_t>(static_cast<int8_t>(q));
    }
    const uint16_t dh = F32ToF16(d);
    std::memcpy(blk, &dh, 2);
    if (at == GgmlType::kQ8_1) {
      const uint16_t sh = F32ToF16(d * static_cast<float>(sum));
      std::memcpy(blk + 2, &sh, 2);
    }
  }
}

// sum over elements of |w_i * a_i| (+ |m_b * s_b| for the *_1 types): the scale of the
// rounding errors any summation order can make.
double AbsProductSum(GgmlType wt, const uint8_t* w, const uint8_t* a, int64_t k) {
  std::vector<float> wd(static_cast<size_t>(k)), ad(static_cast<size_t>(k));
  DequantizeRow(wt, w, wd.data(), k);
  DequantizeRow(VecDotType(wt), a, ad.data(), k);
  double s = 0;
  for (int64_t i = 0; i < k; ++i) s += std::fabs(static_cast<double>(wd[i]) * ad[i]);
  if (wt == GgmlType::kQ4_1 || wt == GgmlType::kQ5_1) {
    for (int64_t b = 0; b < k / 32; ++b) {
      uint16_t m, sa;
      std::memcpy(&m, w + b * TypeSize(wt) + 2, 2);
      std::memcpy(&sa, a + b * sizeof(BlockQ8_1) + 2, 2);
      s += std::fabs(static_cast<double>(F16ToF32(m)) * F16ToF32(sa));
    }
  }
  return s;
}

struct Shape {
  int64_t k, nr, nc;
};

// Runs one shape: kernel vs scalar, checks bounds (or equality in exact mode), the untouched
// padding of y, and that nothing is read past the end of W or A.
void CheckShape(GgmlType t, GemmFn fn, const Shape& s, bool exact, uint32_t seed) {
  std::mt19937 rng(seed);
  const GgmlType at = VecDotType(t);
  const size_t w_row = RowBytes(t, s.k), a_row = RowBytes(at, s.k);
  // Odd shapes also get padded strides whose padding is 0xFF (a NaN in F16/BF16/F32 scales).
  const bool padded = (s.nr + s.nc) % 2 == 1;
  const size_t w_stride = w_row + (padded ? 40 : 0);
  const size_t a_stride = a_row + (padded ? 24 : 0);
  const size_t y_stride = static_cast<size_t>(s.nr) + (padded ? 3 : 0);
  GuardedBuffer w((s.nr - 1) * w_stride + w_row);
  GuardedBuffer a((s.nc - 1) * a_stride + a_row);
  std::memset(w.data(), 0xFF, w.size());
  std::memset(a.data(), 0xFF, a.size());
  for (int64_t r = 0; r < s.nr; ++r) RandomWeightRow(t, s.k, rng, w.data() + r * w_stride, exact);
  for (int64_t c = 0; c < s.nc; ++c) RandomActRow(t, s.k, rng, a.data() + c * a_stride, exact);

  constexpr float kSentinel = -12345.0f;
  std::vector<float> ref(static_cast<size_t>(s.nc) * y_stride, kSentinel);
  std::vector<float> got(ref.size(), kSentinel);
  GetGemm(t, SimdLevel::kScalar)(s.k, w.data(), w_stride, s.nr, a.data(), a_stride, s.nc, ref.data(), y_stride);
  fn(s.k, w.data(), w_stride, s.nr, a.data(), a_stride, s.nc, got.data(), y_stride);

  const double n_terms = IsFloatType(t) ? static_cast<double>(s.k) : static_cast<double>(s.k / 32);
  const double rel = (2 * n_terms + 64) * std::ldexp(1.0, -24);
  int failures = 0;
  for (int64_t c = 0; c < s.nc && failures < 5; ++c) {
    for (size_t r = 0; r < y_stride; ++r) {
      const size_t i = static_cast<size_t>(c) * y_stride + r;
      if (r >= static_cast<size_t>(s.nr)) {
        EXPECT_EQ(got[i], kSentinel) << "wrote padding at c=" << c << " r=" << r;
        continue;
      }
      const uint8_t* wr = w.data() + r * w_stride;
      const uint8_t* ar = a.data() + c * a_stride;
      const double tol = exact ? 0.0 : rel * AbsProductSum(t, wr, ar, s.k) + 1e-30;
      if (!(std::fabs(static_cast<double>(got[i]) - ref[i]) <= tol)) {
        ADD_FAILURE() << TypeName(t) << " k=" << s.k << " nr=" << s.nr << " nc=" << s.nc << " r=" << r
                      << " c=" << c << ": got " << got[i] << " ref " << ref[i] << " tol " << tol;
        ++failures;
      }
    }
  }
}

std::vector<Shape> Shapes(GgmlType t) {
  std::vector<Shape> shapes;
  std::vector<int64_t> ks = {32, 64, 96, 160, 288};
  if (IsFloatType(t)) ks.insert(ks.end(), {1, 7, 8, 15, 16, 17, 31, 33, 100});
  const std::vector<int64_t> nrs = {1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 17};
  const std::vector<int64_t> ncs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 33};
  for (int64_t k : ks) {
    for (int64_t nr : nrs) {
      for (int64_t nc : ncs) shapes.push_back({k, nr, nc});
    }
  }
  for (int64_t nr : {1, 4, 5, 13, 33}) {
    for (int64_t nc : {1, 3, 4, 5, 17, 31, 64}) shapes.push_back({896, nr, nc});
  }
  for (int64_t nr : {1, 5, 9}) {
    for (int64_t nc : {1, 2, 7, 20}) shapes.push_back({4864, nr, nc});
  }
  // Long rows with many row tiles (and row remainders of every tile height used).
  shapes.push_back({4864, 57, 5});
  shapes.push_back({4864, 33, 9});
  {
    // AMX tiles (16 tokens x 16 rows, two of each per block; one block per step for the integer
    // types, in pairs): whole, ragged and mixed blocks, odd block counts.
    for (const Shape& s : {Shape{64, 48, 48}, Shape{96, 35, 50}, Shape{896, 64, 100}, Shape{32, 16, 16},
                           Shape{4864, 40, 40}}) {
      shapes.push_back(s);
    }
  }
  return shapes;
}

using GemmParam = std::tuple<GgmlType, Level>;

class LegacyGemm : public ::testing::TestWithParam<GemmParam> {};

TEST_P(LegacyGemm, MatchesScalarWithinBound) {
  const auto& [t, lv] = GetParam();
  std::string why;
  GemmFn fn = KernelFor(t, lv, &why);
  if (fn == nullptr) GTEST_SKIP() << why;
  uint32_t seed = 1;
  for (const Shape& s : Shapes(t)) CheckShape(t, fn, s, /*exact=*/false, seed++);
}

TEST_P(LegacyGemm, ExactWhenSumsAreExact) {
  const auto& [t, lv] = GetParam();
  std::string why;
  GemmFn fn = KernelFor(t, lv, &why);
  if (fn == nullptr) GTEST_SKIP() << why;
  uint32_t seed = 1000;
  for (const Shape& s : Shapes(t)) CheckShape(t, fn, s, /*exact=*/true, seed++);
}

#if defined(BASTION_HAVE_AVX512)
// y of two kernels over random data, bit for bit, on the given shapes.
void ExpectBitEqual(GgmlType t, GemmFn got_fn, GemmFn want_fn, std::initializer_list<Shape> shapes, uint32_t seed) {
  std::mt19937 rng(seed);
  for (const Shape& s : shapes) {
    const size_t w_row = RowBytes(t, s.k), a_row = RowBytes(VecDotType(t), s.k);
    std::vector<uint8_t> w(s.nr * w_row), a(s.nc * a_row);
    for (int64_t r = 0; r < s.nr; ++r) RandomWeightRow(t, s.k, rng, w.data() + r * w_row, false);
    for (int64_t c = 0; c < s.nc; ++c) RandomActRow(t, s.k, rng, a.data() + c * a_row, false);
    std::vector<float> got(s.nc * s.nr), want(s.nc * s.nr);
    got_fn(s.k, w.data(), w_row, s.nr, a.data(), a_row, s.nc, got.data(), s.nr);
    want_fn(s.k, w.data(), w_row, s.nr, a.data(), a_row, s.nc, want.data(), s.nr);
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(FloatToBits(got[i]), FloatToBits(want[i])) << TypeName(t) << " k=" << s.k << " i=" << i;
    }
  }
}

// Decode runs one token per call (on the float types a row-at-a-time kernel of its own), a batch
// runs many: for the float types each token's outputs must not depend on which, bit for bit (the
// engine tests check that batched requests on an F16 model produce exactly what each produces
// alone). Batches stay under legacy::kAmxMinTokens: BF16 from there on runs on AMX tiles, whose
// sums are ordered otherwise. (The integer-block types make no such promise: the row and column
// kernels round their block sums in different orders.)
TEST(LegacyGemm, FloatOneColumnBitEqualToBatch) {
  if (DetectSimdLevel() != SimdLevel::kAvx512) GTEST_SKIP() << "no AVX-512 here";
  std::mt19937 rng(23);
  for (GgmlType t : {GgmlType::kF16, GgmlType::kBF16, GgmlType::kF32}) {
    const GemmFn fn = GetGemm(t, SimdLevel::kAvx512);
    const std::vector<Shape> shapes = {
        {896, 37, 5}, {4864, 9, 3}, {160, 13, 9}, {100, 6, legacy::kAmxMinTokens - 1}, {33, 7, 4}};
    for (const Shape& s : shapes) {
      SCOPED_TRACE(::testing::Message() << TypeName(t) << " k=" << s.k << " nr=" << s.nr << " nc=" << s.nc);
      const size_t w_row = RowBytes(t, s.k), a_row = RowBytes(VecDotType(t), s.k);
      std::vector<uint8_t> w(s.nr * w_row), a(s.nc * a_row);
      for (int64_t r = 0; r < s.nr; ++r) RandomWeightRow(t, s.k, rng, w.data() + r * w_row, false);
      for (int64_t c = 0; c < s.nc; ++c) RandomActRow(t, s.k, rng, a.data() + c * a_row, false);
      std::vector<float> batch(s.nc * s.nr), one(s.nr);
      fn(s.k, w.data(), w_row, s.nr, a.data(), a_row, s.nc, batch.data(), s.nr);
      for (int64_t c = 0; c < s.nc; ++c) {
        fn(s.k, w.data(), w_row, s.nr, a.data() + c * a_row, a_row, 1, one.data(), s.nr);
        for (int64_t r = 0; r < s.nr; ++r) {
          ASSERT_EQ(FloatToBits(one[r]), FloatToBits(batch[c * s.nr + r])) << "c=" << c << " r=" << r;
        }
      }
    }
  }
}

// The AMX-INT8 kernel scales each block's exact integer sum exactly as the column kernel does, so
// the runtime may switch between them by batch size without changing any result: bit-equal.
TEST(LegacyGemmAmx, Int8KernelBitEqualToColumnKernel) {
  for (GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ5_0, GgmlType::kQ8_0}) {
    GemmFn amx = legacy::GemmQ8Amx(t, /*all_shapes=*/true);
    if (amx == nullptr || DetectSimdLevel() != SimdLevel::kAvx512) GTEST_SKIP() << "no AMX-INT8 here";
    ExpectBitEqual(t, amx, legacy::GemmColsAvx512(t), {{896, 37, 50}, {4864, 20, 33}, {96, 16, 16}, {160, 5, 17}}, 7);
  }
}

// Likewise the two-rows-per-vector kernel for small batches (1-8 tokens) against the column kernel.
TEST(LegacyGemmPairs, BitEqualToColumnKernel) {
  if (DetectSimdLevel() != SimdLevel::kAvx512) GTEST_SKIP() << "no AVX-512 here";
  for (GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ5_0, GgmlType::kQ8_0}) {
    ExpectBitEqual(t, legacy::GemmColsPairsAvx512(t), legacy::GemmColsAvx512(t),
                   {{896, 37, 8}, {4864, 20, 5}, {96, 16, 2}, {160, 5, 7}, {64, 9, 1}}, 11);
  }
}
#endif

#if defined(BASTION_HAVE_AVX2)
// Activation columns of k Q8_0 values, block scales 1, column c every value fill[c].
std::vector<uint8_t> ConstantQ8_0Columns(int64_t k, std::span<const int8_t> fill) {
  const size_t row = RowBytes(GgmlType::kQ8_0, k);
  std::vector<uint8_t> a(row * fill.size());
  const uint16_t one = F32ToF16(1.0f);
  for (size_t c = 0; c < fill.size(); ++c) {
    for (int64_t b = 0; b < k / 32; ++b) {
      uint8_t* blk = a.data() + c * row + b * sizeof(BlockQ8_0);
      std::memcpy(blk, &one, 2);
      std::memset(blk + 2, static_cast<uint8_t>(fill[c]), 32);
    }
  }
  return a;
}

// The row-lanes kernel's outputs for weights w (nr rows of type t) x activation columns a, checked
// bit-equal to the scalar kernel's; returns the scalar ones.
std::vector<float> ExpectRowLanesExact(GgmlType t, int64_t k, int64_t nr, const std::vector<uint8_t>& w,
                                       const std::vector<uint8_t>& a) {
  const size_t w_row = RowBytes(t, k), a_row = RowBytes(GgmlType::kQ8_0, k);
  const int64_t nc = static_cast<int64_t>(a.size() / a_row);
  std::vector<float> ref(nr * nc), got(nr * nc);
  GetGemm(t, SimdLevel::kScalar)(k, w.data(), w_row, nr, a.data(), a_row, nc, ref.data(), nr);
  legacy::GemmRowLanesAvx2(t, false)(k, w.data(), w_row, nr, a.data(), a_row, nc, got.data(), nr);
  EXPECT_EQ(ref, got) << TypeName(t);
  return ref;
}

// The row-lanes kernel adds a block's int16 products before widening them (all 8 groups for Q4_0,
// 4 for Q5_0): at the largest weights and activations of either sign, including -128, which our
// quantizer never makes but a caller's block may hold, those sums must still be exact.
TEST(LegacyGemmRowLanes, LargestQuantsStayExact) {
  if (DetectSimdLevel() < SimdLevel::kAvx2) GTEST_SKIP() << "no AVX2 here";
  constexpr int64_t k = 256, nr = 9;
  const int8_t fill[] = {127, -127, -128, 0};
  const std::vector<uint8_t> a = ConstantQ8_0Columns(k, fill);
  for (GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ5_0}) {
    const size_t w_row = RowBytes(t, k);
    std::vector<uint8_t> w(w_row * nr, 0xFF);
    const uint16_t one = F32ToF16(1.0f);
    for (int64_t r = 0; r < nr; ++r) {
      for (int64_t b = 0; b < k / 32; ++b) std::memcpy(w.data() + r * w_row + b * TypeSize(t), &one, 2);
    }
    const std::vector<float> ref = ExpectRowLanesExact(t, k, nr, w, a);
    EXPECT_EQ(ref[0], (t == GgmlType::kQ4_0 ? 7.0f : 15.0f) * 127 * k) << TypeName(t);
  }
}

// Q8_0 in row lanes multiplies |w| by sign-moved activations: pair sums up to 2 x 128 x 127 must
// not saturate, whatever the signs (activations stay within +-127, as our quantizer makes them).
TEST(LegacyGemmRowLanes, LargestQ8_0WeightsStayExact) {
  if (DetectSimdLevel() < SimdLevel::kAvx2) GTEST_SKIP() << "no AVX2 here";
  constexpr int64_t k = 256, nr = 9;
  constexpr GgmlType t = GgmlType::kQ8_0;
  const size_t row = RowBytes(t, k);
  std::vector<uint8_t> w(row * nr);
  const uint16_t one = F32ToF16(1.0f);
  // Rows cycle through all -128, all 127, and -128/127 alternating.
  auto weight = [](int64_t r, int e) -> int8_t { return r % 3 == 1 || (r % 3 == 2 && e % 2 == 1) ? 127 : -128; };
  for (int64_t r = 0; r < nr; ++r) {
    for (int64_t b = 0; b < k / 32; ++b) {
      uint8_t* blk = w.data() + r * row + b * sizeof(BlockQ8_0);
      std::memcpy(blk, &one, 2);
      for (int e = 0; e < 32; ++e) blk[2 + e] = static_cast<uint8_t>(weight(r, e));
    }
  }
  const int8_t fill[] = {127, -127, 0, 1};
  const std::vector<float> ref = ExpectRowLanesExact(t, k, nr, w, ConstantQ8_0Columns(k, fill));
  EXPECT_EQ(ref[0], -128.0f * 127 * k);
}
#endif

std::vector<GemmParam> AllGemmParams() {
  std::vector<GemmParam> params;
  for (GgmlType t : {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ5_0, GgmlType::kQ4_1,
                     GgmlType::kQ5_1, GgmlType::kF16, GgmlType::kBF16, GgmlType::kF32}) {
    for (const Level& lv : Levels()) {
      if (Applies(t, lv)) params.emplace_back(t, lv);
    }
  }
  return params;
}

INSTANTIATE_TEST_SUITE_P(Types, LegacyGemm, ::testing::ValuesIn(AllGemmParams()),
                         [](const ::testing::TestParamInfo<GemmParam>& info) {
                           return std::string(TypeName(std::get<0>(info.param))) + "_" +
                                  std::get<1>(info.param).name;
                         });

// Every legacy weight type has its own kernel at every level the build has (no silent fallback
// to the scalar loop), and the activation formats all have converters.
TEST(LegacyGemmDispatch, EveryTypeHasAKernelPerLevel) {
  for (GgmlType t : {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ5_0, GgmlType::kQ4_1,
                     GgmlType::kQ5_1, GgmlType::kF16, GgmlType::kBF16, GgmlType::kF32}) {
    EXPECT_EQ(GetLegacyGemm(t, SimdLevel::kScalar), nullptr);
#if defined(BASTION_HAVE_AVX2)
    EXPECT_NE(GetLegacyGemm(t, SimdLevel::kAvx2), nullptr) << TypeName(t);
#endif
#if defined(BASTION_HAVE_AVX512)
    EXPECT_NE(GetLegacyGemm(t, SimdLevel::kAvx512), nullptr) << TypeName(t);
#endif
  }
  EXPECT_EQ(GetLegacyGemm(GgmlType::kQ4_K, SimdLevel::kAvx2), nullptr);
  for (GgmlType t : {GgmlType::kQ8_0, GgmlType::kQ8_1, GgmlType::kF16, GgmlType::kBF16, GgmlType::kF32}) {
    EXPECT_NE(GetQuantizeAct(t, SimdLevel::kAvx512), nullptr) << TypeName(t);
  }
}

// ---- Activation converters ----------------------------------------------------------------------

// Rows that exercise the quantizers' corner cases: ordinary data at several scales, all-zero
// blocks, ties after scaling, denormals, huge values, infinities and NaNs (which must still give
// the same bytes at every level, even though no real activation contains them).
std::vector<float> ActivationRow(int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 11);
  std::vector<float> x(static_cast<size_t>(k));
  for (int64_t b = 0; b < k; b += 32) {
    const int kind = pick(rng);
    for (int64_t i = b; i < std::min<int64_t>(k, b + 32); ++i) {
      float v = normal(rng);
      switch (kind) {
        case 0: v = 0.0f; break;
        case 1: v = (i == b) ? 127.0f : static_cast<float>(static_cast<int>(v * 40)) + 0.5f; break;
        case 2: v *= 1e-39f; break;  // F32 denormals
        case 3: v *= 1e-6f; break;   // F16 denormals
        case 4: v *= 1e30f; break;
        case 5: v = (i == b + 3) ? INFINITY : v; break;
        case 6: v = (i == b + 5) ? NAN : v; break;
        case 7: v = (i == b + 7) ? -NAN : v; break;
        case 8: v = (i % 5 == 0) ? -0.0f : v * 1e4f; break;
        case 9: v = BitsToFloat(0x7FA00001u + static_cast<uint32_t>(i));  break;  // NaN payloads
        default: v *= std::ldexp(1.0f, static_cast<int>(b / 32 % 20) - 10); break;
      }
      x[static_cast<size_t>(i)] = v;
    }
  }
  return x;
}

class LegacyQuantizeAct : public ::testing::TestWithParam<std::tuple<GgmlType, SimdLevel>> {};

TEST_P(LegacyQuantizeAct, BitIdenticalToReference) {
  const auto [t, level] = GetParam();
  if (static_cast<int>(DetectSimdLevel()) < static_cast<int>(level)) GTEST_SKIP() << "CPU lacks level";
  QuantizeActFn fn = GetQuantizeAct(t, level);
  ASSERT_NE(fn, nullptr);
  std::vector<int64_t> ks = {32, 64, 96, 896, 4864};
  if (BlockSize(t) == 1) ks.insert(ks.end(), {1, 3, 7, 8, 9, 15, 17, 33, 100});
  uint32_t seed = 77;
  for (int64_t k : ks) {
    for (int rep = 0; rep < 4; ++rep) {
      const auto x = ActivationRow(k, seed++);
      std::vector<uint8_t> ref(RowBytes(t, k)), got(RowBytes(t, k) + 16, 0xAB);
      QuantizeRow(t, x.data(), ref.data(), k);
      fn(x.data(), got.data(), k);
      for (size_t i = 0; i < ref.size(); ++i) {
        ASSERT_EQ(got[i], ref[i]) << TypeName(t) << " k=" << k << " byte " << i;
      }
      for (size_t i = ref.size(); i < got.size(); ++i) ASSERT_EQ(got[i], 0xAB) << "wrote past the row";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Types, LegacyQuantizeAct,
    ::testing::Combine(::testing::Values(GgmlType::kQ8_0, GgmlType::kQ8_1, GgmlType::kF16,
                                         GgmlType::kBF16, GgmlType::kF32),
                       ::testing::Values(SimdLevel::kAvx2, SimdLevel::kAvx512)),
    [](const auto& info) {
      return std::string(TypeName(std::get<0>(info.param))) + "_" + SimdLevelName(std::get<1>(info.param));
    });

}  // namespace
}  // namespace bastion
