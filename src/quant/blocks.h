// Block layouts of the quantized weight and activation types, byte for byte as llama.cpp stores
// them in GGUF files (ggml-common.h). F16 values are raw IEEE half bits (uint16_t).
//
// Conventions: QK = elements per block; `d` = scale, `m`/`dmin` = minimum (offset), `qs` = low
// quant bits, `qh`/`hmask` = high bits. Element order inside a block is described per type.
#pragma once

#include <cstdint>

namespace bastion {

constexpr int kQK4_0 = 32;
constexpr int kQK4_1 = 32;
constexpr int kQK5_0 = 32;
constexpr int kQK5_1 = 32;
constexpr int kQK8_0 = 32;
constexpr int kQK8_1 = 32;
constexpr int kQK_K = 256;          // super-block size of the K-quants
constexpr int kKScaleBytes = 12;    // packed 6-bit scales/mins of Q4_K and Q5_K

// x[i] = (q[i] - 8) * d. Byte j holds element j (low nibble) and element j + 16 (high nibble).
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK4_0 / 2];
};

// x[i] = q[i] * d + m. Nibble order as Q4_0.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK4_1 / 2];
};

// x[i] = (q[i] - 16) * d, q 5 bits: low 4 as Q4_0, bit 4 of element i is bit i of qh (LE u32).
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK5_0 / 2];
};

// x[i] = q[i] * d + m, bits as Q5_0.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK5_1 / 2];
};

// x[i] = qs[i] * d.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};

// Activation type for Q4_1/Q5_1: x[i] = qs[i] * d; s = d * sum(qs) (both F16).
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK8_1];
};

// 2-bit K-quant. 16 sub-blocks of 16; scales[j] low nibble = scale, high nibble = min (4 bits
// each, multiplied by d and dmin). x = d*sc*q - dmin*m.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};

// 3-bit K-quant. 16 sub-blocks of 16 with 6-bit signed scales packed in 12 bytes; the high bit of
// each quant is in hmask (set = no subtraction of 4).
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};

// 4-bit K-quant. 8 sub-blocks of 32 with 6-bit scales and mins packed in 12 bytes.
// x = d*sc*q - dmin*m.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};

// 5-bit K-quant: Q4_K plus one high bit per quant in qh.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// 6-bit K-quant. 16 sub-blocks of 16 with signed 8-bit scales. x = d*sc*(q - 32).
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

// Activation type for the K-quants: x[i] = qs[i] * d (float d); bsums[j] = sum of qs[16j..16j+15].
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace bastion
