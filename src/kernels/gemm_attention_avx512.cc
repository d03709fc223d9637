// Q.K^T of decode attention on an F16 KV cache (kernels/gemm.h GetAttentionGemm, kScores):
// weight rows are keys (head_dim F16 values each, many of them), activation rows are the few
// queries of one KV group, converted to F16 and widened back here.
//
// The generic F16 kernel (gemm_legacy_avx512_float.cc) reduces each (key, query) accumulator
// with one quarter of a four-way shuffle tree and loads every key once per 4-column tile. Here a
// block of 16 keys is widened to F32 once (4 KiB for head_dim 64, in L1) and, per query, the 16
// accumulators are reduced together by a transposing tree whose result is one vector holding the
// 16 scores in key order: one store per query and block. The tree adds the same partial sums in
// the same order as Reduce4 there (halves of 512 bits, halves of 256, lane pairs, pairs of
// pairs), and each accumulator is the same FMA chain, so scores are bit-identical to GetGemm's.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>
#include <cstdint>

#include "kernels/gemm_legacy_internal.h"

namespace bastion::legacy {
namespace {

constexpr int kBlock = 16;           // keys per block: one result vector
constexpr int kPrefetchBlocks = 2;   // prefetch the keys this many blocks ahead (~8 KiB of K rows)

// Lane i of the result = horizontal sum of v[i]. The transposing tree leaves the sum of input
// slot 4m + c in lane 4c + m, so slot s is fed v[4 (s % 4) + s / 4] (the map is its own inverse).
inline __m512 Reduce16(const __m512* v) {
  auto in = [&](int s) { return v[4 * (s % 4) + s / 4]; };
  __m512 a[8], b[4], c[2];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {  // 512 -> 256: chunks (0+2, 1+3) of each of two vectors
    const __m512 x = in(2 * i), y = in(2 * i + 1);
    a[i] = _mm512_add_ps(_mm512_shuffle_f32x4(x, y, 0x44), _mm512_shuffle_f32x4(x, y, 0xEE));
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {  // 256 -> 128: (0+2) + (1+3), one vector per 128-bit chunk
    b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xDD));
  }
#pragma GCC unroll 2
  for (int i = 0; i < 2; ++i) {  // lane pairs: x0 + x1, x2 + x3
    c[i] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * i], b[2 * i + 1], 0x88),
                         _mm512_shuffle_ps(b[2 * i], b[2 * i + 1], 0xDD));
  }
  // pairs of pairs: (x0 + x1) + (x2 + x3)
  return _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], 0x88), _mm512_shuffle_ps(c[0], c[1], 0xDD));
}

// Scores of one query (S steps of 16 floats) against a block of 16 widened keys.
template <int S>
inline void QueryBlock(const float* kf, const float* q, float* y, __mmask16 store_mask) {
  __m512 qv[S];
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s) qv[s] = _mm512_load_ps(q + s * 16);
  __m512 acc[kBlock];
#pragma GCC unroll 16
  for (int j = 0; j < kBlock; ++j) {
    acc[j] = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) acc[j] = _mm512_fmadd_ps(_mm512_load_ps(kf + (j * S + s) * 16), qv[s], acc[j]);
  }
  _mm512_mask_storeu_ps(y, store_mask, Reduce16(acc));
}

template <int S>
void Scores(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nc,
            float* y, size_t y_stride) {
  constexpr int kDim = S * 16;
  constexpr size_t kRowBytes = kDim * 2;
  // Scratch: the widened queries, then one block of widened keys.
  auto* qf = static_cast<float*>(ThreadScratch((static_cast<size_t>(nc) + kBlock) * kDim * sizeof(float)));
  float* kf = qf + nc * kDim;
  for (int64_t c = 0; c < nc; ++c) {
    const auto* h = reinterpret_cast<const uint8_t*>(a) + c * a_stride;
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) {
      _mm512_store_ps(qf + c * kDim + s * 16,
                      _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + s * 32))));
    }
  }
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t j0 = 0; j0 < nr; j0 += kBlock) {
    const int n = static_cast<int>(std::min<int64_t>(kBlock, nr - j0));
    for (int j = 0; j < n; ++j) {
      const uint8_t* row = wb + (j0 + j) * w_stride;
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) {
        _mm512_store_ps(kf + (j * S + s) * 16,
                        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + s * 32))));
      }
    }
    for (int j = n; j < kBlock; ++j) {  // a short last block: zeros, their scores are not stored
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) _mm512_store_ps(kf + (j * S + s) * 16, _mm512_setzero_ps());
    }
    // Keys are rows head_dim * 2 bytes long at a stride of kv_dim * 2 (other KV heads between
    // them), a pattern the hardware prefetchers follow poorly from DRAM: ask for them ahead.
    if constexpr (kPrefetchBlocks > 0) {
    const int64_t pf_end = std::min<int64_t>(nr, j0 + (kPrefetchBlocks + 1) * kBlock);
    for (int64_t j = j0 + kPrefetchBlocks * kBlock; j < pf_end; ++j) {
      for (size_t off = 0; off < kRowBytes; off += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(wb + j * w_stride + off), _MM_HINT_T0);
      }
    }
    }
    const auto mask = static_cast<__mmask16>(n == kBlock ? 0xFFFFu : (1u << n) - 1);
    for (int64_t c = 0; c < nc; ++c) QueryBlock<S>(kf, qf + c * kDim, y + c * y_stride + j0, mask);
  }
}

// ---- P.V ---------------------------------------------------------------------------------------
// Weight rows are V^T rows (keys along k, long), activations the probability rows of one token's
// query heads (C <= 8). A tile is 2 V^T rows x C columns: 2C accumulators + C activation
// registers + 2 weight registers. Each activation step is loaded once into a register and used
// for both rows (the generic 6x4 / 3x8 tiles issue one load per FMA, which bounds them by the
// load ports at these shapes). Per accumulator: the same FMA chain over k (zero-padded last
// step) and the same reduction tree as the generic kernel, so results are bit-identical.

// Sum of 16 lanes in Reduce4's order: 512 -> 256 (chunks 0+2, 1+3), 256 -> 128, then
// (x0 + x1) + (x2 + x3).
inline float Reduce1(__m512 v) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  const __m128 x = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  alignas(16) float l[4];
  _mm_store_ps(l, x);
  return (l[0] + l[1]) + (l[2] + l[3]);
}

constexpr int kValuesPrefetchBytes = 2048;  // ahead in each V^T row (~150 ns of work)

template <int R, int C>
void ValuesTile(const uint8_t* w, size_t w_stride, const float* act, size_t act_stride,
                int64_t full_steps, int tail, float* y, size_t y_stride) {
  __m512 acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  }
  auto consume = [&](const __m512* wv, int64_t s) {
    __m512 av[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      av[c] = _mm512_load_ps(act + c * act_stride + s * 16);
      asm("" : "+v"(av[c]));  // keep it in a register: one load, R uses
    }
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) acc[r][c] = _mm512_fmadd_ps(wv[r], av[c], acc[r][c]);
    }
  };
  for (int64_t s = 0; s < full_steps; ++s) {
    __m512 wv[R];
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = w + r * w_stride + s * 32;
      wv[r] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
      if ((s & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(p + kValuesPrefetchBytes), _MM_HINT_T0);
    }
    consume(wv, s);
  }
  if (tail != 0) {
    __m512 wv[R];
    const auto mask = static_cast<__mmask16>((1u << tail) - 1);
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r) {
      wv[r] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, w + r * w_stride + full_steps * 32));
    }
    consume(wv, full_steps);
  }
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) {
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r) y[c * y_stride + r] = Reduce1(acc[r][c]);
  }
}

template <int R, int... I>
constexpr auto MakeValuesTiles(std::integer_sequence<int, I...>) {
  return std::array<decltype(&ValuesTile<1, 1>), sizeof...(I)>{&ValuesTile<R, I + 1>...};
}

void GemmF16Values(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
                   size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  constexpr int kMaxC = 8;
  static constexpr auto kTiles2 = MakeValuesTiles<2>(std::make_integer_sequence<int, kMaxC>());
  static constexpr auto kTiles1 = MakeValuesTiles<1>(std::make_integer_sequence<int, kMaxC>());
  // Activations widened to F32, each row zero-padded to whole steps of 16.
  const int64_t steps = (k + 15) / 16;
  const size_t act_stride = static_cast<size_t>(steps) * 16;
  auto* act = static_cast<float*>(ThreadScratch(static_cast<size_t>(nc) * act_stride * sizeof(float)));
  for (int64_t c = 0; c < nc; ++c) {
    const auto* h = reinterpret_cast<const uint16_t*>(static_cast<const uint8_t*>(a) + c * a_stride);
    float* f = act + c * act_stride;
    for (int64_t i = 0; i < k; i += 16) {
      const auto mask = static_cast<__mmask16>(k - i >= 16 ? 0xFFFFu : (1u << (k - i)) - 1);
      _mm512_store_ps(f + i, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, h + i)));
    }
  }
  const auto* wb = static_cast<const uint8_t*>(w);
  const int64_t full_steps = k / 16;
  const int tail = static_cast<int>(k % 16);
  for (int64_t c0 = 0; c0 < nc; c0 += kMaxC) {
    const int cc = static_cast<int>(std::min<int64_t>(kMaxC, nc - c0));
    for (int64_t r0 = 0; r0 < nr; r0 += 2) {
      const auto& tiles = nr - r0 >= 2 ? kTiles2 : kTiles1;
      tiles[cc - 1](wb + r0 * w_stride, w_stride, act + c0 * act_stride, act_stride, full_steps, tail,
                    y + c0 * y_stride + r0, y_stride);
    }
  }
}

void GemmF16Scores(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
                   size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  switch (k) {
    case 32: return Scores<2>(w, w_stride, nr, a, a_stride, nc, y, y_stride);
    case 64: return Scores<4>(w, w_stride, nr, a, a_stride, nc, y, y_stride);
    case 128: return Scores<8>(w, w_stride, nr, a, a_stride, nc, y, y_stride);
    default: {
      // Other head sizes: the generic kernel (same results, just not shaped for this).
      static const GemmFn generic = GemmFloatAvx512(GgmlType::kF16, false);
      return generic(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
    }
  }
}

}  // namespace

GemmFn GemmF16ScoresAvx512() { return GemmF16Scores; }
GemmFn GemmF16ValuesAvx512() { return GemmF16Values; }

}  // namespace bastion::legacy
