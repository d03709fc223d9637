// What the AMX kernels (gemm_bf16_amx.cc, gemm_q8_amx.cc) share: asking the OS for the tile
// state once per process, and the 16x16 dword transpose both use to lay weights out in the
// B-tile order ("VNNI layout": B row p holds, for each of 16 weight rows, its dword p).
//
// Compiled with the AVX-512 flags only; the tile instructions themselves stay in the kernel files.
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "kernels/gemm_legacy_internal.h"

namespace bastion::legacy {

bool AmxTilesPermitted() {
  static const bool permitted = [] {
    // BASTION_AMX=off keeps the AVX-512 kernels (for comparisons).
    if (const char* env = std::getenv("BASTION_AMX"); env != nullptr && std::strcmp(env, "off") == 0) return false;
    // Linux >= 5.16: ask for the tile data state (XFEATURE_XTILEDATA = 18) for this process.
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return permitted;
}

void AmxTranspose16x16(const uint8_t* const rows[16], uint32_t* dst) {
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

}  // namespace bastion::legacy
