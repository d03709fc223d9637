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
#include <sys/syscall.h>
#include <unistd.h>

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

struct alignas(64) TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// Tiles 0-3: C[token tile t][row group g] = tile 2t + g; 4, 5: A for token tiles 0, 1; 6, 7: B for
// row groups 0, 1. All 16 rows x 64 bytes.
void ConfigureTiles() {
  TileConfig cfg{};
  cfg.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
}

// dst (16 x 16 dwords, contiguous) = transpose of the 16 dwords at each of rows[0..15].
void Transpose16x16(const uint8_t* const rows[16], uint32_t* dst) {
  __m512i r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(rows[i]);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // lane L of r[i + c] = rows i..i+3 of column 4L + c
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    t[c] = _mm512_shuffle_i32x4(r[c], r[c + 4], 0x88);           // columns c, c + 8: rows 0-7
    t[c + 4] = _mm512_shuffle_i32x4(r[c], r[c + 4], 0xDD);       // columns c + 4, c + 12: rows 0-7
    t[c + 8] = _mm512_shuffle_i32x4(r[c + 8], r[c + 12], 0x88);  // the same for rows 8-15
    t[c + 12] = _mm512_shuffle_i32x4(r[c + 8], r[c + 12], 0xDD);
  }
  for (int c = 0; c < 4; ++c) {
    _mm512_storeu_si512(dst + 16 * c, _mm512_shuffle_i32x4(t[c], t[c + 8], 0x88));
    _mm512_storeu_si512(dst + 16 * (c + 8), _mm512_shuffle_i32x4(t[c], t[c + 8], 0xDD));
    _mm512_storeu_si512(dst + 16 * (c + 4), _mm512_shuffle_i32x4(t[c + 4], t[c + 12], 0x88));
    _mm512_storeu_si512(dst + 16 * (c + 12), _mm512_shuffle_i32x4(t[c + 4], t[c + 12], 0xDD));
  }
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
      Transpose16x16(rows, reinterpret_cast<uint32_t*>(packed + g * group_bytes + i * kPackedTileBytes));
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

// The vdpbf16ps kernel, for what AMX does not take.
GemmFn Fallback() {
  static const GemmFn fallback = GemmFloatAvx512(GgmlType::kBF16, /*use_bf16_insn=*/true);
  return fallback;
}

void GemmBf16AmxAllShapes(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride,
                          int64_t nc, float* y, size_t y_stride) {
  if (k % kChunk != 0) return Fallback()(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
  GemmBf16AmxImpl(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
}

void GemmBf16AmxRuntime(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride,
                        int64_t nc, float* y, size_t y_stride) {
  if (nc < kAmxMinTokens || k % kChunk != 0) return Fallback()(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
  GemmBf16AmxImpl(k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
}

}  // namespace

bool AmxBf16Ready() {
  static const bool ready = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    const bool amx_bf16 = (edx >> 22) & 1, amx_tile = (edx >> 24) & 1;
    if (!amx_bf16 || !amx_tile) return false;
    // BASTION_AMX=off keeps the AVX-512 kernels (for comparisons).
    if (const char* env = std::getenv("BASTION_AMX"); env != nullptr && std::strcmp(env, "off") == 0) return false;
    // Linux >= 5.16: ask for the tile data state (XFEATURE_XTILEDATA = 18) for this process.
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return ready;
}

GemmFn GemmBf16Amx(bool all_shapes) {
  if (!AmxBf16Ready() || !CpuHasAvx512Bf16()) return nullptr;
  return all_shapes ? GemmBf16AmxAllShapes : GemmBf16AmxRuntime;
}

}  // namespace bastion::legacy
