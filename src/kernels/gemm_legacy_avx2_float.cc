// AVX2 kernels for the float weight types (F32, F16, BF16): FMAs along k with a 4x2 register
// tile of 8-lane accumulators, reduced once per output.
//
// Activations are converted once per call to float, zero-padded to whole 8-element steps, so the
// inner loop converts only weights: F16 with vcvtph2ps, BF16 by widening to 32 bits and shifting
// (a BF16 is the top half of a float). A final partial step copies the row's last elements into
// a zeroed buffer first, so no load ever reads past the end of a row.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "base/half.h"
#include "kernels/gemm_legacy_internal.h"

namespace bastion::legacy {
namespace {

constexpr int kStep = 8;
constexpr int kTileR = 4;
constexpr int kTileC = 2;
constexpr int kPrefetchRows = 8;

struct F32W {
  static constexpr int kElemBytes = 4;
  static __m256 Load(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
  static float ToFloat(const uint8_t* p) {
    float f;
    std::memcpy(&f, p, sizeof f);
    return f;
  }
};
struct F16W {
  static constexpr int kElemBytes = 2;
  static __m256 Load(const uint8_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static float ToFloat(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, sizeof h);
    return F16ToF32(h);
  }
};
struct BF16W {
  static constexpr int kElemBytes = 2;
  static __m256 Load(const uint8_t* p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static float ToFloat(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, sizeof h);
    return Bf16ToF32(h);
  }
};

inline __m128 Reduce4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

struct TileArgs {
  const uint8_t* w;
  size_t w_stride;
  const float* act;     // prepared column c0
  size_t act_stride;    // floats per prepared column
  int64_t full_steps;
  int tail;             // elements in a final partial step (0: none)
  float* y;
  size_t y_stride;
  const uint8_t* prefetch;
};

template <class W, int R, int C>
void FloatTile(const TileArgs& t) {
  __m256 acc[R][C];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  constexpr int kStepBytes = kStep * W::kElemBytes;
  auto consume = [&](const __m256* ws, int64_t s) {
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) {
      const __m256 a = _mm256_load_ps(t.act + c * t.act_stride + s * kStep);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r][c] = _mm256_fmadd_ps(ws[r], a, acc[r][c]);
    }
  };
  for (int64_t s = 0; s < t.full_steps; ++s) {
    __m256 ws[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) ws[r] = W::Load(t.w + r * t.w_stride + s * kStepBytes);
    if (t.prefetch != nullptr && (s & 1) == 0) {  // one prefetch per 64-byte line is plenty
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) _mm_prefetch(t.prefetch + r * t.w_stride + s * kStepBytes, _MM_HINT_T0);
    }
    consume(ws, s);
  }
  if (t.tail != 0) {
    __m256 ws[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      alignas(32) uint8_t buf[kStep * 4] = {};
      std::memcpy(buf, t.w + r * t.w_stride + t.full_steps * kStepBytes, static_cast<size_t>(t.tail) * W::kElemBytes);
      ws[r] = W::Load(buf);
    }
    consume(ws, t.full_steps);
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
  return std::array<void (*)(const TileArgs&), sizeof...(I)>{&FloatTile<W, I / kTileC + 1, I % kTileC + 1>...};
}

// Activation row (in W's format) -> floats, zero-padded to whole steps.
template <class W>
void PrepareColumn(const uint8_t* src, int64_t k, float* out, int64_t padded) {
  int64_t i = 0;
  for (; i + kStep <= k; i += kStep) _mm256_store_ps(out + i, W::Load(src + i * W::kElemBytes));
  for (; i < k; ++i) out[i] = W::ToFloat(src + i * W::kElemBytes);
  for (; i < padded; ++i) out[i] = 0.0f;
}

template <class W>
void GemmFloat(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
               size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  static constexpr auto kTiles = MakeTileTable<W>(std::make_integer_sequence<int, kTileR * kTileC>());
  const int64_t padded = (k + kStep - 1) / kStep * kStep;
  auto* prep = static_cast<float*>(ThreadScratch(static_cast<size_t>(nc * padded) * sizeof(float)));
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t c = 0; c < nc; ++c) PrepareColumn<W>(ab + c * a_stride, k, prep + c * padded, padded);

  const auto* wb = static_cast<const uint8_t*>(w);
  TileArgs t;
  t.w_stride = w_stride;
  t.act_stride = static_cast<size_t>(padded);
  t.full_steps = k / kStep;
  t.tail = static_cast<int>(k % kStep);
  t.y_stride = y_stride;
  for (int64_t r0 = 0; r0 < nr; r0 += kTileR) {
    const int rr = static_cast<int>(std::min<int64_t>(kTileR, nr - r0));
    t.w = wb + r0 * w_stride;
    for (int64_t c0 = 0; c0 < nc; c0 += kTileC) {
      const int cc = static_cast<int>(std::min<int64_t>(kTileC, nc - c0));
      t.act = prep + c0 * padded;
      t.y = y + c0 * y_stride + r0;
      const bool ahead = c0 == 0 && r0 + kPrefetchRows + kTileR <= nr;
      t.prefetch = ahead ? t.w + kPrefetchRows * w_stride : nullptr;
      kTiles[(rr - 1) * kTileC + (cc - 1)](t);
    }
  }
}

}  // namespace

GemmFn GemmFloatAvx2(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::kF32: return GemmFloat<F32W>;
    case GgmlType::kF16: return GemmFloat<F16W>;
    case GgmlType::kBF16: return GemmFloat<BF16W>;
    default: return nullptr;
  }
}

}  // namespace bastion::legacy
