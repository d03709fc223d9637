// BF16 weights x BF16 activations on AMX (Sapphire Rapids and later): TDPBF16PS multiplies a
// 16x32 BF16 tile by a 32x16 one into a 16x16 F32 tile — 8192 products per instruction, where an
// AVX-512 vdpbf16ps does 32. Prefill of BF16 models was the weakest spot of the float kernels
// (docs/PERFORMANCE.md); this is its fix.
//
// Layout. The product C[token][row] = sum_k X[token][k] * W[row][k] is computed as tiles of
// 16 tokens x 16 weight rows:
//   A tile = 16 activation rows x 32 k (64 bytes each), loaded straight from the activations;
//   B tile = the same 32 k of 16 weight rows in AMX's pair-interleaved ("VNNI") layout: B row p
//            holds, for each of the 16 weight rows, its elements 2p and 2p+1. That is a 16x16
//            transpose of 32-bit pairs, done once per call for each 16-row group (a few percent of
//            the work: every packed group is reused by all token tiles);
//   C tile = 16 tokens x 16 rows of F32, stored straight into y (y[token * y_stride + row]).
// Two token tiles x two row groups share each loaded tile (4 accumulators, 2 A, 2 B = the 8 AMX
// tiles). Ragged edges: a last token tile with fewer than 16 tokens is copied into a zero-padded
// buffer; missing weight rows are packed as zeros; partial C tiles go through a small buffer.
//
// Numerics: every pair product is accumulated in F32, as vdpbf16ps does (llama.cpp's BF16 dot on
// this CPU); only the summation order differs. AMX treats BF16 denormal inputs as zero.
//
// The OS must grant the AMX tile state to the process (Linux: arch_prctl ARCH_REQ_XCOMP_PERM);
// AmxBf16Ready() asks once. Without it (older CPU, older kernel, k not a multiple of 32) the
// vdpbf16ps kernel runs instead.
#include <immintrin.h>

#include <algorithm>
#include <cpuid.h>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "kernels/gemm_legacy_internal.h"

namespace bastion::legacy {
namespace {

constexpr int64_t kTile = 16;        // tokens per A/C tile, weight rows per B/C tile
constexpr int64_t kChunk = 32;       // k elements per tile step
constexpr size_t kPackedTileBytes = 1024;

// Tiles 0-3: C[token tile t][row group g] = tile 2t + g; 4, 5: A for token tiles 0, 1; 6, 7: B for
// row groups 0, 1. All 16 rows x 64 bytes.
void ConfigureTiles() {
  AmxTileConfig cfg{};
  cfg.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
}

// Stores C tile `tile` (0-3) for tokens [c0, c0 + nt) x rows [r0, r0 + ng) into y. (GCC's tile
// intrinsics paste their tile argument into the assembly, so it must be a literal.)
void StoreTile(int tile, void* dst, long stride) {
  switch (tile) {
    case 0: _tile_stored(0, dst, stride); break;
    case 1: _tile_stored(1, dst, stride); break;
    case 2: _tile_stored(2, dst, stride); break;
    default: _tile_stored(3, dst, stride); break;
  }
}

void StoreC(int tile, float* y, size_t y_stride, int64_t c0, int64_t nt, int64_t r0, int64_t ng) {
  float* out = y + c0 * y_stride + r0;
  if (nt == kTile && ng == kTile) {
    StoreTile(tile, out, static_cast<long>(y_stride * sizeof(float)));
    return;
  }
  alignas(64) float tmp[kTile * kTile];
  StoreTile(tile, tmp, kTile * sizeof(float));
  for (int64_t t = 0; t < nt; ++t) std::memcpy(out + t * y_stride, tmp + t * kTile, static_cast<size_t>(ng) * 4);
}

// One block of NT token tiles x NG row groups over all of k.
template <int NT, int NG>
void Block(const uint8_t* a0, const uint8_t* a1, size_t a_stride, const uint8_t* b0, const uint8_t* b1,
           int64_t chunks) {
  _tile_zero(0);
  if constexpr (NG == 2) _tile_zero(1);
  if constexpr (NT == 2) {
    _tile_zero(2);
    if constexpr (NG == 2) _tile_zero(3);
  }
  const long as = static_cast<long>(a_stride);
  for (int64_t i = 0; i < chunks; ++i) {
    _tile_loadd(6, b0 + i * kPackedTileBytes, 64);
    if constexpr (NG == 2) _tile_loadd(7, b1 + i * kPackedTileBytes, 64);
    _tile_loadd(4, a0 + i * 64, as);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (NG == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (NT == 2) {
      _tile_loadd(5, a1 + i * 64, as);
      _tile_dpbf16ps(2, 5, 6);
      if constexpr (NG == 2) _tile_dpbf16ps(3, 5, 7);
    }
  }
}

void GemmBf16AmxImpl(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride,
                     int64_t nc, float* y, size_t y_stride) {
  const int64_t chunks = k / kChunk;
  const int64_t groups = (nr + kTile - 1) / kTile;
  const size_t group_bytes = static_cast<size_t>(chunks) * kPackedTileBytes;
  const size_t row_bytes = static_cast<size_t>(k) * 2;
  const bool ragged_tokens = nc % kTile != 0;
  const size_t pad_bytes = ragged_tokens ? kTile * row_bytes : 0;
  auto* scratch = static_cast<uint8_t*>(ThreadScratch(static_cast<size_t>(groups) * group_bytes + pad_bytes + 64));
  uint8_t* packed = scratch;
  uint8_t* padded = scratch + static_cast<size_t>(groups) * group_bytes;

  // Weights, 16 rows at a time, into pair-interleaved tiles; rows past nr read as zeros.
  alignas(64) static const uint8_t kZeros[64] = {};
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* rows[16];
    for (int64_t i = 0; i < chunks; ++i) {
      for (int64_t r = 0; r < kTile; ++r) {
        const int64_t row = g * kTile + r;
        rows[r] = row < nr ? wb + row * w_stride + i * 64 : kZeros;
      }
      AmxTranspose16x16(rows, reinterpret_cast<uint32_t*>(packed + g * group_bytes + i * kPackedTileBytes));
    }
  }
  // The last, partial token tile: its rows plus zero rows, so tile loads stay inside the buffer.
  const auto* ab = static_cast<const uint8_t*>(a);
  const int64_t full_tokens = nc - nc % kTile;
  if (ragged_tokens) {
    std::memset(padded, 0, pad_bytes);
    for (int64_t t = full_tokens; t < nc; ++t) {
      std::memcpy(padded + (t - full_tokens) * row_bytes, ab + t * a_stride, row_bytes);
    }
  }
  const auto token_tile = [&](int64_t c0) -> std::pair<const uint8_t*, size_t> {
    if (c0 < full_tokens) return {ab + c0 * a_stride, a_stride};
    return {padded, row_bytes};
  };

  ConfigureTiles();
  for (int64_t g0 = 0; g0 < groups; g0 += 2) {
    const int ng_tiles = g0 + 1 < groups ? 2 : 1;
    const uint8_t* b0 = packed + g0 * group_bytes;
    const uint8_t* b1 = ng_tiles == 2 ? b0 + group_bytes : b0;
    const int64_t r0 = g0 * kTile;
    const int64_t rows0 = std::min<int64_t>(kTile, nr - r0);
    const int64_t rows1 = ng_tiles == 2 ? std::min<int64_t>(kTile, nr - r0 - kTile) : 0;
    for (int64_t c0 = 0; c0 < nc; c0 += 2 * kTile) {
      const int nt_tiles = c0 + kTile < nc ? 2 : 1;
      // Two token tiles share a stride only when both come from the same place.
      auto [a0, s0] = token_tile(c0);
      auto [a1, s1] = nt_tiles == 2 ? token_tile(c0 + kTile) : std::pair<const uint8_t*, size_t>{a0, s0};
      const int64_t toks0 = std::min<int64_t>(kTile, nc - c0);
      const int64_t toks1 = nt_tiles == 2 ? std::min<int64_t>(kTile, nc - c0 - kTile) : 0;
      if (nt_tiles == 2 && s0 != s1) {
        // The second tile is the padded one: run the two token tiles separately.
        for (int half = 0; half < 2; ++half) {
          const auto [ah, sh] = half == 0 ? std::pair{a0, s0} : std::pair{a1, s1};
          const int64_t toks = half == 0 ? toks0 : toks1;
          const int64_t ch = c0 + half * kTile;
          if (ng_tiles == 2) {
            Block<1, 2>(ah, ah, sh, b0, b1, chunks);
            StoreC(0, y, y_stride, ch, toks, r0, rows0);
            StoreC(1, y, y_stride, ch, toks, r0 + kTile, rows1);
          } else {
            Block<1, 1>(ah, ah, sh, b0, b0, chunks);
            StoreC(0, y, y_stride, ch, toks, r0, rows0);
          }
        }
        continue;
      }
      if (nt_tiles == 2 && ng_tiles == 2) {
        Block<2, 2>(a0, a1, s0, b0, b1, chunks);
      } else if (nt_tiles == 2) {
        Block<2, 1>(a0, a1, s0, b0, b0, chunks);
      } else if (ng_tiles == 2) {
        Block<1, 2>(a0, a0, s0, b0, b1, chunks);
      } else {
        Block<1, 1>(a0, a0, s0, b0, b0, chunks);
      }
      StoreC(0, y, y_stride, c0, toks0, r0, rows0);
      if (ng_tiles == 2) StoreC(1, y, y_stride, c0, toks0, r0 + kTile, rows1);
      if (nt_tiles == 2) {
        StoreC(2, y, y_stride, c0 + kTile, toks1, r0, rows0);
        if (ng_tiles == 2) StoreC(3, y, y_stride, c0 + kTile, toks1, r0 + kTile, rows1);
      }
    }
  }
  _tile_release();
}

// ---- F16 through an exact BF16 split ----------------------------------------------------------
// Opt-in (BASTION_AMX=all): F16 is the weight type whose results do not depend on how requests
// are batched (every product of a token is summed in the same order whatever else is in the
// batch; the engine tests rely on it), and a kernel chosen by batch size breaks that. Measured
// on Qwen2.5-0.5B shapes: pp512 about 1.6x the F32-FMA kernel.
// An F16 value has an 11-bit significand; its top 8 bits are a BF16 (hi, by truncation) and the
// remaining 3 bits another (lo = v - hi, exact), so v = hi + lo exactly for weights and
// activations alike, and W.x = Whi.xhi + (Whi.xlo + Wlo.xhi + Wlo.xlo) with every pair product
// exact in F32. The large part accumulates in one C tile, the small cross terms (2^-7 of it at
// most) in another, added at the end: rounding stays that of one F32 sum over k, as the F32-FMA
// reference's. Tiles: 0/1 = large/small sums of token tile 0, 2/3 of token tile 1; 4/5 = A hi/lo
// (reloaded per token tile); 6/7 = B hi/lo.

// 32 F16 values -> their hi and lo BF16 halves (32 each, in order).
void SplitF16(const uint16_t* src, uint16_t* hi, uint16_t* lo) {
  const __m512i mask = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m512 h[2], l[2];
  for (int i = 0; i < 2; ++i) {
    const __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 16 * i)));
    h[i] = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), mask));
    l[i] = _mm512_sub_ps(v, h[i]);  // exact: the low significand bits of v
  }
  // Both halves are exactly representable, so the rounding conversion only moves bits.
  _mm512_storeu_si512(hi, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(h[1], h[0])));
  _mm512_storeu_si512(lo, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(l[1], l[0])));
}

template <int NG>
void BlockSplit(const uint8_t* ahi, const uint8_t* alo, size_t a_stride, const uint8_t* bhi, const uint8_t* blo,
                int64_t chunks) {
  _tile_zero(0);
  _tile_zero(1);
  if constexpr (NG == 2) {
    _tile_zero(2);
    _tile_zero(3);
  }
  const long as = static_cast<long>(a_stride);
  const uint8_t* ahi1 = ahi + kTile * a_stride;
  const uint8_t* alo1 = alo + kTile * a_stride;
  for (int64_t i = 0; i < chunks; ++i) {
    _tile_loadd(6, bhi + i * kPackedTileBytes, 64);
    _tile_loadd(7, blo + i * kPackedTileBytes, 64);
    _tile_loadd(4, ahi + i * 64, as);
    _tile_loadd(5, alo + i * 64, as);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(1, 5, 6);
    _tile_dpbf16ps(1, 5, 7);
    if constexpr (NG == 2) {
      _tile_loadd(4, ahi1 + i * 64, as);
      _tile_loadd(5, alo1 + i * 64, as);
      _tile_dpbf16ps(2, 4, 6);
      _tile_dpbf16ps(3, 4, 7);
      _tile_dpbf16ps(3, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
}

// y[tokens c0.., rows r0..] = large + small sums of tiles (big, small).
void StoreSum(int big, int small, float* y, size_t y_stride, int64_t c0, int64_t nt, int64_t r0, int64_t ng) {
  alignas(64) float b[kTile * kTile], sm[kTile * kTile];
  StoreTile(big, b, kTile * sizeof(float));
  StoreTile(small, sm, kTile * sizeof(float));
  const __mmask16 mask = static_cast<__mmask16>(ng == kTile ? 0xFFFFu : (1u << ng) - 1);
  for (int64_t t = 0; t < nt; ++t) {
    const __m512 v = _mm512_add_ps(_mm512_load_ps(b + t * kTile), _mm512_load_ps(sm + t * kTile));
    _mm512_mask_storeu_ps(y + (c0 + t) * y_stride + r0, mask, v);
  }
}

void GemmF16AmxImpl(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride,
                    int64_t nc, float* y, size_t y_stride) {
  const int64_t chunks = k / kChunk;
  const int64_t groups = (nr + kTile - 1) / kTile;
  const size_t group_bytes = static_cast<size_t>(chunks) * kPackedTileBytes;
  const size_t row_bytes = static_cast<size_t>(k) * 2;
  // Token tiles are walked in pairs: pad the activations to a multiple of 32 tokens.
  const int64_t padded_tokens = (nc + 2 * kTile - 1) / (2 * kTile) * (2 * kTile);
  const size_t act_bytes = static_cast<size_t>(padded_tokens) * row_bytes;
  auto* scratch = static_cast<uint8_t*>(ThreadScratch(2 * static_cast<size_t>(groups) * group_bytes + 2 * act_bytes + 64));
  uint8_t* packed_hi = scratch;
  uint8_t* packed_lo = packed_hi + groups * group_bytes;
  uint8_t* act_hi = packed_lo + groups * group_bytes;
  uint8_t* act_lo = act_hi + act_bytes;

  alignas(64) uint16_t hi_rows[kTile][32], lo_rows[kTile][32];
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t i = 0; i < chunks; ++i) {
      const uint8_t* rhi[16];
      const uint8_t* rlo[16];
      for (int64_t r = 0; r < kTile; ++r) {
        const int64_t row = g * kTile + r;
        if (row < nr) {
          SplitF16(reinterpret_cast<const uint16_t*>(wb + row * w_stride + i * 64), hi_rows[r], lo_rows[r]);
        } else {
          std::memset(hi_rows[r], 0, 64);
          std::memset(lo_rows[r], 0, 64);
        }
        rhi[r] = reinterpret_cast<const uint8_t*>(hi_rows[r]);
        rlo[r] = reinterpret_cast<const uint8_t*>(lo_rows[r]);
      }
      AmxTranspose16x16(rhi, reinterpret_cast<uint32_t*>(packed_hi + g * group_bytes + i * kPackedTileBytes));
      AmxTranspose16x16(rlo, reinterpret_cast<uint32_t*>(packed_lo + g * group_bytes + i * kPackedTileBytes));
    }
  }
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t t = 0; t < nc; ++t) {
    const auto* src = reinterpret_cast<const uint16_t*>(ab + t * a_stride);
    auto* hi = reinterpret_cast<uint16_t*>(act_hi + t * row_bytes);
    auto* lo = reinterpret_cast<uint16_t*>(act_lo + t * row_bytes);
    for (int64_t i = 0; i < chunks; ++i) SplitF16(src + 32 * i, hi + 32 * i, lo + 32 * i);
  }
  std::memset(act_hi + nc * row_bytes, 0, static_cast<size_t>(padded_tokens - nc) * row_bytes);
  std::memset(act_lo + nc * row_bytes, 0, static_cast<size_t>(padded_tokens - nc) * row_bytes);

  ConfigureTiles();
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t r0 = g * kTile;
    const int64_t rows = std::min<int64_t>(kTile, nr - r0);
    const uint8_t* bhi = packed_hi + g * group_bytes;
    const uint8_t* blo = packed_lo + g * group_bytes;
    for (int64_t c0 = 0; c0 < nc; c0 += 2 * kTile) {
      const bool two = c0 + kTile < nc;
      if (two) {
        BlockSplit<2>(act_hi + c0 * row_bytes, act_lo + c0 * row_bytes, row_bytes, bhi, blo, chunks);
      } else {
        BlockSplit<1>(act_hi + c0 * row_bytes, act_lo + c0 * row_bytes, row_bytes, bhi, blo, chunks);
      }
      StoreSum(0, 1, y, y_stride, c0, std::min<int64_t>(kTile, nc - c0), r0, rows);
      if (two) StoreSum(2, 3, y, y_stride, c0 + kTile, std::min<int64_t>(kTile, nc - c0 - kTile), r0, rows);
    }
  }
  _tile_release();
}

// The AVX-512 kernel for what AMX does not take: k not a multiple of 32 always, and fewer than
// kAmxMinTokens tokens unless all_shapes (tests).
template <GgmlType kType, bool kAllShapes>
void AmxOrFallback(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nc,
                   float* y, size_t y_stride) {
  if (k % kChunk != 0 || (!kAllShapes && nc < kAmxMinTokens)) {
    static const GemmFn fallback = GemmFloatAvx512(kType, /*use_bf16_insn=*/kType == GgmlType::kBF16);
    return fallback(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
  }
  if constexpr (kType == GgmlType::kBF16) {
    GemmBf16AmxImpl(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
  } else {
    GemmF16AmxImpl(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
  }
}

}  // namespace

bool AmxBf16Ready() {
  static const bool ready = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    const bool amx_bf16 = (edx >> 22) & 1, amx_tile = (edx >> 24) & 1;
    return amx_bf16 && amx_tile && AmxTilesPermitted();
  }();
  return ready;
}

bool AmxF16Enabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("BASTION_AMX");
    return env != nullptr && std::strcmp(env, "all") == 0 && AmxBf16Ready() && CpuHasAvx512Bf16();
  }();
  return enabled;
}

GemmFn GemmF16Amx(bool all_shapes) {
  if (!AmxBf16Ready() || !CpuHasAvx512Bf16()) return nullptr;
  if (all_shapes) return AmxOrFallback<GgmlType::kF16, true>;
  return AmxF16Enabled() ? AmxOrFallback<GgmlType::kF16, false> : nullptr;
}

GemmFn GemmBf16Amx(bool all_shapes) {
  if (!AmxBf16Ready() || !CpuHasAvx512Bf16()) return nullptr;
  return all_shapes ? AmxOrFallback<GgmlType::kBF16, true> : AmxOrFallback<GgmlType::kBF16, false>;
}

}  // namespace bastion::legacy
