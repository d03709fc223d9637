// AVX-512 kernels for the float weight types (F32, F16, BF16) and the AVX-512 activation
// converters (F16, BF16; the Q8 quantizers are left to the AVX2 level, see QuantizeActAvx512).
//
// The products are plain float FMAs along k: each (row, column) pair of a register tile owns a
// 16-lane accumulator that is reduced once at the end. Decode (one column) has a row-at-a-time
// kernel of its own (FloatRow) that forms the same sums. Activations are converted once per call
// into an FMA-ready layout (float, zero-padded to whole steps), so the inner loop converts only
// the weights: F16 with vcvtph2ps, BF16 by shifting (a BF16 is the top half of a float). With
// AVX512_BF16 the BF16 kernel instead feeds raw pairs to vdpbf16ps (two products per lane per
// instruction); that kernel is only handed out when the CPU has the extension. On Sapphire Rapids
// both BF16 kernels run at the same speed (vdpbf16ps issues at half the FMA rate there).
//
// A "tokens in lanes" variant like gemm_legacy_avx512_cols.cc was tried for these types (weights
// broadcast into FMAs against transposed activations); at the shapes the threaded driver uses it
// was no faster, so there is none.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "base/half.h"
#include "kernels/gemm_legacy_internal.h"

namespace bastion::legacy {
namespace {

constexpr int kPrefetchRows = 8;

// ---- Weight formats ---------------------------------------------------------------------------
// Each describes one inner-loop step of kStep elements: how to load it from a weight row, how to
// lay out the activations for it (kActBytes per step), and the FMA(s) that consume both.

struct F32W {
  static constexpr int kStep = 16;
  static constexpr int kElemBytes = 4;
  static constexpr int kActBytes = 64;
  using Step = __m512;
  static Step Load(const uint8_t* p) { return _mm512_loadu_ps(p); }
  static Step LoadPartial(const uint8_t* p, int n) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
  }
  static void Accumulate(__m512& acc, const Step& w, const uint8_t* a) {
    acc = _mm512_fmadd_ps(w, _mm512_load_ps(a), acc);
  }
  static void Prepare(const void* src, int64_t k, uint8_t* out) {
    std::memcpy(out, src, static_cast<size_t>(k) * sizeof(float));
  }
};

struct F16W {
  static constexpr int kStep = 16;
  static constexpr int kElemBytes = 2;
  static constexpr int kActBytes = 64;
  using Step = __m512;
  static Step Load(const uint8_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static Step LoadPartial(const uint8_t* p, int n) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(static_cast<__mmask16>((1u << n) - 1), p));
  }
  static void Accumulate(__m512& acc, const Step& w, const uint8_t* a) {
    acc = _mm512_fmadd_ps(w, _mm512_load_ps(a), acc);
  }
  static void Prepare(const void* src, int64_t k, uint8_t* out) {
    const auto* h = static_cast<const uint16_t*>(src);
    auto* f = reinterpret_cast<float*>(out);
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
      _mm512_store_ps(f + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + i))));
    }
    for (; i < k; ++i) f[i] = F16ToF32(h[i]);
  }
};

// BF16 on plain AVX-512F: a 32-bit lane holding two BF16 values w[2l] (low) and w[2l+1] (high)
// yields both as floats with one shift and one mask. Activations are stored split the same way:
// per step 16 floats of even elements, then 16 of odd elements.
struct BF16W {
  static constexpr int kStep = 32;
  static constexpr int kElemBytes = 2;
  static constexpr int kActBytes = 128;
  struct Step {
    __m512 even, odd;
  };
  static Step Split(__m512i x) {
    return {_mm512_castsi512_ps(_mm512_slli_epi32(x, 16)),
            _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))))};
  }
  static Step Load(const uint8_t* p) { return Split(_mm512_loadu_si512(p)); }
  static Step LoadPartial(const uint8_t* p, int n) {
    return Split(_mm512_maskz_loadu_epi16(static_cast<__mmask32>((1u << n) - 1), p));
  }
  static void Accumulate(__m512& acc, const Step& w, const uint8_t* a) {
    acc = _mm512_fmadd_ps(w.even, _mm512_load_ps(a), acc);
    acc = _mm512_fmadd_ps(w.odd, _mm512_load_ps(a + 64), acc);
  }
  static void Prepare(const void* src, int64_t k, uint8_t* out) {
    const auto* h = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < k; i += kStep) {
      const int n = static_cast<int>(std::min<int64_t>(kStep, k - i));
      const Step s = Split(_mm512_maskz_loadu_epi16(
          n == kStep ? ~__mmask32{0} : static_cast<__mmask32>((1u << n) - 1), h + i));
      uint8_t* o = out + (i / kStep) * kActBytes;
      _mm512_store_ps(o, s.even);
      _mm512_store_ps(o + 64, s.odd);
    }
  }
};

// BF16 with AVX512_BF16: raw pairs straight into vdpbf16ps.
struct BF16DotW {
  static constexpr int kStep = 32;
  static constexpr int kElemBytes = 2;
  static constexpr int kActBytes = 64;
  using Step = __m512i;
  static Step Load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static Step LoadPartial(const uint8_t* p, int n) {
    return _mm512_maskz_loadu_epi16(static_cast<__mmask32>((1u << n) - 1), p);
  }
  static void Accumulate(__m512& acc, const Step& w, const uint8_t* a) {
    acc = _mm512_dpbf16_ps(acc, reinterpret_cast<const __m512bh&>(w),
                           *reinterpret_cast<const __m512bh*>(a));
  }
  static void Prepare(const void* src, int64_t k, uint8_t* out) {
    std::memcpy(out, src, static_cast<size_t>(k) * 2);
  }
};

// ---- Tiles ------------------------------------------------------------------------------------

inline __m128 Reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
  __m512 x = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
  x = _mm512_add_ps(x, _mm512_permute_ps(x, 0xB1));
  x = _mm512_add_ps(x, _mm512_permute_ps(x, 0x4E));
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), x));
}

struct TileArgs {
  const uint8_t* w;
  size_t w_stride;
  const uint8_t* act;  // prepared column c0
  size_t act_stride;   // bytes per prepared column
  int64_t full_steps;
  int tail;  // elements in a final partial step (0: none)
  float* y;
  size_t y_stride;
  const uint8_t* prefetch;
};

// 6 rows x 4 columns: 24 accumulators + 6 weight vectors. Measured against 4x4, 4x6, 7x3, 8x2,
// 8x3 on Sapphire Rapids (F32/F16 prefill): 6x4 best by a few percent, BF16 indifferent.
constexpr int kTileR = 6;
constexpr int kTileC = 4;

template <class W, int R, int C>
void FloatTile(const TileArgs& t) {
  __m512 acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  }
  constexpr int kStepBytes = W::kStep * W::kElemBytes;
  auto consume = [&](const typename W::Step* ws, int64_t s) {
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const uint8_t* a = t.act + c * t.act_stride + s * W::kActBytes;
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) W::Accumulate(acc[r][c], ws[r], a);
    }
  };
  for (int64_t s = 0; s < t.full_steps; ++s) {
    typename W::Step ws[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) ws[r] = W::Load(t.w + r * t.w_stride + s * kStepBytes);
    if (t.prefetch != nullptr) {
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) _mm_prefetch(t.prefetch + r * t.w_stride + s * kStepBytes, _MM_HINT_T0);
    }
    consume(ws, s);
  }
  if (t.tail != 0) {
    typename W::Step ws[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      ws[r] = W::LoadPartial(t.w + r * t.w_stride + t.full_steps * kStepBytes, t.tail);
    }
    consume(ws, t.full_steps);
  }

  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) {
    float* out = t.y + c * t.y_stride;
#pragma GCC unroll 4
    for (int q = 0; q < R; q += 4) {  // four rows per horizontal reduction
      const int n = R - q < 4 ? R - q : 4;
      const __m128 sums = Reduce4(acc[q][c], n > 1 ? acc[q + (n > 1)][c] : zero,
                                  n > 2 ? acc[q + 2 * (n > 2)][c] : zero, n > 3 ? acc[q + 3 * (n > 3)][c] : zero);
      if (n == 4) {
        _mm_storeu_ps(out + q, sums);
      } else {
        _mm_mask_storeu_ps(out + q, static_cast<__mmask8>((1u << n) - 1), sums);
      }
    }
  }
}

// Decode (a single column): the rows one after another, with prefetches kDecodeRowPrefetchBytes
// (L2) and kDecodeRowNearPrefetchBytes (L1) ahead in address order. The driver hands each thread
// consecutive rows of matrices stored row after row, so each thread reads one sequential stream,
// and the prefetches run on into the next row (and past the call's last row into the next
// call's first: prefetches never fault). Measured with bench/decode_bench (2 threads, in-memory
// weights), alternating with FloatTile's six interleaved rows and their per-row prefetches: F16
// 14.1-14.5 -> 20.9-21.5 GB/s, BF16 16.0-16.5 -> 22.6-23.8, with the read probe at 23-26 GB/s.
// Two rows at a time or four accumulators per row measured slower.
// Each row has one accumulator, fed in the same order and reduced by the same tree as
// FloatTile's, so a token's result does not depend on how many others share the call.
template <class W>
void FloatRow(const uint8_t* w, const uint8_t* act, int64_t full_steps, int tail, float* y) {
  constexpr int kStepBytes = W::kStep * W::kElemBytes;
  static_assert(64 % kStepBytes == 0, "a cache line holds whole steps");
  constexpr int kLineSteps = 64 / kStepBytes;  // one pair of prefetches per line
  __m512 acc = _mm512_setzero_ps();
  int64_t s = 0;
  for (; s + kLineSteps <= full_steps; s += kLineSteps) {
    const uint8_t* p = w + s * kStepBytes;
    _mm_prefetch(p + kDecodeRowPrefetchBytes, _MM_HINT_T1);
    _mm_prefetch(p + kDecodeRowNearPrefetchBytes, _MM_HINT_T0);
#pragma GCC unroll 4
    for (int u = 0; u < kLineSteps; ++u) W::Accumulate(acc, W::Load(p + u * kStepBytes), act + (s + u) * W::kActBytes);
  }
  for (; s < full_steps; ++s) W::Accumulate(acc, W::Load(w + s * kStepBytes), act + s * W::kActBytes);
  if (tail != 0) W::Accumulate(acc, W::LoadPartial(w + full_steps * kStepBytes, tail), act + full_steps * W::kActBytes);
  const __m512 zero = _mm512_setzero_ps();
  *y = _mm_cvtss_f32(Reduce4(acc, zero, zero, zero));
}

template <class W, int... I>
constexpr auto MakeTileTable(std::integer_sequence<int, I...>) {
  return std::array<void (*)(const TileArgs&), sizeof...(I)>{&FloatTile<W, I / kTileC + 1, I % kTileC + 1>...};
}

template <class W>
void GemmFloat(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
               size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  static constexpr auto kTiles = MakeTileTable<W>(std::make_integer_sequence<int, kTileR * kTileC>());
  const int64_t steps = (k + W::kStep - 1) / W::kStep;
  const size_t act_stride = static_cast<size_t>(steps) * W::kActBytes;
  auto* prep = static_cast<uint8_t*>(ThreadScratch(static_cast<size_t>(nc) * act_stride));
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t c = 0; c < nc; ++c) {
    uint8_t* col = prep + c * act_stride;
    std::memset(col + (act_stride - W::kActBytes), 0, W::kActBytes);  // zero padding of the tail
    W::Prepare(ab + c * a_stride, k, col);
  }

  const auto* wb = static_cast<const uint8_t*>(w);
  if (nc == 1) {
    for (int64_t r = 0; r < nr; ++r) {
      FloatRow<W>(wb + r * w_stride, prep, k / W::kStep, static_cast<int>(k % W::kStep), y + r);
    }
    return;
  }
  TileArgs t;
  t.w_stride = w_stride;
  t.act_stride = act_stride;
  t.full_steps = k / W::kStep;
  t.tail = static_cast<int>(k % W::kStep);
  t.y_stride = y_stride;
  // Row tiles outside, column tiles inside: a tile's weight rows stay in L1 while every column
  // tile passes over them. (Blocking rows for L2 with column tiles outside was measured: no gain.)
  for (int64_t r0 = 0; r0 < nr; r0 += kTileR) {
    const int rr = static_cast<int>(std::min<int64_t>(kTileR, nr - r0));
    t.w = wb + r0 * w_stride;
    // The first column tile pulls the rows in; prefetch ahead of it. (One column: FloatRow.)
    t.prefetch = r0 + kPrefetchRows + kTileR <= nr ? t.w + kPrefetchRows * w_stride : nullptr;
    for (int64_t c0 = 0; c0 < nc; c0 += kTileC) {
      const int cc = static_cast<int>(std::min<int64_t>(kTileC, nc - c0));
      t.act = prep + c0 * act_stride;
      t.y = y + c0 * y_stride + r0;
      kTiles[(rr - 1) * kTileC + (cc - 1)](t);
      t.prefetch = nullptr;
    }
  }
}

// ---- Activation converters --------------------------------------------------------------------

void QuantizeF16(const float* x, void* dst, int64_t k) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < k; i += 16) {
    const int n = static_cast<int>(std::min<int64_t>(16, k - i));
    const auto mask = static_cast<__mmask16>(n == 16 ? 0xFFFFu : (1u << n) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
    _mm256_mask_storeu_epi16(h + i, mask, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
}

// Round-to-nearest-even on the top 16 bits, NaNs quieted — base/half.h's F32ToBf16, in integer
// arithmetic (vcvtneps2bf16 would flush denormals, which the reference does not).
void QuantizeBF16(const float* x, void* dst, int64_t k) {
  auto* h = static_cast<uint16_t*>(dst);
  const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF);
  const __m512i inf = _mm512_set1_epi32(0x7F800000);
  for (int64_t i = 0; i < k; i += 16) {
    const int n = static_cast<int>(std::min<int64_t>(16, k - i));
    const auto mask = static_cast<__mmask16>(n == 16 ? 0xFFFFu : (1u << n) - 1);
    const __m512i v = _mm512_castps_si512(_mm512_maskz_loadu_ps(mask, x + i));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(v, 16), _mm512_set1_epi32(1));
    const __m512i rounded =
        _mm512_srli_epi32(_mm512_add_epi32(v, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16);
    const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(v, 16), _mm512_set1_epi32(0x40));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(v, abs_mask), inf);
    const __m512i r = _mm512_mask_blend_epi32(nan, rounded, quiet);
    _mm256_mask_storeu_epi16(h + i, mask, _mm512_cvtepi32_epi16(r));
  }
}

}  // namespace

GemmFn GemmFloatAvx512(GgmlType weight_type, bool use_bf16_insn) {
  switch (weight_type) {
    case GgmlType::kF32: return GemmFloat<F32W>;
    case GgmlType::kF16: return GemmFloat<F16W>;
    case GgmlType::kBF16: return use_bf16_insn ? GemmFloat<BF16DotW> : GemmFloat<BF16W>;
    default: return nullptr;
  }
}

// Q8_0/Q8_1/F32: nullptr, so kernels/gemm.cc falls back to the AVX2 converters. The Q8 ones
// must reproduce the AVX2 max-reduction tree bit for bit (it decides NaN propagation), and they
// cost a few nanoseconds per 32 activations against microseconds of matmul per row.
QuantizeActFn QuantizeActAvx512(GgmlType act_type) {
  switch (act_type) {
    case GgmlType::kF16: return QuantizeF16;
    case GgmlType::kBF16: return QuantizeBF16;
    default: return nullptr;
  }
}

}  // namespace bastion::legacy
