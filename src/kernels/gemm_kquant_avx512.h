// AVX-512 decoding of K-quant weight super-blocks into one common register form, shared by the
// row kernels (gemm_kquant_avx512.cc) and the column kernels (gemm_kquant_avx512_cols.cc).
// Include only from files compiled with BASTION_AVX512_FLAGS.
//
// Every type is reduced to: 256 unsigned quants in natural element order (4 x 64 bytes, ready for
// vpdpbusd against Q8_K bytes, which are in natural order too), one int16 scale per 16-element
// group, optionally one int16 min per group, and the super-block floats d and dmin. The value of
// element e in group g = e / 16 is then
//     d * scale[g] * (q[e] - kOffset) - dmin * min[g]
// where kOffset is 4 for Q3_K, 32 for Q6_K and 0 otherwise. The kernels form
//     isum = sum_g scale[g] * (dot_g(q, a) - kOffset * bsum[g]),   msum = sum_g min[g] * bsum[g]
// which are exactly the integers llama.cpp's vec_dot_qN_K_q8_K forms (it folds the offset into
// the quants instead; the product is the same integer), then d*y.d*isum - dmin*y.d*msum.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/blocks.h"

namespace bastion::kquant::avx512 {

struct Unpacked {
  __m512i q[4];     // quants of elements 64i..64i+63 in q[i], one byte each
  __m256i scales;   // int16 scale of each 16-element group
  __m256i mins;     // int16 min of each group (types with kHasMin)
  __m128 dm;        // lane 0: d, lane 1: dmin (0 for types without mins)
};

// F16 d and dmin (adjacent in the block) converted together; or d alone.
inline __m128 HalfPairToFloat(const uint16_t* d_then_dmin) {
  uint32_t bits;
  std::memcpy(&bits, d_then_dmin, sizeof bits);
  return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(bits)));
}
inline __m128 HalfToFloat(uint16_t d) { return _mm_cvtph_ps(_mm_cvtsi32_si128(d)); }

inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Broadcast of 32 bytes to both halves of a zmm.
inline __m512i Broadcast32Bytes(const uint8_t* p) {
  return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Per-qword shift/rotate counts: the low 256 bits get `lo`, the high 256 bits get `hi`.
inline __m512i HalfCounts(int lo, int hi) {
  return _mm512_set_epi64(hi, hi, hi, hi, lo, lo, lo, lo);
}

// Q4_K/Q5_K scale/min decode, whole words at a time: bytes 0..7 = scales, 8..15 = mins.
inline __m128i ScaleMinK4(const uint8_t* packed) {
  const uint32_t u0 = Load32(packed), u1 = Load32(packed + 4), u2 = Load32(packed + 8);
  const uint32_t s_lo = u0 & 0x3f3f3f3fu;
  const uint32_t m_lo = u1 & 0x3f3f3f3fu;
  // (u >> 2) & 0x30 moves each byte's top two bits to bits 4..5 of the same byte.
  const uint32_t s_hi = (u2 & 0x0f0f0f0fu) | ((u0 >> 2) & 0x30303030u);
  const uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 2) & 0x30303030u);
  return _mm_set_epi32(static_cast<int>(m_hi), static_cast<int>(m_lo), static_cast<int>(s_hi),
                       static_cast<int>(s_lo));
}

// Each byte of the low 8 bytes of v, as int16, twice (one per 16-element group of a 32-element
// sub-block).
inline __m256i DupLowBytesToWords(__m128i v) {
  return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(v, v));
}

static_assert(offsetof(BlockQ2_K, dmin) == offsetof(BlockQ2_K, d) + 2);
static_assert(offsetof(BlockQ4_K, dmin) == offsetof(BlockQ4_K, d) + 2);
static_assert(offsetof(BlockQ5_K, dmin) == offsetof(BlockQ5_K, d) + 2);

struct Q2K {
  using Block = BlockQ2_K;
  static constexpr bool kHasMin = true;
  static constexpr int kOffsetShift = -1;  // no offset
  static constexpr bool kWide = false;     // 16-element dots fit in int16
  static inline Unpacked Unpack(const Block& x) {
    Unpacked u;
    const __m512i three = _mm512_set1_epi8(3);
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      // Element 128n + 32j + l is bits 2j..2j+1 of qs[32n + l]; vector i holds j = 2(i%2), +1.
      const __m512i v = Broadcast32Bytes(x.qs + 32 * (i / 2));
      const int j0 = 2 * (i % 2);
      u.q[i] = _mm512_and_si512(_mm512_srlv_epi64(v, HalfCounts(2 * j0, 2 * j0 + 2)), three);
    }
    const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales));
    const __m128i low4 = _mm_set1_epi8(15);
    u.scales = _mm256_cvtepu8_epi16(_mm_and_si128(sc, low4));
    u.mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc, 4), low4));
    u.dm = HalfPairToFloat(&x.d);
    return u;
  }
};

struct Q3K {
  using Block = BlockQ3_K;
  static constexpr bool kHasMin = false;
  static constexpr int kOffsetShift = 2;  // offset 4
  static constexpr bool kWide = false;
  static inline Unpacked Unpack(const Block& x) {
    Unpacked u;
    const __m512i three = _mm512_set1_epi8(3);
    const __m512i four = _mm512_set1_epi8(4);
    const __m512i hm = Broadcast32Bytes(x.hmask);
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      const __m512i v = Broadcast32Bytes(x.qs + 32 * (i / 2));
      const int j0 = 2 * (i % 2);
      const __m512i low = _mm512_and_si512(_mm512_srlv_epi64(v, HalfCounts(2 * j0, 2 * j0 + 2)), three);
      // The high bit of element 32b + l is bit b of hmask[l]; rotate it to bit 2 of the same byte
      // (a qword rotate keeps bits inside their byte for these distances once masked).
      const int b0 = 4 * (i / 2) + j0;
      const __m512i rot = _mm512_rolv_epi64(hm, HalfCounts((2 - b0) & 63, (1 - b0) & 63));
      u.q[i] = _mm512_ternarylogic_epi32(low, rot, four, 0xF8);  // low | (rot & four)
    }
    // 6-bit scales: low nibbles from bytes 0..7, top bits from bytes 8..11 (see
    // quant/k_quants_internal.h), decoded four scales per 32-bit word.
    const uint32_t a0 = Load32(x.scales), a1 = Load32(x.scales + 4), a2 = Load32(x.scales + 8);
    const uint32_t m2 = 0x0f0f0f0fu, m1 = 0x03030303u;
    const uint32_t s0 = (a0 & m2) | (((a2 >> 0) & m1) << 4);
    const uint32_t s1 = (a1 & m2) | (((a2 >> 2) & m1) << 4);
    const uint32_t s2 = ((a0 >> 4) & m2) | (((a2 >> 4) & m1) << 4);
    const uint32_t s3 = ((a1 >> 4) & m2) | (((a2 >> 6) & m1) << 4);
    const __m128i biased = _mm_set_epi32(static_cast<int>(s3), static_cast<int>(s2),
                                         static_cast<int>(s1), static_cast<int>(s0));
    u.scales = _mm256_sub_epi16(_mm256_cvtepu8_epi16(biased), _mm256_set1_epi16(32));
    u.mins = _mm256_setzero_si256();
    u.dm = HalfToFloat(x.d);
    return u;
  }
};

// Q4_K and Q5_K: element 64j + l (l < 32) is the low nibble of qs[32j + l], 64j + 32 + l the high
// nibble; Q5_K adds bit s of qh[l] (s = e / 32) as bit 4.
template <typename BlockT, bool kFive>
struct Q45K {
  using Block = BlockT;
  static constexpr bool kHasMin = true;
  static constexpr int kOffsetShift = -1;
  static constexpr bool kWide = kFive;  // 16 x 31 x 127 overflows int16
  static inline Unpacked Unpack(const Block& x) {
    Unpacked u;
    const __m512i low4 = _mm512_set1_epi8(15);
    const __m512i nib_shift = HalfCounts(0, 4);
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const __m512i v = Broadcast32Bytes(x.qs + 32 * j);
      u.q[j] = _mm512_and_si512(_mm512_srlv_epi64(v, nib_shift), low4);
    }
    if constexpr (kFive) {
      const __m512i qh = Broadcast32Bytes(x.qh);
      const __m512i bit4 = _mm512_set1_epi8(16);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        // Sub-blocks 2j (low half) and 2j + 1 (high half): rotate bit s to bit 4.
        const __m512i rot = _mm512_rolv_epi64(qh, HalfCounts((4 - 2 * j) & 63, (3 - 2 * j) & 63));
        u.q[j] = _mm512_ternarylogic_epi32(u.q[j], rot, bit4, 0xF8);
      }
    }
    const __m128i sm = ScaleMinK4(x.scales);
    u.scales = DupLowBytesToWords(sm);
    u.mins = DupLowBytesToWords(_mm_srli_si128(sm, 8));
    u.dm = HalfPairToFloat(&x.d);
    return u;
  }
};

using Q4K = Q45K<BlockQ4_K, false>;
using Q5K = Q45K<BlockQ5_K, true>;

struct Q6K {
  using Block = BlockQ6_K;
  static constexpr bool kHasMin = false;
  static constexpr int kOffsetShift = 5;  // offset 32
  static constexpr bool kWide = true;
  static inline Unpacked Unpack(const Block& x) {
    Unpacked u;
    const __m512i low4 = _mm512_set1_epi8(15);
    const __m512i bits45 = _mm512_set1_epi8(0x30);
#pragma GCC unroll 4
    for (int h = 0; h < 2; ++h) {
      // ql[64h .. 64h+63] low nibbles are elements 128h + 0..63 in order, high nibbles
      // 128h + 64..127; qh[32h + l] carries their top two bits in bit pairs 0, 1, 2, 3.
      const __m512i ql = _mm512_loadu_si512(x.ql + 64 * h);
      const __m512i qh = Broadcast32Bytes(x.qh + 32 * h);
      const __m512i hi_a = _mm512_sllv_epi64(qh, HalfCounts(4, 2));
      const __m512i hi_b = _mm512_srlv_epi64(qh, HalfCounts(0, 2));
      u.q[2 * h] = _mm512_ternarylogic_epi32(_mm512_and_si512(ql, low4), hi_a, bits45, 0xF8);
      u.q[2 * h + 1] = _mm512_ternarylogic_epi32(
          _mm512_and_si512(_mm512_srli_epi16(ql, 4), low4), hi_b, bits45, 0xF8);
    }
    u.scales = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
    u.mins = _mm256_setzero_si256();
    u.dm = HalfToFloat(x.d);
    return u;
  }
};

// ---- The K-quant lanes layouts (kquant_lanes_layout.h), shared by their decode kernels
// (gemm_kquant_avx512_lanes.cc) and the column kernel's group decoding (gemm_kquant_avx512_cols.cc).

// A Q4_K group super-block's 16 rows' 6-bit scales and mins (UnpackScaleMinK4's rules on whole
// vectors): dword r of each holds row r's scales 0-3, 4-7 and mins 0-3, 4-7, one per byte.
struct LanesScaleMins {
  __m512i s_lo, s_hi, m_lo, m_hi;
};
inline LanesScaleMins DecodeLanesScaleMins(const uint8_t* scale_words) {
  const __m512i m0f = _mm512_set1_epi8(0x0F), m3f = _mm512_set1_epi8(0x3F), m30 = _mm512_set1_epi8(0x30);
  const __m512i u0 = _mm512_loadu_si512(scale_words);
  const __m512i u1 = _mm512_loadu_si512(scale_words + 64);
  const __m512i u2 = _mm512_loadu_si512(scale_words + 128);
  // (x & 0x0F) | (top bits & 0x30): ternary-logic 0xF8 is A | (B & C).
  return {_mm512_and_si512(u0, m3f),
          _mm512_ternarylogic_epi32(_mm512_and_si512(u2, m0f), _mm512_srli_epi32(u0, 2), m30, 0xF8),
          _mm512_and_si512(u1, m3f),
          _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi32(u2, 4), m0f), _mm512_srli_epi32(u1, 2), m30,
                                    0xF8)};
}

// A Q6_K group's three vectors (low nibbles x0, x1 and high bits h) as values 0..63: w[t] holds
// elements 4t + 0..3 of the group in each row's dword. Each element's top bit pair t moves to bits
// 4-5 of its byte (16-bit shifts: what crosses into a neighbouring byte lands outside the 0x30 mask).
inline void Q6KLanesValues(__m512i x0, __m512i x1, __m512i h, __m512i w[4]) {
  const __m512i m0f = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  w[0] = _mm512_ternarylogic_epi32(_mm512_and_si512(x0, m0f), _mm512_slli_epi16(h, 4), m30, 0xF8);
  w[1] = _mm512_ternarylogic_epi32(_mm512_and_si512(x1, m0f), _mm512_slli_epi16(h, 2), m30, 0xF8);
  w[2] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(x0, 4), m0f), h, m30, 0xF8);
  w[3] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(x1, 4), m0f), _mm512_srli_epi16(h, 2), m30, 0xF8);
}

}  // namespace bastion::kquant::avx512
