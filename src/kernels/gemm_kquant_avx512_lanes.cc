// AVX-512 VNNI kernels for Q4_K and Q6_K weights in the load-time lanes layouts
// (kquant_lanes_layout.h: 16-row groups) x Q8_K activations, every column count.
//
// Why: the row kernels (gemm_kquant_avx512.cc) keep 256 elements of one row in four vectors, so
// every super-block of every row pays its own scale decode (scalar bit twiddling, two vpermw), a
// horizontal layout change (packs) and, per output, a horizontal sum: about 40 vector operations
// per 144-byte Q4_K block. From cache one thread ran Q4_K at 19 GB/s and Q6_K at 26, so from
// memory their compute no longer hid under the stream (13.9 / 14.4 GB/s against the Q8_0 lanes
// kernel's 15.0, bench/gemm_bench, k = 4864: Q4_K_M's ffn_down). Here lane r of every vector is
// row r of a 16-row group: one vpdpbusd multiplies 4 elements of 16 rows by one broadcast
// activation dword (an embedded-broadcast memory operand, no shuffle), the 6-bit scales and mins
// of all 16 rows decode with a handful of whole-vector operations per super-block, and the
// outputs come out as one vector per 16 rows.
//
// Arithmetic, per row and super-block, with the same integers as the scalar reference
// (quant/k_quants.cc):
//   Q4_K: isum = sum_s scale[s] * dot_s(q, a), msum = sum_s min[s] * bsum32[s], where bsum32[s]
//         (the Q8_K bsums of sub-block s, |bsum32| <= 32 x 127) is split as 128 hi + lo with lo in
//         [0, 127] and hi in [-32, 31] so that vpdpbusd forms sum_s min[s] * lo[s] and
//         sum_s min[s] * hi[s] from the 6-bit mins as bytes; then acc += (d y.d) isum -
//         (dmin y.d) msum.
//   Q6_K: isum = sum_g scale[g] * (dot_g(q + 32, a) - 32 bsum[g]), the stored values unsigned
//         (0..63) and the offset removed from each group's int32 sum; then acc += (d y.d) isum.
// Only the float accumulation differs from the reference (a fused multiply-add per super-block).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/gemm_kquant_avx512.h"
#include "kernels/gemm_kquant_internal.h"
#include "kernels/kquant_lanes_layout.h"
#include "quant/blocks.h"

namespace bastion::kquant {
namespace {

using klanes::kRows;

// Decode prefetches the group's stream this far ahead into L2, one request per 64-byte line (as
// the legacy lanes kernels, lanes_common.h kLanesPrefetchBytes: measured there on the Intel Xeon
// of the seventeenth session, docs/PERFORMANCE.md).
constexpr size_t kPrefetchBytes = 8192;

// Columns per tile: each adds its vpdpbusd chains (two for Q4_K, one for Q6_K), an int32
// super-block sum and a float accumulator (up to 16 of the 32 vector registers at 4, with the
// weight vectors, their decoded forms and constants alongside).
constexpr int kCols = 4;

inline int32_t Load32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Four activation bytes in every int32 lane (a vpbroadcastd from memory: a load, no shuffle).
inline __m512i Broadcast4(const int8_t* p) { return _mm512_set1_epi32(Load32(p)); }

// ---- What each column adds per super-block beyond its quants (made once per product) ----

// Q4_K: the sub-block sums of the Q8_K bsums, split for vpdpbusd (bsum32 = 128 hi + lo).
struct Q4KExtra {
  int8_t lo[8];
  int8_t hi[8];
};

// Q6_K: -32 x bsums[g], each group's int32 sum starts from it.
struct Q6KExtra {
  int32_t offset[16];
};

void PrepareExtra(const BlockQ8_K& a, Q4KExtra* out) {
  for (int s = 0; s < 8; ++s) {
    const int bs = a.bsums[2 * s] + a.bsums[2 * s + 1];
    out->lo[s] = static_cast<int8_t>(bs & 127);
    out->hi[s] = static_cast<int8_t>(bs >> 7);  // arithmetic: bs = 128 (bs >> 7) + (bs & 127)
  }
}

void PrepareExtra(const BlockQ8_K& a, Q6KExtra* out) {
  for (int g = 0; g < 16; ++g) out->offset[g] = -32 * a.bsums[g];
}

// Column c's extra for super-block b at [c * nb + b], kept per thread for the next call on the
// same activations while the caller's ActivationsFixedScope lasts: decode gives a call one group
// (16 rows of ffn_down, 44-64 KB of weights, a few microseconds of streaming), and this is a few
// hundred scalar operations per column (estimated, not measured apart).
template <class Extra>
const Extra* CachedExtra(const void* a, size_t a_stride, int64_t nc, int64_t nb) {
  struct Cache {
    uint64_t epoch = 0;
    const void* a = nullptr;
    size_t a_stride = 0;
    int64_t nc = 0, nb = 0;
    std::vector<Extra> extra;
  };
  thread_local Cache cache;
  const uint64_t epoch = ActivationsFixedEpoch();
  if (epoch != 0 && epoch == cache.epoch && a == cache.a && a_stride == cache.a_stride && nc == cache.nc &&
      nb == cache.nb) {
    return cache.extra.data();
  }
  cache.extra.resize(static_cast<size_t>(nc * nb));
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t c = 0; c < nc; ++c) {
    const auto* blocks = reinterpret_cast<const BlockQ8_K*>(ab + c * a_stride);
    for (int64_t b = 0; b < nb; ++b) PrepareExtra(blocks[b], &cache.extra[static_cast<size_t>(c * nb + b)]);
  }
  cache.epoch = epoch;
  cache.a = a;
  cache.a_stride = a_stride;
  cache.nc = nc;
  cache.nb = nb;
  return cache.extra.data();
}

// ---- Tiles: one 16-row group x C columns, all super-blocks ----

struct TileArgs {
  const uint8_t* group;   // the group's first super-block
  int64_t nb;             // super-blocks per row
  const uint8_t* a;       // the tile's first activation row (Q8_K)
  size_t a_stride;
  const void* extra;      // the tile's first column's extras (column c at + c * nb)
  float* y;               // row 0 of the group, the tile's first column
  size_t y_stride;
  int rows;               // rows of the group to store (1..16)
  bool prefetch;          // stream ahead (the first column tile of a group)
};

// Part `part` of kParts of the lines of the super-block kPrefetchBytes ahead of `blk`: spread
// over the super-block's steps rather than in one burst, which would fill the line-fill buffers
// and stall the loads behind it.
template <size_t kBlockBytes, int kParts>
inline void PrefetchPart(const uint8_t* blk, int part) {
  constexpr size_t kLines = (kBlockBytes + 63) / 64;
  const char* p = reinterpret_cast<const char*>(blk) + kPrefetchBytes;
  for (size_t l = kLines * part / kParts; l < kLines * (part + 1) / kParts; ++l) _mm_prefetch(p + 64 * l, _MM_HINT_T1);
}

template <int C>
inline void StoreColumns(const TileArgs& t, const __m512 (&acc)[C]) {
  const auto keep = static_cast<__mmask16>((1u << t.rows) - 1);
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) _mm512_mask_storeu_ps(t.y + c * t.y_stride, keep, acc[c]);
}

// vpshufb controls that copy byte k of every dword to its bytes 0 and 2 and clear bytes 1 and
// 3: one 6-bit scale of each of the 16 rows as a pair of int16 (for vpdpwssd).
inline __m512i PickBytePair(int k) {
  const uint32_t base = 0x80008000u | static_cast<uint32_t>(k) | static_cast<uint32_t>(k) << 16;
  const uint32_t step = 0x00040004u;
  return _mm512_broadcast_i32x4(_mm_setr_epi32(static_cast<int>(base), static_cast<int>(base + step),
                                               static_cast<int>(base + 2 * step), static_cast<int>(base + 3 * step)));
}

template <int C>
void Q4KTile(const TileArgs& t) {
  const auto* extra = static_cast<const Q4KExtra*>(t.extra);
  __m512 acc[C];
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  const __m512i m0f = _mm512_set1_epi8(0x0F);
  const __m512i pick[4] = {PickBytePair(0), PickBytePair(1), PickBytePair(2), PickBytePair(3)};
  for (int64_t b = 0; b < t.nb; ++b) {
    const uint8_t* blk = t.group + static_cast<size_t>(b) * klanes::q4k::kBytes;
    // Scales and mins of the 16 rows, four 6-bit values per dword.
    const auto [s_lo, s_hi, m_lo, m_hi] = avx512::DecodeLanesScaleMins(blk + klanes::q4k::kScaleWords);
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + klanes::q4k::kD)));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + klanes::q4k::kDmin)));
    const BlockQ8_K* act[C];
    __m512i sacc[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      act[c] = reinterpret_cast<const BlockQ8_K*>(t.a + c * t.a_stride) + b;
      const Q4KExtra& ex = extra[c * t.nb + b];
      __m512i by_lo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), m_lo, Broadcast4(ex.lo));
      by_lo = _mm512_dpbusd_epi32(by_lo, m_hi, Broadcast4(ex.lo + 4));
      __m512i by_hi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), m_lo, Broadcast4(ex.hi));
      by_hi = _mm512_dpbusd_epi32(by_hi, m_hi, Broadcast4(ex.hi + 4));
      const __m512i msum = _mm512_add_epi32(by_lo, _mm512_slli_epi32(by_hi, 7));
      const __m512 yd = _mm512_set1_ps(act[c]->d);
      acc[c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dmin, yd), acc[c]);
      sacc[c] = _mm512_setzero_si512();
    }
#pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {
      if (t.prefetch) PrefetchPart<klanes::q4k::kBytes, 8>(blk, s);
      // The scale of sub-block s for each row, in both 16-bit halves of its dword.
      const __m512i sc = _mm512_shuffle_epi8(s < 4 ? s_lo : s_hi, pick[s % 4]);
      // Per column two vpdpbusd chains: the low nibbles (elements 0-15 of the sub-block) as
      // values, the high ones (16-31) left in place, so 16 x their values. Each chain is a dot
      // over 16 elements, |sum| <= 16 x 15 x 127 = 30480 (x 16 for the second), so the first and
      // the second shifted down by 4 fit int16: shifted into one dword (the second's low bits are
      // zero) they meet the scale pair in one vpdpwssd, sum += scale x (lo + hi), exact.
      __m512i p_lo[C], p_hi[C];
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) p_lo[c] = p_hi[c] = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int v = 0; v < 4; ++v) {
        const __m512i x = _mm512_loadu_si512(blk + klanes::q4k::kQuants + 256 * s + 64 * v);
        const __m512i lo = _mm512_and_si512(x, m0f);
        const __m512i hi16 = _mm512_andnot_si512(m0f, x);
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
          p_lo[c] = _mm512_dpbusd_epi32(p_lo[c], lo, Broadcast4(act[c]->qs + 32 * s + 4 * v));
          p_hi[c] = _mm512_dpbusd_epi32(p_hi[c], hi16, Broadcast4(act[c]->qs + 32 * s + 16 + 4 * v));
        }
      }
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) {
        // p_hi = 16 x (its dot), a multiple of 16: << 12 puts dot into the high half, zeros below.
        const __m512i pair = _mm512_mask_blend_epi16(0xAAAAAAAAu, p_lo[c], _mm512_slli_epi32(p_hi[c], 12));
        sacc[c] = _mm512_dpwssd_epi32(sacc[c], pair, sc);
      }
    }
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const __m512 yd = _mm512_set1_ps(act[c]->d);
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sacc[c]), _mm512_mul_ps(d, yd), acc[c]);
    }
  }
  StoreColumns<C>(t, acc);
}

template <int C>
void Q6KTile(const TileArgs& t) {
  const auto* extra = static_cast<const Q6KExtra*>(t.extra);
  __m512 acc[C];
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < t.nb; ++b) {
    const uint8_t* blk = t.group + static_cast<size_t>(b) * klanes::q6k::kBytes;
    const BlockQ8_K* act[C];
    __m512i sacc[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      act[c] = reinterpret_cast<const BlockQ8_K*>(t.a + c * t.a_stride) + b;
      sacc[c] = _mm512_setzero_si512();
    }
#pragma GCC unroll 16
    for (int g = 0; g < 16; ++g) {
      if (t.prefetch) PrefetchPart<klanes::q6k::kBytes, 16>(blk, g);
      const uint8_t* q = blk + klanes::q6k::kQuants + klanes::q6k::kGroupBytes * g;
      const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + klanes::q6k::kScales + 16 * g)));
      __m512i w[4];
      avx512::Q6KLanesValues(_mm512_loadu_si512(q), _mm512_loadu_si512(q + 64), _mm512_loadu_si512(q + 128), w);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) {
        const int8_t* aq = act[c]->qs + 16 * g;
        __m512i p = _mm512_set1_epi32(extra[c * t.nb + b].offset[g]);
#pragma GCC unroll 4
        for (int step = 0; step < 4; ++step) p = _mm512_dpbusd_epi32(p, w[step], Broadcast4(aq + 4 * step));
        sacc[c] = _mm512_add_epi32(sacc[c], _mm512_mullo_epi32(p, sc));
      }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + klanes::q6k::kD)));
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const __m512 yd = _mm512_set1_ps(act[c]->d);
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sacc[c]), _mm512_mul_ps(d, yd), acc[c]);
    }
  }
  StoreColumns<C>(t, acc);
}

template <template <int> class Tile, int... I>
constexpr auto MakeTiles(std::integer_sequence<int, I...>) {
  return std::array<void (*)(const TileArgs&), sizeof...(I)>{&Tile<I + 1>::Run...};
}

template <int C>
struct Q4KTileFn {
  static void Run(const TileArgs& t) { Q4KTile<C>(t); }
};
template <int C>
struct Q6KTileFn {
  static void Run(const TileArgs& t) { Q6KTile<C>(t); }
};

template <class Extra, template <int> class Tile>
void LanesGemm(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nc,
               float* y, size_t y_stride) {
  static constexpr auto kTiles = MakeTiles<Tile>(std::make_integer_sequence<int, kCols>());
  if (nc >= kAvx512LanesMinColsForCols) {
    static const GemmFn cols = Avx512LanesColsGemm(std::is_same_v<Extra, Q4KExtra> ? GgmlType::kQ4_K : GgmlType::kQ6_K);
    return cols(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
  }
  const int64_t nb = k / kQK_K;
  const Extra* extra = CachedExtra<Extra>(a, a_stride, nc, nb);
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t r0 = 0; r0 < nr; r0 += kRows) {
    TileArgs t{};
    t.group = wb + r0 * w_stride;
    t.nb = nb;
    t.a_stride = a_stride;
    t.y_stride = y_stride;
    t.rows = static_cast<int>(std::min<int64_t>(kRows, nr - r0));
    for (int64_t c0 = 0; c0 < nc; c0 += kCols) {
      const int cc = static_cast<int>(std::min<int64_t>(kCols, nc - c0));
      t.a = ab + c0 * a_stride;
      t.extra = extra + c0 * nb;
      t.y = y + c0 * y_stride + r0;
      t.prefetch = c0 == 0;  // later tiles find the group in cache
      kTiles[static_cast<size_t>(cc - 1)](t);
    }
  }
}

}  // namespace

GemmFn Avx512LanesGemm(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::kQ4_K: return LanesGemm<Q4KExtra, Q4KTileFn>;
    case GgmlType::kQ6_K: return LanesGemm<Q6KExtra, Q6KTileFn>;
    default: return nullptr;
  }
}

}  // namespace bastion::kquant
