// AVX2 (+FMA, F16C) K-quant kernels and the AVX2 Q8_K activation quantizer.
//
// Simpler than the AVX-512 kernels but fully vectorized: each weight super-block is first decoded
// (per type, below) into a common form in a small per-thread buffer — 256 unsigned quants in
// natural element order, per-32-element vectors of (scale, scale) int16 pairs, int16 scales and
// mins per 16-element group, d and dmin — and one generic loop then does, per 32 elements,
// vpmaddubsw (quant x activation pairs, at most 2*63*127 so never saturating) and vpmaddwd with
// the scales, accumulating exact int32 sums; the float scales are applied once per super-block.
// Rows are decoded once per call and reused for every activation column. Decode (one column)
// of Q4_K and Q6_K, the K-quants of a Q4_K_M file, skips the buffer (DecodeRows): on Zen 3 that
// took one thread from 7.5-8.4 to 13.2-13.5 GB/s (Q4_K) and 11 to 18-21 GB/s (Q6_K) in cache.
// Integer results are identical to the reference (quant/k_quants.cc): offsets (Q3_K's 4, Q6_K's
// 32) and mins go through the Q8_K bsums exactly as llama.cpp's vec_dot does.
// Prefill (16+ columns) runs in "row lanes" instead (GemmLanes, below): one output row per int32
// lane, several vpmaddubsw products added in int16 before the vpmaddwd that applies the scale.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/avx2_common.h"
#include "kernels/gemm_kquant_internal.h"
#include "quant/blocks.h"

namespace bastion::kquant {
namespace avx2 {
namespace {

struct alignas(32) Prep {
  uint8_t q[kQK_K];
  __m256i scale_pairs[8];  // for elements 32t..32t+31: (s, s) word pairs of groups 2t, 2t+1
  __m256i scales;          // int16 per 16-element group
  __m256i mins;            // int16 per group
  float d;
  float dmin;
};

inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline __m256i Load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline void Store256(void* p, __m256i v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }

// Shift of 16-bit words by a signed count (left when positive); callers mask per byte afterwards.
inline __m256i ShiftWords(__m256i v, int left) {
  if (left >= 0) return _mm256_sll_epi16(v, _mm_cvtsi32_si128(left));
  return _mm256_srl_epi16(v, _mm_cvtsi32_si128(-left));
}

// The (s, s) word pairs for elements 32t..32t+31 (Prep::scale_pairs[t]) from the scales doubled
// into lo = unpacklo_epi16(scales, scales) (groups 0-3 | 8-11) and hi = unpackhi (4-7 | 12-15).
inline __m256i ScalePair(__m256i lo, __m256i hi, int t) {
  const int i = 2 * (t % 2) + 4 * (t / 4);
  const __m256i idx = _mm256_setr_epi32(i, i, i, i, i + 1, i + 1, i + 1, i + 1);
  return _mm256_permutevar8x32_epi32(((t / 2) % 2) ? hi : lo, idx);
}

// Fills scale_pairs from scales (see Prep).
inline void FinishScales(Prep& p) {
  const __m256i lo = _mm256_unpacklo_epi16(p.scales, p.scales);
  const __m256i hi = _mm256_unpackhi_epi16(p.scales, p.scales);
  for (int t = 0; t < 8; ++t) p.scale_pairs[t] = ScalePair(lo, hi, t);
}

struct Q2K {
  using Block = BlockQ2_K;
  static constexpr int kMaxQuant = 3;
  static constexpr bool kHasMin = true;
  static constexpr int kOffsetShift = -1;
  static void Unpack(const Block& x, Prep& p) {
    const __m256i three = _mm256_set1_epi8(3);
    for (int n = 0; n < 2; ++n) {
      const __m256i v = Load256(x.qs + 32 * n);
      for (int j = 0; j < 4; ++j) {
        Store256(p.q + 128 * n + 32 * j, _mm256_and_si256(ShiftWords(v, -2 * j), three));
      }
    }
    const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales));
    const __m128i low4 = _mm_set1_epi8(15);
    p.scales = _mm256_cvtepu8_epi16(_mm_and_si128(sc, low4));
    p.mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc, 4), low4));
    p.d = _cvtsh_ss(x.d);
    p.dmin = _cvtsh_ss(x.dmin);
  }
};

struct Q3K {
  using Block = BlockQ3_K;
  static constexpr int kMaxQuant = 7;
  static constexpr bool kHasMin = false;
  static constexpr int kOffsetShift = 2;
  static void Unpack(const Block& x, Prep& p) {
    const __m256i three = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    const __m256i hm = Load256(x.hmask);
    for (int n = 0; n < 2; ++n) {
      const __m256i v = Load256(x.qs + 32 * n);
      for (int j = 0; j < 4; ++j) {
        const int bit = 4 * n + j;  // hmask bit of these 32 elements, moved to bit 2
        const __m256i low = _mm256_and_si256(ShiftWords(v, -2 * j), three);
        const __m256i high = _mm256_and_si256(ShiftWords(hm, 2 - bit), four);
        Store256(p.q + 128 * n + 32 * j, _mm256_or_si256(low, high));
      }
    }
    const uint32_t a0 = Load32(x.scales), a1 = Load32(x.scales + 4), a2 = Load32(x.scales + 8);
    const uint32_t m2 = 0x0f0f0f0fu, m1 = 0x03030303u;
    const uint32_t s0 = (a0 & m2) | (((a2 >> 0) & m1) << 4);
    const uint32_t s1 = (a1 & m2) | (((a2 >> 2) & m1) << 4);
    const uint32_t s2 = ((a0 >> 4) & m2) | (((a2 >> 4) & m1) << 4);
    const uint32_t s3 = ((a1 >> 4) & m2) | (((a2 >> 6) & m1) << 4);
    const __m128i biased = _mm_set_epi32(static_cast<int>(s3), static_cast<int>(s2),
                                         static_cast<int>(s1), static_cast<int>(s0));
    p.scales = _mm256_sub_epi16(_mm256_cvtepu8_epi16(biased), _mm256_set1_epi16(32));
    p.mins = _mm256_setzero_si256();
    p.d = _cvtsh_ss(x.d);
    p.dmin = 0.0f;
  }
};

template <typename BlockT, bool kFive>
struct Q45K {
  using Block = BlockT;
  static constexpr int kMaxQuant = kFive ? 31 : 15;
  static constexpr bool kHasMin = true;
  static constexpr int kOffsetShift = -1;
  static void Unpack(const Block& x, Prep& p) {
    const __m256i low4 = _mm256_set1_epi8(15);
    for (int j = 0; j < 4; ++j) {
      const __m256i v = Load256(x.qs + 32 * j);
      Store256(p.q + 64 * j, _mm256_and_si256(v, low4));
      Store256(p.q + 64 * j + 32, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4));
    }
    if constexpr (kFive) {
      const __m256i qh = Load256(x.qh);
      const __m256i bit4 = _mm256_set1_epi8(16);
      for (int s = 0; s < 8; ++s) {
        const __m256i high = _mm256_and_si256(ShiftWords(qh, 4 - s), bit4);
        uint8_t* dst = p.q + 32 * s;
        Store256(dst, _mm256_or_si256(Load256(dst), high));
      }
    }
    Scales(x, p);
  }
  // Everything of Prep but the quants.
  static void Scales(const Block& x, Prep& p) {
    const uint32_t u0 = Load32(x.scales), u1 = Load32(x.scales + 4), u2 = Load32(x.scales + 8);
    const uint32_t s_lo = u0 & 0x3f3f3f3fu, m_lo = u1 & 0x3f3f3f3fu;
    const uint32_t s_hi = (u2 & 0x0f0f0f0fu) | ((u0 >> 2) & 0x30303030u);
    const uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 2) & 0x30303030u);
    const __m128i sc = _mm_set_epi32(0, 0, static_cast<int>(s_hi), static_cast<int>(s_lo));
    const __m128i mn = _mm_set_epi32(0, 0, static_cast<int>(m_hi), static_cast<int>(m_lo));
    p.scales = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(sc, sc));
    p.mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn, mn));
    p.d = _cvtsh_ss(x.d);
    p.dmin = _cvtsh_ss(x.dmin);
  }
};

using Q4K = Q45K<BlockQ4_K, false>;
using Q5K = Q45K<BlockQ5_K, true>;

// Decode without the Prep buffer (see DecodeRows): Q4_K's 32 quants of vector t, exactly as
// Unpack stores them (the two loads of one 32-byte piece fold into one).
struct Q4KDirect {
  using Base = Q4K;
  static __m256i Quants(const BlockQ4_K& x, int t) {
    const __m256i v = Load256(x.qs + 32 * (t / 2));
    const __m256i low4 = _mm256_set1_epi8(15);
    return t % 2 == 0 ? _mm256_and_si256(v, low4) : _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
  }
};

struct Q6K {
  using Block = BlockQ6_K;
  static constexpr int kMaxQuant = 63;
  static constexpr bool kHasMin = false;
  static constexpr int kOffsetShift = 5;
  static void Unpack(const Block& x, Prep& p) {
    const __m256i low4 = _mm256_set1_epi8(15), bits45 = _mm256_set1_epi8(0x30);
    for (int h = 0; h < 2; ++h) {
      const __m256i l0 = Load256(x.ql + 64 * h), l1 = Load256(x.ql + 64 * h + 32);
      const __m256i qh = Load256(x.qh + 32 * h);
      uint8_t* dst = p.q + 128 * h;
      auto put = [&](int k, __m256i nib, int shift) {
        Store256(dst + 32 * k, _mm256_or_si256(_mm256_and_si256(nib, low4),
                                               _mm256_and_si256(ShiftWords(qh, shift), bits45)));
      };
      put(0, l0, 4);
      put(1, l1, 2);
      put(2, _mm256_srli_epi16(l0, 4), 0);
      put(3, _mm256_srli_epi16(l1, 4), -2);
    }
    Scales(x, p);
  }
  static void Scales(const Block& x, Prep& p) {
    p.scales = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
    p.mins = _mm256_setzero_si256();
    p.d = _cvtsh_ss(x.d);
    p.dmin = 0.0f;
  }
};

// Decode without the Prep buffer: Q6_K's 32 quants of vector t = 4h + k, as Unpack stores them.
struct Q6KDirect {
  using Base = Q6K;
  static __m256i Quants(const BlockQ6_K& x, int t) {
    const int h = t / 4, k = t % 4;
    const __m256i low4 = _mm256_set1_epi8(15), bits45 = _mm256_set1_epi8(0x30);
    const __m256i l = Load256(x.ql + 64 * h + 32 * (k % 2));
    const __m256i nib = k < 2 ? l : _mm256_srli_epi16(l, 4);
    const __m256i qh = Load256(x.qh + 32 * h);
    return _mm256_or_si256(_mm256_and_si256(nib, low4), _mm256_and_si256(ShiftWords(qh, 4 - 2 * k), bits45));
  }
};

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// R prepared rows (row r's blocks at prep + r * nb) x C activation columns.
template <typename T, int R, int C>
void Kernel(int64_t nb, const Prep* prep, const uint8_t* a, size_t a_stride, float* y,
            size_t y_stride) {
  __m256 acc[R][C];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    // Integer sums for the whole tile first, t outermost: each activation vector is loaded once
    // for the R rows and each quant/scale vector once for the C columns (with the t loop inside
    // each (r, c) pair, every product reloaded all three). Same terms in the same order per pair.
    const BlockQ8_K* ab[C];
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) ab[c] = reinterpret_cast<const BlockQ8_K*>(a + c * a_stride) + b;
    __m256i isum[R][C];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) isum[r][c] = _mm256_setzero_si256();
    }
    // Not unrolled: unrolled (GCC 12), all 64 products of a 2 x 4 tile were computed first,
    // spilled to the stack and summed afterwards; rolled, the 8 integer sums stay in registers.
#pragma GCC unroll 1
    for (int t = 0; t < 8; ++t) {
      __m256i av[C];
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) av[c] = Load256(ab[c]->qs + 32 * t);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const Prep& p = prep[r * nb + b];
        const __m256i q = Load256(p.q + 32 * t);
        const __m256i pair = p.scale_pairs[t];
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c) {
          isum[r][c] = _mm256_add_epi32(isum[r][c], _mm256_madd_epi16(_mm256_maddubs_epi16(q, av[c]), pair));
        }
      }
    }
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const __m256i bsums = Load256(ab[c]->bsums);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const Prep& p = prep[r * nb + b];
        __m256i sum = isum[r][c];
        if constexpr (T::kOffsetShift >= 0) {
          sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(_mm256_madd_epi16(p.scales, bsums), T::kOffsetShift));
        }
        acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(p.d * ab[c]->d), acc[r][c]);
        if constexpr (T::kHasMin) {
          const __m256i msum = _mm256_madd_epi16(p.mins, bsums);
          acc[r][c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(p.dmin * ab[c]->d), acc[r][c]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) y[c * y_stride + r] = HorizontalSum(acc[r][c]);
  }
}

template <typename T, int R>
void Columns(int64_t nb, const Prep* prep, const uint8_t* a, size_t a_stride, int64_t nc, float* y,
             size_t y_stride) {
  int64_t c = 0;
  for (; c + 4 <= nc; c += 4) Kernel<T, R, 4>(nb, prep, a + c * a_stride, a_stride, y + c * y_stride, y_stride);
  float* yc = y + c * y_stride;
  const uint8_t* ac = a + c * a_stride;
  switch (nc - c) {
    case 3: Kernel<T, R, 3>(nb, prep, ac, a_stride, yc, y_stride); break;
    case 2: Kernel<T, R, 2>(nb, prep, ac, a_stride, yc, y_stride); break;
    case 1: Kernel<T, R, 1>(nb, prep, ac, a_stride, yc, y_stride); break;
    default: break;
  }
}

// One activation column (decode): each super-block is unpacked in registers and used at once.
// Nothing reuses an unpacked block there, so storing it to the Prep buffer (584 bytes: quants,
// eight scale vectors) and loading it back only cost instructions. The arithmetic is Kernel's
// for one column, step for step (same vectors, same scale pairs, same order), so the results
// are bit-identical to the Prep path's.
template <typename D>
void DecodeRows(int64_t nb, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a, float* y) {
  using T = typename D::Base;
  const auto* ab = reinterpret_cast<const BlockQ8_K*>(a);
  for (int64_t r = 0; r < nr; ++r) {
    const auto* row = reinterpret_cast<const typename T::Block*>(w + r * w_stride);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const typename T::Block& x = row[b];
      Prep p;  // scales, mins, d and dmin; the quants come from D::Quants
      T::Scales(x, p);
      const __m256i lo = _mm256_unpacklo_epi16(p.scales, p.scales);
      const __m256i hi = _mm256_unpackhi_epi16(p.scales, p.scales);
      const __m256i bsums = Load256(ab[b].bsums);
      __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t) {
        const __m256i pair = ScalePair(lo, hi, t);
        const __m256i prod = _mm256_maddubs_epi16(D::Quants(x, t), Load256(ab[b].qs + 32 * t));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(prod, pair));
      }
      if constexpr (T::kOffsetShift >= 0) {
        isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(_mm256_madd_epi16(p.scales, bsums), T::kOffsetShift));
      }
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(p.d * ab[b].d), acc);
      if constexpr (T::kHasMin) {
        const __m256i msum = _mm256_madd_epi16(p.mins, bsums);
        acc = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(p.dmin * ab[b].d), acc);
      }
    }
    y[r] = HorizontalSum(acc);
  }
}


// ---- Row lanes: one output row per int32 lane (prefill) ----------------------------------------
// As gemm_legacy_avx2_lanes.cc does for Q4_0/Q5_0: a vector holds four quants of each of 8 rows,
// the activation's matching four bytes are broadcast, one vpmaddubsw covers 4 elements x 8 rows,
// and the int16 products of kSumGroups such vectors are added before one vpmaddwd, which here
// also applies the 16-element group's integer scale (lane r holds row r's scale in both halves).
// The offset (Q3_K, Q6_K) or mins (Q2_K, Q4_K, Q5_K) term, sum over groups of x_j * bsums_j, is
// 8 more vpmaddwd per super-block x 8 rows x column. The integer sums are exact, as in Kernel.

struct alignas(32) LaneBlock {
  __m256i w[64];      // w[g] lane r: quants 4g..4g+3 of row r
  __m256i scale[16];  // lane r: row r's scale of group j (16 elements) in both int16 halves
  __m256i xpair[8];   // lane r: (x_2i, x_2i+1) of row r, x = mins or (offset types) scales
  float d[8];
  float dmin[8];
};

// Super-blocks of rows [0, n) of an 8-row group -> LaneBlocks; missing rows are zeros.
template <typename T>
void PrepareLanes(const uint8_t* w, size_t w_stride, int n, int64_t nb, LaneBlock* out) {
  for (int64_t b = 0; b < nb; ++b) {
    Prep p[8];
    for (int r = 0; r < 8; ++r) {
      if (r < n) {
        T::Unpack(reinterpret_cast<const typename T::Block*>(w + r * w_stride)[b], p[r]);
      } else {
        std::memset(&p[r], 0, sizeof p[r]);
      }
    }
    LaneBlock& o = out[b];
    __m256i e[8];
    for (int t = 0; t < 8; ++t) {
      for (int r = 0; r < 8; ++r) e[r] = Load256(p[r].q + 32 * t);
      ::bastion::avx2::Transpose8x8Epi32(e, o.w + 8 * t);
    }
    // Scales doubled into (s, s) pairs: unpacklo gives groups 0-3 | 8-11, unpackhi 4-7 | 12-15.
    __m256i pairs[8];
    for (int r = 0; r < 8; ++r) e[r] = _mm256_unpacklo_epi16(p[r].scales, p[r].scales);
    ::bastion::avx2::Transpose8x8Epi32(e, pairs);
    for (int g = 0; g < 4; ++g) {
      o.scale[g] = pairs[g];
      o.scale[8 + g] = pairs[4 + g];
    }
    for (int r = 0; r < 8; ++r) e[r] = _mm256_unpackhi_epi16(p[r].scales, p[r].scales);
    ::bastion::avx2::Transpose8x8Epi32(e, pairs);
    for (int g = 0; g < 4; ++g) {
      o.scale[4 + g] = pairs[g];
      o.scale[12 + g] = pairs[4 + g];
    }
    for (int r = 0; r < 8; ++r) e[r] = T::kHasMin ? p[r].mins : p[r].scales;
    ::bastion::avx2::Transpose8x8Epi32(e, o.xpair);
    for (int r = 0; r < 8; ++r) {
      o.d[r] = p[r].d;
      o.dmin[r] = p[r].dmin;
    }
  }
}

inline __m256i Broadcast32(const void* p) {
  float f;
  std::memcpy(&f, p, sizeof f);
  return _mm256_castps_si256(_mm256_set1_ps(f));
}

// Vectors (of 4 quants x 8 rows) whose int16 products may be added before widening: within one
// scale (16 elements = 4 vectors; Q4_K's and Q5_K's scales cover 32) and, at |activation| <=
// 128, under 32767: the largest power of two n with 2 * max quant * 128 * n <= 32767.
template <typename T>
constexpr int LaneSumVectors() {
  const int scale_vectors = std::is_same_v<T, Q4K> || std::is_same_v<T, Q5K> ? 8 : 4;
  int n = 1;
  while (2 * n <= scale_vectors && 2 * T::kMaxQuant * 128 * (2 * n) <= 32767) n *= 2;
  return n;
}

// 8 rows x C columns (activation rows at a + c * a_stride), all nb super-blocks.
template <typename T, int C>
void LanesTile(int64_t nb, const LaneBlock* lb, const uint8_t* a, size_t a_stride, float* y, size_t y_stride,
               int rows) {
  // Vectors whose int16 products may be added before widening: within one scale group (16
  // elements = 4 vectors; Q4_K's scales cover 32) and under 32767 at |activation| <= 128.
  constexpr int kSum = LaneSumVectors<T>();
  static_assert(kSum >= 1 && 64 % kSum == 0 && 2 * T::kMaxQuant * 128 * kSum <= 32767);
  __m256 acc[C];
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const LaneBlock& x = lb[b];
    const BlockQ8_K* ab[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) ab[c] = reinterpret_cast<const BlockQ8_K*>(a + c * a_stride) + b;
    __m256i isum[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) isum[c] = _mm256_setzero_si256();
#pragma GCC unroll 1
    for (int g0 = 0; g0 < 64; g0 += kSum) {
      __m256i p16[C];
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) p16[c] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int g = g0; g < g0 + kSum; ++g) {
        const __m256i wg = _mm256_load_si256(&x.w[g]);
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
          p16[c] = _mm256_add_epi16(p16[c], _mm256_maddubs_epi16(wg, Broadcast32(ab[c]->qs + 4 * g)));
          asm("" : "+x"(p16[c]));  // keeps the sum a chain (see gemm_legacy_avx2_lanes.cc)
        }
      }
      const __m256i sc = _mm256_load_si256(&x.scale[g0 / 4]);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(p16[c], sc));
    }
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      __m256i xs = _mm256_madd_epi16(_mm256_load_si256(&x.xpair[0]), Broadcast32(ab[c]->bsums));
#pragma GCC unroll 8
      for (int i = 1; i < 8; ++i) {
        xs = _mm256_add_epi32(xs, _mm256_madd_epi16(_mm256_load_si256(&x.xpair[i]), Broadcast32(ab[c]->bsums + 2 * i)));
      }
      __m256i sum = isum[c];
      if constexpr (T::kOffsetShift >= 0) sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(xs, T::kOffsetShift));
      const __m256 da = _mm256_set1_ps(ab[c]->d);
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(_mm256_load_ps(x.d), da), acc[c]);
      if constexpr (T::kHasMin) {
        acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(xs), _mm256_mul_ps(_mm256_load_ps(x.dmin), da), acc[c]);
      }
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) ::bastion::avx2::StoreLanes(acc[c], rows, y + c * y_stride);
}

constexpr int kLanesCols = 4;
// From this many columns on, prefill runs in row lanes (its transposition of 8 rows' super-blocks
// spread over enough columns; the same threshold as the legacy types' row-lanes kernel). Measured
// with bench/gemm_kquant_bench (k = 4864, 896 rows, 64 columns, one thread, Zen 3, two rounds)
// against Kernel: Q4_K 97-107 -> 166-169 GOP/s, Q5_K 86-102 -> 143-152, Q6_K 89-95 -> 111-114
// (2 vectors per int16 sum only), Q3_K 89-101 -> 136-151, Q2_K 80-90 -> 126-133.
constexpr int64_t kLanesMinCols = 16;

template <typename T>
void GemmLanes(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nc,
               float* y, size_t y_stride) {
  const int64_t nb = k / kQK_K;
  thread_local std::vector<LaneBlock> lanes;
  if (lanes.size() < static_cast<size_t>(nb)) lanes.resize(static_cast<size_t>(nb));
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t r0 = 0; r0 < nr; r0 += 8) {
    const int rows = static_cast<int>(std::min<int64_t>(8, nr - r0));
    PrepareLanes<T>(wb + r0 * w_stride, w_stride, rows, nb, lanes.data());
    int64_t c0 = 0;
    for (; c0 + kLanesCols <= nc; c0 += kLanesCols) {
      LanesTile<T, kLanesCols>(nb, lanes.data(), ab + c0 * a_stride, a_stride, y + c0 * y_stride + r0, y_stride, rows);
    }
    const uint8_t* ac = ab + c0 * a_stride;
    float* yc = y + c0 * y_stride + r0;
    switch (nc - c0) {
      case 3: LanesTile<T, 3>(nb, lanes.data(), ac, a_stride, yc, y_stride, rows); break;
      case 2: LanesTile<T, 2>(nb, lanes.data(), ac, a_stride, yc, y_stride, rows); break;
      case 1: LanesTile<T, 1>(nb, lanes.data(), ac, a_stride, yc, y_stride, rows); break;
      default: break;
    }
  }
}

template <typename T>
void Gemm(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride,
          int64_t nc, float* y, size_t y_stride) {
  if constexpr (std::is_same_v<T, Q4K> || std::is_same_v<T, Q6K>) {
    if (nc == 1) {
      using D = std::conditional_t<std::is_same_v<T, Q4K>, Q4KDirect, Q6KDirect>;
      DecodeRows<D>(k / kQK_K, static_cast<const uint8_t*>(w), w_stride, nr, static_cast<const uint8_t*>(a), y);
      return;
    }
  }
  if (nc >= kLanesMinCols) {
    GemmLanes<T>(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
    return;
  }
  // Decode shares each activation block among 4 rows; with more columns, 2 rows x 4 columns of
  // accumulators fit the 16 registers.
  const int rows_per_tile = nc == 1 ? 4 : 2;
  const int64_t nb = k / kQK_K;
  thread_local std::vector<Prep> prep;
  if (prep.size() < static_cast<size_t>(4 * nb)) prep.resize(4 * nb);
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t r0 = 0; r0 < nr; r0 += rows_per_tile) {
    const int rows = static_cast<int>(std::min<int64_t>(rows_per_tile, nr - r0));
    for (int r = 0; r < rows; ++r) {
      const auto* row = reinterpret_cast<const typename T::Block*>(wb + (r0 + r) * w_stride);
      for (int64_t b = 0; b < nb; ++b) {
        Prep& p = prep[r * nb + b];
        T::Unpack(row[b], p);
        FinishScales(p);
      }
    }
    float* yr = y + r0;
    switch (rows) {
      case 4: Columns<T, 4>(nb, prep.data(), ab, a_stride, nc, yr, y_stride); break;
      case 3: Columns<T, 3>(nb, prep.data(), ab, a_stride, nc, yr, y_stride); break;
      case 2: Columns<T, 2>(nb, prep.data(), ab, a_stride, nc, yr, y_stride); break;
      default: Columns<T, 1>(nb, prep.data(), ab, a_stride, nc, yr, y_stride); break;
    }
  }
}

}  // namespace
}  // namespace avx2

GemmFn Avx2Gemm(GgmlType weight_type) {
  using namespace avx2;
  switch (weight_type) {
    case GgmlType::kQ2_K: return Gemm<Q2K>;
    case GgmlType::kQ3_K: return Gemm<Q3K>;
    case GgmlType::kQ4_K: return Gemm<Q4K>;
    case GgmlType::kQ5_K: return Gemm<Q5K>;
    case GgmlType::kQ6_K: return Gemm<Q6K>;
    default: return nullptr;
  }
}

// Same rules as the reference quantizer (quant/k_quants.cc); vcvtps2dq rounds half to even under
// the default MXCSR, exactly like nearest_int for these magnitudes.
void QuantizeQ8KAvx2(const float* x, void* dst, int64_t k) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < k / kQK_K; ++b, x += kQK_K) {
    __m256 vmax = _mm256_setzero_ps();
    for (int i = 0; i < kQK_K; i += 8) {
      // Operand order drops NaNs the way the reference's `ax > amax` does.
      vmax = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask), vmax);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    if (amax == 0.0f) {
      std::memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    float max = 0.0f;
    const __m256 vamax = _mm256_set1_ps(amax);
    for (int i = 0; i < kQK_K; i += 8) {
      const __m256 ax = _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask);
      const int hit = _mm256_movemask_ps(_mm256_cmp_ps(ax, vamax, _CMP_EQ_OQ));
      if (hit != 0) {
        max = x[i + __builtin_ctz(static_cast<unsigned>(hit))];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 vis = _mm256_set1_ps(iscale);
    const __m256i cap = _mm256_set1_epi32(127);
#pragma GCC unroll 16
    for (int g = 0; g < 16; ++g) {
      const float* xg = x + 16 * g;
      const __m256i q0 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(vis, _mm256_loadu_ps(xg))), cap);
      const __m256i q1 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(vis, _mm256_loadu_ps(xg + 8))), cap);
      // Pack 16 int32 to 16 int8 (values are within -127..127, so saturation never triggers).
      const __m256i w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);
      const __m128i b8 = _mm_packs_epi16(_mm256_castsi256_si128(w16), _mm256_extracti128_si256(w16, 1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16 * g), b8);
      __m256i s = _mm256_add_epi32(q0, q1);
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
      y[b].bsums[g] = static_cast<int16_t>(_mm_cvtsi128_si32(s4));
    }
    y[b].d = 1.0f / iscale;
  }
}

}  // namespace bastion::kquant
