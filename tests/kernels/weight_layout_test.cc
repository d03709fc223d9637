// Weight layouts (kernels/weight_layout.h): the repack is a lossless rearrangement with the
// documented bit placement, and each level's kernel on repacked weights gives what that level's
// kernel gives on the file's (bit for bit at scalar and AVX2).
#include "kernels/weight_layout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/gemm_legacy_internal.h"
#include "layout_gemm_check.h"
#include "quant/blocks.h"
#include "quant/quantize.h"
#include "quant/types.h"

namespace bastion {
namespace {

using layout_check::ExpectLayoutGemmMatchesFile;
using layout_check::LevelsHere;
using layout_check::QuantizedRows;
using layout_check::TwoOrderBound;

// Q5_0 rows with every block's fifth bits then replaced by random ones, so each bit position is
// exercised both ways.
std::vector<uint8_t> RandomQ5_0Rows(int64_t k, int64_t nr, uint32_t seed) {
  std::vector<uint8_t> w = QuantizedRows(GgmlType::kQ5_0, k, nr, seed);
  std::mt19937 rng(seed + 1);
  auto* blocks = reinterpret_cast<BlockQ5_0*>(w.data());
  for (size_t b = 0; b < w.size() / sizeof(BlockQ5_0); ++b) {
    const uint32_t bits = rng();
    std::memcpy(blocks[b].qh, &bits, sizeof bits);
  }
  return w;
}

std::vector<uint8_t> Q8Activations(int64_t k, int64_t nc, uint32_t seed) {
  return QuantizedRows(GgmlType::kQ8_0, k, nc, seed);
}

TEST(WeightLayoutTest, Q5_0PairsRoundTripsAndRearranges) {
  for (const int64_t k : {64, 384, 896, 4864}) {
    const int64_t nr = 5;
    const size_t row = RowBytes(GgmlType::kQ5_0, k);
    const auto original = RandomQ5_0Rows(k, nr, 1);
    auto packed = original;
    RepackRows(WeightLayout::kQ5_0Pairs, GgmlType::kQ5_0, k, packed.data(), row, nr);
    EXPECT_NE(packed, original) << "k=" << k;
    // Scales first, then the bits, then the nibbles of both blocks.
    uint16_t d1;
    std::memcpy(&d1, packed.data() + 2, 2);
    EXPECT_EQ(d1, reinterpret_cast<const BlockQ5_0*>(original.data())[1].d);
    EXPECT_EQ(0, std::memcmp(packed.data() + 28, reinterpret_cast<const BlockQ5_0*>(original.data())[1].qs, 16));
    auto unpacked = packed;
    UnpackRows(WeightLayout::kQ5_0Pairs, GgmlType::kQ5_0, k, unpacked.data(), row, nr);
    EXPECT_EQ(unpacked, original) << "k=" << k;
  }
}

// The packed fifth bits as the layout documents them: bit j of high-bit byte i belongs to vector
// position p = 8 * (j % 4) + i of `lo` (j < 4) or `hi` (j >= 4).
TEST(WeightLayoutTest, Q5_0PairsBitPlacementIsTheDocumentedOne) {
  BlockQ5_0 b[2] = {};
  for (int block = 0; block < 2; ++block) {
    for (int element = 0; element < 32; ++element) {
      std::memset(b, 0, sizeof b);
      b[block].qh[element / 8] = static_cast<uint8_t>(1u << (element % 8));
      uint8_t pair[44];
      std::memcpy(pair, b, sizeof pair);
      RepackRows(WeightLayout::kQ5_0Pairs, GgmlType::kQ5_0, 64, pair, sizeof pair, 1);
      const bool in_hi = element >= 16;
      const int p = block * 16 + element % 16;
      const int byte = p % 8, bit = p / 8 + (in_hi ? 4 : 0);
      for (int i = 0; i < 8; ++i) {
        EXPECT_EQ(pair[4 + i], i == byte ? 1u << bit : 0u) << "block " << block << " element " << element << " byte " << i;
      }
    }
  }
}

TEST(WeightLayoutTest, PreferredLayoutOnlyWhereTheShapeFitsAndAKernelRuns) {
  EXPECT_EQ(PreferredLayout(GgmlType::kQ5_0, 896, 64, SimdLevel::kScalar), WeightLayout::kFile);
  EXPECT_EQ(PreferredLayout(GgmlType::kQ8_0, 896, 64, SimdLevel::kScalar), WeightLayout::kFile);
  EXPECT_EQ(PreferredLayout(GgmlType::kQ4_0, 896, 64, SimdLevel::kAvx2), WeightLayout::kFile);
  EXPECT_EQ(PreferredLayout(GgmlType::kQ5_0, 896, 60, SimdLevel::kAvx512), WeightLayout::kFile);  // no pairs kernel
  EXPECT_EQ(PreferredLayout(GgmlType::kQ8_0, 896, 60, SimdLevel::kAvx512), WeightLayout::kFile);  // 7.5 groups
  EXPECT_EQ(PreferredLayout(GgmlType::kQ5_0, 96, 60, SimdLevel::kAvx2), WeightLayout::kFile);  // 3 blocks, 7.5 groups
  EXPECT_EQ(PreferredLayout(GgmlType::kQ8_0, 896, 60, SimdLevel::kAvx2), WeightLayout::kFile);  // 7.5 groups
  EXPECT_EQ(PreferredLayout(GgmlType::kQ4_K, 4864, 896, SimdLevel::kAvx2), WeightLayout::kFile);  // AVX-512 only
  EXPECT_EQ(PreferredLayout(GgmlType::kQ4_K, 4864, 904, SimdLevel::kAvx512), WeightLayout::kFile);  // 56.5 groups
  EXPECT_EQ(PreferredLayout(GgmlType::kQ5_K, 4864, 896, SimdLevel::kAvx512), WeightLayout::kFile);  // no kernel
#if defined(BASTION_HAVE_AVX2)
  if (std::getenv("BASTION_REPACK") == nullptr) {
    EXPECT_EQ(PreferredLayout(GgmlType::kQ5_0, 896, 60, SimdLevel::kAvx2), WeightLayout::kQ5_0Pairs);
    EXPECT_EQ(PreferredLayout(GgmlType::kQ5_0, 96, 64, SimdLevel::kAvx2), WeightLayout::kQ5_0Lanes);
    EXPECT_EQ(PreferredLayout(GgmlType::kQ8_0, 96, 64, SimdLevel::kAvx2), WeightLayout::kQ8_0Lanes);
  }
#endif
#if defined(BASTION_HAVE_AVX512)
  if (std::getenv("BASTION_REPACK") == nullptr) {
    // The VNNI lanes kernels, except where AMX-INT8 runs prefill from the file's layout.
    const bool amx = legacy::AmxInt8Ready();
    EXPECT_EQ(PreferredLayout(GgmlType::kQ5_0, 896, 64, SimdLevel::kAvx512), amx ? WeightLayout::kFile : WeightLayout::kQ5_0Lanes);
    EXPECT_EQ(PreferredLayout(GgmlType::kQ8_0, 896, 64, SimdLevel::kAvx512), amx ? WeightLayout::kFile : WeightLayout::kQ8_0Lanes);
    EXPECT_EQ(PreferredLayout(GgmlType::kQ4_0, 896, 64, SimdLevel::kAvx512), amx ? WeightLayout::kFile : WeightLayout::kQ4_0Lanes);
    // The K-quant lanes kernels have no AMX counterpart: used either way.
    EXPECT_EQ(PreferredLayout(GgmlType::kQ4_K, 4864, 896, SimdLevel::kAvx512), WeightLayout::kQ4_KLanes);
    EXPECT_EQ(PreferredLayout(GgmlType::kQ6_K, 4864, 896, SimdLevel::kAvx512), WeightLayout::kQ6_KLanes);
  }
#endif
  EXPECT_EQ(GetLayoutGemm(GgmlType::kF16, WeightLayout::kFile, SimdLevel::kScalar),
            GetGemm(GgmlType::kF16, SimdLevel::kScalar));
}

// Bit-identical outputs against the same level's kernel on the file's layout, for decode and
// prefill shapes, ragged row and column counts, and a strided y.
TEST(WeightLayoutTest, Q5_0PairsGemmEqualsTheFileLayoutKernelAtEveryLevel) {
  for (const SimdLevel level : LevelsHere()) {
    const GemmFn file_gemm = GetGemm(GgmlType::kQ5_0, level);
    const GemmFn pairs_gemm = GetLayoutGemm(GgmlType::kQ5_0, WeightLayout::kQ5_0Pairs, level);
    ASSERT_NE(pairs_gemm, nullptr);
    for (const int64_t k : {64, 384, 896, 4864}) {
      for (const int64_t nr : {1, 3, 17, 40}) {
        const size_t row = RowBytes(GgmlType::kQ5_0, k);
        const auto w = RandomQ5_0Rows(k, nr, static_cast<uint32_t>(k + nr));
        auto packed = w;
        RepackRows(WeightLayout::kQ5_0Pairs, GgmlType::kQ5_0, k, packed.data(), row, nr);
        for (const int64_t nc : {1, 2, 7, 8, 9, 33}) {
          if (level == SimdLevel::kScalar && (k > 896 || nc > 9)) continue;  // slow, and no tiling to cover
          const auto a = Q8Activations(k, nc, static_cast<uint32_t>(nc));
          const size_t a_row = RowBytes(GgmlType::kQ8_0, k);
          const size_t y_stride = static_cast<size_t>(nr) + 3;
          std::vector<float> want(y_stride * static_cast<size_t>(nc), -1.0f), got(want);
          file_gemm(k, w.data(), row, nr, a.data(), a_row, nc, want.data(), y_stride);
          pairs_gemm(k, packed.data(), row, nr, a.data(), a_row, nc, got.data(), y_stride);
          if (level != SimdLevel::kAvx512) {
            ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)))
                << SimdLevelName(level) << " k=" << k << " nr=" << nr << " nc=" << nc;
            continue;
          }
          // AVX-512 gets the rows a few at a time, so its row tiling (hence float summation
          // order) may differ: the kernel tests' bound for two orders,
          // (2 n + 64) 2^-24 sum|w a| with n = blocks.
          for (int64_t c = 0; c < nc; ++c) {
            for (int64_t r = 0; r < nr; ++r) {
              std::vector<float> wf(static_cast<size_t>(k)), af(static_cast<size_t>(k));
              DequantizeRow(GgmlType::kQ5_0, w.data() + r * row, wf.data(), k);
              DequantizeRow(GgmlType::kQ8_0, a.data() + c * a_row, af.data(), k);
              const double tol = TwoOrderBound(wf, af);
              const size_t i = static_cast<size_t>(c) * y_stride + static_cast<size_t>(r);
              ASSERT_LE(std::fabs(static_cast<double>(got[i]) - want[i]), tol) << "k=" << k << " r=" << r << " c=" << c;
            }
          }
        }
      }
    }
  }
}

// Every row of `packed` (nr rows of `original` repacked into `layout`) dequantizes on its own as
// the file's row does (embedding lookups), and unpacking gives back the file's bytes.
void ExpectRowsReadBackAndUnpack(WeightLayout layout, GgmlType type, int64_t k, const std::vector<uint8_t>& original,
                                 const std::vector<uint8_t>& packed, int64_t nr) {
  const size_t row = RowBytes(type, k);
  std::vector<float> want(static_cast<size_t>(k)), got(static_cast<size_t>(k));
  for (int64_t r = 0; r < nr; ++r) {
    DequantizeRow(type, original.data() + r * row, want.data(), k);
    DequantizeLayoutRow(layout, type, k, packed.data(), row, r, got.data());
    ASSERT_EQ(want, got) << WeightLayoutName(layout) << " k=" << k << " r=" << r;
  }
  auto unpacked = packed;
  UnpackRows(layout, type, k, unpacked.data(), row, nr);
  EXPECT_EQ(unpacked, original) << WeightLayoutName(layout) << " k=" << k;
}

// kQ8_0Lanes: every byte where the layout documents it, the way back lossless, and each row
// readable on its own (embedding lookups).
TEST(WeightLayoutTest, Q8_0LanesRoundTripsAndPlacesEveryByte) {
  for (const int64_t k : {32, 96, 896}) {
    const int64_t nr = 24, nb = k / kQK8_0;
    const size_t row = RowBytes(GgmlType::kQ8_0, k);
    const auto original = QuantizedRows(GgmlType::kQ8_0, k, nr, static_cast<uint32_t>(k));
    auto packed = original;
    RepackRows(WeightLayout::kQ8_0Lanes, GgmlType::kQ8_0, k, packed.data(), row, nr);
    const auto* file = reinterpret_cast<const BlockQ8_0*>(original.data());
    for (int64_t r = 0; r < nr; ++r) {
      const uint8_t* group = packed.data() + static_cast<size_t>(r / 8 * 8) * row;
      for (int64_t b = 0; b < nb; ++b) {
        const BlockQ8_0& want = file[r * nb + b];
        const uint8_t* block = group + b * 272;
        ASSERT_EQ(0, std::memcmp(block + 2 * (r % 8), &want.d, 2)) << "k=" << k << " r=" << r << " b=" << b;
        for (int g = 0; g < 8; ++g) {
          ASSERT_EQ(0, std::memcmp(block + 16 + 32 * g + 4 * (r % 8), want.qs + 4 * g, 4))
              << "k=" << k << " r=" << r << " b=" << b << " g=" << g;
        }
      }
    }
    ExpectRowsReadBackAndUnpack(WeightLayout::kQ8_0Lanes, GgmlType::kQ8_0, k, original, packed, nr);
  }
}

// kQ4_0Lanes: scales and qs words where the layout documents them, the way back lossless, rows
// readable one at a time.
TEST(WeightLayoutTest, Q4_0LanesRoundTripsAndPlacesEveryByte) {
  for (const int64_t k : {32, 96, 896}) {
    const int64_t nr = 16, nb = k / kQK4_0;
    const size_t row = RowBytes(GgmlType::kQ4_0, k);
    const auto original = QuantizedRows(GgmlType::kQ4_0, k, nr, static_cast<uint32_t>(k));
    auto packed = original;
    RepackRows(WeightLayout::kQ4_0Lanes, GgmlType::kQ4_0, k, packed.data(), row, nr);
    const auto* file = reinterpret_cast<const BlockQ4_0*>(original.data());
    for (int64_t r = 0; r < nr; ++r) {
      const uint8_t* group = packed.data() + static_cast<size_t>(r / 8 * 8) * row;
      for (int64_t b = 0; b < nb; ++b) {
        const BlockQ4_0& want = file[r * nb + b];
        const uint8_t* block = group + b * 144;
        ASSERT_EQ(0, std::memcmp(block + 2 * (r % 8), &want.d, 2)) << "k=" << k << " r=" << r << " b=" << b;
        for (int j = 0; j < 4; ++j) {
          ASSERT_EQ(0, std::memcmp(block + 16 + 32 * j + 4 * (r % 8), want.qs + 4 * j, 4)) << "r=" << r << " j=" << j;
        }
      }
    }
    ExpectRowsReadBackAndUnpack(WeightLayout::kQ4_0Lanes, GgmlType::kQ4_0, k, original, packed, nr);
  }
}

// kQ5_0Lanes: scales, fifth-bit words and qs words where the layout documents them (every
// element's fifth bit checked on its own), the way back lossless, rows readable one at a time.
TEST(WeightLayoutTest, Q5_0LanesRoundTripsAndPlacesEveryBit) {
  for (const int64_t k : {32, 96, 896}) {
    const int64_t nr = 16, nb = k / kQK5_0;
    const size_t row = RowBytes(GgmlType::kQ5_0, k);
    const auto original = RandomQ5_0Rows(k, nr, static_cast<uint32_t>(k));
    auto packed = original;
    RepackRows(WeightLayout::kQ5_0Lanes, GgmlType::kQ5_0, k, packed.data(), row, nr);
    const auto* file = reinterpret_cast<const BlockQ5_0*>(original.data());
    for (int64_t r = 0; r < nr; ++r) {
      const uint8_t* group = packed.data() + static_cast<size_t>(r / 8 * 8) * row;
      for (int64_t b = 0; b < nb; ++b) {
        const BlockQ5_0& want = file[r * nb + b];
        const uint8_t* block = group + b * 176;
        ASSERT_EQ(0, std::memcmp(block + 2 * (r % 8), &want.d, 2)) << "k=" << k << " r=" << r << " b=" << b;
        for (int j = 0; j < 4; ++j) {
          ASSERT_EQ(0, std::memcmp(block + 48 + 32 * j + 4 * (r % 8), want.qs + 4 * j, 4)) << "r=" << r << " j=" << j;
        }
        for (int e = 0; e < 32; ++e) {
          const int want_bit = (want.qh[e / 8] >> (e % 8)) & 1;
          const int at = 8 * (e % 4) + e / 4;  // bit 8t + g of row r's word
          const int got_bit = (block[16 + 4 * (r % 8) + at / 8] >> (at % 8)) & 1;
          ASSERT_EQ(got_bit, want_bit) << "k=" << k << " r=" << r << " b=" << b << " element " << e;
        }
      }
    }
    ExpectRowsReadBackAndUnpack(WeightLayout::kQ5_0Lanes, GgmlType::kQ5_0, k, original, packed, nr);
  }
}

TEST(WeightLayoutTest, FileAndPairsRowsDequantizeAsTheFileSays) {
  const int64_t k = 128, nr = 3;
  const size_t row = RowBytes(GgmlType::kQ5_0, k);
  const auto original = RandomQ5_0Rows(k, nr, 7);
  auto packed = original;
  RepackRows(WeightLayout::kQ5_0Pairs, GgmlType::kQ5_0, k, packed.data(), row, nr);
  ExpectRowsReadBackAndUnpack(WeightLayout::kFile, GgmlType::kQ5_0, k, original, original, nr);
  ExpectRowsReadBackAndUnpack(WeightLayout::kQ5_0Pairs, GgmlType::kQ5_0, k, original, packed, nr);
}

// The lanes kernels against the same level's file-layout kernel: bit for bit at scalar (rows
// unpacked for it); at AVX2 and AVX-512 within the bound for two float summation orders (AVX2's
// row-lanes tiles sum per block in another order than its split kernel). Extreme values in some
// rows (Q8_0 -128 and 127; Q5_0 all fifth bits random, rows of 0 and of 31); row counts that end
// mid-group (the call's contract reads the group whole); every column count up to 16 (decode,
// the small-batch tiles and the prefill path's threshold) and beyond.
TEST(WeightLayoutTest, LanesGemmMatchesTheFileLayoutKernelAtEveryLevel) {
  struct Case {
    GgmlType type;
    WeightLayout layout;
  };
  for (const Case tc : {Case{GgmlType::kQ8_0, WeightLayout::kQ8_0Lanes}, Case{GgmlType::kQ5_0, WeightLayout::kQ5_0Lanes},
                        Case{GgmlType::kQ4_0, WeightLayout::kQ4_0Lanes}}) {
    for (const SimdLevel level : LevelsHere()) {
      const GemmFn file_gemm = GetGemm(tc.type, level);
      const GemmFn lanes_gemm = GetLayoutGemm(tc.type, tc.layout, level);
      ASSERT_NE(lanes_gemm, nullptr);
      for (const int64_t k : {32, 96, 384, 896, 4864}) {
        const int64_t n_alloc = 136, nb = k / 32;
        const size_t row = RowBytes(tc.type, k);
        std::vector<uint8_t> w;
        if (tc.type == GgmlType::kQ8_0) {
          w = QuantizedRows(GgmlType::kQ8_0, k, n_alloc, static_cast<uint32_t>(k));
          auto* blocks = reinterpret_cast<BlockQ8_0*>(w.data());
          for (int64_t i = 0; i < nb; ++i) {  // rows 3 and 9: the extremes
            for (int e = 0; e < 32; ++e) {
              blocks[3 * nb + i].qs[e] = -128;
              blocks[9 * nb + i].qs[e] = e % 2 ? 127 : -128;
            }
          }
        } else if (tc.type == GgmlType::kQ4_0) {
          w = QuantizedRows(GgmlType::kQ4_0, k, n_alloc, static_cast<uint32_t>(k));
          auto* blocks = reinterpret_cast<BlockQ4_0*>(w.data());
          for (int64_t i = 0; i < nb; ++i) {  // row 3 all -8, row 9 all 7
            std::memset(blocks[3 * nb + i].qs, 0x00, 16);
            std::memset(blocks[9 * nb + i].qs, 0xFF, 16);
          }
        } else {
          w = RandomQ5_0Rows(k, n_alloc, static_cast<uint32_t>(k));
          auto* blocks = reinterpret_cast<BlockQ5_0*>(w.data());
          for (int64_t i = 0; i < nb; ++i) {  // row 3 all 0, row 9 all 31
            std::memset(blocks[3 * nb + i].qs, 0x00, 16);
            std::memset(blocks[3 * nb + i].qh, 0x00, 4);
            std::memset(blocks[9 * nb + i].qs, 0xFF, 16);
            std::memset(blocks[9 * nb + i].qh, 0xFF, 4);
          }
        }
        auto packed = w;
        RepackRows(tc.layout, tc.type, k, packed.data(), row, n_alloc);
        for (const int64_t nr : {8, 13, 40, 136}) {
          for (const int64_t nc : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 21, 64}) {
            if (level == SimdLevel::kScalar && (k > 896 || nc > 16)) continue;  // slow, and no tiling to cover
            if (k == 4864 && nr == 136 && nc > 17) continue;                    // slow in the reference below
            const auto a = Q8Activations(k, nc, static_cast<uint32_t>(nc + k));
            ExpectLayoutGemmMatchesFile(file_gemm, lanes_gemm, tc.type, level == SimdLevel::kScalar, k, w, packed, nr,
                                        a, nc);
            if (::testing::Test::HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

// The AVX-512 lanes kernel computes Q8_0's block sums with vpdpbusd on sign-flipped weights
// starting from -128 x the activation sums, the AVX2 one with vpsignb/vpmaddubsw/vpmaddwd; both
// sums are exact and scaled and accumulated the same way, so the outputs must be bit-identical,
// extremes included (-128 weights, +-127 activations), on the small-batch and 16-row prefill
// paths. Decode (one column) at AVX-512 runs two blocks per vector and sums even and odd blocks
// apart (DecodeTwoBlockTile): the same exact block sums in another float order, so there the
// two must agree within the kernels' bound for two orders, (2 nb + 64) 2^-24 sum|w a|.
TEST(WeightLayoutTest, Q8_0LanesAvx512BitEqualToAvx2) {
  if (DetectSimdLevel() < SimdLevel::kAvx512) GTEST_SKIP() << "no AVX-512 here";
  const GemmFn avx2 = GetLayoutGemm(GgmlType::kQ8_0, WeightLayout::kQ8_0Lanes, SimdLevel::kAvx2);
  const GemmFn avx512 = GetLayoutGemm(GgmlType::kQ8_0, WeightLayout::kQ8_0Lanes, SimdLevel::kAvx512);
  for (const int64_t k : {32, 896}) {
    const int64_t nr = 40, nb = k / 32;
    const size_t row = RowBytes(GgmlType::kQ8_0, k);
    std::vector<uint8_t> w = QuantizedRows(GgmlType::kQ8_0, k, nr, 7);
    auto* blocks = reinterpret_cast<BlockQ8_0*>(w.data());
    for (int64_t i = 0; i < nb; ++i) {
      for (int e = 0; e < 32; ++e) {
        blocks[2 * nb + i].qs[e] = -128;
        blocks[5 * nb + i].qs[e] = e % 2 ? 127 : -128;
      }
    }
    RepackRows(WeightLayout::kQ8_0Lanes, GgmlType::kQ8_0, k, w.data(), row, nr);
    for (const int64_t nc : {1, 3, 8, 16, 21}) {
      std::vector<uint8_t> a = Q8Activations(k, nc, static_cast<uint32_t>(nc));
      auto* ab = reinterpret_cast<BlockQ8_0*>(a.data());
      for (int64_t i = 0; i < nb; ++i) {  // column 0: +-127 against the extreme rows
        for (int e = 0; e < 32; ++e) ab[i].qs[e] = e % 3 ? 127 : -127;
      }
      const size_t a_row = RowBytes(GgmlType::kQ8_0, k);
      std::vector<float> want(static_cast<size_t>(nr * nc)), got(want.size());
      avx2(k, w.data(), row, nr, a.data(), a_row, nc, want.data(), static_cast<size_t>(nr));
      avx512(k, w.data(), row, nr, a.data(), a_row, nc, got.data(), static_cast<size_t>(nr));
      if (nc > 1) {
        ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float))) << "k=" << k << " nc=" << nc;
        continue;
      }
      std::vector<float> wf(static_cast<size_t>(k)), af(static_cast<size_t>(k));
      DequantizeRow(GgmlType::kQ8_0, a.data(), af.data(), k);
      for (int64_t r = 0; r < nr; ++r) {
        DequantizeLayoutRow(WeightLayout::kQ8_0Lanes, GgmlType::kQ8_0, k, w.data(), row, r, wf.data());
        const double tol = TwoOrderBound(wf, af);
        ASSERT_LE(std::fabs(static_cast<double>(got[static_cast<size_t>(r)]) - want[static_cast<size_t>(r)]), tol)
            << "k=" << k << " r=" << r;
      }
    }
  }
}

// Under an ActivationsFixedScope the lanes kernels keep their prepared activations for the next
// call on the same activations (lanes_common.h, CachedColumns), as the threaded decode driver
// calls them 8 rows at a time: the pieces must give exactly what one call over all rows gives,
// for every layout, level, decode, small-batch and prefill column count, with the three types
// interleaved (one cache per offset). Outside a scope, and in a new scope, a buffer rewritten in place
// must be read afresh.
TEST(WeightLayoutTest, KernelsReuseActivationsOnlyWhileTheCallerPromisesTheyAreFixed) {
  struct Case {
    GgmlType type;
    WeightLayout layout;
  };
  const Case cases[] = {{GgmlType::kQ8_0, WeightLayout::kQ8_0Lanes}, {GgmlType::kQ5_0, WeightLayout::kQ5_0Lanes},
                        {GgmlType::kQ4_0, WeightLayout::kQ4_0Lanes}};
  const int64_t k = 4864, nr = 48;
  for (const SimdLevel level : LevelsHere()) {
    if (level == SimdLevel::kScalar) continue;
    std::vector<std::vector<uint8_t>> packed;
    for (const Case& tc : cases) {
      packed.push_back(tc.type == GgmlType::kQ5_0 ? RandomQ5_0Rows(k, nr, 11) : QuantizedRows(tc.type, k, nr, 11));
      RepackRows(tc.layout, tc.type, k, packed.back().data(), RowBytes(tc.type, k), nr);
    }
    for (const int64_t nc : {1, 2, 6, 15, 16, 40}) {
      const size_t a_row = RowBytes(GgmlType::kQ8_0, k);
      const auto a = Q8Activations(k, nc, static_cast<uint32_t>(nc));
      const auto b = Q8Activations(k, nc, static_cast<uint32_t>(nc + 100));
      std::vector<uint8_t> buf = a;  // rewritten in place below
      const size_t y_stride = static_cast<size_t>(nr);
      std::vector<std::vector<float>> want_a, want_b;
      for (size_t i = 0; i < std::size(cases); ++i) {
        const GemmFn gemm = GetLayoutGemm(cases[i].type, cases[i].layout, level);
        const size_t row = RowBytes(cases[i].type, k);
        want_a.emplace_back(y_stride * static_cast<size_t>(nc));
        want_b.emplace_back(y_stride * static_cast<size_t>(nc));
        gemm(k, packed[i].data(), row, nr, a.data(), a_row, nc, want_a[i].data(), y_stride);
        gemm(k, packed[i].data(), row, nr, b.data(), a_row, nc, want_b[i].data(), y_stride);
      }
      // 8 rows per call, the three types' calls interleaved, all on `buf`.
      auto run_in_pieces = [&](std::vector<std::vector<float>>& got) {
        got.assign(std::size(cases), std::vector<float>(y_stride * static_cast<size_t>(nc), -1.0f));
        for (int64_t r0 = 0; r0 < nr; r0 += 8) {
          for (size_t i = 0; i < std::size(cases); ++i) {
            const GemmFn gemm = GetLayoutGemm(cases[i].type, cases[i].layout, level);
            const size_t row = RowBytes(cases[i].type, k);
            gemm(k, packed[i].data() + r0 * row, row, 8, buf.data(), a_row, nc, got[i].data() + r0, y_stride);
          }
        }
      };
      std::vector<std::vector<float>> got;
      {
        const ActivationsFixedScope fixed;
        run_in_pieces(got);
      }
      for (size_t i = 0; i < std::size(cases); ++i) {
        ASSERT_EQ(0, std::memcmp(got[i].data(), want_a[i].data(), got[i].size() * sizeof(float)))
            << TypeName(cases[i].type) << " " << SimdLevelName(level) << " nc=" << nc;
      }
      const uint8_t* const address = buf.data();
      buf = b;  // same address, new bytes: no scope now, then a new scope
      ASSERT_EQ(buf.data(), address) << "the test needs the rewrite in place";
      run_in_pieces(got);
      for (size_t i = 0; i < std::size(cases); ++i) {
        ASSERT_EQ(0, std::memcmp(got[i].data(), want_b[i].data(), got[i].size() * sizeof(float)))
            << "stale activations without a scope: " << TypeName(cases[i].type) << " nc=" << nc;
      }
      buf = a;
      {
        const ActivationsFixedScope fixed;
        run_in_pieces(got);
        for (size_t i = 0; i < std::size(cases); ++i) {
          ASSERT_EQ(0, std::memcmp(got[i].data(), want_a[i].data(), got[i].size() * sizeof(float)))
              << "stale activations in a new scope: " << TypeName(cases[i].type) << " nc=" << nc;
        }
      }
    }
  }
}

}  // namespace
}  // namespace bastion
