// AVX-512 (F/BW/VL/DQ + VNNI) K-quant kernels for few activation columns ("row" kernels: vector
// lanes run along the weight row), the Q8_K activation quantizer, and the per-type dispatch that
// picks row or column kernels (gemm_kquant_avx512_cols.cc) by the number of columns.
//
// Decode (one token) is bound by weight bandwidth, so a row kernel reads each weight super-block
// exactly once, decodes it in registers (gemm_kquant_avx512.h) and uses it against 1-2 activation
// columns, for up to 4 rows at a time so the activation loads are shared, and prefetches every
// cache line of the next row tile. Per 64 elements the integer work is one
// vpdpbusd (4 products per int32 lane, at most 4*63*127, so it fits int16); pairs of those
// results are packed to int16 and one vpmaddwd/vpdpwssd multiplies each by its group's scale.
// The float accumulators take one FMA per super-block (two with mins) and are reduced
// horizontally only once per output. From kAvx512MinColsForPairKernel columns on, calls go to
// the small-batch (two rows per vector) kernel, which hands more than 8 columns to the column
// kernels (gemm_kquant_avx512_cols.cc).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/gemm_kquant_avx512.h"
#include "kernels/gemm_kquant_internal.h"
#include "quant/blocks.h"

namespace bastion::kquant {
namespace avx512 {
namespace {

// vpermw indices for the scales of two packed quarters. _mm512_packs_epi32(D_a, D_b) puts, in
// each 128-bit chunk k, the four int32 lanes 4k..4k+3 of D_a (elements 64a + 16k .. +15, group
// 4a + k) then those of D_b (group 4b + k) as int16; each gets its group's scale.
inline __m512i PackedScaleIndex(int qa, int qb) {
  alignas(64) int16_t idx[32];
  for (int k = 0; k < 4; ++k) {
    for (int i = 0; i < 4; ++i) {
      idx[8 * k + i] = static_cast<int16_t>(4 * qa + k);
      idx[8 * k + 4 + i] = static_cast<int16_t>(4 * qb + k);
    }
  }
  return _mm512_load_si512(idx);
}

inline __m512 ZeroExtend(__m256 v) { return _mm512_zextps256_ps512(v); }
inline __m512i ZeroExtend(__m256i v) { return _mm512_zextsi256_si512(v); }


// R weight rows x C activation columns, all super-blocks of k.
template <typename T, int R, int C>
void RowKernel(int64_t nb, const uint8_t* w, size_t w_stride, const uint8_t* a, size_t a_stride,
               float* y, size_t y_stride) {
  using Block = typename T::Block;
  __m512 acc[R][C];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  }
  const __m512i idx01 = PackedScaleIndex(0, 1), idx23 = PackedScaleIndex(2, 3);
  for (int64_t b = 0; b < nb; ++b) {
    __m512i act[C][4];
    __m256i bsums[C];
    float yd[C];
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const auto& ab = reinterpret_cast<const BlockQ8_K*>(a + c * a_stride)[b];
#pragma GCC unroll 16
      for (int i = 0; i < 4; ++i) act[c][i] = _mm512_loadu_si512(ab.qs + 64 * i);
      bsums[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab.bsums));
      yd[c] = ab.d;
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const Block* row = reinterpret_cast<const Block*>(w + r * w_stride);
      // Every cache line of the same block of the row one tile further on, into L2: the
      // hardware prefetcher alone leaves decode at compute time + memory time, and a distance
      // along the row ("8 blocks ahead") would miss the first blocks of rows 1..R-1 of the next
      // tile (rows are 19 blocks at k = 4864). Past the last row of the call these are the next
      // call's rows (the driver hands each thread consecutive pieces); prefetches never fault.
      const char* ahead = reinterpret_cast<const char*>(w + (r + R) * w_stride + b * sizeof(Block));
#pragma GCC unroll 4
      for (size_t off = 0; off < sizeof(Block); off += 64) _mm_prefetch(ahead + off, _MM_HINT_T1);
      const Unpacked u = T::Unpack(row[b]);
      const __m512i scales = _mm512_castsi256_si512(u.scales);  // vpermw reads words 0..15 only
      const __m512i sc01 = _mm512_permutexvar_epi16(idx01, scales);
      const __m512i sc23 = _mm512_permutexvar_epi16(idx23, scales);
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const __m512i zero = _mm512_setzero_si512();
        // Each int32 lane of a vpdpbusd result is a 4-element dot, at most 4*63*127 in size, so
        // packing to int16 is exact; vpmaddwd then adds lane pairs of one group times its scale.
        const __m512i d0 = _mm512_dpbusd_epi32(zero, u.q[0], act[c][0]);
        const __m512i d1 = _mm512_dpbusd_epi32(zero, u.q[1], act[c][1]);
        const __m512i d2 = _mm512_dpbusd_epi32(zero, u.q[2], act[c][2]);
        const __m512i d3 = _mm512_dpbusd_epi32(zero, u.q[3], act[c][3]);
        __m512i isum = _mm512_madd_epi16(_mm512_packs_epi32(d0, d1), sc01);
        isum = _mm512_dpwssd_epi32(isum, _mm512_packs_epi32(d2, d3), sc23);
        if constexpr (T::kOffsetShift >= 0) {
          // sum_g scale[g] * offset * bsum[g], removed from the unsigned-quant dot.
          const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(u.scales, bsums[c]), T::kOffsetShift);
          isum = _mm512_sub_epi32(isum, ZeroExtend(off));
        }
        // (x.d * y.d, x.dmin * y.d), the same float products as llama.cpp.
        const __m128 dm = _mm_mul_ps(u.dm, _mm_set1_ps(yd[c]));
        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_broadcastss_ps(dm), acc[r][c]);
        if constexpr (T::kHasMin) {
          const __m256i msum = _mm256_madd_epi16(u.mins, bsums[c]);
          acc[r][c] = _mm512_fnmadd_ps(ZeroExtend(_mm256_cvtepi32_ps(msum)),
                                       _mm512_broadcastss_ps(_mm_movehdup_ps(dm)), acc[r][c]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) y[c * y_stride + r] = _mm512_reduce_add_ps(acc[r][c]);
  }
}

// Rows in groups of up to kRows for a fixed column count C.
template <typename T, int C, int kRows>
void RowsForColumns(int64_t nb, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* a,
                    size_t a_stride, float* y, size_t y_stride) {
  int64_t r = 0;
  for (; r + kRows <= nr; r += kRows) {
    RowKernel<T, kRows, C>(nb, w + r * w_stride, w_stride, a, a_stride, y + r, y_stride);
  }
  const int64_t left = nr - r;
  const uint8_t* wr = w + r * w_stride;
  if constexpr (kRows > 3) {
    if (left == 3) RowKernel<T, 3, C>(nb, wr, w_stride, a, a_stride, y + r, y_stride);
  }
  if constexpr (kRows > 2) {
    if (left == 2) RowKernel<T, 2, C>(nb, wr, w_stride, a, a_stride, y + r, y_stride);
  }
  if (left == 1) RowKernel<T, 1, C>(nb, wr, w_stride, a, a_stride, y + r, y_stride);
}

template <typename T>
void RowGemm(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
             size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  const int64_t nb = k / kQK_K;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  int64_t c = 0;
  // Two columns share each decoded weight block; four rows share each activation load.
  for (; c + 2 <= nc; c += 2) {
    RowsForColumns<T, 2, 2>(nb, wb, w_stride, nr, ab + c * a_stride, a_stride, y + c * y_stride,
                            y_stride);
  }
  if (c < nc) {
    RowsForColumns<T, 1, 4>(nb, wb, w_stride, nr, ab + c * a_stride, a_stride, y + c * y_stride,
                            y_stride);
  }
}

template <typename T, GgmlType kType>
void Gemm(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride,
          int64_t nc, float* y, size_t y_stride) {
  static const GemmFn pairs = Avx512PairGemm(kType);  // hands > 8 columns to the column kernel
  if (nc >= kAvx512MinColsForPairKernel) {
    pairs(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
  } else {
    RowGemm<T>(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
  }
}

}  // namespace
}  // namespace avx512

GemmFn Avx512Gemm(GgmlType weight_type) {
  using namespace avx512;
  switch (weight_type) {
    case GgmlType::kQ2_K: return Gemm<Q2K, GgmlType::kQ2_K>;
    case GgmlType::kQ3_K: return Gemm<Q3K, GgmlType::kQ3_K>;
    case GgmlType::kQ4_K: return Gemm<Q4K, GgmlType::kQ4_K>;
    case GgmlType::kQ5_K: return Gemm<Q5K, GgmlType::kQ5_K>;
    case GgmlType::kQ6_K: return Gemm<Q6K, GgmlType::kQ6_K>;
    default: return nullptr;
  }
}

GemmFn Avx512RowGemm(GgmlType weight_type) {
  using namespace avx512;
  switch (weight_type) {
    case GgmlType::kQ2_K: return RowGemm<Q2K>;
    case GgmlType::kQ3_K: return RowGemm<Q3K>;
    case GgmlType::kQ4_K: return RowGemm<Q4K>;
    case GgmlType::kQ5_K: return RowGemm<Q5K>;
    case GgmlType::kQ6_K: return RowGemm<Q6K>;
    default: return nullptr;
  }
}

// Same rules as the reference (quant/k_quants.cc): signed max of largest magnitude (first on
// ties), iscale = -127 / max, q = min(127, round-half-even(float(iscale * x))), d = 1 / iscale.
// vcvtps2dq rounds to nearest even under the default MXCSR, like nearest_int for |v| < 2^22.
void QuantizeQ8KAvx512(const float* x, void* dst, int64_t k) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < k / kQK_K; ++b, x += kQK_K) {
    __m512 v[16];
    __m512 vmax = _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) {
      v[i] = _mm512_loadu_ps(x + 16 * i);
      // Operand order drops NaNs the way the reference's `ax > amax` does.
      vmax = _mm512_max_ps(_mm512_abs_ps(v[i]), vmax);
    }
    const float amax = _mm512_reduce_max_ps(vmax);
    if (amax == 0.0f) {
      std::memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    float max = 0.0f;
    const __m512 vamax = _mm512_set1_ps(amax);
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) {
      const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(v[i]), vamax, _CMP_EQ_OQ);
      if (hit != 0) {
        max = x[16 * i + __builtin_ctz(hit)];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m512 vis = _mm512_set1_ps(iscale);
    const __m512i cap = _mm512_set1_epi32(127);
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) {
      const __m512i q = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(vis, v[i])), cap);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16 * i), _mm512_cvtsepi32_epi8(q));
      y[b].bsums[i] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
    }
    y[b].d = 1.0f / iscale;
  }
}

}  // namespace bastion::kquant
