// Scalar reference for the "legacy" GGML types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0
// (weights) and Q8_0, Q8_1 (activations). Every SIMD kernel in kernels/gemm_legacy_*.cc is tested
// against these functions, so they spell out llama.cpp's arithmetic step by step:
//  * weight quantizers (Q4_0..Q5_1) follow ggml's deterministic *_ref quantizers, so a file
//    written by bastion has the same bytes llama-quantize would write;
//  * the Q8_0/Q8_1 activation quantizers follow ggml-cpu's x86 AVX2 path (which the golden data
//    was made with): d = amax/127, multiplier 127/amax, round-half-to-even — not the _ref version
//    (roundf of x/d), which differs on ties and by one ulp of the multiplier;
//  * dot products multiply the two block scales first and then the integer block sum, as ggml's
//    x86 vec_dot does ((d_w*d_a)*sumi; Q4_1/Q5_1 add m_w*s_a), accumulating in float.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "base/half.h"
#include "quant/blocks.h"
#include "quant/quantize.h"

namespace bastion {
namespace {

// ---------------------------------------------------------------------------------------------
// Float types. Products of F16/BF16 values are exact in float; the sums are taken in double so
// the reference is at least as accurate as any SIMD summation order.

void DequantizeF32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void QuantizeF32(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
float DotF32(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  return static_cast<float>(sum);
}

void DequantizeF16(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(h[i]);
}
void QuantizeF16(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = F32ToF16(src[i]);
}
float DotF16(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(F16ToF32(x[i]) * F16ToF32(y[i]));
  return static_cast<float>(sum);
}

void DequantizeBF16(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToF32(h[i]);
}
void QuantizeBF16(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = F32ToBf16(src[i]);
}
float DotBF16(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const uint16_t*>(a);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(Bf16ToF32(x[i]) * Bf16ToF32(y[i]));
  return static_cast<float>(sum);
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the block types.

// (int)v for v >= 0, clamped to [0, hi]; NaN gives 0. ggml writes MIN(hi, (int8_t)v) here, which
// is the same for every finite v it can see and is not undefined behaviour for NaN/Inf.
int TruncClamp(float v, int hi) {
  if (!(v > 0.0f)) return 0;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(v);
}

// x86 MAXPS semantics: the second operand wins unless the first is strictly greater (so a NaN
// in either position yields the second operand). Used to mirror the AVX2 max-reduction exactly.
float MaxPs(float a, float b) { return a > b ? a : b; }

// CVTPS2DQ semantics on an already-integral value: out of int32 range or NaN gives INT32_MIN.
int32_t CvtPs2Dq(float v) {
  if (!(v >= -2147483648.0f && v < 2147483648.0f)) return INT32_MIN;
  return static_cast<int32_t>(v);
}

// PACKSSDW followed by PACKSSWB: saturate an int32 to int8.
int8_t SaturateToInt8(int32_t v) {
  if (v < -128) return -128;
  if (v > 127) return 127;
  return static_cast<int8_t>(v);
}

// One 32-element block quantized the way ggml-cpu's x86 quantize_row_q8_0/q8_1 do it:
//  amax: the AVX2 max tree (8 lanes over the four 8-float vectors, then 8->4->2->1), so that even
//        NaN inputs give the same bytes at every SIMD level;
//  d = amax/127 (stored as F16, round-to-nearest-even), id = 127/amax (0 when amax == 0);
//  q = saturate(cvt(round_half_even(x * id))).
// Returns the float d (before F16 rounding) and the int32 sum of the unsaturated quants, which
// Q8_1 needs for s.
float QuantizeQ8Block(const float* x, int8_t* qs, uint16_t* d_bits, int32_t* sum) {
  float lanes[8];
  for (int l = 0; l < 8; ++l) {
    float m = std::fabs(x[l]);
    for (int v = 1; v < 4; ++v) m = MaxPs(m, std::fabs(x[8 * v + l]));
    lanes[l] = m;
  }
  float m4[4];
  for (int j = 0; j < 4; ++j) m4[j] = MaxPs(lanes[4 + j], lanes[j]);
  const float m2_0 = MaxPs(m4[0], m4[2]);
  const float m2_1 = MaxPs(m4[1], m4[3]);
  const float amax = MaxPs(m2_0, m2_1);

  const float d = amax / 127.0f;
  *d_bits = F32ToF16(d);
  const float id = (amax != 0.0f) ? 127.0f / amax : 0.0f;
  uint32_t total = 0;  // wraps like the 32-bit vector adds of the x86 code
  for (int j = 0; j < kQK8_0; ++j) {
    const int32_t q = CvtPs2Dq(std::nearbyint(x[j] * id));  // default rounding: half to even
    total += static_cast<uint32_t>(q);
    qs[j] = SaturateToInt8(q);
  }
  *sum = static_cast<int32_t>(total);
  return d;
}

// Element j of a Q5 block: low nibble as Q4 (byte j%16, low for j < 16), bit 4 from qh bit j.
int Q5Value(const uint8_t* qs, const uint8_t* qh_bytes, int j) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, sizeof qh);
  const int lo = j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4);
  return lo | static_cast<int>(((qh >> j) & 1u) << 4);
}

int Q4Value(const uint8_t* qs, int j) { return j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4); }

// ---------------------------------------------------------------------------------------------
// Q4_0: x = (q - 8) * d.

void DequantizeQ4_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float d = F16ToF32(b[i].d);
    for (int j = 0; j < kQK4_0; ++j) dst[i * kQK4_0 + j] = static_cast<float>(Q4Value(b[i].qs, j) - 8) * d;
  }
}

// The scale is the signed element of largest magnitude divided by -8, so that element maps to
// q = 0 exactly and the other end of the range clamps at 15 (ggml's choice).
void QuantizeQ4_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* x = src + i * kQK4_0;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = F32ToF16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int q0 = TruncClamp(x[j] * id + 8.5f, 15);
      const int q1 = TruncClamp(x[j + 16] * id + 8.5f, 15);
      b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

float DotQ4_0(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    int32_t sumi = 0;
    for (int j = 0; j < kQK4_0; ++j) sumi += (Q4Value(x[i].qs, j) - 8) * y[i].qs[j];
    sum += (F16ToF32(x[i].d) * F16ToF32(y[i].d)) * static_cast<float>(sumi);
  }
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Q4_1: x = q * d + m.

void DequantizeQ4_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / kQK4_1; ++i) {
    const float d = F16ToF32(b[i].d);
    const float m = F16ToF32(b[i].m);
    for (int j = 0; j < kQK4_1; ++j) dst[i * kQK4_1 + j] = static_cast<float>(Q4Value(b[i].qs, j)) * d + m;
  }
}

void QuantizeQ4_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n / kQK4_1; ++i) {
    const float* x = src + i * kQK4_1;
    float min = 3.402823466e38f, max = -3.402823466e38f;
    for (int j = 0; j < kQK4_1; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = F32ToF16(d);
    b[i].m = F32ToF16(min);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      const int q0 = TruncClamp((x[j] - min) * id + 0.5f, 15);
      const int q1 = TruncClamp((x[j + 16] - min) * id + 0.5f, 15);
      b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

// sum_b (d_w*d_a)*sumi + sum_b m_w*s_a, the two sums kept apart as ggml's AVX2 code does.
float DotQ4_1(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float sum = 0.0f, sum_min = 0.0f;
  for (int64_t i = 0; i < n / kQK4_1; ++i) {
    int32_t sumi = 0;
    for (int j = 0; j < kQK4_1; ++j) sumi += Q4Value(x[i].qs, j) * y[i].qs[j];
    sum += (F16ToF32(x[i].d) * F16ToF32(y[i].d)) * static_cast<float>(sumi);
    sum_min += F16ToF32(x[i].m) * F16ToF32(y[i].s);
  }
  return sum + sum_min;
}

// ---------------------------------------------------------------------------------------------
// Q5_0: x = (q - 16) * d.

void DequantizeQ5_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / kQK5_0; ++i) {
    const float d = F16ToF32(b[i].d);
    for (int j = 0; j < kQK5_0; ++j) {
      dst[i * kQK5_0 + j] = static_cast<float>(Q5Value(b[i].qs, b[i].qh, j) - 16) * d;
    }
  }
}

void QuantizeQ5_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / kQK5_0; ++i) {
    const float* x = src + i * kQK5_0;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK5_0; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = F32ToF16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int q0 = TruncClamp(x[j] * id + 16.5f, 31);
      const int q1 = TruncClamp(x[j + 16] * id + 16.5f, 31);
      b[i].qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= static_cast<uint32_t>(q0 >> 4) << j;
      qh |= static_cast<uint32_t>(q1 >> 4) << (j + 16);
    }
    std::memcpy(b[i].qh, &qh, sizeof qh);
  }
}

float DotQ5_0(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK5_0; ++i) {
    int32_t sumi = 0;
    for (int j = 0; j < kQK5_0; ++j) sumi += (Q5Value(x[i].qs, x[i].qh, j) - 16) * y[i].qs[j];
    sum += (F16ToF32(x[i].d) * F16ToF32(y[i].d)) * static_cast<float>(sumi);
  }
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Q5_1: x = q * d + m.

void DequantizeQ5_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / kQK5_1; ++i) {
    const float d = F16ToF32(b[i].d);
    const float m = F16ToF32(b[i].m);
    for (int j = 0; j < kQK5_1; ++j) {
      dst[i * kQK5_1 + j] = static_cast<float>(Q5Value(b[i].qs, b[i].qh, j)) * d + m;
    }
  }
}

void QuantizeQ5_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n / kQK5_1; ++i) {
    const float* x = src + i * kQK5_1;
    float min = 3.402823466e38f, max = -3.402823466e38f;
    for (int j = 0; j < kQK5_1; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = F32ToF16(d);
    b[i].m = F32ToF16(min);
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int q0 = TruncClamp((x[j] - min) * id + 0.5f, 31);
      const int q1 = TruncClamp((x[j + 16] - min) * id + 0.5f, 31);
      b[i].qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= static_cast<uint32_t>(q0 >> 4) << j;
      qh |= static_cast<uint32_t>(q1 >> 4) << (j + 16);
    }
    std::memcpy(b[i].qh, &qh, sizeof qh);
  }
}

float DotQ5_1(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float sum = 0.0f, sum_min = 0.0f;
  for (int64_t i = 0; i < n / kQK5_1; ++i) {
    int32_t sumi = 0;
    for (int j = 0; j < kQK5_1; ++j) sumi += Q5Value(x[i].qs, x[i].qh, j) * y[i].qs[j];
    sum += (F16ToF32(x[i].d) * F16ToF32(y[i].d)) * static_cast<float>(sumi);
    sum_min += F16ToF32(x[i].m) * F16ToF32(y[i].s);
  }
  return sum + sum_min;
}

// ---------------------------------------------------------------------------------------------
// Q8_0 (weights and activations) and Q8_1 (activations of Q4_1/Q5_1).

void DequantizeQ8_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float d = F16ToF32(b[i].d);
    for (int j = 0; j < kQK8_0; ++j) dst[i * kQK8_0 + j] = static_cast<float>(b[i].qs[j]) * d;
  }
}

// Used for activations (bit-exact with llama.cpp on x86) and for Q8_0 weights written by synth.
void QuantizeQ8_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    int32_t unused_sum;
    QuantizeQ8Block(src + i * kQK8_0, b[i].qs, &b[i].d, &unused_sum);
  }
}

float DotQ8_0(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    int32_t sumi = 0;
    for (int j = 0; j < kQK8_0; ++j) sumi += x[i].qs[j] * y[i].qs[j];
    sum += (F16ToF32(x[i].d) * F16ToF32(y[i].d)) * static_cast<float>(sumi);
  }
  return sum;
}

void DequantizeQ8_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_1*>(src);
  for (int64_t i = 0; i < n / kQK8_1; ++i) {
    const float d = F16ToF32(b[i].d);
    for (int j = 0; j < kQK8_1; ++j) dst[i * kQK8_1 + j] = static_cast<float>(b[i].qs[j]) * d;
  }
}

// s = F16(d * sum(q)) with the float d (not its F16 rounding), as the x86 code computes it.
void QuantizeQ8_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK8_1; ++i) {
    int32_t sum;
    const float d = QuantizeQ8Block(src + i * kQK8_1, b[i].qs, &b[i].d, &sum);
    b[i].s = F32ToF16(d * static_cast<float>(sum));
  }
}

constexpr QuantOps kF32Ops = {DequantizeF32, QuantizeF32, DotF32};
constexpr QuantOps kF16Ops = {DequantizeF16, QuantizeF16, DotF16};
constexpr QuantOps kBF16Ops = {DequantizeBF16, QuantizeBF16, DotBF16};
constexpr QuantOps kQ4_0Ops = {DequantizeQ4_0, QuantizeQ4_0, DotQ4_0};
constexpr QuantOps kQ4_1Ops = {DequantizeQ4_1, QuantizeQ4_1, DotQ4_1};
constexpr QuantOps kQ5_0Ops = {DequantizeQ5_0, QuantizeQ5_0, DotQ5_0};
constexpr QuantOps kQ5_1Ops = {DequantizeQ5_1, QuantizeQ5_1, DotQ5_1};
constexpr QuantOps kQ8_0Ops = {DequantizeQ8_0, QuantizeQ8_0, DotQ8_0};
constexpr QuantOps kQ8_1Ops = {DequantizeQ8_1, QuantizeQ8_1, nullptr};

}  // namespace

const QuantOps* GetLegacyQuantOps(GgmlType type) {
  switch (type) {
    case GgmlType::kF32: return &kF32Ops;
    case GgmlType::kF16: return &kF16Ops;
    case GgmlType::kBF16: return &kBF16Ops;
    case GgmlType::kQ4_0: return &kQ4_0Ops;
    case GgmlType::kQ4_1: return &kQ4_1Ops;
    case GgmlType::kQ5_0: return &kQ5_0Ops;
    case GgmlType::kQ5_1: return &kQ5_1Ops;
    case GgmlType::kQ8_0: return &kQ8_0Ops;
    case GgmlType::kQ8_1: return &kQ8_1Ops;
    default: return nullptr;
  }
}

}  // namespace bastion
