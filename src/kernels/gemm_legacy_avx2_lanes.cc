// AVX2 kernels for Q4_0, Q5_0 and Q8_0 weights x Q8_0 activations with one output row per int32
// lane ("row lanes"): for weights in the file's layout (or kQ5_0Pairs) the split kernel
// (gemm_legacy_avx2_split.cc) hands them calls of kRowLanesMinCols columns or more; for weights
// repacked at load into the lanes layouts (kernels/weight_layout.h: kQ8_0Lanes, kQ5_0Lanes) they
// run every call, decode included (GemmLanes at the end of this file).
//
// Why: the split kernel keeps the elements of one row in the lanes, so every (row, column, pair
// of blocks) costs two vpmaddubsw, one vpmaddwd, a conversion and two FMAs, and each output
// needs a horizontal sum. On Zen 3 (no VNNI) the multiplies (vpmaddubsw, vpmaddwd, FMA) share two
// pipes and that count bounds it. Here a weight vector holds four elements of each of 8 rows
// (lane r = row r), so:
// - the activation's four matching bytes are broadcast to all lanes, one vpmaddubsw per 4
//   elements x 8 rows; the int16 products of a whole block are added with vpaddw (Q4_0: at most
//   8 * 2*15*128 = 30720; Q5_0's 5-bit values: 4 groups at most, 31744, so two sums per block)
//   and widened by one vpmaddwd per block (Q5_0: two) for all 8 rows;
// - scales are applied per block by two FMAs for 8 rows (activation scale with the offset's
//   correction -offset * d_a * sum(a), then the 8 rows' weight scales);
// - no horizontal sums: lane r of a column's accumulator is that column's output for row r.
// That is 8 vpmaddubsw + 1 vpmaddwd + 2 FMA per block x 8 rows x column, against 16 + 4 + 8 for
// the split kernel.
//
// File-layout weights of 8 rows are transposed into that order once per call ("prepared", 8 x 32
// bytes plus 8 scales per block) and reused by every column tile (the lanes layouts are stored
// in that order, so the tiles read them directly or unpack them without the transposition); the
// activation columns are
// prepared once per call as well. A tile covers G groups of 8 rows and C columns (kGroups,
// kCols), so each broadcast serves G weight vectors and each weight vector C broadcasts.
// Results differ from the split kernel's only by float rounding order (the int32 block sums are
// exact in both).
//
// Q8_0's signed weights take a tile of their own (TileQ8): fewer savings, but still no horizontal
// sums and no per-row-and-column unpacking.
//
// Measured (Zen 3, 2 threads, `bastion bench -n 0`, alternating with the binary before): Q4_0
// pp512 ~205 -> ~345 t/s, Q4_K_M (mostly Q5_0) ~212 -> ~275, Q8_0 155-169 -> 211-244;
// docs/PERFORMANCE.md.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "kernels/avx2_common.h"
#include "kernels/gemm_legacy_internal.h"
#include "kernels/lanes_common.h"
#include "quant/blocks.h"

namespace bastion::avx2 {

void Transpose8x8Epi32(const __m256i* in, __m256i* out) {
  __m256i t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_epi32(in[2 * i], in[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_epi32(in[2 * i], in[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int g = 0; g < 4; ++g) {
    out[g] = _mm256_permute2x128_si256(u[g], u[4 + g], 0x20);
    out[g + 4] = _mm256_permute2x128_si256(u[g], u[4 + g], 0x31);
  }
}

void StoreLanes(__m256 v, int n, float* out) { legacy::StoreLaneRows(v, n, out); }

}  // namespace bastion::avx2

namespace bastion::legacy {
namespace {

// ---- Weight types: one block of one row as 32 unsigned values in element order -------------------

uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

struct Q4_0W {
  static constexpr int kOffset = 8;
  static constexpr int kBlockBytes = sizeof(BlockQ4_0);
  static float Scale(const uint8_t* row, int64_t b) { return _cvtsh_ss(LoadU16(row + b * kBlockBytes)); }
  static constexpr int kStep = 1;
  static void Values(const uint8_t* row, int64_t b, __m256i* e) { e[0] = avx2::BlockNibbles(row + b * kBlockBytes + 2); }
};

struct Q5_0W {
  static constexpr int kOffset = 16;
  static constexpr int kBlockBytes = sizeof(BlockQ5_0);
  static float Scale(const uint8_t* row, int64_t b) { return _cvtsh_ss(LoadU16(row + b * kBlockBytes)); }
  static constexpr int kStep = 1;
  static void Values(const uint8_t* row, int64_t b, __m256i* e) {
    const uint8_t* p = row + b * kBlockBytes;
    e[0] = _mm256_or_si256(avx2::BlockNibbles(p + 6), avx2::BlockFifthBits(p + 2));
  }
};

// Q8_0: signed values, no offset; multiplied by TileQ8.
struct Q8_0W {
  static constexpr int kOffset = 0;
  static constexpr int kBlockBytes = sizeof(BlockQ8_0);
  static float Scale(const uint8_t* row, int64_t b) { return _cvtsh_ss(LoadU16(row + b * kBlockBytes)); }
  static constexpr int kStep = 1;
  static void Values(const uint8_t* row, int64_t b, __m256i* e) {
    e[0] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + b * kBlockBytes + 2));
  }
};

// Q5_0 in WeightLayout::kQ5_0Pairs (kernels/weight_layout.h): 44-byte pairs, both scales first,
// the fifth bits placed for the split kernel's `lo`/`hi` vectors (see Q5_0PairsW there), whose
// 128-bit halves are the two blocks' elements 0-15 and 16-31.
struct Q5_0PairsW {
  static constexpr int kOffset = 16;
  static constexpr int kPairBytes = 2 * sizeof(BlockQ5_0);
  static float Scale(const uint8_t* row, int64_t b) {
    return _cvtsh_ss(LoadU16(row + (b / 2) * kPairBytes + 2 * (b % 2)));
  }
  // Both blocks of pair b / 2 (b even; rows in this layout hold whole pairs).
  static constexpr int kStep = 2;
  static void Values(const uint8_t* row, int64_t b, __m256i* e) {
    const uint8_t* p = row + (b / 2) * kPairBytes;
    const __m256i n = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 12));
    const __m256i mask = _mm256_set1_epi8(0x0F);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    long long bits;
    std::memcpy(&bits, p + 4, sizeof bits);
    const __m256i hb = _mm256_set1_epi64x(bits);
    const __m256i lo = _mm256_or_si256(_mm256_and_si256(n, mask),
                                       _mm256_and_si256(_mm256_sllv_epi64(hb, _mm256_setr_epi64x(4, 3, 2, 1)), bit4));
    const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(n, 4), mask),
                                       _mm256_and_si256(_mm256_srlv_epi64(hb, _mm256_setr_epi64x(0, 1, 2, 3)), bit4));
    e[0] = _mm256_permute2x128_si256(lo, hi, 0x20);
    e[1] = _mm256_permute2x128_si256(lo, hi, 0x31);
  }
};

// Rows [0, n) of the group starting at `w` -> prepared blocks; missing rows are zeros.
template <class W>
void PrepareWeights(const uint8_t* w, size_t w_stride, int n, int64_t nb, WeightBlock* out) {
  constexpr int kStep = W::kStep;
  for (int64_t b = 0; b < nb; b += kStep) {
    __m256i e[kStep][kLaneRows];
    for (int r = 0; r < kLaneRows; ++r) {
      __m256i v[kStep];
      if (r < n) {
        W::Values(w + r * w_stride, b, v);
      } else {
        for (int i = 0; i < kStep; ++i) v[i] = _mm256_setzero_si256();
      }
      for (int i = 0; i < kStep; ++i) {
        e[i][r] = v[i];
        out[b + i].d[r] = r < n ? W::Scale(w + r * w_stride, b + i) : 0.0f;
      }
    }
    for (int i = 0; i < kStep; ++i) avx2::Transpose8x8Epi32(e[i], out[b + i].w);
  }
}


// G groups of 8 rows x C columns, the weights from `src` (PreparedBlocks or a load-time layout);
// `act` is step-major: block b of column c at act[b * C + c]. `rows` of the 8 * G are stored.
// kPrefetch: decode's software prefetch of the weight stream (Src::Prefetch).
template <class Src, int kOffset, int G, int C, bool kPrefetch = false>
void Tile(const Src& src, const ActBlock* act, int64_t nb, float* y, size_t y_stride, int rows) {
  // Groups whose int16 products may be summed before widening (see the file comment).
  constexpr int kGroupsPerSum = kOffset == 8 ? 8 : 4;
  __m256 acc[G][C];
  ZeroTile<G, C>(acc);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    if constexpr (kPrefetch) src.Prefetch(b);
    const ActBlock* ab = act + b * C;
    __m256i p32[G][C];
#pragma GCC unroll 2
    for (int g0 = 0; g0 < 8; g0 += kGroupsPerSum) {
      __m256i p16[G][C];
#pragma GCC unroll 8
      for (int i = 0; i < G; ++i) {
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) p16[i][c] = _mm256_setzero_si256();
      }
#pragma GCC unroll 8
      for (int g = g0; g < g0 + kGroupsPerSum; ++g) {
        __m256i wg[G];
#pragma GCC unroll 8
        for (int i = 0; i < G; ++i) wg[i] = src.Vec(i, b, g);
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
          const __m256i a4 = Broadcast4(ab[c].qs + 4 * g);
#pragma GCC unroll 8
          for (int i = 0; i < G; ++i) {
            p16[i][c] = _mm256_add_epi16(p16[i][c], _mm256_maddubs_epi16(wg[i], a4));
            // Keeps the sum a chain: GCC 12 otherwise re-associates the unrolled adds into a
            // tree, computes all the products first and spills them to the stack (perf
            // annotate). Emits nothing.
            asm("" : "+x"(p16[i][c]));
          }
        }
      }
#pragma GCC unroll 8
      for (int i = 0; i < G; ++i) {
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
          const __m256i wide = _mm256_madd_epi16(p16[i][c], ones);
          p32[i][c] = g0 == 0 ? wide : _mm256_add_epi32(p32[i][c], wide);
        }
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < G; ++i) {
      const __m256 dw = src.Scales(i, b);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) {
        const __m256 t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32[i][c]), _mm256_broadcast_ss(&ab[c].d),
                                         _mm256_broadcast_ss(&ab[c].corr));
        acc[i][c] = _mm256_fmadd_ps(t, dw, acc[i][c]);
      }
    }
  }
  StoreTile<G, C>(acc, y, y_stride, rows);
}

// Q8_0: G groups of 8 rows x C columns. The weights are signed, so vpmaddubsw multiplies |w|
// by the activations with w's signs moved onto them (vpsignb), the only form that cannot
// saturate; its pair sums reach 2 x 128 x 127 = 32512, so every product vector is widened by its
// own vpmaddwd (no int16 sums across groups as in Tile). 8 vpsignb + 8 vpmaddubsw + 8 vpmaddwd per
// block x 8 rows x column, as the split kernel, but no horizontal sums and the weights unpacked
// once per call: gemm_bench Q8_0 (k = 4864, 896 rows) 65 -> 90-105 GOP/s on Zen 3.
// (Tried and no faster there: the activations as two unsigned nibble planes against the signed
// weights, summed in int16 with the offset returned as -128 x the row sums; the same with the
// broadcasts made by vpshufd from one 128-bit load per two groups.)
// kPrefetch: decode's software prefetch of the weight stream (Src::Prefetch).
template <class Src, int G, int C, bool kPrefetch = false>
void TileQ8(const Src& src, const ActBlock* act, int64_t nb, float* y, size_t y_stride, int rows) {
  __m256 acc[G][C];
  ZeroTile<G, C>(acc);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    if constexpr (kPrefetch) src.Prefetch(b);
    const ActBlock* ab = act + b * C;
    __m256i p32[G][C];
#pragma GCC unroll 8
    for (int g = 0; g < 8; ++g) {
      __m256i wg[G], abs_w[G];
#pragma GCC unroll 8
      for (int i = 0; i < G; ++i) {
        wg[i] = src.Vec(i, b, g);
        abs_w[i] = _mm256_abs_epi8(wg[i]);
      }
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) {
        const __m256i a4 = Broadcast4(ab[c].qs + 4 * g);
#pragma GCC unroll 8
        for (int i = 0; i < G; ++i) {
          const __m256i wide = _mm256_madd_epi16(_mm256_maddubs_epi16(abs_w[i], _mm256_sign_epi8(a4, wg[i])), ones);
          p32[i][c] = g == 0 ? wide : _mm256_add_epi32(p32[i][c], wide);
          asm("" : "+x"(p32[i][c]));  // a chain, as in Tile (else 54 spills at 1 x 4)
        }
      }
    }
    AccumulateBlock<G, C>(acc, p32, src, b, ab);
  }
  StoreTile<G, C>(acc, y, y_stride, rows);
}

// Tile shape: groups of 8 rows (each activation broadcast serves G of them) and columns (each
// weight vector serves C of them); G * C int16 sums (and for Q5_0 as many int32 ones) and
// accumulators stay in registers.
// Measured with bench/gemm_bench on Zen 3 (prefill, k = 896, three rounds): Q4_0 2 x 3 at
// 180-198 GOP/s against 137-186 for 1 x 4 and 130-183 for 2 x 2; for Q5_0, whose int32 sums
// need registers too, 2 x 3 spills and 1 x 4 was as fast as 2 x 2. Q8_0 (k = 4864): 1 x 4 and
// 2 x 2 at 90-105, 1 x 3 85-97, 2 x 1 70-82.
template <class W>
constexpr int kGroups = W::kOffset == 8 ? 2 : 1;
template <class W>
constexpr int kCols = W::kOffset == 8 ? 3 : 4;


using TileFn = void (*)(const WeightBlock*, const ActBlock*, int64_t, float*, size_t, int);

template <int G, int C>
void PreparedTileQ8(const WeightBlock* wp, const ActBlock* act, int64_t nb, float* y, size_t y_stride, int rows) {
  TileQ8<PreparedBlocks, G, C>(PreparedBlocks{wp, nb}, act, nb, y, y_stride, rows);
}
template <int kOffset, int G, int C>
void PreparedTile(const WeightBlock* wp, const ActBlock* act, int64_t nb, float* y, size_t y_stride, int rows) {
  Tile<PreparedBlocks, kOffset, G, C>(PreparedBlocks{wp, nb}, act, nb, y, y_stride, rows);
}

template <class W, int G, int... I>
constexpr std::array<TileFn, sizeof...(I)> MakeTiles(std::integer_sequence<int, I...>) {
  if constexpr (W::kOffset == 0) {
    return {&PreparedTileQ8<G, I + 1>...};
  } else {
    return {&PreparedTile<W::kOffset, G, I + 1>...};
  }
}

template <class W>
void GemmRowLanes(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride,
                  int64_t nc, float* y, size_t y_stride) {
  constexpr int kTileCols = kCols<W>;
  constexpr int G = kGroups<W>;
  static constexpr auto kTiles = MakeTiles<W, G>(std::make_integer_sequence<int, kTileCols>());
  const int64_t nb = k / kQK8_0;
  const size_t act_bytes = AlignUp(static_cast<size_t>(nc * nb) * sizeof(ActBlock));
  const size_t w_bytes = static_cast<size_t>(G * nb) * sizeof(WeightBlock);
  auto* scratch = static_cast<uint8_t*>(ThreadScratch(act_bytes + w_bytes));
  auto* act = reinterpret_cast<ActBlock*>(scratch);
  auto* wp = reinterpret_cast<WeightBlock*>(scratch + act_bytes);
  PrepareColumns<W::kOffset>(a, a_stride, nc, nb, kTileCols, act);
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t r0 = 0; r0 < nr; r0 += G * kLaneRows) {
    const int rows = static_cast<int>(std::min<int64_t>(G * kLaneRows, nr - r0));
    for (int i = 0; i < G; ++i) {
      const int n = std::clamp(rows - i * kLaneRows, 0, kLaneRows);
      PrepareWeights<W>(n > 0 ? wb + (r0 + i * kLaneRows) * w_stride : wb, w_stride, n, nb, wp + i * nb);
    }
    for (int64_t c0 = 0; c0 < nc; c0 += kTileCols) {
      const int cc = static_cast<int>(std::min<int64_t>(kTileCols, nc - c0));
      kTiles[cc - 1](wp, act + c0 * nb, nb, y + c0 * y_stride + r0, y_stride, rows);
    }
  }
}

// Weights in a lanes layout (Src: LanesQ8 or LanesQ5, W the type), every column count. Decode
// (one column) runs groups one at a time with the weight stream prefetched; small batches run
// the tiles on the layout column tile by column tile. From kRowLanesMinCols columns Q8_0 keeps
// reading the layout (its vectors need no unpacking), while Q5_0 unpacks a group's blocks once
// into the prepared form (no transposition needed) shared by every column tile, as GemmRowLanes
// does — unpacking per column tile would redo it for each.
// Per 8 rows x 32 elements for one column: Q8_0 ~50 instructions against ~84 for the split
// kernel's steps (gemm_bench decode with the weights in cache 16-22 -> 36-44 GB/s, though
// through the model decode stays at the memory's rate; pp512 alternating, five rounds: median
// 215 -> 234 t/s); Q5_0 ~63 against ~84 for the pair kernel, 2 vpmaddwd instead of 4 (decode
// from memory 10.6-11.6 -> 15.9-17.9 GB/s: it was compute-bound).
// (Tried for Q8_0 prefill and no faster in the model: the products in int16, two vpmaddwd per 8
// rows x 4 elements on sign-extended weights instead of vpsignb + vpmaddubsw + vpmaddwd, which
// a register-only microbenchmark put at 0.73x the cycles; in the tile the sign extensions and
// the doubled vpaddd load the other two pipes as much, docs/PERFORMANCE.md.)
template <class Src, int kOffset, int C, bool kPrefetch = false>
void LanesTile(const Src& src, const ActBlock* act, int64_t nb, float* y, size_t y_stride, int rows) {
  if constexpr (kOffset == 0) {
    TileQ8<Src, 1, C, kPrefetch>(src, act, nb, y, y_stride, rows);
  } else {
    Tile<Src, kOffset, 1, C, kPrefetch>(src, act, nb, y, y_stride, rows);
  }
}

template <class Src, int kOffset, int... I>
constexpr auto MakeLanesTiles(std::integer_sequence<int, I...>) {
  using Fn = void (*)(const Src&, const ActBlock*, int64_t, float*, size_t, int);
  return std::array<Fn, sizeof...(I)>{&LanesTile<Src, kOffset, I + 1>...};
}

template <class Src, class W>
void GemmLanes(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nc,
               float* y, size_t y_stride) {
  constexpr int kTileCols = kCols<W>;
  static_assert(kGroups<W> == 1);
  static constexpr auto kLanesTiles = MakeLanesTiles<Src, W::kOffset>(std::make_integer_sequence<int, kTileCols>());
  static constexpr auto kPreparedTiles = MakeTiles<W, 1>(std::make_integer_sequence<int, kTileCols>());
  const int64_t nb = k / kQK8_0;
  const bool unpack_once = W::kOffset != 0 && nc >= kRowLanesMinCols;
  const bool cached = nc <= kMaxCachedCols;  // decode and small batches
  const size_t act_bytes = cached ? 0 : AlignUp(static_cast<size_t>(nc * nb) * sizeof(ActBlock));
  const size_t w_bytes = unpack_once ? static_cast<size_t>(nb) * sizeof(WeightBlock) : 0;
  auto* scratch = static_cast<uint8_t*>(ThreadScratch(act_bytes + w_bytes));
  auto* wp = reinterpret_cast<WeightBlock*>(scratch + act_bytes);
  const ActBlock* act = nullptr;
  if (cached) {
    act = CachedColumns<W::kOffset>(a, a_stride, nc, nb, kTileCols);
  } else {
    auto* prepared = reinterpret_cast<ActBlock*>(scratch);
    PrepareColumns<W::kOffset>(a, a_stride, nc, nb, kTileCols, prepared);
    act = prepared;
  }
  const auto* wb = static_cast<const uint8_t*>(w);
  const size_t group_bytes = kLaneRows * w_stride;
  for (int64_t r0 = 0; r0 < nr; r0 += kLaneRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kLaneRows, nr - r0));
    const Src src{wb + r0 * w_stride, group_bytes};
    if (nc == 1) {
      LanesTile<Src, W::kOffset, 1, true>(src, act, nb, y + r0, y_stride, rows);
      continue;
    }
    if (unpack_once) {
      for (int64_t b = 0; b < nb; ++b) {
        for (int g = 0; g < 8; ++g) _mm256_store_si256(&wp[b].w[g], src.Vec(0, b, g));
        _mm256_store_ps(wp[b].d, src.Scales(0, b));
      }
    }
    for (int64_t c0 = 0; c0 < nc; c0 += kTileCols) {
      const int cc = static_cast<int>(std::min<int64_t>(kTileCols, nc - c0));
      float* yt = y + c0 * y_stride + r0;
      if (unpack_once) {
        kPreparedTiles[cc - 1](wp, act + c0 * nb, nb, yt, y_stride, rows);
      } else {
        kLanesTiles[cc - 1](src, act + c0 * nb, nb, yt, y_stride, rows);
      }
    }
  }
}

}  // namespace

GemmFn GemmRowLanesAvx2(GgmlType weight_type, bool q5_0_pairs) {
  if (q5_0_pairs) return weight_type == GgmlType::kQ5_0 ? GemmRowLanes<Q5_0PairsW> : nullptr;
  switch (weight_type) {
    case GgmlType::kQ4_0: return GemmRowLanes<Q4_0W>;
    case GgmlType::kQ5_0: return GemmRowLanes<Q5_0W>;
    case GgmlType::kQ8_0: return GemmRowLanes<Q8_0W>;
    default: return nullptr;
  }
}

GemmFn GemmQ8_0LanesAvx2() { return GemmLanes<LanesQ8, Q8_0W>; }
GemmFn GemmQ5_0LanesAvx2() { return GemmLanes<LanesQ5, Q5_0W>; }

}  // namespace bastion::legacy
