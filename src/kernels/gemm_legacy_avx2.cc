// AVX2 kernels for Q4_1 and Q5_1 weights (x Q8_1 activations), and the AVX2 activation
// quantizers (Q8_0, Q8_1, F16, BF16, F32), which are also what the AVX-512 level uses for Q8 (see
// gemm_legacy_avx512_float.cc). Q4_0, Q5_0 and Q8_0 have a faster kernel of their own
// (gemm_legacy_avx2_split.cc), which GemmAvx2 returns for them.
//
// One inner-loop step is one block = one ymm of bytes. vpmaddubsw multiplies the unsigned weight
// nibbles (5-bit values for Q5_1) by signed activation bytes (pair sums fit int16), vpmaddwd sums
// pairs again, giving 8 int32 lanes of 4 elements each. Scales are applied per block with one FMA
// per (row, column), the minimum's share (m * s of the activation block) with one more; horizontal
// sums happen once per output. Register tile: 4 rows x 2 columns (16 ymm registers).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#include "base/half.h"
#include "kernels/avx2_common.h"
#include "kernels/gemm_legacy_internal.h"
#include "quant/blocks.h"

namespace bastion::avx2 {

__m256i BlockNibbles(const uint8_t* q) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

__m256i BlockFifthBits(const uint8_t* qh_bytes) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, sizeof qh);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(qh)),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3,
                       3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

}  // namespace bastion::avx2

namespace bastion::legacy {
namespace {

constexpr int kTileR = 4;
constexpr int kTileC = 2;
constexpr int kPrefetchRows = 8;

// One prepared block of an activation column.
struct alignas(32) ActBlock {
  int8_t qs[32];
  float sum[8];  // s (= d * sum of the quants) in lane 0, zeros elsewhere
  float d[8];  // activation scale, broadcast
};
static_assert(sizeof(ActBlock) == 96);

void PrepareQ8_1(const uint8_t* a, int64_t nb, ActBlock* out) {
  const auto* blocks = reinterpret_cast<const BlockQ8_1*>(a);
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[i].qs));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out[i].qs), q);
    _mm256_store_ps(out[i].sum, _mm256_setr_ps(_cvtsh_ss(blocks[i].s), 0, 0, 0, 0, 0, 0, 0));
    _mm256_store_ps(out[i].d, _mm256_set1_ps(_cvtsh_ss(blocks[i].d)));
  }
}

// ---- Weight blocks ----------------------------------------------------------------------------

struct Q4_1W {
  static constexpr int kBlockBytes = sizeof(BlockQ4_1);
  static __m256i Unsigned(const uint8_t* p) { return avx2::BlockNibbles(p + 4); }
};
struct Q5_1W {
  static constexpr int kBlockBytes = sizeof(BlockQ5_1);
  static __m256i Unsigned(const uint8_t* p) { return _mm256_or_si256(avx2::BlockNibbles(p + 8), avx2::BlockFifthBits(p + 4)); }
};

float HalfAt(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return _cvtsh_ss(h);
}

// ---- Tiles ------------------------------------------------------------------------------------

inline __m128 Reduce4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

struct TileArgs {
  const uint8_t* w;
  size_t w_stride;
  const ActBlock* act;
  int64_t act_stride;  // blocks per column
  int64_t nb;
  float* y;
  size_t y_stride;
  const uint8_t* prefetch;
};

template <class W, int R, int C>
void QuantTile(const TileArgs& t) {
  __m256 acc[R][C];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < t.nb; ++i) {
    __m256i u[R];
    // Scales wait in memory and are broadcast on use (a load, not a register per row).
    alignas(16) float dw[R];
    alignas(16) float mw[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = t.w + r * t.w_stride + i * W::kBlockBytes;
      u[r] = W::Unsigned(p);
      dw[r] = HalfAt(p);
      mw[r] = HalfAt(p + 2);
      if (t.prefetch != nullptr) _mm_prefetch(t.prefetch + r * t.w_stride + i * W::kBlockBytes, _MM_HINT_T0);
    }
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) {
      const ActBlock& ab = t.act[c * t.act_stride + i];
      const __m256i qa = _mm256_load_si256(reinterpret_cast<const __m256i*>(ab.qs));
      const __m256 da = _mm256_load_ps(ab.d);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m256i p32 = _mm256_madd_epi16(_mm256_maddubs_epi16(u[r], qa), ones);
        const __m256 s = _mm256_mul_ps(_mm256_broadcast_ss(&dw[r]), da);
        acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), s, acc[r][c]);
        acc[r][c] = _mm256_fmadd_ps(_mm256_broadcast_ss(&mw[r]), _mm256_load_ps(ab.sum), acc[r][c]);
      }
    }
  }

  const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int c = 0; c < C; ++c) {
    const __m128 sums = Reduce4(acc[0][c], R > 1 ? acc[R > 1 ? 1 : 0][c] : zero,
                                R > 2 ? acc[R > 2 ? 2 : 0][c] : zero, R > 3 ? acc[R > 3 ? 3 : 0][c] : zero);
    float* out = t.y + c * t.y_stride;
    if constexpr (R == 4) {
      _mm_storeu_ps(out, sums);
    } else {
      alignas(16) float tmp[4];
      _mm_store_ps(tmp, sums);
      for (int r = 0; r < R; ++r) out[r] = tmp[r];
    }
  }
}

template <class W, int... I>
constexpr auto MakeTileTable(std::integer_sequence<int, I...>) {
  return std::array<void (*)(const TileArgs&), sizeof...(I)>{&QuantTile<W, I / kTileC + 1, I % kTileC + 1>...};
}

template <class W>
void GemmQuant(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
               size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  static constexpr auto kTiles = MakeTileTable<W>(std::make_integer_sequence<int, kTileR * kTileC>());
  const int64_t nb = k / kQK8_0;
  auto* prep = static_cast<ActBlock*>(ThreadScratch(static_cast<size_t>(nc * nb) * sizeof(ActBlock)));
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t c = 0; c < nc; ++c) {
    PrepareQ8_1(ab + c * a_stride, nb, prep + c * nb);
  }
  const auto* wb = static_cast<const uint8_t*>(w);
  TileArgs t;
  t.w_stride = w_stride;
  t.act_stride = nb;
  t.nb = nb;
  t.y_stride = y_stride;
  for (int64_t r0 = 0; r0 < nr; r0 += kTileR) {
    const int rr = static_cast<int>(std::min<int64_t>(kTileR, nr - r0));
    t.w = wb + r0 * w_stride;
    for (int64_t c0 = 0; c0 < nc; c0 += kTileC) {
      const int cc = static_cast<int>(std::min<int64_t>(kTileC, nc - c0));
      t.act = prep + c0 * nb;
      t.y = y + c0 * y_stride + r0;
      const bool ahead = c0 == 0 && r0 + kPrefetchRows + kTileR <= nr;
      t.prefetch = ahead ? t.w + kPrefetchRows * w_stride : nullptr;
      kTiles[(rr - 1) * kTileC + (cc - 1)](t);
    }
  }
}

// ---- Activation quantizers --------------------------------------------------------------------
// Q8_0/Q8_1: the arithmetic of ggml-cpu's x86 quantize_row_q8_0/q8_1 (see quant/legacy_quants.cc
// QuantizeQ8Block, which is the same computation written in scalar form).

template <bool kQ8_1>
void QuantizeQ8(const float* x, void* dst, int64_t k) {
  auto* out = static_cast<uint8_t*>(dst);
  constexpr size_t kBlockBytes = kQ8_1 ? sizeof(BlockQ8_1) : sizeof(BlockQ8_0);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < k / kQK8_0; ++i, x += kQK8_0) {
    __m256 v[4];
    for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(x + 8 * j);
    __m256 m = _mm256_andnot_ps(sign, v[0]);
    for (int j = 1; j < 4; ++j) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[j]));
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    __m256i q[4];
    for (int j = 0; j < 4; ++j) {
      q[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[j], _mm256_set1_ps(id)),
                                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    uint8_t* block = out + i * kBlockBytes;
    // F16C rounds to nearest even, exactly as base/half.h's F32ToF16 (and ggml's FP32_TO_FP16).
    const uint16_t dh = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    std::memcpy(block, &dh, sizeof dh);
    if constexpr (kQ8_1) {
      const __m256i s8 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
      s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
      const uint16_t sh = _cvtss_sh(d * static_cast<float>(_mm_cvtsi128_si32(s4)), _MM_FROUND_TO_NEAREST_INT);
      std::memcpy(block + 2, &sh, sizeof sh);
    }
    // Saturating packs interleave 128-bit lanes; the final permute restores element order.
    const __m256i q16a = _mm256_packs_epi32(q[0], q[1]);
    const __m256i q16b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16a, q16b),
                                                   _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(block + (kQ8_1 ? 4 : 2)), q8);
  }
}

void QuantizeF16(const float* x, void* dst, int64_t k) {
  auto* h = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  for (; i < k; ++i) h[i] = F32ToF16(x[i]);
}

void QuantizeBF16(const float* x, void* dst, int64_t k) {
  auto* h = static_cast<uint16_t*>(dst);
  const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF);
  const __m256i inf = _mm256_set1_epi32(0x7F800000);
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    const __m256i v = _mm256_castps_si256(_mm256_loadu_ps(x + i));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(v, 16), _mm256_set1_epi32(1));
    const __m256i rounded =
        _mm256_srli_epi32(_mm256_add_epi32(v, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF))), 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(v, 16), _mm256_set1_epi32(0x40));
    // Signed compare is right here: both sides are non-negative int32.
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(v, abs_mask), inf);
    const __m256i r = _mm256_blendv_epi8(rounded, quiet, nan);
    // All values fit 16 bits unsigned; packus keeps them, the permute undoes the lane interleave.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), _mm256_castsi256_si128(packed));
  }
  for (; i < k; ++i) h[i] = F32ToBf16(x[i]);
}

void QuantizeF32(const float* x, void* dst, int64_t k) {
  std::memcpy(dst, x, static_cast<size_t>(k) * sizeof(float));
}

}  // namespace

GemmFn GemmAvx2(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::kQ4_1: return GemmQuant<Q4_1W>;
    case GgmlType::kQ5_1: return GemmQuant<Q5_1W>;
    default: return GemmSplitAvx2(weight_type);  // Q4_0, Q5_0, Q8_0; nullptr for the rest
  }
}

QuantizeActFn QuantizeActAvx2(GgmlType act_type) {
  switch (act_type) {
    case GgmlType::kQ8_0: return QuantizeQ8<false>;
    case GgmlType::kQ8_1: return QuantizeQ8<true>;
    case GgmlType::kF16: return QuantizeF16;
    case GgmlType::kBF16: return QuantizeBF16;
    case GgmlType::kF32: return QuantizeF32;
    default: return nullptr;
  }
}

}  // namespace bastion::legacy
