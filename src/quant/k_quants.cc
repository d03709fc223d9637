// Scalar reference for the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K weights; Q8_K activations):
// dequantization, the Q8_K activation quantizer and the weight x Q8_K dot products.
//
// This file is the definition of correctness for the K-quant SIMD kernels, and it mirrors what
// llama.cpp computes so that logits agree with it:
//  * Q8_K quantization is bit-exact with llama.cpp's quantize_row_q8_K_ref, which is what its x86
//    CPU backend runs (there is no x86-specific Q8_K quantizer): iscale = -127 / max where max is
//    the signed value of largest magnitude (first one on ties), q = min(127, nearest_int(iscale*x))
//    with the product rounded to float first, d = 1 / iscale, bsums = sums of 16 quants.
//  * The dot products form the same integers as ggml_vec_dot_qN_K_q8_K (per-sub-block integer
//    dots times the integer sub-block scales, mins through the Q8_K bsums) and apply the same float
//    scale products (x.d * y.d, x.dmin * y.d) once per 256-element super-block.
// The weight quantizers live in k_quants_quantize.cc.
#include <cmath>
#include <cstring>

#include "base/half.h"
#include "quant/blocks.h"
#include "quant/k_quants_internal.h"
#include "quant/quantize.h"

namespace bastion {
namespace {

using kquant::NearestInt;

// ---- Q8_K (activations) ----------------------------------------------------------------------

void QuantizeQ8K(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b, src += kQK_K) {
    float max = 0.0f;
    float amax = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      const float ax = std::fabs(src[j]);
      if (ax > amax) {
        amax = ax;
        max = src[j];
      }
    }
    if (amax == 0.0f) {
      // llama.cpp leaves bsums untouched here; zero is what they would sum to.
      y[b].d = 0.0f;
      std::memset(y[b].qs, 0, sizeof y[b].qs);
      std::memset(y[b].bsums, 0, sizeof y[b].bsums);
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; ++j) {
      // The product is rounded to float before nearest_int, as in llama.cpp's (FMA-less) build.
      const float scaled = iscale * src[j];
      const int v = NearestInt(scaled);
      y[b].qs[j] = static_cast<int8_t>(v < 127 ? v : 127);
    }
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += y[b].qs[16 * g + i];
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
    y[b].d = 1.0f / iscale;
  }
}

void DequantizeQ8K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ8_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    for (int j = 0; j < kQK_K; ++j) *dst++ = x[b].d * static_cast<float>(x[b].qs[j]);
  }
}

// ---- Element accessors ------------------------------------------------------------------------
// Each returns the unsigned quant of element e (0..255) of a block as stored, so that the
// dequantizers and the dot products share one statement of the bit layout.

// Q2_K: element 128n + 32j + l is bits 2j..2j+1 of qs[32n + l].
inline int QuantQ2K(const BlockQ2_K& x, int e) {
  return (x.qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
}

// Q3_K: low 2 bits as Q2_K; the third bit is bit 4n + j of hmask[l]. Stored value 0..7, the
// signed quant is that minus 4 (a clear hmask bit means "subtract 4").
inline int QuantQ3K(const BlockQ3_K& x, int e) {
  const int low = (x.qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
  const int high = (x.hmask[e % 32] >> (e / 32)) & 1;
  return low | (high << 2);
}

// Q4_K: element 64j + l (l < 32) is the low nibble of qs[32j + l], element 64j + 32 + l the high.
inline int QuantQ4K(const uint8_t* qs, int e) {
  return (qs[32 * (e / 64) + e % 32] >> (4 * ((e / 32) % 2))) & 15;
}

// Q5_K: Q4_K's nibble plus bit e/32 of qh[e % 32] as bit 4.
inline int QuantQ5K(const BlockQ5_K& x, int e) {
  return QuantQ4K(x.qs, e) | (((x.qh[e % 32] >> (e / 32)) & 1) << 4);
}

// Q6_K: element 128h + 32k + l: low 4 bits are nibble k/2 of ql[64h + 32(k%2) + l], high 2 bits
// are bits 2k..2k+1 of qh[32h + l]. Stored value 0..63, the signed quant is that minus 32.
inline int QuantQ6K(const BlockQ6_K& x, int e) {
  const int h = e / 128;
  const int k = (e / 32) % 4;
  const int l = e % 32;
  const int low = (x.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15;
  const int high = (x.qh[32 * h + l] >> (2 * k)) & 3;
  return low | (high << 4);
}

// ---- Dequantization ---------------------------------------------------------------------------

void DequantizeQ2K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ2_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = F16ToF32(x[b].d);
    const float dmin = F16ToF32(x[b].dmin);
    for (int e = 0; e < kQK_K; ++e) {
      const int sc = x[b].scales[e / 16];
      const float dl = d * static_cast<float>(sc & 15);
      const float ml = dmin * static_cast<float>(sc >> 4);
      *dst++ = dl * static_cast<float>(QuantQ2K(x[b], e)) - ml;
    }
  }
}

void DequantizeQ3K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ3_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = F16ToF32(x[b].d);
    int8_t scales[16];
    kquant::UnpackScalesQ3K(x[b].scales, scales);
    for (int e = 0; e < kQK_K; ++e) {
      const float dl = d * static_cast<float>(scales[e / 16]);
      *dst++ = dl * static_cast<float>(QuantQ3K(x[b], e) - 4);
    }
  }
}

void DequantizeQ4K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = F16ToF32(x[b].d);
    const float dmin = F16ToF32(x[b].dmin);
    uint8_t sc[8], mn[8];
    kquant::UnpackScaleMinK4(x[b].scales, sc, mn);
    for (int e = 0; e < kQK_K; ++e) {
      const float dl = d * static_cast<float>(sc[e / 32]);
      const float ml = dmin * static_cast<float>(mn[e / 32]);
      *dst++ = dl * static_cast<float>(QuantQ4K(x[b].qs, e)) - ml;
    }
  }
}

void DequantizeQ5K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ5_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = F16ToF32(x[b].d);
    const float dmin = F16ToF32(x[b].dmin);
    uint8_t sc[8], mn[8];
    kquant::UnpackScaleMinK4(x[b].scales, sc, mn);
    for (int e = 0; e < kQK_K; ++e) {
      const float dl = d * static_cast<float>(sc[e / 32]);
      const float ml = dmin * static_cast<float>(mn[e / 32]);
      *dst++ = dl * static_cast<float>(QuantQ5K(x[b], e)) - ml;
    }
  }
}

void DequantizeQ6K(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ6_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float d = F16ToF32(x[b].d);
    for (int e = 0; e < kQK_K; ++e) {
      const float dl = d * static_cast<float>(x[b].scales[e / 16]);
      *dst++ = dl * static_cast<float>(QuantQ6K(x[b], e) - 32);
    }
  }
}

// ---- Dot products with Q8_K -------------------------------------------------------------------
// Per super-block: isum = sum over sub-blocks of scale * (integer dot of the sub-block), msum =
// sum of min * (Q8_K bsums of the sub-block); result += (x.d * y.d) * isum - (x.dmin * y.d) * msum.

// Sum of bsums over the 16-element groups [g0, g0 + count).
inline int BsumRange(const BlockQ8_K& y, int g0, int count) {
  int s = 0;
  for (int g = g0; g < g0 + count; ++g) s += y.bsums[g];
  return s;
}

float DotQ2K(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ2_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int32_t isum = 0;
    int32_t msum = 0;
    for (int g = 0; g < 16; ++g) {
      int32_t dot = 0;
      for (int e = 16 * g; e < 16 * g + 16; ++e) dot += QuantQ2K(x[b], e) * y[b].qs[e];
      isum += (x[b].scales[g] & 15) * dot;
      msum += (x[b].scales[g] >> 4) * y[b].bsums[g];
    }
    const float d = F16ToF32(x[b].d) * y[b].d;
    const float dmin = F16ToF32(x[b].dmin) * y[b].d;
    sum += d * static_cast<float>(isum) - dmin * static_cast<float>(msum);
  }
  return sum;
}

float DotQ3K(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ3_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int8_t scales[16];
    kquant::UnpackScalesQ3K(x[b].scales, scales);
    int32_t isum = 0;
    for (int g = 0; g < 16; ++g) {
      int32_t dot = 0;
      for (int e = 16 * g; e < 16 * g + 16; ++e) dot += (QuantQ3K(x[b], e) - 4) * y[b].qs[e];
      isum += scales[g] * dot;
    }
    sum += (F16ToF32(x[b].d) * y[b].d) * static_cast<float>(isum);
  }
  return sum;
}

float DotQ4K(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    uint8_t sc[8], mn[8];
    kquant::UnpackScaleMinK4(x[b].scales, sc, mn);
    int32_t isum = 0;
    int32_t msum = 0;
    for (int s = 0; s < 8; ++s) {
      int32_t dot = 0;
      for (int e = 32 * s; e < 32 * s + 32; ++e) dot += QuantQ4K(x[b].qs, e) * y[b].qs[e];
      isum += sc[s] * dot;
      msum += mn[s] * BsumRange(y[b], 2 * s, 2);
    }
    const float d = F16ToF32(x[b].d) * y[b].d;
    const float dmin = F16ToF32(x[b].dmin) * y[b].d;
    sum += d * static_cast<float>(isum) - dmin * static_cast<float>(msum);
  }
  return sum;
}

float DotQ5K(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ5_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    uint8_t sc[8], mn[8];
    kquant::UnpackScaleMinK4(x[b].scales, sc, mn);
    int32_t isum = 0;
    int32_t msum = 0;
    for (int s = 0; s < 8; ++s) {
      int32_t dot = 0;
      for (int e = 32 * s; e < 32 * s + 32; ++e) dot += QuantQ5K(x[b], e) * y[b].qs[e];
      isum += sc[s] * dot;
      msum += mn[s] * BsumRange(y[b], 2 * s, 2);
    }
    const float d = F16ToF32(x[b].d) * y[b].d;
    const float dmin = F16ToF32(x[b].dmin) * y[b].d;
    sum += d * static_cast<float>(isum) - dmin * static_cast<float>(msum);
  }
  return sum;
}

float DotQ6K(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int32_t isum = 0;
    for (int g = 0; g < 16; ++g) {
      int32_t dot = 0;
      for (int e = 16 * g; e < 16 * g + 16; ++e) dot += (QuantQ6K(x[b], e) - 32) * y[b].qs[e];
      isum += x[b].scales[g] * dot;
    }
    sum += (F16ToF32(x[b].d) * y[b].d) * static_cast<float>(isum);
  }
  return sum;
}

constexpr QuantOps kQ2KOps = {DequantizeQ2K, kquant::QuantizeRowQ2K, DotQ2K};
constexpr QuantOps kQ3KOps = {DequantizeQ3K, kquant::QuantizeRowQ3K, DotQ3K};
constexpr QuantOps kQ4KOps = {DequantizeQ4K, kquant::QuantizeRowQ4K, DotQ4K};
constexpr QuantOps kQ5KOps = {DequantizeQ5K, kquant::QuantizeRowQ5K, DotQ5K};
constexpr QuantOps kQ6KOps = {DequantizeQ6K, kquant::QuantizeRowQ6K, DotQ6K};
constexpr QuantOps kQ8KOps = {DequantizeQ8K, QuantizeQ8K, nullptr};

}  // namespace

const QuantOps* GetKQuantOps(GgmlType type) {
  switch (type) {
    case GgmlType::kQ2_K: return &kQ2KOps;
    case GgmlType::kQ3_K: return &kQ3KOps;
    case GgmlType::kQ4_K: return &kQ4KOps;
    case GgmlType::kQ5_K: return &kQ5KOps;
    case GgmlType::kQ6_K: return &kQ6KOps;
    case GgmlType::kQ8_K: return &kQ8KOps;
    default: return nullptr;
  }
}

}  // namespace bastion
