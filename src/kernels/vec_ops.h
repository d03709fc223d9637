// Element-wise and row operations of the forward pass (everything that is not a weight product):
// RMSNorm, SiLU-gated product, softmax, residual add, RoPE.
//
// Like the gemm kernels, each has a scalar reference (vec_ops.cc) and SIMD versions
// (vec_ops_avx2.cc, vec_ops_avx512.cc) chosen at runtime; the exp() used by SiLU and softmax is a
// polynomial accurate to a few ulp in the SIMD versions and std::exp in the reference.
#pragma once

#include <cstdint>

#include "kernels/gemm.h"

namespace bastion {

struct VecOps {
  // out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]   (out may alias x)
  void (*rms_norm)(const float* x, const float* w, float eps, float* out, int64_t n);
  // out[i] = g[i] / (1 + exp(-g[i])) * u[i]       (out may alias g or u)
  void (*silu_mul)(const float* g, const float* u, float* out, int64_t n);
  // In place: x[i] = exp(x[i] * scale - max) / sum over i < n. Returns nothing; n >= 1.
  void (*softmax)(float* x, float scale, int64_t n);
  // y[i] += x[i]
  void (*add)(float* y, const float* x, int64_t n);
  // Wrapping sum of n 64-bit words, read as fast as the level allows (SIMD loads with software
  // prefetch ahead): the memory-bandwidth probe of `bastion bench` (decode speed is bounded by how
  // fast weights can be read). It prefetches up to kSumWordsPrefetchBytes past x + n (prefetches
  // never fault).
  uint64_t (*sum_words)(const uint64_t* x, int64_t n);
};

// sum_words' prefetch distance: measured on this VM (2 threads, 1 GiB huge-page buffer) AVX-512
// 24.6-26.6 GB/s with it against 20.3-21.5 without, AVX2 26.2-28.5 against 22.2-23.2; 512-2048
// bytes alike.
constexpr int kSumWordsPrefetchBytes = 1024;

// The operations for this SIMD level (falls back to lower levels).
const VecOps& GetVecOps(SimdLevel level);

// Family hooks (nullptr when a level is not compiled in).
const VecOps* GetVecOpsAvx2();
const VecOps* GetVecOpsAvx512();

// RoPE in the NEOX arrangement (Qwen2): inside each head of `head_dim` values, element i is
// rotated with element i + head_dim/2 by angle pos * theta_base^(-2i/head_dim).
// cos_sin holds head_dim/2 (cos, sin) pairs for this position (see RopeAngles).
void RopeNeox(float* heads, int n_heads, int head_dim, const float* cos_sin);

// Fills cos_sin[2i], cos_sin[2i+1] for i < head_dim/2 at position pos (already multiplied by any
// linear RoPE scaling factor). The angle is built the way
// GGML builds it (theta = pos * theta_scale^i with theta_scale = base^(-2/head_dim) in float) so
// long-context results track llama.cpp's.
void RopeAngles(float pos, int head_dim, float theta_base, float* cos_sin);

}  // namespace bastion
