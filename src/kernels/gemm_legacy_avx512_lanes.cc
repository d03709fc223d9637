// AVX-512 VNNI kernels for Q8_0, Q5_0 and Q4_0 weights in the load-time lanes layouts
// (kernels/weight_layout.h: kQ8_0Lanes, kQ5_0Lanes, kQ4_0Lanes) x Q8_0 activations, every column
// count.
//
// Why: the AVX-512 row kernel (gemm_legacy_avx512.cc) keeps 32 elements of one weight row per
// vector, so decode spends a horizontal sum per row and unpacks every block into a full vector
// before its one vpdpbusd. On Zen 5 that was compute-bound below the memory's rate: one thread
// decoded Q5_0 at 15 GB/s from memory against 20-21 for the AVX2 row-lanes kernel on the same
// machine (bench/gemm_bench), and the model's Q5_0 products ran at 28 GB/s on two threads against
// a 46 GB/s read probe (decode_bench). Here, as in the AVX2 row-lanes tiles
// (gemm_legacy_avx2_lanes.cc), lane r of a 256-bit vector is row r of an 8-row group, the
// activation's four bytes are broadcast to every lane and there is no horizontal sum; VNNI's
// vpdpbusd then does in one instruction what AVX2 needs vpmaddubsw + vpaddw + vpmaddwd for.
//
// vpdpbusd multiplies unsigned by signed bytes and adds the four products to an int32 lane
// without saturating, so the weights go in unsigned with an offset: Q5_0's stored values u =
// w + 16 and Q4_0's u = w + 8 as they are, Q8_0's quants with the sign bit flipped (w ^ 0x80 =
// w + 128 as a byte). Each block's int32 sum starts from -offset x (sum of the activation's
// quants) (ActBlock::offset_sum), so after the 8 vpdpbusd it is exactly sum(w x a), as in every other kernel: the results differ
// from the file-layout kernels only by float rounding order, and Q8_0's equal the AVX2 lanes
// tile's bit for bit (same exact sums, same scale product and FMA).
//
// The prepared activation blocks are kept from call to call of one product (CachedColumns).
// Decode (one column) streams one 8-row group at a time with the weight stream prefetched; from
// two columns on, tiles of 2 groups (16 rows: each broadcast feeds two weight vectors) x kCols
// columns. Calls of kRowLanesMinCols columns or more (prefill) re-arrange each group pair's
// blocks once (Q4_0/Q5_0 unpacked to bytes, Q8_0's signs flipped) into 16-row 512-bit vectors
// that every column tile reads (PairTile).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "kernels/gemm_legacy_internal.h"
#include "kernels/lanes_common.h"

namespace bastion::legacy {
namespace {

// Q8_0's offset: its quants enter vpdpbusd as unsigned bytes with the sign bit flipped.
constexpr int kQ8Offset = 128;

// G groups of 8 rows x C columns; `act` step-major (block b of column c at act[b * C + c]).
// kOffset 128: Q8_0 (sign bits flipped here); 16: Q5_0, 8: Q4_0 (values as stored).
template <class Src, int kOffset, int G, int C, bool kPrefetch = false>
void VnniTile(const Src& src, const ActBlock* act, int64_t nb, float* y, size_t y_stride, int rows) {
  __m256 acc[G][C];
  ZeroTile<G, C>(acc);
  const __m256i sign_bits = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < nb; ++b) {
    if constexpr (kPrefetch) src.Prefetch(b);
    const ActBlock* ab = act + b * C;
    __m256i p32[G][C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const __m256i start = _mm256_set1_epi32(ab[c].offset_sum);
#pragma GCC unroll 8
      for (int i = 0; i < G; ++i) p32[i][c] = start;
    }
#pragma GCC unroll 8
    for (int g = 0; g < 8; ++g) {
      __m256i wg[G];
#pragma GCC unroll 8
      for (int i = 0; i < G; ++i) {
        wg[i] = src.Vec(i, b, g);
        if constexpr (kOffset == kQ8Offset) wg[i] = _mm256_xor_si256(wg[i], sign_bits);
      }
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) {
        const __m256i a4 = Broadcast4(ab[c].qs + 4 * g);
#pragma GCC unroll 8
        for (int i = 0; i < G; ++i) p32[i][c] = _mm256_dpbusd_epi32(p32[i][c], wg[i], a4);
      }
    }
    AccumulateBlock<G, C>(acc, p32, src, b, ab);
  }
  StoreTile<G, C>(acc, y, y_stride, rows);
}

// Prefill's form of a group pair's block b: 8 vectors of 64 bytes whose lanes 0-7 are the first
// group's rows and 8-15 the second's (unsigned values, Q8_0's sign bits already flipped), then
// the 16 rows' scales. Made once per call from the layout, read by every column tile.
struct alignas(64) PairBlock {
  __m512i w[8];
  float d[16];
};
static_assert(sizeof(PairBlock) == 576);

template <class Src, int kOffset>
void PreparePair(const Src& src, int groups, int64_t nb, PairBlock* out) {
  const __m256i sign_bits = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < nb; ++b) {
    PairBlock& o = out[b];
    for (int i = 0; i < 2; ++i) {
      for (int g = 0; g < 8; ++g) {
        __m256i v = _mm256_setzero_si256();
        if (i < groups) {
          v = src.Vec(i, b, g);
          if constexpr (kOffset == kQ8Offset) v = _mm256_xor_si256(v, sign_bits);
        }
        _mm256_store_si256(reinterpret_cast<__m256i*>(&o.w[g]) + i, v);
      }
      _mm256_store_ps(o.d + 8 * i, i < groups ? src.Scales(i, b) : _mm256_setzero_ps());
    }
  }
}

// 16 rows (one PairBlock per block) x C columns in 512-bit vectors: one vpdpbusd per 16 rows x 4
// elements x column, twice the 256-bit tile's work per instruction.
template <int C>
void PairTile(const PairBlock* wp, const ActBlock* act, int64_t nb, float* y, size_t y_stride, int rows) {
  __m512 acc[C];
#pragma GCC unroll 16
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const PairBlock& blk = wp[b];
    const ActBlock* ab = act + b * C;
    __m512i p32[C];
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) p32[c] = _mm512_set1_epi32(ab[c].offset_sum);
#pragma GCC unroll 8
    for (int g = 0; g < 8; ++g) {
      const __m512i w = _mm512_load_si512(&blk.w[g]);
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        int32_t a4;
        std::memcpy(&a4, ab[c].qs + 4 * g, sizeof a4);
        p32[c] = _mm512_dpbusd_epi32(p32[c], w, _mm512_set1_epi32(a4));
      }
    }
    const __m512 dw = _mm512_load_ps(blk.d);
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(ab[c].d), dw);
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p32[c]), scale, acc[c]);
    }
  }
  const __mmask16 keep = static_cast<__mmask16>((1u << rows) - 1);
#pragma GCC unroll 16
  for (int c = 0; c < C; ++c) _mm512_mask_storeu_ps(y + c * y_stride, keep, acc[c]);
}

// Prefill's column tile: 8 p32 sums and 8 accumulators.
constexpr int kPairCols = 8;

template <int... I>
constexpr auto MakePairTiles(std::integer_sequence<int, I...>) {
  using Fn = void (*)(const PairBlock*, const ActBlock*, int64_t, float*, size_t, int);
  return std::array<Fn, sizeof...(I)>{&PairTile<I + 1>...};
}

// Columns per tile: 2 x 6 tiles hold 12 int32 sums and 12 accumulators in the 32 vector
// registers AVX-512 gives (ymm16-31 included).
constexpr int kCols = 6;
constexpr int kGroups = 2;

template <class Src, int kOffset, int G, int... I>
constexpr auto MakeTiles(std::integer_sequence<int, I...>) {
  using Fn = void (*)(const Src&, const ActBlock*, int64_t, float*, size_t, int);
  return std::array<Fn, sizeof...(I)>{&VnniTile<Src, kOffset, G, I + 1>...};
}

template <class Src, int kOffset>
void GemmLanesVnni(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nc,
                   float* y, size_t y_stride) {
  using Cols = std::make_integer_sequence<int, kCols>;
  static constexpr std::array<decltype(MakeTiles<Src, kOffset, 1>(Cols())), kGroups> kLanesTiles = {
      MakeTiles<Src, kOffset, 1>(Cols()), MakeTiles<Src, kOffset, 2>(Cols())};
  static constexpr auto kPairTiles = MakePairTiles(std::make_integer_sequence<int, kPairCols>());
  const int64_t nb = k / kQK8_0;
  const bool prefill = nc >= kRowLanesMinCols;
  const int64_t tile_cols = prefill ? kPairCols : kCols;
  const ActBlock* act = CachedColumns<kOffset>(a, a_stride, nc, nb, tile_cols);
  auto* wp = prefill ? static_cast<PairBlock*>(ThreadScratch(static_cast<size_t>(nb) * sizeof(PairBlock))) : nullptr;
  const auto* wb = static_cast<const uint8_t*>(w);
  const size_t group_bytes = kLaneRows * w_stride;
  if (nc == 1) {
    for (int64_t r0 = 0; r0 < nr; r0 += kLaneRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kLaneRows, nr - r0));
      VnniTile<Src, kOffset, 1, 1, true>(Src{wb + r0 * w_stride, group_bytes}, act, nb, y + r0, y_stride, rows);
    }
    return;
  }
  for (int64_t r0 = 0; r0 < nr; r0 += kGroups * kLaneRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kGroups * kLaneRows, nr - r0));
    const int groups = (rows + kLaneRows - 1) / kLaneRows;
    const Src src{wb + r0 * w_stride, group_bytes};
    if (prefill) PreparePair<Src, kOffset>(src, groups, nb, wp);
    for (int64_t c0 = 0; c0 < nc; c0 += tile_cols) {
      const int cc = static_cast<int>(std::min<int64_t>(tile_cols, nc - c0));
      float* yt = y + c0 * y_stride + r0;
      if (prefill) {
        kPairTiles[cc - 1](wp, act + c0 * nb, nb, yt, y_stride, rows);
      } else {
        kLanesTiles[groups - 1][cc - 1](src, act + c0 * nb, nb, yt, y_stride, rows);
      }
    }
  }
}

}  // namespace

GemmFn GemmQ8_0LanesAvx512() { return GemmLanesVnni<LanesQ8, kQ8Offset>; }
GemmFn GemmQ5_0LanesAvx512() { return GemmLanesVnni<LanesQ5, 16>; }
GemmFn GemmQ4_0LanesAvx512() { return GemmLanesVnni<LanesQ4, 8>; }

}  // namespace bastion::legacy
