// IQ4_NL x Q8_0 kernel with AVX2 (also used at the AVX-512 level: IQ4_NL only appears in the
// fallback tensors of Q2_K/Q3_K files, so it does not earn a kernel of its own there).
//
// Per 32-element block: the 4-bit indices become int8 levels with one vpshufb table lookup, and
// the signed x signed byte products go through vpmaddubsw with the usual sign trick
// (|w| as unsigned, sign of w moved onto the activation), which cannot saturate because both
// sides are within [-127, 127]. Up to four weight rows share each activation load.
#include <immintrin.h>

#include "kernels/gemm.h"
#include "quant/blocks.h"
#include "quant/iq4_nl.h"

namespace bastion {
namespace {

inline __m256i LoadLevels(const BlockIQ4_NL& b, __m256i table) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  const __m128i lo = _mm_and_si128(packed, _mm_set1_epi8(0x0f));
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0f));
  // Elements 0..15 are the low nibbles, 16..31 the high ones.
  const __m256i idx = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
  return _mm256_shuffle_epi8(table, idx);
}

inline __m256 BlockDot(__m256i w, __m256i a) {
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i aw = _mm256_sign_epi8(w, w);
  const __m256i sa = _mm256_sign_epi8(a, w);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(aw, sa), ones));
}

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void GemmIq4NlAvx2(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride,
                   int64_t nc, float* y, size_t y_stride) {
  const __m128i levels = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4NlLevels));
  const __m256i table = _mm256_broadcastsi128_si256(levels);
  const int64_t nb = k / kQK4_NL;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t c = 0; c < nc; ++c) {
    const auto* act = reinterpret_cast<const BlockQ8_0*>(ab + c * a_stride);
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4) {
      const BlockIQ4_NL* rows[4];
      for (int i = 0; i < 4; ++i) rows[i] = reinterpret_cast<const BlockIQ4_NL*>(wb + (r + i) * w_stride);
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
      for (int64_t b = 0; b < nb; ++b) {
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(act[b].qs));
        const float da = _cvtsh_ss(act[b].d);
        for (int i = 0; i < 4; ++i) {
          const __m256 d = _mm256_set1_ps(_cvtsh_ss(rows[i][b].d) * da);
          acc[i] = _mm256_fmadd_ps(d, BlockDot(LoadLevels(rows[i][b], table), av), acc[i]);
        }
      }
      for (int i = 0; i < 4; ++i) y[c * y_stride + r + i] = HorizontalSum(acc[i]);
    }
    for (; r < nr; ++r) {
      const auto* row = reinterpret_cast<const BlockIQ4_NL*>(wb + r * w_stride);
      __m256 acc = _mm256_setzero_ps();
      for (int64_t b = 0; b < nb; ++b) {
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(act[b].qs));
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(row[b].d) * _cvtsh_ss(act[b].d));
        acc = _mm256_fmadd_ps(d, BlockDot(LoadLevels(row[b], table), av), acc);
      }
      y[c * y_stride + r] = HorizontalSum(acc);
    }
  }
}

}  // namespace

GemmFn GetIqGemmAvx2(GgmlType type) { return type == GgmlType::kIQ4_NL ? GemmIq4NlAvx2 : nullptr; }

}  // namespace bastion
