// IQ4_NL: 32-element blocks of 4-bit indices into a fixed non-linear table of int8 levels, with
// one F16 scale: x[i] = d * kIq4NlLevels[q[i]]. Nibble order as Q4_0 (byte j holds element j in
// its low nibble and element j + 16 in its high nibble). Multiplied against Q8_0 activations.
//
// bastion supports it because llama-quantize falls back to IQ4_NL for Q2_K/Q3_K tensors whose
// rows are not a multiple of 256 — every 896-wide tensor of Qwen2.5-0.5B in a q2_k or q3_k_m file.
#include "quant/iq4_nl.h"

#include <cmath>
#include <cstdlib>

#include "base/half.h"
#include "quant/blocks.h"
#include "quant/quantize.h"

namespace bastion {
namespace {

void DequantizeIq4Nl(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t i = 0; i < n / kQK4_NL; ++i) {
    const float d = F16ToF32(b[i].d);
    for (int j = 0; j < kQK4_NL / 2; ++j) {
      dst[i * kQK4_NL + j] = d * static_cast<float>(kIq4NlLevels[b[i].qs[j] & 0x0f]);
      dst[i * kQK4_NL + j + kQK4_NL / 2] = d * static_cast<float>(kIq4NlLevels[b[i].qs[j] >> 4]);
    }
  }
}

// Index of the level nearest to v (levels are sorted).
int NearestLevel(float v) {
  int best = 0;
  float best_err = std::fabs(v - static_cast<float>(kIq4NlLevels[0]));
  for (int k = 1; k < 16; ++k) {
    const float err = std::fabs(v - static_cast<float>(kIq4NlLevels[k]));
    if (err < best_err) {
      best_err = err;
      best = k;
    }
  }
  return best;
}

// Scale search: the largest magnitude maps to the outermost level on its side, then a few
// nearby scales are tried and the best (least-squares refit) kept. Good enough for synthetic
// weights; llama.cpp's importance-weighted search is not needed here.
void QuantizeIq4Nl(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockIQ4_NL*>(dst);
  for (int64_t i = 0; i < n / kQK4_NL; ++i) {
    const float* x = src + i * kQK4_NL;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK4_NL; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    uint8_t best_q[kQK4_NL] = {};
    float best_d = 0.0f;
    if (amax > 0.0f) {
      float best_err = INFINITY;
      for (int step = -6; step <= 6; ++step) {
        // max maps to -127 (negative side) scaled by a factor near 1.
        const float d0 = max / (-127.0f) * (1.0f + 0.02f * static_cast<float>(step));
        const float id = 1.0f / d0;
        uint8_t q[kQK4_NL];
        double sxl = 0.0, sll = 0.0;
        for (int j = 0; j < kQK4_NL; ++j) {
          q[j] = static_cast<uint8_t>(NearestLevel(x[j] * id));
          const double l = kIq4NlLevels[q[j]];
          sxl += x[j] * l;
          sll += l * l;
        }
        const float d = sll > 0 ? static_cast<float>(sxl / sll) : d0;
        double err = 0.0;
        for (int j = 0; j < kQK4_NL; ++j) {
          const double e = x[j] - d * kIq4NlLevels[q[j]];
          err += e * e;
        }
        if (err < best_err) {
          best_err = static_cast<float>(err);
          best_d = d;
          std::copy(q, q + kQK4_NL, best_q);
        }
      }
    }
    b[i].d = F32ToF16(best_d);
    for (int j = 0; j < kQK4_NL / 2; ++j) {
      b[i].qs[j] = static_cast<uint8_t>(best_q[j] | (best_q[j + kQK4_NL / 2] << 4));
    }
  }
}

// As ggml's vec_dot_iq4_nl_q8_0: per block (d_w * d_a) * sum of level * q8, accumulated in float.
float DotIq4Nl(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockIQ4_NL*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK4_NL; ++i) {
    int32_t sumi = 0;
    for (int j = 0; j < kQK4_NL / 2; ++j) {
      sumi += kIq4NlLevels[x[i].qs[j] & 0x0f] * y[i].qs[j];
      sumi += kIq4NlLevels[x[i].qs[j] >> 4] * y[i].qs[j + kQK4_NL / 2];
    }
    sum += (F16ToF32(x[i].d) * F16ToF32(y[i].d)) * static_cast<float>(sumi);
  }
  return sum;
}

constexpr QuantOps kIq4NlOps = {DequantizeIq4Nl, QuantizeIq4Nl, DotIq4Nl};

}  // namespace

const QuantOps* GetIqQuantOps(GgmlType type) { return type == GgmlType::kIQ4_NL ? &kIq4NlOps : nullptr; }

}  // namespace bastion
