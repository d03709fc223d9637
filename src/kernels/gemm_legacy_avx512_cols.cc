// AVX-512 VNNI "column" kernels for the 32-element block weights (Q4_0, Q5_0, Q8_0 x Q8_0;
// Q4_1, Q5_1 x Q8_1), used for prefill (many activation columns = tokens).
//
// Here the 16 lanes of a vector are 16 tokens. An activation block of 16 tokens is transposed
// once per call so that vector j holds elements 4j..4j+3 of every token (64 bytes); one weight
// quad (4 bytes of one row) is broadcast and vpdpbusd adds its dot product with each token's
// quad into that token's lane. A block of 32 elements takes 8 such instructions per (row,
// 16 tokens) into an int32 accumulator, then one convert, one multiply (d_w * d_a per token) and
// one FMA into the float result — about 11 vector ops per 512 multiply-adds, against 4 per 64
// for the row kernels in gemm_legacy_avx512.cc (which stay in charge of decode: with one token
// 15 of the 16 lanes would idle).
//
// Weights are made unsigned as in the row kernels (u = q + offset, offset's share -offset*sum(a)
// precomputed per token and used as the accumulator's start) and unpacked to bytes once per row
// tile into scratch, so the inner loop is broadcasts, activation loads and vpdpbusd only.
//
// Measured on Sapphire Rapids, one thread, k = 896, nr = 4864, 64 tokens: Q8_0 ~340 GOP/s
// against ~100 for the row kernel. The transposition is paid once per call, so calls with few
// rows lose some of that (k = 4864: 16 rows per call ~230 GOP/s, 64 rows ~300).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "kernels/gemm_legacy_internal.h"
#include "quant/blocks.h"

namespace bastion::legacy {
namespace {

constexpr int kLanes = 16;  // tokens per vector
// 4 rows x 2 groups: 8 int32 + 8 float accumulators, 4 broadcast weights, 1 activation vector.
// (6 x 2 measured the same; 8 x 1 and 4 x 1 slower: each activation load feeds fewer rows.)
constexpr int kTileR = 4;  // weight rows per tile
constexpr int kTileG = 2;  // 16-token groups per tile

// One block (32 elements) of 16 tokens, transposed for the kernel.
struct alignas(64) ColBlock {
  int8_t q[8][64];  // q[j][4t + i] = element 4j + i of token t
  union {
    int32_t corr[16];  // Q8_0 family: -offset * (sum of token t's 32 quants)
    float s[16];       // Q8_1 family: token t's s
  };
  float d[16];  // token t's scale
};
static_assert(sizeof(ColBlock) == 640);

// A weight block prepared for broadcasting: 32 unsigned bytes.
struct WeightBlock {
  uint8_t u[32];
};

const uint8_t kZeroBlock[64] = {};

// ---- Activation transposition ---------------------------------------------------------------

// qs[t] points at token t's 32 quants; returns the 8 transposed quad vectors in token order.
[[gnu::always_inline]] inline void TransposeQuads(const int8_t* const* qs, __m512i out[8]) {
  __m512i z[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs[i]));
    const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs[i + 8]));
    z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);  // tokens i | i+8
  }
  // Two rounds of unpacks transpose 4x4 dword blocks inside each 128-bit lane...
  __m512i t[8], s[8];
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    const __m512i* zz = z + 4 * h;
    t[4 * h + 0] = _mm512_unpacklo_epi32(zz[0], zz[1]);
    t[4 * h + 1] = _mm512_unpackhi_epi32(zz[0], zz[1]);
    t[4 * h + 2] = _mm512_unpacklo_epi32(zz[2], zz[3]);
    t[4 * h + 3] = _mm512_unpackhi_epi32(zz[2], zz[3]);
    const __m512i* tt = t + 4 * h;
    s[4 * h + 0] = _mm512_unpacklo_epi64(tt[0], tt[2]);  // quads 0 | 4
    s[4 * h + 1] = _mm512_unpackhi_epi64(tt[0], tt[2]);  // quads 1 | 5
    s[4 * h + 2] = _mm512_unpacklo_epi64(tt[1], tt[3]);  // quads 2 | 6
    s[4 * h + 3] = _mm512_unpackhi_epi64(tt[1], tt[3]);  // quads 3 | 7
  }
  // ...and one cross-lane permute per quad gathers its four 4-token pieces in token order.
  const __m512i lo_idx = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
  const __m512i hi_idx = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    out[j] = _mm512_permutex2var_epi64(s[j], lo_idx, s[j + 4]);
    out[j + 4] = _mm512_permutex2var_epi64(s[j], hi_idx, s[j + 4]);
  }
}

// Prepares nb blocks of up to 16 tokens (n valid, rows a + t * a_stride) of Q8_0 (kQ8_1 false)
// or Q8_1 activations.
template <bool kQ8_1, int kOffset>
void PrepareGroup(const uint8_t* a, size_t a_stride, int n, int64_t nb, ColBlock* out) {
  constexpr size_t kBlockBytes = kQ8_1 ? sizeof(BlockQ8_1) : sizeof(BlockQ8_0);
  constexpr size_t kQsOffset = kQ8_1 ? 4 : 2;
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* qs[kLanes];
    alignas(32) uint16_t d[kLanes] = {}, s[kLanes] = {};
#pragma GCC unroll 16
    for (int t = 0; t < kLanes; ++t) {
      if (t < n) {
        const uint8_t* blk = a + t * a_stride + b * kBlockBytes;
        qs[t] = reinterpret_cast<const int8_t*>(blk + kQsOffset);
        std::memcpy(&d[t], blk, 2);
        if constexpr (kQ8_1) std::memcpy(&s[t], blk + 2, 2);
      } else {
        qs[t] = reinterpret_cast<const int8_t*>(kZeroBlock);
      }
    }
    __m512i quads[8];
    TransposeQuads(qs, quads);
    ColBlock& cb = out[b];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) _mm512_store_si512(cb.q[j], quads[j]);
    if constexpr (kQ8_1) {
      _mm512_store_ps(cb.s, _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(s))));
    } else {
      // Four short chains instead of one of eight (vpdpbusd latency is 5 cycles).
      const __m512i ones = _mm512_set1_epi8(1);
      __m512i sums[4];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        sums[j] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, quads[j]), ones, quads[j + 4]);
      }
      const __m512i sum = _mm512_add_epi32(_mm512_add_epi32(sums[0], sums[1]), _mm512_add_epi32(sums[2], sums[3]));
      _mm512_store_si512(cb.corr, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-kOffset)));
    }
    _mm512_store_ps(cb.d, _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d))));
  }
}

// ---- Weight unpacking -------------------------------------------------------------------------

__m256i Nibbles(const uint8_t* q) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}
__m256i WithHighBits(__m256i u, const uint8_t* qh_bytes) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, sizeof qh);
  return _mm256_mask_add_epi8(u, _cvtu32_mask32(qh), u, _mm256_set1_epi8(16));
}
float Half(const uint8_t* p) {  // F16C: exact, and much cheaper than the portable decoder
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return _cvtsh_ss(h);
}

struct Q8_0W {
  static constexpr int kBlockBytes = sizeof(BlockQ8_0);
  static constexpr int kOffset = 128;
  static constexpr bool kHasMin = false;
  static __m256i Unsigned(const uint8_t* p) {
    return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)),
                            _mm256_set1_epi8(static_cast<char>(0x80)));
  }
};
struct Q4_0W {
  static constexpr int kBlockBytes = sizeof(BlockQ4_0);
  static constexpr int kOffset = 8;
  static constexpr bool kHasMin = false;
  static __m256i Unsigned(const uint8_t* p) { return Nibbles(p + 2); }
};
struct Q5_0W {
  static constexpr int kBlockBytes = sizeof(BlockQ5_0);
  static constexpr int kOffset = 16;
  static constexpr bool kHasMin = false;
  static __m256i Unsigned(const uint8_t* p) { return WithHighBits(Nibbles(p + 6), p + 2); }
};
struct Q4_1W {
  static constexpr int kBlockBytes = sizeof(BlockQ4_1);
  static constexpr int kOffset = 0;
  static constexpr bool kHasMin = true;
  static __m256i Unsigned(const uint8_t* p) { return Nibbles(p + 4); }
};
struct Q5_1W {
  static constexpr int kBlockBytes = sizeof(BlockQ5_1);
  static constexpr int kOffset = 0;
  static constexpr bool kHasMin = true;
  static __m256i Unsigned(const uint8_t* p) { return WithHighBits(Nibbles(p + 8), p + 4); }
};

// Rows [0, nr) of a tile: unsigned bytes per block, scales (and mins) as floats.
template <class W>
void PrepareWeights(const uint8_t* w, size_t w_stride, int nr, int64_t nb, WeightBlock* wu, float* wd,
                    float* wm) {
  for (int r = 0; r < nr; ++r) {
    const uint8_t* row = w + r * w_stride;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* p = row + b * W::kBlockBytes;
      _mm256_store_si256(reinterpret_cast<__m256i*>(wu[r * nb + b].u), W::Unsigned(p));
      wd[r * nb + b] = Half(p);
      if constexpr (W::kHasMin) wm[r * nb + b] = Half(p + 2);
    }
  }
}

// ---- The tile kernel --------------------------------------------------------------------------

struct TileArgs {
  const WeightBlock* wu;  // prepared rows of the tile: [r * nb + b]
  const float* wd;
  const float* wm;
  const ColBlock* act;  // first group of the tile: [g * nb + b]
  int64_t nb;
  int tokens;  // valid tokens in the tile (<= 16 * G)
  float* y;    // y[t * y_stride + r], t from the tile's first token
  size_t y_stride;
  // Raw weight rows of the next row tile (and their stride), pulled into cache meanwhile so that
  // preparing them does not wait on memory; nullptr when there is none or it is already done.
  const uint8_t* prefetch;
  size_t w_stride;
  int block_bytes;
};

// Writes rows [0, R) (R <= 4) of up to 16 tokens of one group (lane t = token t).
template <int R>
void StoreGroup4(const __m512* acc, int tokens, float* y, size_t y_stride) {
  const __m512 zero = _mm512_setzero_ps();
  const __m512 a0 = acc[0], a1 = R > 1 ? acc[R > 1 ? 1 : 0] : zero;
  const __m512 a2 = R > 2 ? acc[R > 2 ? 2 : 0] : zero, a3 = R > 3 ? acc[R > 3 ? 3 : 0] : zero;
  // 4 x 16 transpose: vector m, 128-bit lane L = rows 0..3 of token 4L + m.
  const __m512 lo01 = _mm512_unpacklo_ps(a0, a1), hi01 = _mm512_unpackhi_ps(a0, a1);
  const __m512 lo23 = _mm512_unpacklo_ps(a2, a3), hi23 = _mm512_unpackhi_ps(a2, a3);
  alignas(64) float buf[4][16];
  _mm512_store_ps(buf[0], _mm512_shuffle_ps(lo01, lo23, 0x44));
  _mm512_store_ps(buf[1], _mm512_shuffle_ps(lo01, lo23, 0xEE));
  _mm512_store_ps(buf[2], _mm512_shuffle_ps(hi01, hi23, 0x44));
  _mm512_store_ps(buf[3], _mm512_shuffle_ps(hi01, hi23, 0xEE));
  for (int t = 0; t < tokens; ++t) {
    const float* src = &buf[t % 4][4 * (t / 4)];
    float* dst = y + t * y_stride;
    if constexpr (R == 4) {
      _mm_storeu_ps(dst, _mm_load_ps(src));
    } else {
      for (int r = 0; r < R; ++r) dst[r] = src[r];
    }
  }
}

template <int R>
void StoreGroup(const __m512* acc, int tokens, float* y, size_t y_stride) {
  if constexpr (R <= 4) {
    StoreGroup4<R>(acc, tokens, y, y_stride);
  } else {
    StoreGroup4<4>(acc, tokens, y, y_stride);
    StoreGroup4<R - 4>(acc + 4, tokens, y + 4, y_stride);
  }
}

template <class W, int R, int G>
void ColTile(const TileArgs& t) {
  __m512 acc[R][G];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) acc[r][g] = _mm512_setzero_ps();
  }
  const int64_t nb = t.nb;
  for (int64_t b = 0; b < nb; ++b) {
    const ColBlock* cb[G];
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) cb[g] = t.act + g * nb + b;
    if (t.prefetch != nullptr) {
      // One line per row and block: blocks are <= 34 bytes, so every line of the rows is hit.
      for (int r = 0; r < R; ++r) _mm_prefetch(t.prefetch + r * t.w_stride + b * t.block_bytes, _MM_HINT_T0);
    }
    __m512i dot[R][G];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) {
        dot[r][g] = W::kOffset != 0 ? _mm512_load_si512(cb[g]->corr) : _mm512_setzero_si512();
      }
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      __m512i wq[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        int32_t quad;
        std::memcpy(&quad, t.wu[r * nb + b].u + 4 * j, sizeof quad);
        wq[r] = _mm512_set1_epi32(quad);
      }
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) {
        const __m512i av = _mm512_load_si512(cb[g]->q[j]);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) dot[r][g] = _mm512_dpbusd_epi32(dot[r][g], wq[r], av);
      }
    }
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      const __m512 da = _mm512_load_ps(cb[g]->d);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512 scale = _mm512_mul_ps(da, _mm512_set1_ps(t.wd[r * nb + b]));
        acc[r][g] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[r][g]), scale, acc[r][g]);
        if constexpr (W::kHasMin) {
          acc[r][g] = _mm512_fmadd_ps(_mm512_set1_ps(t.wm[r * nb + b]), _mm512_load_ps(cb[g]->s), acc[r][g]);
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int g = 0; g < G; ++g) {
    const int tokens = std::min(kLanes, t.tokens - g * kLanes);
    if (tokens <= 0) break;
    __m512 col[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) col[r] = acc[r][g];
    StoreGroup<R>(col, tokens, t.y + g * kLanes * t.y_stride, t.y_stride);
  }
}

template <class W, int... I>
constexpr auto MakeTileTable(std::integer_sequence<int, I...>) {
  return std::array<void (*)(const TileArgs&), sizeof...(I)>{&ColTile<W, I / kTileG + 1, I % kTileG + 1>...};
}

size_t AlignUp(size_t n) { return (n + 63) / 64 * 64; }

template <class W>
void GemmCols(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride,
              int64_t nc, float* y, size_t y_stride) {
  static constexpr auto kTiles = MakeTileTable<W>(std::make_integer_sequence<int, kTileR * kTileG>());
  const int64_t nb = k / kQK8_0;
  const int64_t groups = (nc + kLanes - 1) / kLanes;
  // Scratch: transposed activations, then one row tile of prepared weights.
  const size_t act_bytes = static_cast<size_t>(groups * nb) * sizeof(ColBlock);
  const size_t wu_bytes = AlignUp(static_cast<size_t>(kTileR * nb) * sizeof(WeightBlock));
  const size_t wf_bytes = AlignUp(static_cast<size_t>(kTileR * nb) * sizeof(float));
  auto* scratch = static_cast<uint8_t*>(ThreadScratch(act_bytes + wu_bytes + 2 * wf_bytes));
  auto* act = reinterpret_cast<ColBlock*>(scratch);
  auto* wu = reinterpret_cast<WeightBlock*>(scratch + act_bytes);
  auto* wd = reinterpret_cast<float*>(scratch + act_bytes + wu_bytes);
  auto* wm = reinterpret_cast<float*>(scratch + act_bytes + wu_bytes + wf_bytes);

  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t g = 0; g < groups; ++g) {
    const int n = static_cast<int>(std::min<int64_t>(kLanes, nc - g * kLanes));
    PrepareGroup<W::kHasMin, W::kOffset>(ab + g * kLanes * a_stride, a_stride, n, nb, act + g * nb);
  }

  const auto* wb = static_cast<const uint8_t*>(w);
  TileArgs t;
  t.wu = wu;
  t.wd = wd;
  t.wm = wm;
  t.nb = nb;
  t.y_stride = y_stride;
  t.w_stride = w_stride;
  t.block_bytes = W::kBlockBytes;
  for (int64_t r0 = 0; r0 < nr; r0 += kTileR) {
    const int rr = static_cast<int>(std::min<int64_t>(kTileR, nr - r0));
    PrepareWeights<W>(wb + r0 * w_stride, w_stride, rr, nb, wu, wd, wm);
    const bool next_full = r0 + 2 * kTileR <= nr;
    for (int64_t g0 = 0; g0 < groups; g0 += kTileG) {
      const int gg = static_cast<int>(std::min<int64_t>(kTileG, groups - g0));
      t.prefetch = g0 == 0 && next_full ? wb + (r0 + kTileR) * w_stride : nullptr;
      t.act = act + g0 * nb;
      t.tokens = static_cast<int>(std::min<int64_t>(gg * kLanes, nc - g0 * kLanes));
      t.y = y + g0 * kLanes * y_stride + r0;
      kTiles[(rr - 1) * kTileG + (gg - 1)](t);
    }
  }
}

// ---- Small batches: two weight rows per vector -------------------------------------------------
// With 8 tokens or fewer (several sequences decoding together) half the lanes of ColTile would
// idle. Here lane 2t + h holds token t against weight row r + h: the activation quads are
// duplicated into lane pairs, and one 8-byte broadcast puts the quads of rows r and r + 1 into
// alternate lanes, so each vpdpbusd does two rows' work. The arithmetic per (row, token) is
// ColTile's: the same int32 block sums, the same d_w * d_a product, the same FMA, blocks in order.

// Activations of up to 8 tokens with every lane duplicated: lanes 2t, 2t + 1 = token t.
void DuplicateLanes(const ColBlock& in, ColBlock& out) {
  const __m512i idx = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  for (int j = 0; j < 8; ++j) _mm512_store_si512(out.q[j], _mm512_permutexvar_epi32(idx, _mm512_load_si512(in.q[j])));
  _mm512_store_si512(out.corr, _mm512_permutexvar_epi32(idx, _mm512_load_si512(in.corr)));
  _mm512_store_ps(out.d, _mm512_permutexvar_ps(idx, _mm512_load_ps(in.d)));
}

// Weights of a row pair, block b: quad j of row r then of row r + 1 (8 bytes per j), and the two
// rows' scales side by side.
struct alignas(64) PairBlock {
  uint8_t u[8][8];
};

// Rows [0, 2P) (ragged: missing rows read as zero weights with scale 0) of one tile.
// Small batches read the weights from memory, like decode: each block read also prefetches the
// same place `ahead` bytes on (rows of a later tile) into L2, spread over the loop so that no burst
// of prefetches holds L1's few miss buffers. Prefetches past the mapping are harmless.
template <class W, int P>
void PreparePairs(const uint8_t* w, size_t w_stride, int nr, int64_t nb, PairBlock* wp, float* wd, size_t ahead) {
  for (int p = 0; p < P; ++p) {
    const int r = 2 * p;
    const uint8_t* row0 = r < nr ? w + r * w_stride : nullptr;
    const uint8_t* row1 = r + 1 < nr ? w + (r + 1) * w_stride : nullptr;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk0 = w + r * w_stride + b * W::kBlockBytes;
      _mm_prefetch(reinterpret_cast<const char*>(blk0 + ahead), _MM_HINT_T1);
      _mm_prefetch(reinterpret_cast<const char*>(blk0 + w_stride + ahead), _MM_HINT_T1);
      // Missing rows: zero weights with scale 0 contribute exactly 0.
      const __m256i u0 = row0 ? W::Unsigned(row0 + b * W::kBlockBytes) : _mm256_setzero_si256();
      const __m256i u1 = row1 ? W::Unsigned(row1 + b * W::kBlockBytes) : _mm256_setzero_si256();
      // unpack: [q0 q0' q1 q1' | q4 q4' q5 q5'] and [q2 q2' q3 q3' | q6 q6' q7 q7'].
      const __m256i lo = _mm256_unpacklo_epi32(u0, u1), hi = _mm256_unpackhi_epi32(u0, u1);
      auto* dst = reinterpret_cast<__m256i*>(wp[p * nb + b].u);
      _mm256_store_si256(dst, _mm256_permute2x128_si256(lo, hi, 0x20));
      _mm256_store_si256(dst + 1, _mm256_permute2x128_si256(lo, hi, 0x31));
      wd[(p * nb + b) * 2] = row0 ? Half(row0 + b * W::kBlockBytes) : 0.0f;
      wd[(p * nb + b) * 2 + 1] = row1 ? Half(row1 + b * W::kBlockBytes) : 0.0f;
    }
  }
}

template <class W, int P>
void PairTile(const PairBlock* wp, const float* wd, const ColBlock* act, int64_t nb, int tokens, int rows,
              float* y, size_t y_stride) {
  __m512 acc[P];
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p) acc[p] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const ColBlock& cb = act[b];
    __m512i dot[P];
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) dot[p] = W::kOffset != 0 ? _mm512_load_si512(cb.corr) : _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      const __m512i av = _mm512_load_si512(cb.q[j]);
#pragma GCC unroll 8
      for (int p = 0; p < P; ++p) {
        int64_t quads;
        std::memcpy(&quads, wp[p * nb + b].u[j], sizeof quads);
        dot[p] = _mm512_dpbusd_epi32(dot[p], _mm512_set1_epi64(quads), av);
      }
    }
    const __m512 da = _mm512_load_ps(cb.d);
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) {
      double pair;
      std::memcpy(&pair, wd + (p * nb + b) * 2, sizeof pair);
      const __m512 scale = _mm512_mul_ps(da, _mm512_castpd_ps(_mm512_set1_pd(pair)));
      acc[p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[p]), scale, acc[p]);
    }
  }
  alignas(64) float out[P][16];
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p) _mm512_store_ps(out[p], acc[p]);
  for (int t = 0; t < tokens; ++t) {
    for (int r = 0; r < rows; ++r) y[t * y_stride + r] = out[r / 2][2 * t + r % 2];
  }
}

template <class W>
void GemmColsPairs(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride,
                   int64_t nc, float* y, size_t y_stride) {
  if (nc > kAvx512MaxColsForPairKernel) return GemmCols<W>(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
  constexpr int kPairs = 4;  // 8 rows per tile
  constexpr int kPairPrefetchTiles = 2;
  const int64_t nb = k / kQK8_0;
  const size_t act_bytes = static_cast<size_t>(2 * nb) * sizeof(ColBlock);
  const size_t wp_bytes = AlignUp(static_cast<size_t>(kPairs * nb) * sizeof(PairBlock));
  const size_t wd_bytes = AlignUp(static_cast<size_t>(2 * kPairs * nb) * sizeof(float));
  auto* scratch = static_cast<uint8_t*>(ThreadScratch(act_bytes + wp_bytes + wd_bytes));
  auto* plain = reinterpret_cast<ColBlock*>(scratch);
  ColBlock* act = plain + nb;
  auto* wp = reinterpret_cast<PairBlock*>(scratch + act_bytes);
  auto* wd = reinterpret_cast<float*>(scratch + act_bytes + wp_bytes);

  PrepareGroup<false, W::kOffset>(static_cast<const uint8_t*>(a), a_stride, static_cast<int>(nc), nb, plain);
  for (int64_t b = 0; b < nb; ++b) DuplicateLanes(plain[b], act[b]);

  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t r0 = 0; r0 < nr; r0 += 2 * kPairs) {
    const int rr = static_cast<int>(std::min<int64_t>(2 * kPairs, nr - r0));
    PreparePairs<W, kPairs>(wb + r0 * w_stride, w_stride, rr, nb, wp, wd,
                            static_cast<size_t>(2 * kPairs * kPairPrefetchTiles) * w_stride);
    PairTile<W, kPairs>(wp, wd, act, nb, static_cast<int>(nc), rr, y + r0, y_stride);
  }
}

}  // namespace

GemmFn GemmColsPairsAvx512(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::kQ4_0: return GemmColsPairs<Q4_0W>;
    case GgmlType::kQ5_0: return GemmColsPairs<Q5_0W>;
    case GgmlType::kQ8_0: return GemmColsPairs<Q8_0W>;
    default: return nullptr;
  }
}

GemmFn GemmColsAvx512(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::kQ4_0: return GemmCols<Q4_0W>;
    case GgmlType::kQ4_1: return GemmCols<Q4_1W>;
    case GgmlType::kQ5_0: return GemmCols<Q5_0W>;
    case GgmlType::kQ5_1: return GemmCols<Q5_1W>;
    case GgmlType::kQ8_0: return GemmCols<Q8_0W>;
    default: return nullptr;
  }
}

}  // namespace bastion::legacy
