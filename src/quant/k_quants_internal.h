// Bit-level helpers shared by the K-quant reference code (k_quants.cc), the weight quantizers
// (k_quants_quantize.cc) and the SIMD kernels' weight preparation (kernels/gemm_kquant_*.cc).
//
// The packed scale encodings are the part of the K-quant layouts that is easiest to get subtly
// wrong, so they are written once here and verified byte by byte in tests/quant/k_quants_test.cc.
#pragma once

#include <cstdint>

namespace bastion::kquant {

// Q4_K / Q5_K: 8 scales and 8 mins of 6 bits each packed into 12 bytes (llama.cpp's
// get_scale_min_k4 layout). For j < 4: scale j is the low 6 bits of byte j, min j the low 6 bits
// of byte j + 4. For j >= 4: the low 4 bits of scale j / min j are the low / high nibble of byte
// j + 4, and their top 2 bits sit in the top 2 bits of byte j - 4 / byte j.
inline void UnpackScaleMinK4(const uint8_t* packed, uint8_t* scales, uint8_t* mins) {
  for (int j = 0; j < 4; ++j) {
    scales[j] = packed[j] & 63;
    mins[j] = packed[j + 4] & 63;
    scales[j + 4] = static_cast<uint8_t>((packed[j + 8] & 15) | ((packed[j] >> 6) << 4));
    mins[j + 4] = static_cast<uint8_t>((packed[j + 8] >> 4) | ((packed[j + 4] >> 6) << 4));
  }
}

// Inverse of UnpackScaleMinK4; every input must be < 64.
inline void PackScaleMinK4(const uint8_t* scales, const uint8_t* mins, uint8_t* packed) {
  for (int j = 0; j < 4; ++j) {
    packed[j] = static_cast<uint8_t>((scales[j] & 63) | ((scales[j + 4] >> 4) << 6));
    packed[j + 4] = static_cast<uint8_t>((mins[j] & 63) | ((mins[j + 4] >> 4) << 6));
    packed[j + 8] = static_cast<uint8_t>((scales[j + 4] & 15) | ((mins[j + 4] & 15) << 4));
  }
}

// Q3_K: 16 signed 6-bit scales, stored biased by 32, packed into 12 bytes. The low 4 bits of
// scale j are the low nibble of byte j (j < 8) or the high nibble of byte j - 8 (j >= 8); the
// top 2 bits are bits 2*(j/4)..2*(j/4)+1 of byte 8 + j%4. Returns the unbiased scales (-32..31).
inline void UnpackScalesQ3K(const uint8_t* packed, int8_t* scales) {
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (packed[j] & 15) : (packed[j - 8] >> 4);
    const int high = (packed[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
    scales[j] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}

// Inverse of UnpackScalesQ3K; every scale must be in -32..31.
inline void PackScalesQ3K(const int8_t* scales, uint8_t* packed) {
  for (int i = 0; i < 12; ++i) packed[i] = 0;
  for (int j = 0; j < 16; ++j) {
    const int biased = scales[j] + 32;
    if (j < 8) {
      packed[j] = static_cast<uint8_t>(packed[j] | (biased & 15));
    } else {
      packed[j - 8] = static_cast<uint8_t>(packed[j - 8] | ((biased & 15) << 4));
    }
    packed[8 + (j & 3)] = static_cast<uint8_t>(packed[8 + (j & 3)] | ((biased >> 4) << (2 * (j >> 2))));
  }
}

// llama.cpp's nearest_int: round to nearest, ties to even, for |f| < 2^22, done by adding
// 1.5 * 2^23 so the FPU's rounding does the work. Used wherever our results must match its
// quantizers bit for bit.
inline int NearestInt(float f) {
  const float shifted = f + 12582912.0f;
  int32_t bits;
  __builtin_memcpy(&bits, &shifted, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

// Weight quantizers (k_quants_quantize.cc): n is a multiple of 256; dst receives n / 256 blocks.
void QuantizeRowQ2K(const float* src, void* dst, int64_t n);
void QuantizeRowQ3K(const float* src, void* dst, int64_t n);
void QuantizeRowQ4K(const float* src, void* dst, int64_t n);
void QuantizeRowQ5K(const float* src, void* dst, int64_t n);
void QuantizeRowQ6K(const float* src, void* dst, int64_t n);

}  // namespace bastion::kquant
