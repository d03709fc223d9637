// Scalar reference of the vector operations, RoPE, and the per-level dispatch.
#include "kernels/vec_ops.h"

#include <cmath>

namespace bastion {
namespace {

void RmsNormScalar(const float* x, const float* w, float eps, float* out, int64_t n) {
  double sum = 0.0;  // GGML accumulates the sum of squares in double as well
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
}

void SiluMulScalar(const float* g, const float* u, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void SoftmaxScalar(float* x, float scale, int64_t n) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::fmax(max, x[i] * scale);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] * scale - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void AddScalar(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

uint64_t SumWordsScalar(const uint64_t* x, int64_t n) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += x[i];
    s1 += x[i + 1];
    s2 += x[i + 2];
    s3 += x[i + 3];
  }
  for (; i < n; ++i) s0 += x[i];
  return s0 + s1 + s2 + s3;
}

constexpr VecOps kScalarOps = {RmsNormScalar, SiluMulScalar, SoftmaxScalar, AddScalar, SumWordsScalar};

}  // namespace

const VecOps& GetVecOps(SimdLevel level) {
  if (level == SimdLevel::kAvx512) {
    if (const VecOps* ops = GetVecOpsAvx512()) return *ops;
  }
  if (level >= SimdLevel::kAvx2) {
    if (const VecOps* ops = GetVecOpsAvx2()) return *ops;
  }
  return kScalarOps;
}

#if !defined(BASTION_HAVE_AVX2)
const VecOps* GetVecOpsAvx2() { return nullptr; }
#endif
#if !defined(BASTION_HAVE_AVX512)
const VecOps* GetVecOpsAvx512() { return nullptr; }
#endif

void RopeAngles(float pos, int head_dim, float theta_base, float* cos_sin) {
  const float theta_scale = std::pow(theta_base, -2.0f / static_cast<float>(head_dim));
  float theta = pos;
  for (int i = 0; i < head_dim / 2; ++i) {
    cos_sin[2 * i] = std::cos(theta);
    cos_sin[2 * i + 1] = std::sin(theta);
    theta *= theta_scale;
  }
}

void RopeNeox(float* heads, int n_heads, int head_dim, const float* cos_sin) {
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = heads + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      const float c = cos_sin[2 * i];
      const float s = cos_sin[2 * i + 1];
      const float x0 = v[i];
      const float x1 = v[i + half];
      v[i] = x0 * c - x1 * s;
      v[i + half] = x0 * s + x1 * c;
    }
  }
}

}  // namespace bastion
