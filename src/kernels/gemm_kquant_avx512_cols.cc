// AVX-512 VNNI K-quant "column" kernels for prefill (many activation columns): each vector lane
// is one activation column (token), so the inner loop is pure vpdpbusd with no shuffles and no
// horizontal reductions.
//
// Layout, per call:
//  * Activations (Q8_K) are repacked once into groups of 16 columns: for each super-block, dword t
//    of all 16 columns is one 64-byte vector (a 16x16 dword transpose), followed by the 16
//    columns' bsums (as int16 pairs) and their float scales. Columns past nc are zero.
//  * Weights are decoded per tile of 6 rows (gemm_kquant_avx512.h) into a small buffer: natural
//    order unsigned quants, per-16-element-group scales as int32, the offset term's int16 pairs
//    and the mins' int16 pairs, d and dmin.
// A register tile is 6 rows x 32 columns: 12 group accumulators + 12 super-block accumulators;
// the float sums are updated in L1 once per super-block. The packing costs about as much as
// ~20 rows of work, so callers should hand this kernel large row slices (>= ~100 rows).
// Inner loop, per 16-element group: 4 x vpdpbusd(acc, broadcast(4 weight bytes), 16 columns' 4
// activation bytes), then the group's scale is applied with one vpdpwssd (the group dot fits
// int16 for Q2_K/Q3_K/Q4_K) or one vpmulld (Q5_K/Q6_K, whose group dots can exceed int16). The
// offset (Q3_K, Q6_K) and min (Q2_K, Q4_K, Q5_K) terms use vpdpwssd on the packed bsums; all of
// this is exact integer arithmetic identical to the reference, and the floats d*y.d, dmin*y.d are
// applied once per super-block.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/gemm_kquant_avx512.h"
#include "kernels/gemm_kquant_internal.h"
#include "kernels/kquant_lanes_layout.h"
#include "quant/blocks.h"

namespace bastion::kquant {
namespace avx512 {
namespace {

constexpr int kLanes = 16;  // columns per group

struct alignas(64) ActPack {
  int32_t qs[kQK_K / 4][kLanes];   // dword t of each column
  int32_t bsum_pairs[8][kLanes];   // (bsum[2i], bsum[2i+1]) of each column
  float d[kLanes];
};

struct alignas(64) WeightPrep {
  uint8_t q[kQK_K];
  int32_t scale[16];     // per group; zero-extended int16 (vpdpwssd) or sign-extended (vpmulld)
  int16_t offset[16];    // -scale * kOffset per group, read as int16 pairs
  int16_t mins[16];      // per group, read as int16 pairs
  float d;
  float dmin;
};

// 16x16 transpose of dwords: out[i] lane j = in[j] lane i.
inline void Transpose16(__m512i r[16]) {
  __m512i x[16];
  for (int k = 0; k < 4; ++k) {
    const __m512i ab_lo = _mm512_unpacklo_epi32(r[4 * k], r[4 * k + 1]);
    const __m512i ab_hi = _mm512_unpackhi_epi32(r[4 * k], r[4 * k + 1]);
    const __m512i cd_lo = _mm512_unpacklo_epi32(r[4 * k + 2], r[4 * k + 3]);
    const __m512i cd_hi = _mm512_unpackhi_epi32(r[4 * k + 2], r[4 * k + 3]);
    // x[4m + k]: within each 128-bit lane L, element 4L + m of rows 4k..4k+3.
    x[0 + k] = _mm512_unpacklo_epi64(ab_lo, cd_lo);
    x[4 + k] = _mm512_unpackhi_epi64(ab_lo, cd_lo);
    x[8 + k] = _mm512_unpacklo_epi64(ab_hi, cd_hi);
    x[12 + k] = _mm512_unpackhi_epi64(ab_hi, cd_hi);
  }
  for (int m = 0; m < 4; ++m) {
    const __m512i y0 = _mm512_shuffle_i32x4(x[4 * m + 0], x[4 * m + 1], 0x44);
    const __m512i y1 = _mm512_shuffle_i32x4(x[4 * m + 0], x[4 * m + 1], 0xEE);
    const __m512i y2 = _mm512_shuffle_i32x4(x[4 * m + 2], x[4 * m + 3], 0x44);
    const __m512i y3 = _mm512_shuffle_i32x4(x[4 * m + 2], x[4 * m + 3], 0xEE);
    r[0 + m] = _mm512_shuffle_i32x4(y0, y2, 0x88);
    r[4 + m] = _mm512_shuffle_i32x4(y0, y2, 0xDD);
    r[8 + m] = _mm512_shuffle_i32x4(y1, y3, 0x88);
    r[12 + m] = _mm512_shuffle_i32x4(y1, y3, 0xDD);
  }
}

// Packs columns [c0, c0 + n) (n <= 16) of all nb super-blocks into out[0..nb).
void PackColumns(const uint8_t* a, size_t a_stride, int64_t c0, int n, int64_t nb, ActPack* out) {
  static const BlockQ8_K kZero = {};
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ8_K* src[kLanes];
    for (int j = 0; j < kLanes; ++j) {
      src[j] = j < n ? reinterpret_cast<const BlockQ8_K*>(a + (c0 + j) * a_stride) + b : &kZero;
    }
    ActPack& p = out[b];
    __m512i r[16];
    for (int quarter = 0; quarter < 4; ++quarter) {
      for (int j = 0; j < kLanes; ++j) r[j] = _mm512_loadu_si512(src[j]->qs + 64 * quarter);
      Transpose16(r);
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) _mm512_store_si512(p.qs[16 * quarter + i], r[i]);
    }
    for (int j = 0; j < kLanes; ++j) {
      r[j] = _mm512_inserti64x4(_mm512_setzero_si512(),
                                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src[j]->bsums)), 0);
    }
    Transpose16(r);
#pragma GCC unroll 16
    for (int i = 0; i < 8; ++i) _mm512_store_si512(p.bsum_pairs[i], r[i]);
    for (int j = 0; j < kLanes; ++j) p.d[j] = src[j]->d;
  }
}

template <typename T>
void StorePrep(const Unpacked& u, WeightPrep& p) {
#pragma GCC unroll 16
  for (int i = 0; i < 4; ++i) _mm512_store_si512(p.q + 64 * i, u.q[i]);
  const __m512i s32 = T::kWide ? _mm512_cvtepi16_epi32(u.scales) : _mm512_cvtepu16_epi32(u.scales);
  _mm512_store_si512(p.scale, s32);
  if constexpr (T::kOffsetShift >= 0) {
    const __m256i off = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(u.scales, T::kOffsetShift));
    _mm256_store_si256(reinterpret_cast<__m256i*>(p.offset), off);
  }
  if constexpr (T::kHasMin) _mm256_store_si256(reinterpret_cast<__m256i*>(p.mins), u.mins);
  p.d = _mm_cvtss_f32(u.dm);
  p.dmin = _mm_cvtss_f32(_mm_movehdup_ps(u.dm));
}

template <typename T>
void PrepareRow(const typename T::Block* row, int64_t nb, WeightPrep* out) {
  for (int64_t b = 0; b < nb; ++b) StorePrep<T>(T::Unpack(row[b]), out[b]);
}

inline __m512i Bcast32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm512_set1_epi32(v);
}

// R prepared weight rows x G column groups (16 columns each), all super-blocks.
template <typename T, int R, int G>
void Tile(int64_t nb, const WeightPrep* wp, const ActPack* ap, int64_t ap_group_stride,
          float out[R][G][kLanes]) {
  // The float sums live in `out` (L1) and are updated once per super-block, which leaves the
  // registers to the integer accumulators of a taller tile.
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g) _mm512_storeu_ps(out[r][g], _mm512_setzero_ps());
  }
  for (int64_t b = 0; b < nb; ++b) {
    const WeightPrep* w[R];
    const ActPack* p[G];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) w[r] = wp + r * nb + b;
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g) p[g] = ap + g * ap_group_stride + b;
    __m512i isum[R][G];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
      for (int g = 0; g < G; ++g) isum[r][g] = _mm512_setzero_si512();
    }
#pragma GCC unroll 2
    for (int grp = 0; grp < 16; ++grp) {
      __m512i dot[R][G];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g) dot[r][g] = _mm512_setzero_si512();
      }
#pragma GCC unroll 4
      for (int step = 0; step < 4; ++step) {
        const int t = 4 * grp + step;
        __m512i act[G];
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g) act[g] = _mm512_load_si512(p[g]->qs[t]);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          const __m512i wq = Bcast32(w[r]->q + 4 * t);
#pragma GCC unroll 16
          for (int g = 0; g < G; ++g) dot[r][g] = _mm512_dpbusd_epi32(dot[r][g], wq, act[g]);
        }
      }
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const __m512i sc = _mm512_set1_epi32(w[r]->scale[grp]);
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g) {
          isum[r][g] = T::kWide ? _mm512_add_epi32(isum[r][g], _mm512_mullo_epi32(dot[r][g], sc))
                                : _mm512_dpwssd_epi32(isum[r][g], dot[r][g], sc);
        }
      }
    }
    if constexpr (T::kOffsetShift >= 0) {
#pragma GCC unroll 16
      for (int i = 0; i < 8; ++i) {
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g) {
          const __m512i pairs = _mm512_load_si512(p[g]->bsum_pairs[i]);
#pragma GCC unroll 16
          for (int r = 0; r < R; ++r) {
            isum[r][g] = _mm512_dpwssd_epi32(isum[r][g], pairs, Bcast32(w[r]->offset + 2 * i));
          }
        }
      }
    }
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g) {
      const __m512 yd = _mm512_load_ps(p[g]->d);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const __m512 d = _mm512_mul_ps(_mm512_set1_ps(w[r]->d), yd);
        _mm512_storeu_ps(out[r][g], _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][g]), d,
                                                     _mm512_loadu_ps(out[r][g])));
      }
    }
    if constexpr (T::kHasMin) {
#pragma GCC unroll 16
      for (int g = 0; g < G; ++g) {
        __m512i msum[R];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) msum[r] = _mm512_setzero_si512();
#pragma GCC unroll 16
        for (int i = 0; i < 8; ++i) {
          const __m512i pairs = _mm512_load_si512(p[g]->bsum_pairs[i]);
#pragma GCC unroll 16
          for (int r = 0; r < R; ++r) {
            msum[r] = _mm512_dpwssd_epi32(msum[r], pairs, Bcast32(w[r]->mins + 2 * i));
          }
        }
        const __m512 yd = _mm512_load_ps(p[g]->d);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          const __m512 dmin = _mm512_mul_ps(_mm512_set1_ps(w[r]->dmin), yd);
          _mm512_storeu_ps(out[r][g], _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum[r]), dmin,
                                                        _mm512_loadu_ps(out[r][g])));
        }
      }
    }
  }
}

// Runs Tile<R, G> and scatters its lanes to y (row r0 + r, column c0 + 16g + lane).
template <typename T, int R, int G>
void TileToY(int64_t nb, const WeightPrep* wp, const ActPack* ap, int64_t c0, int64_t nc,
             int64_t r0, float* y, size_t y_stride) {
  float out[R][G][kLanes];
  Tile<T, R, G>(nb, wp, ap + (c0 / kLanes) * nb, nb, out);
#pragma GCC unroll 16
  for (int g = 0; g < G; ++g) {
    const int64_t cg = c0 + kLanes * g;
    const int valid = static_cast<int>(std::min<int64_t>(kLanes, nc - cg));
    for (int lane = 0; lane < valid; ++lane) {
      float* dst = y + (cg + lane) * y_stride + r0;
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) dst[r] = out[r][g][lane];
    }
  }
}

template <typename T, int R>
void RowTile(int64_t nb, const WeightPrep* wp, const ActPack* ap, int64_t nc, int64_t r0,
             float* y, size_t y_stride) {
  constexpr int kGroups = 2;
  const int64_t ngroups = (nc + kLanes - 1) / kLanes;
  int64_t g = 0;
  for (; g + kGroups <= ngroups; g += kGroups) {
    TileToY<T, R, kGroups>(nb, wp, ap, g * kLanes, nc, r0, y, y_stride);
  }
  if (g < ngroups) TileToY<T, R, 1>(nb, wp, ap, g * kLanes, nc, r0, y, y_stride);
}

template <typename T>
void ColsGemm(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
              size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  constexpr int kRows = 6;
  const int64_t nb = k / kQK_K;
  const int64_t ngroups = (nc + kLanes - 1) / kLanes;
  // Per-thread scratch, reused across calls (the threaded driver calls from its workers).
  thread_local std::vector<ActPack> act;
  thread_local std::vector<WeightPrep> prep;
  if (act.size() < static_cast<size_t>(ngroups * nb)) act.resize(ngroups * nb);
  if (prep.size() < static_cast<size_t>(kRows * nb)) prep.resize(kRows * nb);
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t g = 0; g < ngroups; ++g) {
    const int n = static_cast<int>(std::min<int64_t>(kLanes, nc - g * kLanes));
    PackColumns(ab, a_stride, g * kLanes, n, nb, act.data() + g * nb);
  }
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t r0 = 0; r0 < nr; r0 += kRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kRows, nr - r0));
    for (int r = 0; r < rows; ++r) {
      PrepareRow<T>(reinterpret_cast<const typename T::Block*>(wb + (r0 + r) * w_stride), nb,
                    prep.data() + r * nb);
    }
    switch (rows) {
      case 6: RowTile<T, 6>(nb, prep.data(), act.data(), nc, r0, y, y_stride); break;
      case 5: RowTile<T, 5>(nb, prep.data(), act.data(), nc, r0, y, y_stride); break;
      case 4: RowTile<T, 4>(nb, prep.data(), act.data(), nc, r0, y, y_stride); break;
      case 3: RowTile<T, 3>(nb, prep.data(), act.data(), nc, r0, y, y_stride); break;
      case 2: RowTile<T, 2>(nb, prep.data(), act.data(), nc, r0, y, y_stride); break;
      default: RowTile<T, 1>(nb, prep.data(), act.data(), nc, r0, y, y_stride); break;
    }
  }
}

// ---- Small batches: two weight rows per vector --------------------------------------------------
// A few decoding streams (5-8 columns) leave half the column kernel's 16 lanes idle. Here lane 2i
// holds (row A, column i) and lane 2i+1 (row B, column i): each column's activation dwords are
// packed twice, and row pairs are prepared interleaved, so one 64-bit broadcast feeds both rows
// into the same vpdpbusd. Each lane sees exactly the column kernel's integer and float operations,
// in the same order, so the results are bit-equal to it (tests/kernels/gemm_kquant_test.cc).

constexpr int kPairTileRows = 12;  // 6 row pairs per register tile

struct alignas(64) PairPrep {
  int32_t q[kQK_K / 4][2];  // dword t of row A, of row B
  int32_t scale[16][2];     // per group, as WeightPrep::scale
  int32_t offset[8][2];     // int16 pairs (offset 2i, 2i+1) of row A, of row B
  int32_t mins[8][2];       // int16 pairs (min 2i, 2i+1) of row A, of row B
  float d[2];
  float dmin[2];
};

// Lanes 0-7 of a and of b, interleaved: a0 b0 a1 b1 ... a7 b7 (and lanes 8-15 for the high half).
inline __m512i InterleaveLow(__m512i a, __m512i b) {
  return _mm512_permutex2var_epi32(a, _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0), b);
}
inline __m512i InterleaveHigh(__m512i a, __m512i b) {
  return _mm512_permutex2var_epi32(a, _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8), b);
}

// Rows a and b (b may be null: its lanes are zero and never stored) of all nb super-blocks.
template <typename T>
void PreparePair(const typename T::Block* a, const typename T::Block* b, int64_t nb, PairPrep* out) {
  for (int64_t i = 0; i < nb; ++i) {
    const Unpacked ua = T::Unpack(a[i]);
    Unpacked ub{};
    if (b != nullptr) ub = T::Unpack(b[i]);
    PairPrep& p = out[i];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      _mm512_store_si512(p.q[16 * j], InterleaveLow(ua.q[j], ub.q[j]));
      _mm512_store_si512(p.q[16 * j + 8], InterleaveHigh(ua.q[j], ub.q[j]));
    }
    const __m512i sa = T::kWide ? _mm512_cvtepi16_epi32(ua.scales) : _mm512_cvtepu16_epi32(ua.scales);
    const __m512i sb = T::kWide ? _mm512_cvtepi16_epi32(ub.scales) : _mm512_cvtepu16_epi32(ub.scales);
    _mm512_store_si512(p.scale[0], InterleaveLow(sa, sb));
    _mm512_store_si512(p.scale[8], InterleaveHigh(sa, sb));
    if constexpr (T::kOffsetShift >= 0) {
      const __m256i oa = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(ua.scales, T::kOffsetShift));
      const __m256i ob = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(ub.scales, T::kOffsetShift));
      _mm512_store_si512(p.offset, InterleaveLow(_mm512_castsi256_si512(oa), _mm512_castsi256_si512(ob)));
    }
    if constexpr (T::kHasMin) {
      _mm512_store_si512(p.mins, InterleaveLow(_mm512_castsi256_si512(ua.mins), _mm512_castsi256_si512(ub.mins)));
    }
    p.d[0] = _mm_cvtss_f32(ua.dm);
    p.dmin[0] = _mm_cvtss_f32(_mm_movehdup_ps(ua.dm));
    p.d[1] = _mm_cvtss_f32(ub.dm);  // ub is all zero without a row b
    p.dmin[1] = _mm_cvtss_f32(_mm_movehdup_ps(ub.dm));
  }
}

inline __m512i Bcast64(const void* p) {
  int64_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm512_set1_epi64(v);
}
inline __m512 BcastPair(const float* p) {
  double v;
  std::memcpy(&v, p, sizeof v);
  return _mm512_castpd_ps(_mm512_set1_pd(v));
}

// P row pairs (prepared, nb super-blocks each) x the twice-packed columns: Tile<T, R, 1> with
// pairs in place of rows.
template <typename T, int P>
void PairTile(int64_t nb, const PairPrep* wp, const ActPack* ap, float out[P][kLanes]) {
#pragma GCC unroll 8
  for (int r = 0; r < P; ++r) _mm512_storeu_ps(out[r], _mm512_setzero_ps());
  for (int64_t b = 0; b < nb; ++b) {
    const PairPrep* w[P];
#pragma GCC unroll 8
    for (int r = 0; r < P; ++r) w[r] = wp + r * nb + b;
    const ActPack* p = ap + b;
    __m512i isum[P];
#pragma GCC unroll 8
    for (int r = 0; r < P; ++r) isum[r] = _mm512_setzero_si512();
#pragma GCC unroll 2
    for (int grp = 0; grp < 16; ++grp) {
      __m512i dot[P];
#pragma GCC unroll 8
      for (int r = 0; r < P; ++r) dot[r] = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int step = 0; step < 4; ++step) {
        const int t = 4 * grp + step;
        const __m512i act = _mm512_load_si512(p->qs[t]);
#pragma GCC unroll 8
        for (int r = 0; r < P; ++r) dot[r] = _mm512_dpbusd_epi32(dot[r], Bcast64(w[r]->q[t]), act);
      }
#pragma GCC unroll 8
      for (int r = 0; r < P; ++r) {
        const __m512i sc = Bcast64(w[r]->scale[grp]);
        isum[r] = T::kWide ? _mm512_add_epi32(isum[r], _mm512_mullo_epi32(dot[r], sc))
                           : _mm512_dpwssd_epi32(isum[r], dot[r], sc);
      }
    }
    if constexpr (T::kOffsetShift >= 0) {
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        const __m512i pairs = _mm512_load_si512(p->bsum_pairs[i]);
#pragma GCC unroll 8
        for (int r = 0; r < P; ++r) isum[r] = _mm512_dpwssd_epi32(isum[r], pairs, Bcast64(w[r]->offset[i]));
      }
    }
    const __m512 yd = _mm512_load_ps(p->d);
#pragma GCC unroll 8
    for (int r = 0; r < P; ++r) {
      const __m512 d = _mm512_mul_ps(BcastPair(w[r]->d), yd);
      _mm512_storeu_ps(out[r], _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r]), d, _mm512_loadu_ps(out[r])));
    }
    if constexpr (T::kHasMin) {
      __m512i msum[P];
#pragma GCC unroll 8
      for (int r = 0; r < P; ++r) msum[r] = _mm512_setzero_si512();
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        const __m512i pairs = _mm512_load_si512(p->bsum_pairs[i]);
#pragma GCC unroll 8
        for (int r = 0; r < P; ++r) msum[r] = _mm512_dpwssd_epi32(msum[r], pairs, Bcast64(w[r]->mins[i]));
      }
#pragma GCC unroll 8
      for (int r = 0; r < P; ++r) {
        const __m512 dmin = _mm512_mul_ps(BcastPair(w[r]->dmin), yd);
        _mm512_storeu_ps(out[r], _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum[r]), dmin, _mm512_loadu_ps(out[r])));
      }
    }
  }
}

// Runs PairTile<P> over rows [r0, r0 + rows) and writes lane 2i / 2i+1 of pair p to column i,
// rows r0 + 2p / r0 + 2p + 1.
template <typename T, int P>
void PairTileToY(int64_t nb, const PairPrep* wp, const ActPack* ap, int64_t nc, int64_t r0, int rows, float* y,
                 size_t y_stride) {
  float out[P][kLanes];
  PairTile<T, P>(nb, wp, ap, out);
  for (int64_t c = 0; c < nc; ++c) {
    float* dst = y + c * y_stride + r0;
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) {
      dst[2 * p] = out[p][2 * c];
      if (2 * p + 1 < rows) dst[2 * p + 1] = out[p][2 * c + 1];
    }
  }
}

template <typename T>
void PairGemm(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nc,
              float* y, size_t y_stride) {
  if (nc > kLanes / 2) return ColsGemm<T>(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
  const int64_t nb = k / kQK_K;
  constexpr int kPairs = kPairTileRows / 2;
  thread_local std::vector<ActPack> single, twice;
  thread_local std::vector<PairPrep> prep;
  if (single.size() < static_cast<size_t>(nb)) {
    single.resize(nb);
    twice.resize(nb);
  }
  if (prep.size() < static_cast<size_t>(kPairs * nb)) prep.resize(kPairs * nb);
  // Columns in lanes 0..nc-1, then each lane doubled: lane 2i and 2i+1 = column i.
  PackColumns(static_cast<const uint8_t*>(a), a_stride, 0, static_cast<int>(nc), nb, single.data());
  const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  for (int64_t b = 0; b < nb; ++b) {
    for (int t = 0; t < kQK_K / 4; ++t) {
      _mm512_store_si512(twice[b].qs[t], _mm512_permutexvar_epi32(dup, _mm512_load_si512(single[b].qs[t])));
    }
    for (int i = 0; i < 8; ++i) {
      _mm512_store_si512(twice[b].bsum_pairs[i], _mm512_permutexvar_epi32(dup, _mm512_load_si512(single[b].bsum_pairs[i])));
    }
    _mm512_store_ps(twice[b].d, _mm512_permutexvar_ps(dup, _mm512_load_ps(single[b].d)));
  }
  const auto* wb = static_cast<const uint8_t*>(w);
  auto row = [&](int64_t r) { return reinterpret_cast<const typename T::Block*>(wb + r * w_stride); };
  for (int64_t r0 = 0; r0 < nr; r0 += kPairTileRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kPairTileRows, nr - r0));
    const int pairs = (rows + 1) / 2;
    for (int p = 0; p < pairs; ++p) {
      const int64_t ra = r0 + 2 * p;
      PreparePair<T>(row(ra), ra + 1 < nr ? row(ra + 1) : nullptr, nb, prep.data() + p * nb);
    }
    switch (pairs) {
      case 6: PairTileToY<T, 6>(nb, prep.data(), twice.data(), nc, r0, rows, y, y_stride); break;
      case 5: PairTileToY<T, 5>(nb, prep.data(), twice.data(), nc, r0, rows, y, y_stride); break;
      case 4: PairTileToY<T, 4>(nb, prep.data(), twice.data(), nc, r0, rows, y, y_stride); break;
      case 3: PairTileToY<T, 3>(nb, prep.data(), twice.data(), nc, r0, rows, y, y_stride); break;
      case 2: PairTileToY<T, 2>(nb, prep.data(), twice.data(), nc, r0, rows, y, y_stride); break;
      default: PairTileToY<T, 1>(nb, prep.data(), twice.data(), nc, r0, rows, y, y_stride); break;
    }
  }
}

// ---- Weights in the K-quant lanes layouts (kquant_lanes_layout.h) ------------------------------
// Prefill reads Q4_K and Q6_K weights repacked for decode through the same tiles: each 16-row
// group's super-block is decoded into the 16 rows' Unpacked form with 16 x 16 dword transposes
// (a row's vectors are 64 bytes apart in the group), then prepared as from the file.

// Q4_K: vectors (s, v) of sub-blocks 0-3, then 4-7, transposed so that row r holds its 16
// bytes of each sub-block s (low nibbles: elements 0-15 of s, high: 16-31) in lane s % 4.
void UnpackLanes(Q4K, const uint8_t* blk, Unpacked u[klanes::kRows]) {
  namespace L = klanes::q4k;
  __m512i half[2][16];
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < 16; ++i) half[h][i] = _mm512_loadu_si512(blk + L::kQuants + 1024 * h + 64 * i);
    Transpose16(half[h]);
  }
  const __m512i m0f = _mm512_set1_epi8(0x0F);
  const __m512i nibble_shift = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);  // lanes 1 and 3: high nibbles
  // The 16 rows' scales and mins as the decode kernel has them, then each row's 8 scales and 8
  // mins as ScaleMinK4 returns them.
  const auto [s_lo, s_hi, m_lo, m_hi] = DecodeLanesScaleMins(blk + L::kScaleWords);
  alignas(64) uint32_t scale_mins[klanes::kRows][4];  // row r: scales 0-3, 4-7, mins 0-3, 4-7
  {
    // Dwords r of (s_lo, s_hi, m_lo, m_hi) side by side: a 4 x 4 dword transpose in each lane.
    const __m512i t0 = _mm512_unpacklo_epi32(s_lo, s_hi), t1 = _mm512_unpackhi_epi32(s_lo, s_hi);
    const __m512i t2 = _mm512_unpacklo_epi32(m_lo, m_hi), t3 = _mm512_unpackhi_epi32(m_lo, m_hi);
    // Lane L of e[j]: row 4L + j.
    const __m512i e[4] = {_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2), _mm512_unpacklo_epi64(t1, t3),
                          _mm512_unpackhi_epi64(t1, t3)};
    for (int j = 0; j < 4; ++j) {
      alignas(64) uint32_t lanes[16];
      _mm512_store_si512(lanes, e[j]);
      for (int l = 0; l < 4; ++l) std::memcpy(scale_mins[4 * l + j], lanes + 4 * l, 16);
    }
  }
  for (int r = 0; r < klanes::kRows; ++r) {
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      // Sub-blocks 2i, 2i + 1 as [low, high, low, high] nibbles of their 16 bytes.
      const __m512i x = half[i / 2][r];
      const __m512i pair = i % 2 == 0 ? _mm512_shuffle_i64x2(x, x, 0x50) : _mm512_shuffle_i64x2(x, x, 0xFA);
      u[r].q[i] = _mm512_and_si512(_mm512_srlv_epi64(pair, nibble_shift), m0f);
    }
    __m128i sm;
    std::memcpy(&sm, scale_mins[r], sizeof sm);
    u[r].scales = DupLowBytesToWords(sm);
    u[r].mins = DupLowBytesToWords(_mm_srli_si128(sm, 8));
    uint16_t dm[2];
    std::memcpy(&dm[0], blk + L::kD + 2 * r, 2);
    std::memcpy(&dm[1], blk + L::kDmin + 2 * r, 2);
    u[r].dm = HalfPairToFloat(dm);
  }
}

// Q6_K: the two low-nibble vectors and the high-bit vector of each group transposed so that row
// r holds one dword of each group per vector; the values as the lanes kernel forms them (dword g
// of w[t]: elements 16 g + 4 t + 0..3), then put in element order.
void UnpackLanes(Q6K, const uint8_t* blk, Unpacked u[klanes::kRows]) {
  namespace L = klanes::q6k;
  __m512i v[3][16];
  for (int j = 0; j < 3; ++j) {
    for (int g = 0; g < 16; ++g) v[j][g] = _mm512_loadu_si512(blk + L::kQuants + L::kGroupBytes * g + 64 * j);
    Transpose16(v[j]);
  }
  // The int8 scales, stored group by group (16 rows each), transposed to row by row: a 16 x 16
  // byte transpose in four rounds of unpacks.
  __m128i sc[16];
  for (int g = 0; g < 16; ++g) sc[g] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + L::kScales + 16 * g));
  {
    __m128i t[16];
    for (int i = 0; i < 8; ++i) {
      t[i] = _mm_unpacklo_epi8(sc[2 * i], sc[2 * i + 1]);
      t[i + 8] = _mm_unpackhi_epi8(sc[2 * i], sc[2 * i + 1]);
    }
    for (int i = 0; i < 8; ++i) {
      sc[i] = _mm_unpacklo_epi16(t[2 * i], t[2 * i + 1]);
      sc[i + 8] = _mm_unpackhi_epi16(t[2 * i], t[2 * i + 1]);
    }
    for (int i = 0; i < 8; ++i) {
      t[i] = _mm_unpacklo_epi32(sc[2 * i], sc[2 * i + 1]);
      t[i + 8] = _mm_unpackhi_epi32(sc[2 * i], sc[2 * i + 1]);
    }
    for (int i = 0; i < 8; ++i) {
      sc[i] = _mm_unpacklo_epi64(t[2 * i], t[2 * i + 1]);
      sc[i + 8] = _mm_unpackhi_epi64(t[2 * i], t[2 * i + 1]);
    }
  }
  // Each round interleaves halves, so row r ends in sc[PerfectShuffle(r)].
  auto row_at = [](int r) { return (r & 1) << 3 | (r & 2) << 1 | (r & 4) >> 1 | (r & 8) >> 3; };
  for (int r = 0; r < klanes::kRows; ++r) {
    __m512i w[4];
    Q6KLanesValues(v[0][r], v[1][r], v[2][r], w);
    // In each 128-bit lane L (groups 4L .. 4L+3): a 4 x 4 dword transpose gives group 4L + j's 16
    // values in order in lane L of e[j]; then a 4 x 4 transpose of lanes puts groups 4i .. 4i+3
    // (elements 64 i .. 64 i + 63) in q[i].
    const __m512i t0 = _mm512_unpacklo_epi32(w[0], w[1]), t1 = _mm512_unpackhi_epi32(w[0], w[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(w[2], w[3]), t3 = _mm512_unpackhi_epi32(w[2], w[3]);
    const __m512i e0 = _mm512_unpacklo_epi64(t0, t2), e1 = _mm512_unpackhi_epi64(t0, t2);
    const __m512i e2 = _mm512_unpacklo_epi64(t1, t3), e3 = _mm512_unpackhi_epi64(t1, t3);
    const __m512i a0 = _mm512_shuffle_i64x2(e0, e1, 0x44), a1 = _mm512_shuffle_i64x2(e0, e1, 0xEE);
    const __m512i a2 = _mm512_shuffle_i64x2(e2, e3, 0x44), a3 = _mm512_shuffle_i64x2(e2, e3, 0xEE);
    u[r].q[0] = _mm512_shuffle_i64x2(a0, a2, 0x88);
    u[r].q[1] = _mm512_shuffle_i64x2(a0, a2, 0xDD);
    u[r].q[2] = _mm512_shuffle_i64x2(a1, a3, 0x88);
    u[r].q[3] = _mm512_shuffle_i64x2(a1, a3, 0xDD);
    u[r].scales = _mm256_cvtepi8_epi16(sc[row_at(r)]);
    u[r].mins = _mm256_setzero_si256();
    uint16_t d;
    std::memcpy(&d, blk + L::kD + 2 * r, 2);
    u[r].dm = HalfToFloat(d);
  }
}

// ColsGemm for a lanes layout: rows in 16-row groups (a call starts at a group's first row). The
// prepared rows are kept per thread for the next call on the same rows while the caller's
// ActivationsFixedScope lasts: prefill calls a chunk of rows once per 64-token tile, and
// decoding a group costs more than reading a file row (two to three 16 x 16 transposes), about
// a fifth of the tiles' time if redone per call.
template <typename T>
void LanesColsGemm(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride,
                   int64_t nc, float* y, size_t y_stride) {
  constexpr int kTileRows = 6;
  // Rows kept between calls at most (prefill's chunks are 128-256 rows; 256 rows of k = 4864 keep
  // 2 MB), and rows prepared at a time otherwise (three groups, eight tiles).
  constexpr int64_t kMaxKeptRows = 256;
  constexpr int64_t kBatchRows = 48;
  const int64_t nb = k / kQK_K;
  const int64_t ngroups = (nc + kLanes - 1) / kLanes;
  const size_t block_bytes = std::is_same_v<T, Q4K> ? klanes::q4k::kBytes : klanes::q6k::kBytes;
  struct PrepCache {
    uint64_t epoch = 0;  // 0: nothing kept
    const void* w = nullptr;
    size_t w_stride = 0;
    int64_t nr = 0, nb = 0;
    std::vector<WeightPrep> rows;
  };
  thread_local std::vector<ActPack> act;
  thread_local PrepCache prep;
  if (act.size() < static_cast<size_t>(ngroups * nb)) act.resize(ngroups * nb);
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t g = 0; g < ngroups; ++g) {
    const int n = static_cast<int>(std::min<int64_t>(kLanes, nc - g * kLanes));
    PackColumns(ab, a_stride, g * kLanes, n, nb, act.data() + g * nb);
  }
  const auto* wb = static_cast<const uint8_t*>(w);
  // Rows [r0, r0 + rows) (whole groups) into out[(r - r0) * nb + b].
  auto prepare = [&](int64_t r0, int64_t rows, WeightPrep* out) {
    for (int64_t g0 = r0; g0 < r0 + rows; g0 += klanes::kRows) {
      const uint8_t* group = wb + g0 * w_stride;
      for (int64_t b = 0; b < nb; ++b) {
        Unpacked u[klanes::kRows];
        UnpackLanes(T{}, group + static_cast<size_t>(b) * block_bytes, u);
        for (int r = 0; r < klanes::kRows; ++r) StorePrep<T>(u[r], out[(g0 - r0 + r) * nb + b]);
      }
    }
  };
  auto tiles = [&](const WeightPrep* wp, int64_t r0, int64_t rows) {
    for (int64_t t0 = 0; t0 < rows; t0 += kTileRows) {
      const WeightPrep* tp = wp + t0 * nb;
      switch (std::min<int64_t>(kTileRows, rows - t0)) {
        case 6: RowTile<T, 6>(nb, tp, act.data(), nc, r0 + t0, y, y_stride); break;
        case 5: RowTile<T, 5>(nb, tp, act.data(), nc, r0 + t0, y, y_stride); break;
        case 4: RowTile<T, 4>(nb, tp, act.data(), nc, r0 + t0, y, y_stride); break;
        case 3: RowTile<T, 3>(nb, tp, act.data(), nc, r0 + t0, y, y_stride); break;
        case 2: RowTile<T, 2>(nb, tp, act.data(), nc, r0 + t0, y, y_stride); break;
        default: RowTile<T, 1>(nb, tp, act.data(), nc, r0 + t0, y, y_stride); break;
      }
    }
  };
  auto padded = [](int64_t rows) { return (rows + klanes::kRows - 1) / klanes::kRows * klanes::kRows; };
  const uint64_t epoch = ActivationsFixedEpoch();
  if (epoch != 0 && nr <= kMaxKeptRows) {
    if (epoch != prep.epoch || w != prep.w || w_stride != prep.w_stride || nr != prep.nr || nb != prep.nb) {
      if (prep.rows.size() < static_cast<size_t>(padded(nr) * nb)) prep.rows.resize(static_cast<size_t>(padded(nr) * nb));
      prepare(0, padded(nr), prep.rows.data());
      prep.epoch = epoch;
      prep.w = w;
      prep.w_stride = w_stride;
      prep.nr = nr;
      prep.nb = nb;
    }
    tiles(prep.rows.data(), 0, nr);
    return;
  }
  // Otherwise a few groups at a time, a whole number of 6-row tiles each.
  thread_local std::vector<WeightPrep> scratch;
  if (scratch.size() < static_cast<size_t>(kBatchRows * nb)) scratch.resize(static_cast<size_t>(kBatchRows * nb));
  for (int64_t r0 = 0; r0 < nr; r0 += kBatchRows) {
    const int64_t rows = std::min(kBatchRows, nr - r0);
    prepare(r0, padded(rows), scratch.data());
    tiles(scratch.data(), r0, rows);
  }
}

}  // namespace
}  // namespace avx512

void Avx512ColsQ2K(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
                   size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  avx512::ColsGemm<avx512::Q2K>(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
}
void Avx512ColsQ3K(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
                   size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  avx512::ColsGemm<avx512::Q3K>(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
}
void Avx512ColsQ4K(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
                   size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  avx512::ColsGemm<avx512::Q4K>(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
}
void Avx512ColsQ5K(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
                   size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  avx512::ColsGemm<avx512::Q5K>(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
}
void Avx512ColsQ6K(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
                   size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  avx512::ColsGemm<avx512::Q6K>(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
}

GemmFn Avx512LanesColsGemm(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::kQ4_K: return avx512::LanesColsGemm<avx512::Q4K>;
    case GgmlType::kQ6_K: return avx512::LanesColsGemm<avx512::Q6K>;
    default: return nullptr;
  }
}

GemmFn Avx512PairGemm(GgmlType weight_type) {
  using namespace avx512;
  switch (weight_type) {
    case GgmlType::kQ2_K: return PairGemm<Q2K>;
    case GgmlType::kQ3_K: return PairGemm<Q3K>;
    case GgmlType::kQ4_K: return PairGemm<Q4K>;
    case GgmlType::kQ5_K: return PairGemm<Q5K>;
    case GgmlType::kQ6_K: return PairGemm<Q6K>;
    default: return nullptr;
  }
}

}  // namespace bastion::kquant
