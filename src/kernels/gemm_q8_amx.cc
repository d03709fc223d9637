// Q4_0, Q5_0 and Q8_0 weights x Q8_0 activations on AMX-INT8 (Sapphire Rapids and later), for
// prefill. TDPBSSD multiplies a 16x32 int8 tile by a 32x16 one into a 16x16 int32 tile: 8192
// multiply-adds per instruction, where an AVX-512 vpdpbusd does 64.
//
// The catch is the scales: every 32-element block of a weight row and of a token has its own,
// so a tile step may only span one block (K = 32 bytes) and its exact int32 sums must be scaled
// before the next block is added. Each step is therefore
//   C (16 tokens x 16 rows, int32) = A (16 tokens x block b) . B (block b of 16 rows)   [AMX]
//   acc[token] += float(C[token]) * (d_a[token][b] * d_w[rows][b])                      [AVX-512]
// with the 16 accumulators (one zmm of 16 rows per token) kept in registers. That float step is
// the column kernel's (gemm_legacy_avx512_cols.cc) to the bit: the same int32 block sums, the
// same product of the two scales, the same FMA, blocks in the same order — so switching between
// the two kernels at kAmxInt8MinTokens changes no result. Two C tiles alternate, so the tile unit
// works on later blocks while the vector units scale earlier ones.
//
// Layout: A is loaded straight from the Q8_0 activation rows (tile rows = tokens, stride =
// activation row bytes, base = the block's quants); a last partial token tile is copied into a
// zero-padded buffer first. B needs the weights as signed bytes in AMX's quad-interleaved order:
// B row p holds, for each of the 16 rows, elements 4p..4p+3 of the block. Each 16-row group is
// unpacked (Q4_0: nibble - 8, Q5_0: nibble + 16 * high bit - 16, Q8_0: as stored) and
// transposed once per call — two blocks per 16x16 dword transpose — and its scales converted;
// every packed group then serves all token tiles of the call (the driver passes every token of
// the batch, PrefillTokenTile). Rows past nr are packed as zeros and not stored.
//
// Costs measured on this project's Sapphire Rapids VM (one thread): a tile step (zero, two tile
// loads, TDPBSSD, tile store) takes ~13 ns — the store as long as the product, and a K = 32 product
// as long as a K = 64 one — and scaling its 256 sums ~9.6 ns of AVX-512 work; the two overlap
// little, so a block of 16 x 16 x 32 costs ~26 ns: ~500-550 GOP/s on the model's shapes against
// ~300 for the column kernel. Writing y was the surprise: 16 single-line stores per tile to
// scattered lines cost more than the products until the row groups were walked in bands (below)
// so that consecutive tiles write adjacent lines.
#include <immintrin.h>

#include <algorithm>
#include <cpuid.h>
#include <cstring>

#include "kernels/gemm_legacy_internal.h"
#include "quant/blocks.h"

namespace bastion::legacy {
namespace {

constexpr int64_t kTile = 16;            // tokens per A/C tile, weight rows per B/C tile
constexpr int64_t kBlock = 32;           // elements per block = k bytes per tile step
constexpr size_t kPackedBlockBytes = 512;  // one B tile: 8 rows x 64 bytes
// Blocks between a C tile's store and the vector loads of its sums (even), and the ring of
// buffers that lag needs.
constexpr int64_t kLag = 4;
constexpr int64_t kRing = kLag + 2;
// Packed weight bytes per band of row groups (see GemmQ8AmxImpl).
constexpr size_t kBandBytes = 512 * 1024;
// How far ahead of the block being unpacked PackGroup asks for weight bytes.
constexpr int64_t kPrefetchBytes = 1024;

// Tiles 0, 1: C for even / odd blocks; 2, 3: A; 4, 5: B.
void ConfigureTiles() {
  AmxTileConfig cfg{};
  cfg.palette_id = 1;
  for (int t = 0; t < 2; ++t) {
    cfg.rows[t] = 16;  // C: 16 tokens x 16 int32
    cfg.colsb[t] = 64;
    cfg.rows[2 + t] = 16;  // A: 16 tokens x 32 bytes
    cfg.colsb[2 + t] = 32;
    cfg.rows[4 + t] = 8;  // B: 8 quads x 16 rows x 4 bytes
    cfg.colsb[4 + t] = 64;
  }
  _tile_loadconfig(&cfg);
}

float Half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return _cvtsh_ss(h);
}

// The 32 weights of a block as signed bytes.
struct Q8_0W {
  static constexpr size_t kBlockBytes = sizeof(BlockQ8_0);
  static __m256i Signed(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)); }
};
__m256i Nibbles(const uint8_t* q) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}
struct Q4_0W {
  static constexpr size_t kBlockBytes = sizeof(BlockQ4_0);
  static __m256i Signed(const uint8_t* p) { return _mm256_sub_epi8(Nibbles(p + 2), _mm256_set1_epi8(8)); }
};
struct Q5_0W {
  static constexpr size_t kBlockBytes = sizeof(BlockQ5_0);
  static __m256i Signed(const uint8_t* p) {
    uint32_t qh;
    std::memcpy(&qh, p + 2, sizeof qh);
    const __m256i u = Nibbles(p + 6);
    return _mm256_sub_epi8(_mm256_mask_add_epi8(u, _cvtu32_mask32(qh), u, _mm256_set1_epi8(16)),
                           _mm256_set1_epi8(16));
  }
};

// Packs rows [r0, r0 + 16) (those < nr) of all nb blocks: B tiles at packed + b * 512, scales at
// scales + b * 16. rows: scratch for 16 rows of nb * 32 signed bytes (64-byte aligned).
//
// Each weight row is read front to back in one pass (unpacked into `rows`), then the 16 rows are
// transposed from there: this is where the weights come from memory, and one sequential stream
// at a time (with prefetches ahead) reads them near the memory's speed, where walking all 16 rows
// block by block made 16 interleaved streams that the hardware prefetchers did not keep up with.
template <class W>
void PackGroup(const uint8_t* w, size_t w_stride, int64_t r0, int64_t nr, int64_t nb, uint8_t* rows, uint8_t* packed,
               float* scales) {
  const size_t row_bytes = static_cast<size_t>((nb + 1) / 2 * 2) * kBlock;
  for (int64_t r = 0; r < kTile; ++r) {
    uint8_t* dst = rows + r * row_bytes;
    const int64_t row = r0 + r;
    if (row >= nr) {
      std::memset(dst, 0, row_bytes);
      for (int64_t b = 0; b < nb; ++b) scales[b * kTile + r] = 0.0f;
      continue;
    }
    const uint8_t* src = w + row * w_stride;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* p = src + b * W::kBlockBytes;
      _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes), _MM_HINT_T0);
      _mm256_store_si256(reinterpret_cast<__m256i*>(dst + b * kBlock), W::Signed(p));
      scales[b * kTile + r] = Half(p);
    }
    if (nb % 2 != 0) std::memset(dst + nb * kBlock, 0, kBlock);
  }
  // Dwords 0-7 of every row's 64 bytes are block b's B tile, dwords 8-15 block b+1's.
  const uint8_t* row_ptrs[kTile];
  for (int64_t b = 0; b < nb; b += 2) {
    for (int64_t r = 0; r < kTile; ++r) row_ptrs[r] = rows + r * row_bytes + b * kBlock;
    AmxTranspose16x16(row_ptrs, reinterpret_cast<uint32_t*>(packed + b * kPackedBlockBytes));
  }
}

// acc[t] += float(c[t]) * (da[t] * dw) for the 16 tokens of a stored C tile.
[[gnu::always_inline]] inline void Rescale(const int32_t* c, const float* da, const float* dw, __m512 acc[16]) {
  const __m512 w = _mm512_load_ps(dw);
#pragma GCC unroll 16
  for (int t = 0; t < 16; ++t) {
    const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(da[t]), w);
    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * t)), scale, acc[t]);
  }
}

// C tile = A tile (16 tokens x one block) . B tile, stored to out: tiles 0, 2, 4 for even blocks
// and 1, 3, 5 for odd ones. (GCC's tile intrinsics paste their tile arguments into the assembly,
// so they must be literals, not template parameters.)
#define BASTION_AMX_BLOCK_PRODUCT(kC, kA, kB, a, a_stride, b, out) \
  do {                                                              \
    _tile_zero(kC);                                                 \
    _tile_loadd(kA, (a), (a_stride));                               \
    _tile_loadd(kB, (b), 64);                                       \
    _tile_dpbssd(kC, kA, kB);                                       \
    _tile_stored(kC, (out), 64);                                    \
  } while (0)

// One 16-token x 16-row tile over all blocks, written to y[t * y_stride + r] for the first
// `tokens` tokens and the rows in `rows`. a: the quants of block 0 of the tile's first token,
// a_stride the bytes between tokens (A tiles load 16 rows of 32 bytes straight from there);
// da: the tile's activation scales (nb x 16 floats).
//
// Pipelining: a C tile's stored sums are scaled kLag blocks after the store was issued (a ring of
// buffers), so the vector loads never wait on the tile store, and the tile unit computes the next
// blocks while the vector units scale earlier ones. The accumulators are locals so they stay in
// registers.
void TileProduct(const uint8_t* a, long a_stride, const float* da, const uint8_t* packed, const float* scales,
                 int64_t nb, float* y, size_t y_stride, int64_t tokens, __mmask16 rows) {
  constexpr size_t kActBlock = sizeof(BlockQ8_0);
  alignas(64) int32_t ring[kRing][kTile * kTile];
  __m512 acc[16];
#pragma GCC unroll 16
  for (int t = 0; t < 16; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb + kLag; i += 2) {
    if (i < nb) {
      BASTION_AMX_BLOCK_PRODUCT(0, 2, 4, a + i * kActBlock, a_stride, packed + i * kPackedBlockBytes, ring[i % kRing]);
    }
    if (i + 1 < nb) {
      BASTION_AMX_BLOCK_PRODUCT(1, 3, 5, a + (i + 1) * kActBlock, a_stride, packed + (i + 1) * kPackedBlockBytes,
                                ring[(i + 1) % kRing]);
    }
    if (i >= kLag) {
      const int64_t j = i - kLag;
      if (j < nb) Rescale(ring[j % kRing], da + j * kTile, scales + j * kTile, acc);
      if (j + 1 < nb) Rescale(ring[(j + 1) % kRing], da + (j + 1) * kTile, scales + (j + 1) * kTile, acc);
    }
  }
#pragma GCC unroll 16
  for (int t = 0; t < 16; ++t) {
    if (t < tokens) _mm512_mask_storeu_ps(y + t * y_stride, rows, acc[t]);
  }
}

#undef BASTION_AMX_BLOCK_PRODUCT

template <class W>
void GemmQ8AmxImpl(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride,
                   int64_t nc, float* y, size_t y_stride) {
  const int64_t nb = k / kBlock;
  const int64_t groups = (nr + kTile - 1) / kTile;
  const int64_t token_tiles = (nc + kTile - 1) / kTile;
  const int64_t full_tokens = nc - nc % kTile;
  const size_t row_bytes = static_cast<size_t>(nb) * sizeof(BlockQ8_0);
  // Scratch: packed weights (groups x nb B tiles, even block count) and their scales [group]
  // [block][row]; activation scales [token tile][block][token]; a zero-padded copy of the last,
  // partial token tile (A tiles are loaded straight from the activation rows otherwise).
  const size_t packed_group = static_cast<size_t>((nb + 1) / 2 * 2) * kPackedBlockBytes;
  const size_t packed_bytes = static_cast<size_t>(groups) * packed_group;
  const size_t wscale_bytes = static_cast<size_t>(groups * nb * kTile) * sizeof(float);
  const size_t ascale_bytes = static_cast<size_t>(token_tiles * nb * kTile) * sizeof(float);
  const size_t pad_bytes = nc == full_tokens ? 0 : (kTile * row_bytes + 63) / 64 * 64;
  const size_t unpacked_bytes = kTile * static_cast<size_t>((nb + 1) / 2 * 2) * kBlock;  // PackGroup's rows
  auto* scratch =
      static_cast<uint8_t*>(ThreadScratch(packed_bytes + wscale_bytes + ascale_bytes + pad_bytes + unpacked_bytes));
  uint8_t* packed = scratch;
  auto* wscales = reinterpret_cast<float*>(scratch + packed_bytes);
  auto* ascales = reinterpret_cast<float*>(scratch + packed_bytes + wscale_bytes);
  uint8_t* padded = scratch + packed_bytes + wscale_bytes + ascale_bytes;
  uint8_t* unpacked = padded + pad_bytes;

  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t g = 0; g < groups; ++g) {
    PackGroup<W>(wb, w_stride, g * kTile, nr, nb, unpacked, packed + g * packed_group, wscales + g * nb * kTile);
  }
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t token = 0; token < token_tiles * kTile; ++token) {
    float* dst = ascales + token / kTile * nb * kTile + token % kTile;
    const uint8_t* row = ab + token * a_stride;
    for (int64_t b = 0; b < nb; ++b) dst[b * kTile] = token < nc ? Half(row + b * sizeof(BlockQ8_0)) : 0.0f;
  }
  if (pad_bytes != 0) {
    std::memset(padded, 0, pad_bytes);
    for (int64_t t = full_tokens; t < nc; ++t) std::memcpy(padded + (t - full_tokens) * row_bytes, ab + t * a_stride, row_bytes);
  }

  // Row groups are walked in bands small enough that the band's packed weights stay in L2 while
  // every token tile passes over them; within a band a token tile's outputs are adjacent lines of
  // y (consecutive row groups), which the stores want: y lines are written once, and scattered
  // single-line writes cost more than the products here.
  const int64_t band = std::max<int64_t>(1, static_cast<int64_t>(kBandBytes / packed_group));
  ConfigureTiles();
  for (int64_t g0 = 0; g0 < groups; g0 += band) {
    const int64_t g1 = std::min(groups, g0 + band);
    for (int64_t c = 0; c < token_tiles; ++c) {
      for (int64_t g = g0; g < g1; ++g) {
        const int64_t r0 = g * kTile;
        const int64_t rows = std::min<int64_t>(kTile, nr - r0);
        const __mmask16 mask = static_cast<__mmask16>(rows == kTile ? 0xFFFFu : (1u << rows) - 1);
        const bool full = c * kTile < full_tokens;
        const uint8_t* at = full ? ab + c * kTile * a_stride : padded;
        const long as = static_cast<long>(full ? a_stride : row_bytes);
        TileProduct(at + 2, as, ascales + c * nb * kTile, packed + g * packed_group,
                    wscales + g * nb * kTile, nb, y + c * kTile * y_stride + r0, y_stride,
                    std::min<int64_t>(kTile, nc - c * kTile), mask);
      }
    }
  }
  _tile_release();
}

// The VNNI kernels for calls with fewer than kAmxInt8MinTokens tokens unless kAllShapes (tests).
template <class W, GgmlType kType, bool kAllShapes>
void AmxOrFallback(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nc,
                   float* y, size_t y_stride) {
  if (!kAllShapes && nc < kAmxInt8MinTokens) {
    static const GemmFn fallback = GemmAvx512(kType);
    return fallback(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
  }
  GemmQ8AmxImpl<W>(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
}

template <bool kAllShapes>
GemmFn Pick(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::kQ4_0: return AmxOrFallback<Q4_0W, GgmlType::kQ4_0, kAllShapes>;
    case GgmlType::kQ5_0: return AmxOrFallback<Q5_0W, GgmlType::kQ5_0, kAllShapes>;
    case GgmlType::kQ8_0: return AmxOrFallback<Q8_0W, GgmlType::kQ8_0, kAllShapes>;
    default: return nullptr;
  }
}

}  // namespace

bool AmxInt8Ready() {
  static const bool ready = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    const bool amx_int8 = (edx >> 25) & 1, amx_tile = (edx >> 24) & 1;
    return amx_int8 && amx_tile && AmxTilesPermitted();
  }();
  return ready;
}

GemmFn GemmQ8Amx(GgmlType weight_type, bool all_shapes) {
  if (!AmxInt8Ready()) return nullptr;
  return all_shapes ? Pick<true>(weight_type) : Pick<false>(weight_type);
}

}  // namespace bastion::legacy
