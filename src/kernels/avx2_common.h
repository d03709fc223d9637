// Vector helpers shared by the AVX2 kernel files. Include only from files compiled with the AVX2
// flags (BASTION_AVX2_FLAGS). The functions are out of line on purpose (see
// gemm_legacy_internal.h: an inline SIMD function in a shared header could be linked from a copy
// built for another level); their defining file still inlines them into its own loops.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace bastion::avx2 {

// 16 nibble bytes of a Q4_0/Q4_1/Q5_0/Q5_1 block (byte m: element m low, m + 16 high) ->
// elements 0-31 in order. (gemm_legacy_avx2.cc)
__m256i BlockNibbles(const uint8_t* q);

// 0x10 in byte i where bit i of the block's 32-bit qh is set. (gemm_legacy_avx2.cc)
__m256i BlockFifthBits(const uint8_t* qh_bytes);

// 8 x 8 transpose of int32 elements: out[g] lane r = in[r] lane g. (gemm_legacy_avx2_lanes.cc)
void Transpose8x8Epi32(const __m256i* in, __m256i* out);

// Lanes 0..n-1 of v to out[0..n), n <= 8 (one unaligned store when n == 8): a row-lanes tile's
// outputs for its rows. (gemm_legacy_avx2_lanes.cc)
void StoreLanes(__m256 v, int n, float* out);

}  // namespace bastion::avx2
