// Row-lanes pieces shared by the AVX2 and AVX-512 row-lanes kernel files
// (gemm_legacy_avx2_lanes.cc, gemm_legacy_avx512_lanes.cc): the prepared activation and weight
// blocks, the readers of the load-time lanes layouts (kernels/weight_layout.h) and the tile
// helpers. Everything here has internal linkage, so each including file gets its own copy
// compiled with its own instruction-set flags (see gemm_legacy_internal.h for why a shared inline
// SIMD function must not have external linkage). Include only from those two files.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/gemm.h"
#include "quant/blocks.h"

namespace bastion::legacy {
namespace {

constexpr int kLaneRows = 8;

// One activation block: its quants and the two scalars the block's FMAs need.
struct ActBlock {
  int8_t qs[32];
  float d;             // the activation scale
  float corr;          // d * -offset * (sum of qs): the weights' offset folded in (AVX2 tiles)
  int32_t offset_sum;  // -offset * (sum of qs), exact: the VNNI tiles' int32 sums start from it
};
static_assert(sizeof(ActBlock) == 44);

// One block of 8 rows: w[g] holds elements 4g..4g+3 of row r in its int32 lane r (unsigned
// weight values, offset not removed), d[r] row r's scale.
struct alignas(32) WeightBlock {
  __m256i w[8];
  float d[8];
};
static_assert(sizeof(WeightBlock) == 288);

template <int kOffset>
void PrepareAct(const uint8_t* a, int64_t nb, ActBlock* out, int64_t out_stride) {
  const auto* blocks = reinterpret_cast<const BlockQ8_0*>(a);
  const __m256i ones8 = _mm256_set1_epi8(1);
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[b].qs));
    ActBlock& o = out[b * out_stride];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs), q);
    o.d = _cvtsh_ss(blocks[b].d);
    o.corr = 0.0f;
    o.offset_sum = 0;
    if constexpr (kOffset != 0) {
      const __m256i s8 = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16);
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
      s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
      o.offset_sum = -kOffset * _mm_cvtsi128_si32(s4);
      o.corr = o.d * static_cast<float>(o.offset_sum);
    }
  }
}

// Activation columns prepared in tiles of `cols` columns, step-major within each: block b of
// column c0 + i (c0 a multiple of cols) at act[c0 * nb + b * cc + i], cc the tile's width.
template <int kOffset>
void PrepareColumns(const void* a, size_t a_stride, int64_t nc, int64_t nb, int64_t cols, ActBlock* act) {
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t c = 0; c < nc; ++c) {
    const int64_t c0 = c / cols * cols;
    const int64_t cc = std::min<int64_t>(cols, nc - c0);
    PrepareAct<kOffset>(ab + c * a_stride, nb, act + c0 * nb + (c - c0), cc);
  }
}

// Columns up to which the AVX2 lanes kernel keeps its prepared activations (decode and small
// batches). Its prefill calls take 64-token tiles, a new activation pointer each, which a
// one-entry cache would only miss.
constexpr int64_t kMaxCachedCols = 15;

// PrepareColumns' result for a call, kept per thread (and per offset) for the next call on the
// same activations while the caller's ActivationsFixedScope (kernels/gemm.h) lasts. Decode gives
// a call one 32 KiB piece of rows: for ffn_down (k = 4864) that is a single 8-row group, and
// preparing its 152 activation blocks took about as long as the group's product. Prefill at
// AVX-512 calls once per chunk of rows with the whole batch, so each thread prepares a product's
// 512 columns once instead of once per chunk (+2% pp512 for Q4_0 on Zen 5; the kept blocks, up
// to 630 KB per offset and thread for k = 896, added 1.5-3 MiB to the peak memory).
template <int kOffset>
const ActBlock* CachedColumns(const void* a, size_t a_stride, int64_t nc, int64_t nb, int64_t cols) {
  struct Cache {
    uint64_t epoch = 0;  // 0: nothing kept
    const void* a = nullptr;
    size_t a_stride = 0;
    int64_t nc = 0, nb = 0, cols = 0;
    std::vector<ActBlock> blocks;
  };
  thread_local Cache cache;
  const uint64_t epoch = ActivationsFixedEpoch();
  if (epoch != 0 && epoch == cache.epoch && a == cache.a && a_stride == cache.a_stride && nc == cache.nc &&
      nb == cache.nb && cols == cache.cols) {
    return cache.blocks.data();
  }
  if (cache.blocks.size() < static_cast<size_t>(nc * nb)) cache.blocks.resize(static_cast<size_t>(nc * nb));
  PrepareColumns<kOffset>(a, a_stride, nc, nb, cols, cache.blocks.data());
  cache.epoch = epoch;
  cache.a = a;
  cache.a_stride = a_stride;
  cache.nc = nc;
  cache.nb = nb;
  cache.cols = cols;
  return cache.blocks.data();
}


// Lanes 0..n-1 of v to out[0..n), n <= 8 (one unaligned store when n == 8).
inline void StoreLaneRows(__m256 v, int n, float* out) {
  if (n == 8) {
    _mm256_storeu_ps(out, v);
    return;
  }
  alignas(32) float tmp[8];
  _mm256_store_ps(tmp, v);
  for (int r = 0; r < n; ++r) out[r] = tmp[r];
}

inline size_t AlignUp(size_t n) { return (n + 63) / 64 * 64; }

// Four bytes at p in every int32 lane: one vbroadcastss from memory (the float goes through
// memcpy, so the int8 bytes are never read through a float lvalue).
__m256i Broadcast4(const int8_t* p) {
  float f;
  std::memcpy(&f, p, sizeof f);
  return _mm256_castps_si256(_mm256_set1_ps(f));
}

// Clears a tile's G x C accumulators.
template <int G, int C>
void ZeroTile(__m256 (&acc)[G][C]) {
#pragma GCC unroll 8
  for (int i = 0; i < G; ++i) {
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[i][c] = _mm256_setzero_ps();
  }
}

// Lane r of acc[i][c] -> row 8i + r of column c; `rows` of the 8 * G are stored.
template <int G, int C>
void StoreTile(const __m256 (&acc)[G][C], float* y, size_t y_stride, int rows) {
#pragma GCC unroll 8
  for (int i = 0; i < G; ++i) {
    const int n = std::clamp(rows - i * kLaneRows, 0, kLaneRows);
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) StoreLaneRows(acc[i][c], n, y + c * y_stride + i * kLaneRows);
  }
}

// The end of block b for a tile: each exact int32 sum p32[i][c] (= sum of w x a over the block)
// converted, times the activation's scale x the 8 rows' weight scales, added to the
// accumulator. Shared by the AVX2 Q8_0 tile and the VNNI tiles, so both give the same results
// from the same sums.
template <int G, int C, class Src>
void AccumulateBlock(__m256 (&acc)[G][C], const __m256i (&p32)[G][C], const Src& src, int64_t b, const ActBlock* ab) {
#pragma GCC unroll 8
  for (int i = 0; i < G; ++i) {
    const __m256 dw = src.Scales(i, b);
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const __m256 scale = _mm256_mul_ps(_mm256_broadcast_ss(&ab[c].d), dw);
      acc[i][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32[i][c]), scale, acc[i][c]);
    }
  }
}

// Where the tiles find group i's block b: the per-call prepared blocks (file layout) ...
struct PreparedBlocks {
  const WeightBlock* wp;  // group i's block b at wp[i * nb + b]
  int64_t nb;
  __m256i Vec(int i, int64_t b, int g) const { return _mm256_load_si256(&wp[i * nb + b].w[g]); }
  __m256 Scales(int i, int64_t b) const { return _mm256_load_ps(wp[i * nb + b].d); }
  void Prefetch(int64_t) const {}
};

// ... or a load-time lanes layout (kernels/weight_layout.h). All three keep group i's block b
// at w + i * group_bytes + b * kBytes with the 8 rows' F16 scales first; they differ in how a
// group's vector is read (Vec, in the types below).
// Decode streams each group once: Prefetch asks for the block kLanesPrefetchBytes ahead into L2
// (prefetcht1), kLines 64-byte steps. On Zen 5 the hardware prefetchers did the work (distance and
// hint within the noise); on an Intel Xeon one thread's from-memory rate depends on them, and L2
// 4-12 KiB ahead beat L1 2 KiB by 7-14% (the measurements: docs/PERFORMANCE.md, seventeenth
// session). The AVX2 lanes tiles share it.
inline constexpr int64_t kLanesPrefetchBytes = 8192;
template <size_t kBytes, int kLines>
struct LanesBlocks {
  static constexpr size_t kBlockBytes = kBytes;
  const uint8_t* w;    // the first group's first block
  size_t group_bytes;  // 8 rows
  LanesBlocks(const uint8_t* w_in, size_t group_bytes_in) : w(w_in), group_bytes(group_bytes_in) {}
  const uint8_t* At(int i, int64_t b) const { return w + i * group_bytes + static_cast<size_t>(b) * kBlockBytes; }
  __m256 Scales(int i, int64_t b) const {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(At(i, b))));
  }
  void Prefetch(int64_t b) const {
    const char* p = reinterpret_cast<const char*>(At(0, b)) + kLanesPrefetchBytes;
    for (int l = 0; l < kLines; ++l) _mm_prefetch(p + 64 * l, _MM_HINT_T1);
  }
};

// WeightLayout::kQ8_0Lanes: the vectors as stored, at 16 + 32 g in each 272-byte block.
struct LanesQ8 : LanesBlocks<272, 5> {
  using LanesBlocks::LanesBlocks;
  __m256i Vec(int i, int64_t b, int g) const {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(At(i, b) + 16 + 32 * g));
  }
};

// WeightLayout::kQ5_0Lanes: per 176-byte block the 8 F16 scales, the 8 rows' fifth-bit words
// (row r's bit 8t + g: element 4g + t), then 4 vectors of the rows' `qs` words (vector j, lane r:
// qs bytes 4j .. 4j+3 of row r, whose low nibbles are elements 4j .. 4j+3 and high nibbles
// elements 16 + 4j ..). Group g's vector: the nibbles of vector g % 4 (low or high), and bit g of
// each fifth-bit byte shifted to bit 4 (a 16-bit shift moves a byte's own bits there, never its
// neighbour's).
struct LanesQ5 : LanesBlocks<176, 4> {
  using LanesBlocks::LanesBlocks;
  __m256i Vec(int i, int64_t b, int g) const {
    const uint8_t* p = At(i, b);
    const __m256i n = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 48 + 32 * (g % 4)));
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16));
    const __m256i mask = _mm256_set1_epi8(0x0F);
    const __m256i nibbles = g < 4 ? _mm256_and_si256(n, mask) : _mm256_and_si256(_mm256_srli_epi16(n, 4), mask);
    const __m256i fifth = g < 4 ? _mm256_slli_epi16(h, 4 - g) : g == 4 ? h : _mm256_srli_epi16(h, g - 4);
    return _mm256_or_si256(nibbles, _mm256_and_si256(fifth, _mm256_set1_epi8(0x10)));
  }
};

// WeightLayout::kQ4_0Lanes: per 144-byte block the 8 F16 scales, then 4 vectors of the rows'
// `qs` words as kQ5_0Lanes has them; group g's vector is the low (g < 4) or high nibbles of
// vector g % 4.
struct LanesQ4 : LanesBlocks<144, 3> {
  using LanesBlocks::LanesBlocks;
  __m256i Vec(int i, int64_t b, int g) const {
    const __m256i n = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(At(i, b) + 16 + 32 * (g % 4)));
    const __m256i mask = _mm256_set1_epi8(0x0F);
    return g < 4 ? _mm256_and_si256(n, mask) : _mm256_and_si256(_mm256_srli_epi16(n, 4), mask);
  }
};

}  // namespace
}  // namespace bastion::legacy
