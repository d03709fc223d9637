// AVX2 kernel for Q4_0, Q5_0 and Q8_0 weights x Q8_0 activations: decode and small batches.
// Calls of kRowLanesMinCols columns or more go to the row-lanes kernel
// (gemm_legacy_avx2_lanes.cc), which needs fewer instructions per product once its per-call
// transposition of the weights is spread over enough columns.
//
// Why not the general 4 x 2 tile of gemm_legacy_avx2.cc (one block per step, which Q4_1/Q5_1
// still use): without VNNI every weight byte costs several vector instructions (unpack,
// vpmaddubsw, vpmaddwd, convert, scale), and on a 2-core AVX2 machine (AMD EPYC, Zen 3) that tile
// ran Q4_0/Q5_0 decode at about 8 GB/s per core with the weights in cache — compute-bound, well
// under the memory's read rate — and prefill at 31-43 GOP/s. This kernel spends fewer
// instructions per block:
//
// - One step covers two blocks (64 elements) in a "split" order: vector `lo` holds elements 0-15
//   of block 2s in its low 128 bits and elements 0-15 of block 2s+1 in its high 128 bits; `hi`
//   holds elements 16-31 of each. That is exactly how nibbles unpack cheaply (one 32-byte load of
//   both blocks' 16 nibble bytes, then `& 0xF` and `>> 4 & 0xF`), and it keeps int32 lanes 0-3 on
//   block 2s and lanes 4-7 on block 2s+1 — so one scale vector [s0 x4, s1 x4] serves the step.
//   Activation columns are rearranged into the same order once per call.
// - Q4_0/Q5_0 use the stored nibble (q+8, q+16) as the unsigned vpmaddubsw operand; the `lo` and
//   `hi` int16 products are added before the single vpmaddwd (at most 2 * 2*31*128 = 15872, no
//   saturation), and the offset's contribution (-offset * sum of the lane's activation quants,
//   times the activation scale) is precomputed per lane and added by the FMA that applies the
//   activation scale. Q8_0 uses |w| and moves w's sign onto the activation (vpsignb), as
//   (w+128)*a could overflow int16; its two products each get their own vpmaddwd.
// - The two weight scales are converted together (one vcvtph2ps) and spread to the lanes with
//   one permute, instead of a scalar conversion, a store and a broadcast per block.
// - Several columns (prefill): one weight row is unpacked once per step and used for 8 columns;
//   the prepared columns are stored step-major per 8-column tile (constant offsets from one
//   pointer), and rows go in blocks of kRowBlock, each block tile by tile, so a tile's columns
//   stay in L1 (GemmSplit says why); decode (one column) reads one row at a time (see
//   kDecodePrefetchBytes).
// - Q5_0 weights repacked at load (kernels/weight_layout.h, Q5_0PairsW) skip the shuffle and
//   compare that spread the file's fifth bits.
// Measured with bench/gemm_bench on Zen 3, one thread, against the 4 x 2 tile: decode with the
// weights in cache Q4_0 8.3 -> 11.5-14.8 GB/s, Q5_0 8.1 -> 9.7-11.8; prefill (64 columns) Q4_0
// 40-43 -> 71-77 GOP/s, Q5_0 31-33 -> 65-80, Q8_0 40-42 -> 61-70. Through the model (2 threads,
// docs/PERFORMANCE.md): Q4_K_M pp512 86-99 -> 148-156 t/s, tg128 33-35 -> 38-42.
// The int32 block sums are exact; the float accumulation order differs from the other kernels'
// (the block types' kernels never promised bit-equality with each other; tests bound the error
// against the scalar reference as for every kernel).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/gemm_legacy_internal.h"
#include "quant/blocks.h"

namespace bastion::legacy {
namespace {

// One prepared two-block step of the activation column.
struct alignas(32) ActPair {
  int8_t lo[32];     // elements 0-15 of block 2s | elements 0-15 of block 2s+1
  int8_t hi[32];     // elements 16-31 of each
  float corr[8];     // nibble types: d * -offset * (the lane's 4 `lo` quants + its 4 `hi` quants);
                     // unset for Q8_0
  float d[8];        // lanes 0-3: activation scale of block 2s, lanes 4-7: of block 2s+1 (or 0)
};
static_assert(sizeof(ActPair) == 128);

template <int kOffset>
void PrepareAct(const uint8_t* a, int64_t nb, ActPair* out, int64_t out_stride) {
  const auto* blocks = reinterpret_cast<const BlockQ8_0*>(a);
  for (int64_t s = 0; s < (nb + 1) / 2; ++s) {
    const BlockQ8_0& b0 = blocks[2 * s];
    const bool pair = 2 * s + 1 < nb;
    const __m128i b0lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0.qs));
    const __m128i b0hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0.qs + 16));
    __m128i b1lo = _mm_setzero_si128(), b1hi = _mm_setzero_si128();
    float d1 = 0.0f;
    if (pair) {
      const BlockQ8_0& b1 = blocks[2 * s + 1];
      b1lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b1.qs));
      b1hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b1.qs + 16));
      d1 = _cvtsh_ss(b1.d);
    }
    const __m256i lo = _mm256_inserti128_si256(_mm256_castsi128_si256(b0lo), b1lo, 1);
    const __m256i hi = _mm256_inserti128_si256(_mm256_castsi128_si256(b0hi), b1hi, 1);
    _mm256_store_si256(reinterpret_cast<__m256i*>(out[s * out_stride].lo), lo);
    _mm256_store_si256(reinterpret_cast<__m256i*>(out[s * out_stride].hi), hi);
    const float d0 = _cvtsh_ss(b0.d);
    const __m256 d = _mm256_setr_ps(d0, d0, d0, d0, d1, d1, d1, d1);
    _mm256_store_ps(out[s * out_stride].d, d);
    if constexpr (kOffset != 0) {
      // Sum of each lane's 4 + 4 quants: the 16-bit pair sums of lo and hi (at most 4 * 128 in
      // magnitude) added, then pairs of those. Pre-scaled by d so the kernel folds it in with
      // the FMA that scales the dot product (one float rounding more than adding it as an
      // integer; exact when d is a power of two).
      const __m256i ones8 = _mm256_set1_epi8(1);
      const __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(ones8, lo), _mm256_maddubs_epi16(ones8, hi));
      const __m256i sums = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
      _mm256_store_ps(out[s * out_stride].corr,
                      _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_mullo_epi32(sums, _mm256_set1_epi32(-kOffset))), d));
    }
  }
}

uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// [s0 x4, s1 x4] from the F16 words h0 (block 2s) and h1 (block 2s+1).
__m256 StepScales(uint32_t h0, uint32_t h1) {
  const __m128 both = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(h0 | h1 << 16)));
  return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(both), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
}

// Two 16-byte pieces -> one ymm (the second piece absent for the single last block).
template <bool kSingle>
__m256i TwoPieces(const uint8_t* p0, const uint8_t* p1) {
  const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p0));
  if constexpr (kSingle) {
    (void)p1;
    return _mm256_zextsi128_si256(a);
  } else {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(a), _mm_loadu_si128(reinterpret_cast<const __m128i*>(p1)), 1);
  }
}

// 0x10 in each byte of the split-order vector whose element's high bit is set: `bits` holds qh of
// block 2s in bytes 0-3 and of block 2s+1 in bytes 4-7, in both 128-bit lanes; kHalf 0 picks the
// bits of elements 0-15 (qh bytes 0-1 and 4-5), kHalf 1 those of elements 16-31.
template <int kHalf>
__m256i HighBits(__m256i bits) {
  constexpr char a = 2 * kHalf, b = 2 * kHalf + 1, c = 4 + 2 * kHalf, d = 5 + 2 * kHalf;
  const __m256i spread = _mm256_shuffle_epi8(
      bits, _mm256_setr_epi8(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b, c, c, c, c, c, c, c, c, d, d, d, d, d,
                             d, d, d));
  const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// The 16 nibble bytes of block 2s at n0 and of block 2s+1 at n1 -> split-order lo and hi.
template <bool kSingle>
void Nibbles(const uint8_t* n0, const uint8_t* n1, __m256i* lo, __m256i* hi) {
  const __m256i n = TwoPieces<kSingle>(n0, n1);
  const __m256i mask = _mm256_set1_epi8(0x0F);
  *lo = _mm256_and_si256(n, mask);
  *hi = _mm256_and_si256(_mm256_srli_epi16(n, 4), mask);
}

struct Q4_0W {
  static constexpr GgmlType kType = GgmlType::kQ4_0;
  static constexpr int kBlockBytes = sizeof(BlockQ4_0);
  static constexpr int kOffset = 8;
  template <bool kSingle>
  static void Load(const uint8_t* p, __m256i* lo, __m256i* hi) {
    Nibbles<kSingle>(p + 2, p + kBlockBytes + 2, lo, hi);
  }
};

struct Q5_0W {
  static constexpr GgmlType kType = GgmlType::kQ5_0;
  static constexpr int kBlockBytes = sizeof(BlockQ5_0);
  static constexpr int kOffset = 16;
  template <bool kSingle>
  static void Load(const uint8_t* p, __m256i* lo, __m256i* hi) {
    Nibbles<kSingle>(p + 6, p + kBlockBytes + 6, lo, hi);
    uint64_t qh = LoadU32(p + 2);
    if constexpr (!kSingle) qh |= static_cast<uint64_t>(LoadU32(p + kBlockBytes + 2)) << 32;
    const __m256i bits = _mm256_set1_epi64x(static_cast<long long>(qh));
    *lo = _mm256_or_si256(*lo, HighBits<0>(bits));
    *hi = _mm256_or_si256(*hi, HighBits<1>(bits));
  }
};

// Q5_0 repacked into pairs (kernels/weight_layout.h, kQ5_0Pairs): scales adjacent, the fifth
// bits brought to bit 4 of their bytes by one variable shift per 64-bit lane (4-q left for lo's
// lane q, q right for hi's), no shuffle or compare. Rows always hold whole pairs.
struct Q5_0PairsW {
  static constexpr GgmlType kType = GgmlType::kQ5_0;
  static constexpr int kBlockBytes = sizeof(BlockQ5_0);
  static constexpr int kOffset = 16;
  static constexpr bool kPairsOnly = true;
  static __m256 Scales(const uint8_t* p) {
    const __m128 both = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(LoadU32(p))));
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(both), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
  }
  template <bool kSingle>
  static void Load(const uint8_t* p, __m256i* lo, __m256i* hi) {
    static_assert(!kSingle);
    const __m256i n = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 12));
    const __m256i mask = _mm256_set1_epi8(0x0F);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    long long bits;
    std::memcpy(&bits, p + 4, sizeof bits);
    const __m256i b = _mm256_set1_epi64x(bits);
    *lo = _mm256_or_si256(_mm256_and_si256(n, mask),
                          _mm256_and_si256(_mm256_sllv_epi64(b, _mm256_setr_epi64x(4, 3, 2, 1)), bit4));
    *hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(n, 4), mask),
                          _mm256_and_si256(_mm256_srlv_epi64(b, _mm256_setr_epi64x(0, 1, 2, 3)), bit4));
  }
};

struct Q8_0W {
  static constexpr GgmlType kType = GgmlType::kQ8_0;
  static constexpr int kBlockBytes = sizeof(BlockQ8_0);
  static constexpr int kOffset = 0;  // signed: see the file comment
  template <bool kSingle>
  static void Load(const uint8_t* p, __m256i* lo, __m256i* hi) {
    *lo = TwoPieces<kSingle>(p + 2, p + kBlockBytes + 2);
    *hi = TwoPieces<kSingle>(p + 18, p + kBlockBytes + 18);
  }
};

// Layouts of whole pairs only (Q5_0PairsW) have their own scale loader and no single-block step.
template <class W>
constexpr bool kPairsOnly = requires { W::kPairsOnly; };

struct TileArgs {
  const uint8_t* w;  // the weight row
  const ActPair* act;  // the tile's columns, step-major: step s of column c at act[s * C + c]
  int64_t full_steps;  // steps with two blocks
  bool last_single;    // one more step with a single block
  float* y;            // y[c * y_stride] for the tile's columns
  size_t y_stride;
  const uint8_t* prefetch;  // where to prefetch from, step by step alongside the row, or nullptr
};

inline __m128 Reduce4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// One weight row x C activation columns: each weight step is unpacked once and used for every
// column; the activations are read from the prepared scratch as memory operands.
template <class W, int C>
void Tile(const TileArgs& t) {
  __m256 acc[C];
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  constexpr int kPairBytes = 2 * W::kBlockBytes;
  auto step = [&](int64_t s, auto single) {
    constexpr bool kSingle = decltype(single)::value;
    const uint8_t* p = t.w + s * kPairBytes;
    if (t.prefetch != nullptr) _mm_prefetch(reinterpret_cast<const char*>(t.prefetch + s * kPairBytes), _MM_HINT_T0);
    __m256i lo, hi;
    W::template Load<kSingle>(p, &lo, &hi);
    [[maybe_unused]] __m256i abs_lo, abs_hi;
    if constexpr (W::kOffset == 0) {
      abs_lo = _mm256_abs_epi8(lo);
      abs_hi = _mm256_abs_epi8(hi);
    }
    __m256 dw;
    if constexpr (kPairsOnly<W>) {
      dw = W::Scales(p);
    } else {
      dw = StepScales(LoadU16(p), kSingle ? 0u : LoadU16(p + W::kBlockBytes));
    }
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const ActPair& as = t.act[s * C + c];
      const __m256i a_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(as.lo));
      const __m256i a_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(as.hi));
      if constexpr (W::kOffset != 0) {
        // acc += dw * (d_a * dot + d_a * correction): one FMA folds the offset in.
        const __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, a_lo), _mm256_maddubs_epi16(hi, a_hi));
        const __m256 sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones)), _mm256_load_ps(as.d),
                                           _mm256_load_ps(as.corr));
        acc[c] = _mm256_fmadd_ps(sum, dw, acc[c]);
      } else {
        const __m256i plo = _mm256_maddubs_epi16(abs_lo, _mm256_sign_epi8(a_lo, lo));
        const __m256i phi = _mm256_maddubs_epi16(abs_hi, _mm256_sign_epi8(a_hi, hi));
        const __m256i p32 = _mm256_add_epi32(_mm256_madd_epi16(plo, ones), _mm256_madd_epi16(phi, ones));
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), _mm256_mul_ps(dw, _mm256_load_ps(as.d)), acc[c]);
      }
    }
  };
  int64_t s0 = 0;
  if constexpr (C == 1) {
    // Decode: even and odd steps into two accumulators, so consecutive steps' FMAs do not wait
    // on each other (Zen 3, alternating with the binary before: tg128 Q4_K_M 50-52 -> 53-55
    // t/s, Q4_0 51-56 -> 51-61; four accumulators were no faster in gemm_bench).
    __m256 acc_odd = _mm256_setzero_ps();
    for (; s0 + 1 < t.full_steps; s0 += 2) {
      step(s0, std::false_type{});
      std::swap(acc[0], acc_odd);
      step(s0 + 1, std::false_type{});
      std::swap(acc[0], acc_odd);
    }
    acc[0] = _mm256_add_ps(acc[0], acc_odd);
  }
  for (int64_t s = s0; s < t.full_steps; ++s) step(s, std::false_type{});
  if constexpr (!kPairsOnly<W>) {
    if (t.last_single) step(t.full_steps, std::true_type{});
  }

  // Horizontal sums four columns at a time; each column's one output is y_stride apart.
  const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (int c0 = 0; c0 < C; c0 += 4) {
    alignas(16) float sums[4];
    _mm_store_ps(sums, Reduce4(acc[c0], c0 + 1 < C ? acc[std::min(c0 + 1, C - 1)] : zero,
                               c0 + 2 < C ? acc[std::min(c0 + 2, C - 1)] : zero,
                               c0 + 3 < C ? acc[std::min(c0 + 3, C - 1)] : zero));
    for (int c = c0; c < std::min(c0 + 4, C); ++c) t.y[c * t.y_stride] = sums[c - c0];
  }
}

using TileFn = void (*)(const TileArgs&);

// Columns per tile: 8 accumulators, and the row's unpacking shared by 8 columns.
constexpr int kCols = 8;

template <class W, int... I>
constexpr std::array<TileFn, sizeof...(I)> MakeTiles(std::integer_sequence<int, I...>) {
  return {&Tile<W, I + 1>...};
}

// Decode prefetches this far ahead of the row stream. One row at a time (a single sequential
// stream per thread; with four rows per tile the Q8_0 output head ran at 15.7-16.6 GB/s against
// 22.5-23.1 with one) and this distance were measured with bench/decode_bench, Q4_K_M file, Zen 3,
// 2 threads: Q4_0/Q5_0 matrices at 15-18 GB/s against 14-17 with four-row tiles; 2 KiB ahead
// was best in two rounds of three (1, 3, 4 and 8 KiB, and 8 rows ahead of each row, were tried).
constexpr int64_t kDecodePrefetchBytes = 2048;
// Prefill: rows ahead to prefetch (by the first column tile; later ones find the row cached).
constexpr int64_t kPrefetchRows = 8;
// Prefill: rows per block (see GemmSplit): 16 rows of Q8_0 at k = 4864 are 81 KiB.
constexpr int64_t kRowBlock = 16;

template <class W>
void GemmSplit(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride,
               int64_t nc, float* y, size_t y_stride) {
  static const GemmFn row_lanes = GemmRowLanesAvx2(W::kType, kPairsOnly<W>);
  if (row_lanes != nullptr && nc >= kRowLanesMinCols) {
    row_lanes(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
    return;
  }
  static constexpr auto kTiles = MakeTiles<W>(std::make_integer_sequence<int, kCols>());
  const int64_t nb = k / kQK8_0;
  const int64_t steps = (nb + 1) / 2;
  auto* prep = static_cast<ActPair*>(ThreadScratch(static_cast<size_t>(nc * steps) * sizeof(ActPair)));
  const auto* ab = static_cast<const uint8_t*>(a);
  // Step-major within each tile of kCols columns: column c's step s at tile base + s * cc + c,
  // so a tile reaches its columns at constant offsets from one pointer per step.
  for (int64_t c = 0; c < nc; ++c) {
    const int64_t c0 = c / kCols * kCols;
    const int64_t cc = std::min<int64_t>(kCols, nc - c0);
    PrepareAct<W::kOffset>(ab + c * a_stride, nb, prep + c0 * steps + (c - c0), cc);
  }

  const auto* wb = static_cast<const uint8_t*>(w);
  TileArgs t;
  t.full_steps = nb / 2;
  t.last_single = (nb % 2) != 0;
  t.y_stride = y_stride;
  // Rows in blocks, each block run column tile by column tile: the block's weights and one tile's
  // prepared columns stay in L2 while the tile runs over the block. (Row by row over all tiles,
  // a 64-token panel of ffn_down, 4864 elements at 2 bytes each prepared = 608 KiB, outgrows the
  // 512 KiB L2 and came from L3 again for every row.)
  for (int64_t r0 = 0; r0 < nr; r0 += kRowBlock) {
    const int64_t r1 = std::min(nr, r0 + kRowBlock);
    for (int64_t c0 = 0; c0 < nc; c0 += kCols) {
      const int cc = static_cast<int>(std::min<int64_t>(kCols, nc - c0));
      t.act = prep + c0 * steps;
      for (int64_t r = r0; r < r1; ++r) {
        t.w = wb + r * w_stride;
        t.y = y + c0 * y_stride + r;
        // Decode: on past the call's last row too (prefetches never fault; the driver's next
        // piece for this thread usually starts there).
        t.prefetch = nc == 1                          ? t.w + kDecodePrefetchBytes
                     : c0 == 0 && r + kPrefetchRows < nr ? t.w + kPrefetchRows * w_stride
                                                         : nullptr;
        kTiles[cc - 1](t);
      }
    }
  }
}

}  // namespace

GemmFn GemmSplitAvx2(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::kQ4_0: return GemmSplit<Q4_0W>;
    case GgmlType::kQ5_0: return GemmSplit<Q5_0W>;
    case GgmlType::kQ8_0: return GemmSplit<Q8_0W>;
    default: return nullptr;
  }
}

GemmFn GemmQ5_0PairsAvx2() { return GemmSplit<Q5_0PairsW>; }

}  // namespace bastion::legacy
