// AVX-512 VNNI "row" kernels for the 32-element block weights: Q4_0, Q5_0, Q8_0 (times Q8_0
// activations) and Q4_1, Q5_1 (times Q8_1 activations), and the AVX-512 entry point for them,
// which hands calls with many columns (prefill) to the column kernels of
// gemm_legacy_avx512_cols.cc. These kernels serve decode and small batches.
//
// Layout of the work. One inner-loop step covers 64 elements = two blocks = one zmm of bytes, in
// natural element order (bytes 0-31 block 2s, 32-63 block 2s+1). vpdpbusd multiplies unsigned
// weight bytes by signed activation bytes and sums groups of four into 16 int32 lanes, so lane l
// holds elements 4l..4l+3 and lanes 0-7 / 8-15 belong to one block each. Every weight type is
// turned into unsigned bytes u = q + offset (Q8_0: q+128, Q4_0: q+8 = the stored nibble, Q5_0:
// q+16); the offset's contribution -offset*sum(a) is a property of the activation alone, so it is
// precomputed per lane and used as the dot product's starting value. The per-lane int32 results
// are exact; they are converted to float and scaled by d_w*d_a (per lane, i.e. per block) with
// one FMA into a float accumulator per (row, column). Horizontal sums happen once per output.
//
// Activations arrive as Q8_0/Q8_1 blocks; each call first "prepares" every column once (64 bytes
// of quants, 16 lane offsets or Q8_1 sums, 16 lane scales per step) into thread-local scratch,
// then walks row tiles x column tiles. Weights of a row tile stay in L1 while its column tiles
// pass over them; for decode (nc == 1) rows stream from memory four at a time (Q8_0: one at a
// time, see GemmRows), each tile prefetching the rows kPrefetchRows ahead (measured: +60% from
// DRAM, +15% from L3), into L2 (the demand loads then hit L2, and L1's few miss buffers are not
// held by prefetches), and past the last row of the call: the driver hands each thread
// consecutive pieces of one long run of rows, so those lines are the next call's first rows
// (prefetches never fault, so running past the end of a mapping is harmless).
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

// One prepared 64-element step of an activation column.
struct alignas(64) ActStep {
  int8_t qs[64];
  union {
    int32_t corr[16];  // Q8_0 family: -offset * (sum of the lane's 4 quants)
    float sum[16];     // Q8_1 family: s of block 0 in lane 0, of block 1 in lane 8, else 0
  };
  float d[16];  // activation scale of the lane's block
};
static_assert(sizeof(ActStep) == 192);

// Rows of weights ahead of the current tile to prefetch during decode.
constexpr int kPrefetchRows = 8;

// ---- Activation preparation -------------------------------------------------------------------

__m512i LoadTwoBlocks(const int8_t* q0, const int8_t* q1) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q0));
  const __m256i hi = q1 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q1))
                        : _mm256_setzero_si256();
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

__m512 LaneScales(float d0, float d1) {
  return _mm512_insertf32x8(_mm512_set1_ps(d0), _mm256_set1_ps(d1), 1);
}

// Q8_0 column for weights stored as q + kOffset.
template <int kOffset>
void PrepareQ8_0(const uint8_t* a, int64_t nb, ActStep* out) {
  const auto* blocks = reinterpret_cast<const BlockQ8_0*>(a);
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(kOffset));  // 128 reads as unsigned
  for (int64_t s = 0; s < (nb + 1) / 2; ++s) {
    const BlockQ8_0& b0 = blocks[2 * s];
    const BlockQ8_0* b1 = 2 * s + 1 < nb ? &blocks[2 * s + 1] : nullptr;
    const __m512i q = LoadTwoBlocks(b0.qs, b1 ? b1->qs : nullptr);
    _mm512_store_si512(out[s].qs, q);
    const __m512i lane_sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, q);
    _mm512_store_si512(out[s].corr, _mm512_sub_epi32(_mm512_setzero_si512(), lane_sum));
    _mm512_store_ps(out[s].d, LaneScales(_cvtsh_ss(b0.d), b1 ? _cvtsh_ss(b1->d) : 0.0f));
  }
}

void PrepareQ8_1(const uint8_t* a, int64_t nb, ActStep* out) {
  const auto* blocks = reinterpret_cast<const BlockQ8_1*>(a);
  for (int64_t s = 0; s < (nb + 1) / 2; ++s) {
    const BlockQ8_1& b0 = blocks[2 * s];
    const BlockQ8_1* b1 = 2 * s + 1 < nb ? &blocks[2 * s + 1] : nullptr;
    _mm512_store_si512(out[s].qs, LoadTwoBlocks(b0.qs, b1 ? b1->qs : nullptr));
    alignas(64) float sum[16] = {};
    sum[0] = _cvtsh_ss(b0.s);
    sum[8] = b1 ? _cvtsh_ss(b1->s) : 0.0f;
    std::memcpy(out[s].sum, sum, sizeof sum);
    _mm512_store_ps(out[s].d, LaneScales(_cvtsh_ss(b0.d), b1 ? _cvtsh_ss(b1->d) : 0.0f));
  }
}

// ---- Weight loaders ---------------------------------------------------------------------------
// Load(p) reads the two blocks at p; LoadLast(p) reads only the block at p (odd block count) and
// never touches memory past it, so a row that ends at the end of a mapping is safe.

// Word-permutation index that broadcasts F16 word w0 to lanes 0-7 and w1 to lanes 8-15, and (for
// the *_1 types) m0/m1 words to lanes 16-23 / 24-31.
template <int kW0, int kW1, int kM0 = 0, int kM1 = 0>
__m512i ScaleIndex() {
  alignas(64) static constexpr std::array<int16_t, 32> kIdx = [] {
    std::array<int16_t, 32> idx{};
    for (int i = 0; i < 8; ++i) {
      idx[i] = kW0;
      idx[8 + i] = kW1;
      idx[16 + i] = kM0;
      idx[24 + i] = kM1;
    }
    return idx;
  }();
  return _mm512_load_si512(kIdx.data());
}

// Nibble bytes laid out [b0, b0, b1, b1] per 128-bit lane -> 64 bytes in element order.
__m512i UnpackNibbles(__m512i both) {
  // 128-bit lanes hold [b0, b0, b1, b1]; shifting the odd lanes by 4 exposes the high nibbles.
  const __m512i shifts = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);
  return _mm512_and_si512(_mm512_srlv_epi64(both, shifts), _mm512_set1_epi8(0x0F));
}
// 16 nibble bytes of block 0 at q0 and of block 1 at q1 -> 64 bytes in element order.
__m512i NibblePair(const uint8_t* q0, const uint8_t* q1) {
  __m512i z = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q0)));
  z = _mm512_mask_broadcast_i32x4(z, 0xFF00, _mm_loadu_si128(reinterpret_cast<const __m128i*>(q1)));
  return UnpackNibbles(z);
}
// Only block 0 (the last, odd block of a row): the upper 32 bytes are zero.
__m512i NibbleSingle(const uint8_t* q0) {
  return UnpackNibbles(
      _mm512_maskz_broadcast_i32x4(0x00FF, _mm_loadu_si128(reinterpret_cast<const __m128i*>(q0))));
}

uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Adds 16 to the bytes whose bit is set in qh (bit i <-> byte i).
__m512i AddHighBits(__m512i u, uint64_t qh) {
  return _mm512_mask_add_epi8(u, _cvtu64_mask64(qh), u, _mm512_set1_epi8(16));
}

struct WeightStep {
  __m512i u;  // unsigned weight bytes
  __m512 d;   // weight scale per lane
};
struct WeightStepMin {
  __m512i u;
  __m512 d;
  __m512 m;  // weight minimum per lane
};

struct Q8_0W {
  static constexpr GgmlType kType = GgmlType::kQ8_0;
  static constexpr int kBlockBytes = sizeof(BlockQ8_0);
  static constexpr int kOffset = 128;
  static constexpr int kTileR = 4, kTileC = 4;
  static constexpr bool kDecodeRowByRow = true;  // see GemmRows
  using Step = WeightStep;
  static Step Load(const uint8_t* p) {
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
    const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 36));
    const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    // Pair spans 68 bytes, so this 64-byte load stays inside it; d1 is word 17.
    const __m512i raw = _mm512_loadu_si512(p);
    const __m256i dh = _mm512_castsi512_si256(_mm512_permutexvar_epi16(ScaleIndex<0, 17>(), raw));
    return {_mm512_xor_si512(q, _mm512_set1_epi8(static_cast<char>(0x80))), _mm512_cvtph_ps(dh)};
  }
  static Step LoadLast(const uint8_t* p) {
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
    const __m512i q = _mm512_zextsi256_si512(lo);  // block 1 bytes become 128 * (a = 0)
    const __m512i raw = _mm512_maskz_loadu_epi16(1, p);
    const __m256i dh = _mm512_castsi512_si256(_mm512_permutexvar_epi16(ScaleIndex<0, 17>(), raw));
    return {_mm512_xor_si512(q, _mm512_set1_epi8(static_cast<char>(0x80))), _mm512_cvtph_ps(dh)};
  }
};

// Scales of the block types with a short header: the pair is >= 36 bytes, so a 32-byte load at
// the first block covers both scales; the last single block uses a masked load.
template <int kW1>
__m512 PairScales(const uint8_t* p) {
  const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m512i idx = ScaleIndex<0, kW1>();
  return _mm512_cvtph_ps(_mm256_permutexvar_epi16(_mm512_castsi512_si256(idx), raw));
}
__m512 SingleScale(const uint8_t* p) {
  const __m256i raw = _mm256_maskz_loadu_epi16(1, p);
  const __m512i idx = ScaleIndex<0, 15>();  // word 15 is zero here
  return _mm512_cvtph_ps(_mm256_permutexvar_epi16(_mm512_castsi512_si256(idx), raw));
}
// d and m lanes of the *_1 types: d0, m0 at words 0, 1 and d1, m1 at kW1, kW1 + 1.
template <int kW1>
void PairScalesMin(__m256i raw, __m512* d, __m512* m) {
  const __m512i both =
      _mm512_permutexvar_epi16(ScaleIndex<0, kW1, 1, kW1 + 1>(), _mm512_zextsi256_si512(raw));
  *d = _mm512_cvtph_ps(_mm512_castsi512_si256(both));
  *m = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(both, 1));
}

struct Q4_0W {
  static constexpr GgmlType kType = GgmlType::kQ4_0;
  static constexpr int kBlockBytes = sizeof(BlockQ4_0);
  static constexpr int kOffset = 8;
  static constexpr int kTileR = 4, kTileC = 4;
  static constexpr bool kDecodeRowByRow = false;
  using Step = WeightStep;
  static Step Load(const uint8_t* p) {
    return {NibblePair(p + 2, p + kBlockBytes + 2), PairScales<kBlockBytes / 2>(p)};
  }
  static Step LoadLast(const uint8_t* p) { return {NibbleSingle(p + 2), SingleScale(p)}; }
};

struct Q5_0W {
  static constexpr GgmlType kType = GgmlType::kQ5_0;
  static constexpr int kBlockBytes = sizeof(BlockQ5_0);
  static constexpr int kOffset = 16;
  static constexpr int kTileR = 4, kTileC = 4;
  static constexpr bool kDecodeRowByRow = false;
  using Step = WeightStep;
  static Step Load(const uint8_t* p) {
    const uint64_t qh = LoadU32(p + 2) | static_cast<uint64_t>(LoadU32(p + kBlockBytes + 2)) << 32;
    const __m512i u = AddHighBits(NibblePair(p + 6, p + kBlockBytes + 6), qh);
    return {u, PairScales<kBlockBytes / 2>(p)};
  }
  static Step LoadLast(const uint8_t* p) {
    return {AddHighBits(NibbleSingle(p + 6), LoadU32(p + 2)), SingleScale(p)};
  }
};

struct Q4_1W {
  static constexpr GgmlType kType = GgmlType::kQ4_1;
  static constexpr int kBlockBytes = sizeof(BlockQ4_1);
  static constexpr int kOffset = 0;
  static constexpr int kTileR = 4, kTileC = 3;  // one more register per row (m)
  static constexpr bool kDecodeRowByRow = false;
  using Step = WeightStepMin;
  static Step Load(const uint8_t* p) {
    Step s;
    s.u = NibblePair(p + 4, p + kBlockBytes + 4);
    PairScalesMin<kBlockBytes / 2>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), &s.d, &s.m);
    return s;
  }
  static Step LoadLast(const uint8_t* p) {
    Step s;
    s.u = NibbleSingle(p + 4);
    PairScalesMin<15>(_mm256_maskz_loadu_epi16(0x3, p), &s.d, &s.m);  // word 15/16: zero
    return s;
  }
};

struct Q5_1W {
  static constexpr GgmlType kType = GgmlType::kQ5_1;
  static constexpr int kBlockBytes = sizeof(BlockQ5_1);
  static constexpr int kOffset = 0;
  static constexpr int kTileR = 4, kTileC = 3;
  static constexpr bool kDecodeRowByRow = false;
  using Step = WeightStepMin;
  static Step Load(const uint8_t* p) {
    Step s;
    const uint64_t qh = LoadU32(p + 4) | static_cast<uint64_t>(LoadU32(p + kBlockBytes + 4)) << 32;
    s.u = AddHighBits(NibblePair(p + 8, p + kBlockBytes + 8), qh);
    PairScalesMin<kBlockBytes / 2>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), &s.d, &s.m);
    return s;
  }
  static Step LoadLast(const uint8_t* p) {
    Step s;
    s.u = AddHighBits(NibbleSingle(p + 8), LoadU32(p + 4));
    PairScalesMin<14>(_mm256_maskz_loadu_epi16(0x3, p), &s.d, &s.m);  // words 14/15: zero
    return s;
  }
};

// ---- The tile kernel --------------------------------------------------------------------------

template <class W>
inline void Accumulate(__m512& acc, const typename W::Step& w, const ActStep& as, __m512i qa,
                       __m512 da) {
  if constexpr (W::kOffset != 0) {
    const __m512i dot = _mm512_dpbusd_epi32(_mm512_load_si512(as.corr), w.u, qa);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(w.d, da), acc);
  } else {
    const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w.u, qa);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(w.d, da), acc);
    acc = _mm512_fmadd_ps(w.m, _mm512_load_ps(as.sum), acc);
  }
}

// Horizontal sums of four accumulators, returned as [sum(a), sum(b), sum(c), sum(d)]: three
// rounds of "add the two halves of two vectors" instead of four separate reductions.
inline __m128 Reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
  // 128-bit lane j now holds four partial sums of vector j.
  __m512 x = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
  x = _mm512_add_ps(x, _mm512_permute_ps(x, 0xB1));
  x = _mm512_add_ps(x, _mm512_permute_ps(x, 0x4E));
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), x));
}

struct TileArgs {
  const uint8_t* w;  // first row of the tile
  size_t w_stride;
  const ActStep* act;  // first column of the tile
  int64_t act_stride;  // steps per column
  int64_t full_steps;  // steps with two blocks
  bool last_single;    // one more step with a single block
  float* y;            // y[c * y_stride + r] for the tile's rows/columns
  size_t y_stride;
  const uint8_t* prefetch;  // rows to pull towards the cache meanwhile, or nullptr
  const uint8_t* near_prefetch;  // the decode row path (read by the 1 x 1 tile only): into L1
};

template <class W, int R, int C>
void QuantTile(const TileArgs& t) {
  __m512 acc[R][C];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  }
  constexpr int kPairBytes = 2 * W::kBlockBytes;
  auto step = [&](int64_t s, auto single) {
    typename W::Step ws[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = t.w + r * t.w_stride + s * kPairBytes;
      if constexpr (decltype(single)::value) {
        ws[r] = W::LoadLast(p);
      } else {
        ws[r] = W::Load(p);
      }
    }
    if (t.prefetch != nullptr) {
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(t.prefetch + r * t.w_stride + s * kPairBytes), _MM_HINT_T1);
      }
    }
    if constexpr (R == 1 && C == 1) {
      if (t.near_prefetch != nullptr) {
        _mm_prefetch(reinterpret_cast<const char*>(t.near_prefetch + s * kPairBytes), _MM_HINT_T0);
      }
    }
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) {
      const ActStep& as = t.act[c * t.act_stride + s];
      const __m512i qa = _mm512_load_si512(as.qs);
      const __m512 da = _mm512_load_ps(as.d);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) Accumulate<W>(acc[r][c], ws[r], as, qa, da);
    }
  };
  for (int64_t s = 0; s < t.full_steps; ++s) step(s, std::false_type{});
  if (t.last_single) step(t.full_steps, std::true_type{});

  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 4
  for (int c = 0; c < C; ++c) {
    const __m128 sums = Reduce4(acc[0][c], R > 1 ? acc[R > 1 ? 1 : 0][c] : zero,
                                R > 2 ? acc[R > 2 ? 2 : 0][c] : zero, R > 3 ? acc[R > 3 ? 3 : 0][c] : zero);
    float* out = t.y + c * t.y_stride;
    if constexpr (R == 4) {
      _mm_storeu_ps(out, sums);
    } else {
      _mm_mask_storeu_ps(out, static_cast<__mmask8>((1u << R) - 1), sums);
    }
  }
}

template <class W, int... I>
constexpr auto MakeTileTable(std::integer_sequence<int, I...>) {
  return std::array<void (*)(const TileArgs&), sizeof...(I)>{
      &QuantTile<W, I / W::kTileC + 1, I % W::kTileC + 1>...};
}

template <class W>
void GemmRows(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
               size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  static constexpr auto kTiles =
      MakeTileTable<W>(std::make_integer_sequence<int, W::kTileR * W::kTileC>());
  const int64_t nb = k / kQK8_0;
  const int64_t steps = (nb + 1) / 2;
  auto* prep = static_cast<ActStep*>(ThreadScratch(static_cast<size_t>(nc * steps) * sizeof(ActStep)));
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t c = 0; c < nc; ++c) {
    if constexpr (W::kOffset != 0) {
      PrepareQ8_0<W::kOffset>(ab + c * a_stride, nb, prep + c * steps);
    } else {
      PrepareQ8_1(ab + c * a_stride, nb, prep + c * steps);
    }
  }

  const auto* wb = static_cast<const uint8_t*>(w);
  TileArgs t;
  t.w_stride = w_stride;
  t.act_stride = steps;
  t.full_steps = nb / 2;
  t.last_single = (nb % 2) != 0;
  t.y_stride = y_stride;
  if (W::kDecodeRowByRow && nc == 1) {
    // Decode: one row at a time (the 1 x 1 tile: each row's sums exactly as the larger tiles
    // form them), prefetching ahead in address order (kDecodeRowPrefetchBytes and the near one),
    // so each thread reads one sequential stream (gemm_legacy_avx512_float.cc's FloatRow says
    // why that pays). Measured with bench/decode_bench, Q8_0, 2 threads, alternating: 18.1-18.2
    // -> 19.3-20.4 GB/s (before the L1 prefetch). Q4_0 and Q5_0 spend more instructions per
    // weight byte, and there one row alone ran slower than the four-row tile (Q4_0 18.8-19.8 ->
    // 18.1-19.2); a per-row L1 prefetch in the four-row tile made no difference.
    t.act = prep;
    for (int64_t r = 0; r < nr; ++r) {
      t.w = wb + r * w_stride;
      t.y = y + r;
      t.prefetch = t.w + kDecodeRowPrefetchBytes;
      t.near_prefetch = t.w + kDecodeRowNearPrefetchBytes;
      kTiles[0](t);
    }
    return;
  }
  t.near_prefetch = nullptr;
  for (int64_t r0 = 0; r0 < nr; r0 += W::kTileR) {
    const int rr = static_cast<int>(std::min<int64_t>(W::kTileR, nr - r0));
    t.w = wb + r0 * w_stride;
    for (int64_t c0 = 0; c0 < nc; c0 += W::kTileC) {
      const int cc = static_cast<int>(std::min<int64_t>(W::kTileC, nc - c0));
      t.act = prep + c0 * steps;
      t.y = y + c0 * y_stride + r0;
      // The first column tile is the one that pulls the rows in; later ones find them cached.
      t.prefetch = c0 == 0 ? t.w + kPrefetchRows * w_stride : nullptr;
      kTiles[(rr - 1) * W::kTileC + (cc - 1)](t);
    }
  }
}

// Row kernel for few columns (decode), column kernel for many (prefill); for the types that have
// it, the small-batch column kernel from kAvx512MinColsForPairKernel columns on (it hands more
// than kAvx512MaxColsForPairKernel columns to the column kernel itself).
template <class W>
void GemmQuant(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
               size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  static const GemmFn pairs = GemmColsPairsAvx512(W::kType);  // nullptr for Q4_1, Q5_1
  if (pairs != nullptr && nc >= kAvx512MinColsForPairKernel) {
    pairs(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
  } else if (nc >= kAvx512MinColsForColumnKernel) {
    GemmColsAvx512(W::kType)(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
  } else {
    GemmRows<W>(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
  }
}

}  // namespace

GemmFn GemmAvx512(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::kQ4_0: return GemmQuant<Q4_0W>;
    case GgmlType::kQ4_1: return GemmQuant<Q4_1W>;
    case GgmlType::kQ5_0: return GemmQuant<Q5_0W>;
    case GgmlType::kQ5_1: return GemmQuant<Q5_1W>;
    case GgmlType::kQ8_0: return GemmQuant<Q8_0W>;
    default: return nullptr;
  }
}

GemmFn GemmRowsAvx512(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::kQ4_0: return GemmRows<Q4_0W>;
    case GgmlType::kQ4_1: return GemmRows<Q4_1W>;
    case GgmlType::kQ5_0: return GemmRows<Q5_0W>;
    case GgmlType::kQ5_1: return GemmRows<Q5_1W>;
    case GgmlType::kQ8_0: return GemmRows<Q8_0W>;
    default: return nullptr;
  }
}

}  // namespace bastion::legacy
