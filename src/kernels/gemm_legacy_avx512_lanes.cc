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
// from the file-layout kernels only by float rounding order, and Q8_0's from two columns on equal
// the AVX2 lanes tile's bit for bit (same exact sums, same scale product and FMA).
//
// The prepared activation blocks are kept from call to call of one product (CachedColumns).
// Decode (one column) streams one 8-row group at a time with the weight stream prefetched, two
// blocks per 512-bit vector (DecodeTwoBlockTile); from
// two columns on, tiles of 2 groups (16 rows: each broadcast feeds two weight vectors) x kCols
// columns. Calls of kRowLanesMinCols columns or more (prefill) re-arrange each group pair's
// blocks once (Q4_0/Q5_0 unpacked to bytes, Q8_0's signs flipped) into 16-row 512-bit vectors
// that every column tile reads (PairTile).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "base/check.h"
#include "kernels/gemm_legacy_internal.h"
#include "kernels/lanes_common.h"

namespace bastion::legacy {
namespace {

// Q8_0's offset: its quants enter vpdpbusd as unsigned bytes with the sign bit flipped.
constexpr int kQ8Offset = 128;

// G groups of 8 rows x C columns; `act` step-major (block b of column c at act[b * C + c]).
// kOffset 128: Q8_0 (sign bits flipped here); 16: Q5_0, 8: Q4_0 (values as stored).
template <class Src, int kOffset, int G, int C>
void VnniTile(const Src& src, const ActBlock* act, int64_t nb, float* y, size_t y_stride, int rows) {
  __m256 acc[G][C];
  ZeroTile<G, C>(acc);
  const __m256i sign_bits = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < nb; ++b) {
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

// Decode on two consecutive blocks at once. The 256-bit tile spends ~47 vector
// operations on a Q4_0 group's block (8 rows x 32 elements, 144 bytes), about 12 cycles, so one
// thread could not decode much faster than the memory delivers (41-45 GB/s from cache, 23-29 from
// memory on Zen 5, where the read probe gives up to 40 GB/s per thread). Here a 512-bit vector
// holds blocks b (low half) and b + 1 (high half) of the same 8 rows — one contiguous weight
// stream, as before — so each weight unpack, vpdpbusd and epilogue operation covers two blocks.
// The activation side is kept per product per block pair: the two blocks' 64 bytes of quants,
// and their offset sums and scales either as two more 64-byte vectors beside them (192 bytes per
// pair, "full") or as 16 bytes in an array apart ("compact", two merged broadcasts each to use).
// Each group's two-block broadcast is made in registers with one vpermd (pre-arranged
// broadcasts, 640 bytes per pair, left L1 for ffn_down and lost). Q8_0 keeps the compact form:
// for ffn_down (k = 4864) the full one is 14.6 KB of activations to hold in L1 while each 8-row
// group streams 41 KB of Q8_0 weights through it, and there the two-block tile ran below the
// one-block tile (gemm_bench --k 4864 --nr 896, six alternations: 61 against 65 GB/s from L3;
// compact 68). Q4_0's and Q5_0's groups are half that, and the merges cost them 2-5% from L2,
// so they keep the full form.
struct PairScalars {
  int32_t offset_sum[2];  // -offset x (sum of the block's quants), blocks b and b + 1
  float d[2];             // the activation scales
};
static_assert(sizeof(PairScalars) == 16);

// Which form a type keeps, and so where pair p's quants are: qs[kPairVectors * p], the full form's
// offset-sum and scale vectors right after them, the compact form's in scalars[p].
template <int kOffset>
inline constexpr bool kCompactPairs = kOffset == kQ8Offset;
template <int kOffset>
inline constexpr int kPairVectors = kCompactPairs<kOffset> ? 1 : 3;

struct ActPairs {
  const __m512i* qs;
  const PairScalars* scalars;  // compact form only
};

template <int kOffset>
void PrepareActPairs(const void* a, int64_t nb, __m512i* qs, PairScalars* scalars) {
  const auto* blocks = static_cast<const BlockQ8_0*>(a);
  const __m256i ones8 = _mm256_set1_epi8(1);
  const __m256i ones16 = _mm256_set1_epi16(1);
  auto block_sum = [&](__m256i q) {
    const __m256i s8 = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16);
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
    s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    return _mm_cvtsi128_si32(s4);
  };
  for (int64_t b = 0; b < nb; b += 2) {
    const bool second = b + 1 < nb;
    const __m256i q0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[b].qs));
    const __m256i q1 = second ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[b + 1].qs))
                              : _mm256_setzero_si256();
    const int32_t s0 = -kOffset * block_sum(q0);
    const int32_t s1 = second ? -kOffset * block_sum(q1) : 0;
    const float d0 = _cvtsh_ss(blocks[b].d);
    const float d1 = second ? _cvtsh_ss(blocks[b + 1].d) : 0.0f;
    const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
    __m512i* p = &qs[kPairVectors<kOffset> * (b / 2)];
    _mm512_store_si512(p, q);
    if constexpr (kCompactPairs<kOffset>) {
      scalars[b / 2] = PairScalars{{s0, s1}, {d0, d1}};
    } else {
      _mm512_store_si512(p + 1, _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(s0)), _mm256_set1_epi32(s1), 1));
      _mm512_store_ps(p + 2, _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(d0)), _mm256_set1_ps(d1), 1));
    }
  }
}

// The activation pairs of a decode call, kept per thread for the next call on the same
// activations while the caller's ActivationsFixedScope lasts (as CachedColumns).
template <int kOffset>
ActPairs CachedActPairs(const void* a, int64_t nb) {
  constexpr size_t kPairBytes = kPairVectors<kOffset> * sizeof(__m512i) + (kCompactPairs<kOffset> ? sizeof(PairScalars) : 0);
  struct Cache {
    uint64_t epoch = 0;
    const void* a = nullptr;
    int64_t nb = 0;
    __m512i* qs = nullptr;           // one allocation: capacity pairs' vectors,
    PairScalars* scalars = nullptr;  // then (compact form) their scalars
    int64_t capacity = 0;
    ~Cache() { std::free(qs); }
  };
  thread_local Cache cache;
  const uint64_t epoch = ActivationsFixedEpoch();
  if (epoch != 0 && epoch == cache.epoch && a == cache.a && nb == cache.nb) return {cache.qs, cache.scalars};
  const int64_t n = (nb + 1) / 2;
  if (n > cache.capacity) {
    std::free(cache.qs);
    cache.qs = static_cast<__m512i*>(std::aligned_alloc(64, static_cast<size_t>(n) * kPairBytes));
    BASTION_CHECK_MSG(cache.qs != nullptr, "out of memory for kernel scratch");
    cache.capacity = n;
    if constexpr (kCompactPairs<kOffset>) cache.scalars = reinterpret_cast<PairScalars*>(cache.qs + kPairVectors<kOffset> * n);
  }
  PrepareActPairs<kOffset>(a, nb, cache.qs, cache.scalars);
  cache.epoch = epoch;
  cache.a = a;
  cache.nb = nb;
  return {cache.qs, cache.scalars};
}

// 32 bytes at p and, when `second`, at p + kBlockBytes (the next block's same field) as one
// 512-bit vector; the upper half zero otherwise (the block past the row's last is never read).
// These helpers are forced inline: GCC left Q5_0's a call per group, three times slower.
template <size_t kBlockBytes>
[[gnu::always_inline]] inline __m512i TwoBlockLoad(const uint8_t* p, bool second) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  if (!second) return _mm512_zextsi256_si512(lo);
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + kBlockBytes)), 1);
}

// Group g's weight values of blocks b and b + 1, unsigned: Q8_0's with the sign bits flipped
// (a missing second block's zero half becomes 0x80s, against zero activation quants).
[[gnu::always_inline]] inline __m512i TwoBlockVec(const LanesQ8& src, int64_t b, int g, bool second) {
  const __m512i q = TwoBlockLoad<LanesQ8::kBlockBytes>(src.At(0, b) + 16 + 32 * g, second);
  return _mm512_xor_si512(q, _mm512_set1_epi8(static_cast<char>(0x80)));
}

// Q4_0's and Q5_0's are unsigned as stored.
[[gnu::always_inline]] inline __m512i TwoBlockVec(const LanesQ4& src, int64_t b, int g, bool second) {
  const __m512i n = TwoBlockLoad<LanesQ4::kBlockBytes>(src.At(0, b) + 16 + 32 * (g % 4), second);
  const __m512i mask = _mm512_set1_epi8(0x0F);
  return g < 4 ? _mm512_and_si512(n, mask) : _mm512_and_si512(_mm512_srli_epi16(n, 4), mask);
}

[[gnu::always_inline]] inline __m512i TwoBlockVec(const LanesQ5& src, int64_t b, int g, bool second) {
  const uint8_t* p = src.At(0, b);
  const __m512i n = TwoBlockLoad<LanesQ5::kBlockBytes>(p + 48 + 32 * (g % 4), second);
  const __m512i h = TwoBlockLoad<LanesQ5::kBlockBytes>(p + 16, second);
  const __m512i mask = _mm512_set1_epi8(0x0F);
  const __m512i nibbles = g < 4 ? _mm512_and_si512(n, mask) : _mm512_and_si512(_mm512_srli_epi16(n, 4), mask);
  const __m512i fifth = g < 4 ? _mm512_slli_epi16(h, 4 - g) : g == 4 ? h : _mm512_srli_epi16(h, g - 4);
  return _mm512_or_si512(nibbles, _mm512_and_si512(fifth, _mm512_set1_epi8(0x10)));
}

// The 8 rows' F16 scales of blocks b and b + 1 (zero for a missing second block).
template <class Src>
[[gnu::always_inline]] inline __m512 TwoBlockScales(const Src& src, int64_t b, bool second) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src.At(0, b)));
  const __m128i hi = second ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(src.At(0, b + 1))) : _mm_setzero_si128();
  return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
}

template <int kOffset, class Src>
[[gnu::always_inline]] inline __m512 TwoBlockStep(const Src& src, ActPairs pairs, int64_t b, bool second, __m512 acc) {
  const int64_t p = b / 2;
  const __m512i* qs_at = &pairs.qs[kPairVectors<kOffset> * p];
  // Lanes 0-7 block b's offset sum and scale, 8-15 block b + 1's.
  __m512i p32;
  __m512 ad;
  if constexpr (kCompactPairs<kOffset>) {
    const PairScalars& s = pairs.scalars[p];
    p32 = _mm512_mask_set1_epi32(_mm512_set1_epi32(s.offset_sum[0]), 0xFF00, s.offset_sum[1]);
    ad = _mm512_mask_broadcastss_ps(_mm512_set1_ps(s.d[0]), 0xFF00, _mm_load_ss(&s.d[1]));
  } else {
    p32 = _mm512_load_si512(qs_at + 1);
    ad = _mm512_load_ps(qs_at + 2);
  }
  const __m512i qs = _mm512_load_si512(qs_at);
#pragma GCC unroll 8
  for (int g = 0; g < 8; ++g) {
    // Lanes 0-7: dword g of block b's quants; lanes 8-15: dword g of block b + 1's (dword 8 + g).
    const __m512i idx = _mm512_inserti64x4(_mm512_set1_epi32(g), _mm256_set1_epi32(8 + g), 1);
    p32 = _mm512_dpbusd_epi32(p32, TwoBlockVec(src, b, g, second), _mm512_permutexvar_epi32(idx, qs));
  }
  const __m512 scale = _mm512_mul_ps(ad, TwoBlockScales(src, b, second));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(p32), scale, acc);
}

// One 8-row group, one column, from the activation pairs.
template <int kOffset, class Src>
void DecodeTwoBlockTile(const Src& src, ActPairs pairs, int64_t nb, float* y, int rows) {
  __m512 acc = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 1 < nb; b += 2) {
    src.Prefetch(b);
    src.Prefetch(b + 1);
    acc = TwoBlockStep<kOffset>(src, pairs, b, true, acc);
  }
  if (b < nb) acc = TwoBlockStep<kOffset>(src, pairs, b, false, acc);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
  StoreLaneRows(_mm256_add_ps(_mm512_castps512_ps256(acc), hi), rows, y);
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
  const auto* wb = static_cast<const uint8_t*>(w);
  const size_t group_bytes = kLaneRows * w_stride;
  if (nc == 1) {
    const ActPairs pairs = CachedActPairs<kOffset>(a, nb);
    for (int64_t r0 = 0; r0 < nr; r0 += kLaneRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kLaneRows, nr - r0));
      DecodeTwoBlockTile<kOffset>(Src{wb + r0 * w_stride, group_bytes}, pairs, nb, y + r0, rows);
    }
    return;
  }
  const ActBlock* act = CachedColumns<kOffset>(a, a_stride, nc, nb, tile_cols);
  auto* wp = prefill ? static_cast<PairBlock*>(ThreadScratch(static_cast<size_t>(nb) * sizeof(PairBlock))) : nullptr;
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
