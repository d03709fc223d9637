// Weight quantizers for Q2_K, Q3_K, Q4_K, Q5_K and Q6_K (QuantizeRow for those types).
//
// They produce valid blocks with a sensible error; they are used by the GGUF writer to build
// synthetic benchmark models and by tests, never on the inference path, so they favour clarity
// over llama.cpp's exact search (make_qkx2_quants): per sub-block a small grid of candidate scales
// is tried, each followed by a least-squares refit, and the best squared error wins. The
// sub-block scales are then quantized against a super-block F16 scale and the elements are
// re-quantized with the scales as they will actually be decoded.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/half.h"
#include "quant/blocks.h"
#include "quant/k_quants_internal.h"

namespace bastion::kquant {
namespace {

// Fits x[i] ~= scale * q[i] - min with q in [0, nmax], scale >= 0, min >= 0 (the K-quants can
// only represent an offset at or below zero). Writes the best scale and min.
void FitScaleMin(const float* x, int n, int nmax, float* scale_out, float* min_out) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (lo > 0.0f) lo = 0.0f;
  if (hi <= lo) {
    *scale_out = 0.0f;
    *min_out = -lo;
    return;
  }
  float best_err = INFINITY, best_scale = (hi - lo) / nmax, best_offset = lo;
  for (int step = -5; step <= 5; ++step) {
    const float iscale = (static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / (hi - lo);
    double sq = 0, sq2 = 0, sx = 0, sxq = 0;
    int q[32];
    for (int i = 0; i < n; ++i) {
      q[i] = std::clamp(NearestInt(iscale * (x[i] - lo)), 0, nmax);
      sq += q[i];
      sq2 += static_cast<double>(q[i]) * q[i];
      sx += x[i];
      sxq += static_cast<double>(x[i]) * q[i];
    }
    // Least squares for x ~= s*q + o, with o clamped to <= 0 (then refit s alone).
    double s = 0, o = lo;
    const double det = n * sq2 - sq * sq;
    if (det > 0) {
      s = (n * sxq - sq * sx) / det;
      o = (sq2 * sx - sq * sxq) / det;
    }
    if (o > 0 || det <= 0) {
      o = std::min(0.0, o);
      s = sq2 > 0 ? (sxq - o * sq) / sq2 : 0;
    }
    if (s < 0) continue;
    double err = 0;
    for (int i = 0; i < n; ++i) {
      const double r = s * q[i] + o - x[i];
      err += r * r;
    }
    if (err < best_err) {
      best_err = static_cast<float>(err);
      best_scale = static_cast<float>(s);
      best_offset = static_cast<float>(o);
    }
  }
  *scale_out = best_scale;
  *min_out = -best_offset;
}

// Fits x[i] ~= scale * q[i] with q in [-nneg, nneg - 1]; scale may be negative so that the
// largest magnitude can use the longer negative side.
float FitScaleSymmetric(const float* x, int n, int nneg) {
  float amax = 0.0f, max = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax == 0.0f) return 0.0f;
  float best_err = INFINITY, best_scale = -max / nneg;
  for (int step = -8; step <= 8; ++step) {
    const float iscale = (-static_cast<float>(nneg) + 0.1f * static_cast<float>(step)) / max;
    double sxq = 0, sq2 = 0;
    int q[32];
    for (int i = 0; i < n; ++i) {
      q[i] = std::clamp(NearestInt(iscale * x[i]), -nneg, nneg - 1);
      sxq += static_cast<double>(x[i]) * q[i];
      sq2 += static_cast<double>(q[i]) * q[i];
    }
    if (sq2 == 0) continue;
    const double s = sxq / sq2;
    double err = 0;
    for (int i = 0; i < n; ++i) {
      const double r = s * q[i] - x[i];
      err += r * r;
    }
    if (err < best_err) {
      best_err = static_cast<float>(err);
      best_scale = static_cast<float>(s);
    }
  }
  return best_scale;
}

// Quantizes sub-block scales (all >= 0) to integers 0..qmax against one F16 super-scale.
// Returns the F16 super-scale; writes the integers to out.
uint16_t QuantizeScalesUnsigned(const float* scales, int count, int qmax, uint8_t* out) {
  float max = 0.0f;
  for (int i = 0; i < count; ++i) max = std::max(max, scales[i]);
  const uint16_t d16 = F32ToF16(max / static_cast<float>(qmax));
  const float d = F16ToF32(d16);
  for (int i = 0; i < count; ++i) {
    out[i] = d > 0 ? static_cast<uint8_t>(std::clamp(NearestInt(scales[i] / d), 0, qmax)) : 0;
  }
  return d16;
}

// Same for signed scales, to integers in [-qmax, qmax].
uint16_t QuantizeScalesSigned(const float* scales, int count, int qmax, int8_t* out) {
  float amax = 0.0f;
  for (int i = 0; i < count; ++i) amax = std::max(amax, std::fabs(scales[i]));
  const uint16_t d16 = F32ToF16(amax / static_cast<float>(qmax));
  const float d = F16ToF32(d16);
  for (int i = 0; i < count; ++i) {
    out[i] = d > 0 ? static_cast<int8_t>(std::clamp(NearestInt(scales[i] / d), -qmax, qmax)) : 0;
  }
  return d16;
}

// Element quant for x ~= dl * q - ml, q in [0, nmax].
inline int QuantAsym(float x, float dl, float ml, int nmax) {
  return dl > 0 ? std::clamp(NearestInt((x + ml) / dl), 0, nmax) : 0;
}

// Element quant for x ~= dl * q, q in [qmin, qmax].
inline int QuantSym(float x, float dl, int qmin, int qmax) {
  return dl != 0 ? std::clamp(NearestInt(x / dl), qmin, qmax) : 0;
}

}  // namespace

void QuantizeRowQ2K(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ2_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b, src += kQK_K) {
    float scales[16], mins[16];
    for (int g = 0; g < 16; ++g) FitScaleMin(src + 16 * g, 16, 3, &scales[g], &mins[g]);
    uint8_t ls[16], lm[16];
    y[b].d = QuantizeScalesUnsigned(scales, 16, 15, ls);
    y[b].dmin = QuantizeScalesUnsigned(mins, 16, 15, lm);
    const float d = F16ToF32(y[b].d), dmin = F16ToF32(y[b].dmin);
    std::memset(y[b].qs, 0, sizeof y[b].qs);
    for (int g = 0; g < 16; ++g) y[b].scales[g] = static_cast<uint8_t>(ls[g] | (lm[g] << 4));
    for (int e = 0; e < kQK_K; ++e) {
      const int g = e / 16;
      const int q = QuantAsym(src[e], d * ls[g], dmin * lm[g], 3);
      y[b].qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>(q << (2 * ((e / 32) % 4)));
    }
  }
}

void QuantizeRowQ3K(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ3_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b, src += kQK_K) {
    float scales[16];
    for (int g = 0; g < 16; ++g) scales[g] = FitScaleSymmetric(src + 16 * g, 16, 4);
    int8_t ls[16];
    y[b].d = QuantizeScalesSigned(scales, 16, 31, ls);
    PackScalesQ3K(ls, y[b].scales);
    const float d = F16ToF32(y[b].d);
    std::memset(y[b].qs, 0, sizeof y[b].qs);
    std::memset(y[b].hmask, 0, sizeof y[b].hmask);
    for (int e = 0; e < kQK_K; ++e) {
      const int u = QuantSym(src[e], d * ls[e / 16], -4, 3) + 4;  // stored 0..7
      y[b].qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((u & 3) << (2 * ((e / 32) % 4)));
      y[b].hmask[e % 32] |= static_cast<uint8_t>((u >> 2) << (e / 32));
    }
  }
}

namespace {

// Q4_K and Q5_K share scales/mins and the nibble layout; Q5_K adds a fifth bit.
template <typename Block, int kBits>
void QuantizeRowQ45K(const float* src, void* dst, int64_t n) {
  constexpr int kMax = (1 << kBits) - 1;
  auto* y = static_cast<Block*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b, src += kQK_K) {
    float scales[8], mins[8];
    for (int s = 0; s < 8; ++s) FitScaleMin(src + 32 * s, 32, kMax, &scales[s], &mins[s]);
    uint8_t ls[8], lm[8];
    y[b].d = QuantizeScalesUnsigned(scales, 8, 63, ls);
    y[b].dmin = QuantizeScalesUnsigned(mins, 8, 63, lm);
    PackScaleMinK4(ls, lm, y[b].scales);
    const float d = F16ToF32(y[b].d), dmin = F16ToF32(y[b].dmin);
    std::memset(y[b].qs, 0, sizeof y[b].qs);
    if constexpr (kBits == 5) std::memset(y[b].qh, 0, sizeof y[b].qh);
    for (int e = 0; e < kQK_K; ++e) {
      const int s = e / 32;
      const int q = QuantAsym(src[e], d * ls[s], dmin * lm[s], kMax);
      y[b].qs[32 * (e / 64) + e % 32] |= static_cast<uint8_t>((q & 15) << (4 * (s % 2)));
      if constexpr (kBits == 5) y[b].qh[e % 32] |= static_cast<uint8_t>((q >> 4) << s);
    }
  }
}

}  // namespace

void QuantizeRowQ4K(const float* src, void* dst, int64_t n) {
  QuantizeRowQ45K<BlockQ4_K, 4>(src, dst, n);
}

void QuantizeRowQ5K(const float* src, void* dst, int64_t n) {
  QuantizeRowQ45K<BlockQ5_K, 5>(src, dst, n);
}

void QuantizeRowQ6K(const float* src, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ6_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b, src += kQK_K) {
    float scales[16];
    for (int g = 0; g < 16; ++g) scales[g] = FitScaleSymmetric(src + 16 * g, 16, 32);
    y[b].d = QuantizeScalesSigned(scales, 16, 127, y[b].scales);
    const float d = F16ToF32(y[b].d);
    std::memset(y[b].ql, 0, sizeof y[b].ql);
    std::memset(y[b].qh, 0, sizeof y[b].qh);
    for (int e = 0; e < kQK_K; ++e) {
      const int u = QuantSym(src[e], d * y[b].scales[e / 16], -32, 31) + 32;  // stored 0..63
      const int h = e / 128, k = (e / 32) % 4, l = e % 32;
      y[b].ql[64 * h + 32 * (k % 2) + l] |= static_cast<uint8_t>((u & 15) << (4 * (k / 2)));
      y[b].qh[32 * h + l] |= static_cast<uint8_t>((u >> 4) << (2 * k));
    }
  }
}

}  // namespace bastion::kquant
