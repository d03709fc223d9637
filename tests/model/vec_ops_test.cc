// Vector operations: every SIMD level against the scalar reference, with stated bounds.
#include "kernels/vec_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace bastion {
namespace {

std::vector<SimdLevel> Levels() {
  std::vector<SimdLevel> out;
  for (int l = 1; l <= static_cast<int>(DetectSimdLevel()); ++l) out.push_back(static_cast<SimdLevel>(l));
  return out;
}

std::vector<float> Random(size_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Relative error bound for the SIMD exp polynomial path: a few ulp (float eps = 1.2e-7).
constexpr float kRel = 2e-6f;

TEST(VecOps, MatchScalarReference) {
  const VecOps& ref = GetVecOps(SimdLevel::kScalar);
  for (SimdLevel level : Levels()) {
    const VecOps& ops = GetVecOps(level);
    for (int64_t n : {1, 7, 16, 33, 896, 4864}) {
      const auto x = Random(n, 3.0f, 1);
      const auto w = Random(n, 1.0f, 2);
      std::vector<float> a(n), b(n);
      ref.rms_norm(x.data(), w.data(), 1e-6f, a.data(), n);
      ops.rms_norm(x.data(), w.data(), 1e-6f, b.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(a[i], b[i], kRel * (std::fabs(a[i]) + 1e-6f)) << SimdLevelName(level);

      const auto g = Random(n, 4.0f, 3);
      ref.silu_mul(g.data(), x.data(), a.data(), n);
      ops.silu_mul(g.data(), x.data(), b.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(a[i], b[i], kRel * (std::fabs(a[i]) + 1e-6f)) << SimdLevelName(level);

      a = Random(n, 10.0f, 4);
      b = a;
      ref.softmax(a.data(), 0.125f, n);
      ops.softmax(b.data(), 0.125f, n);
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(a[i], b[i], kRel * a[i] + 1e-12f) << SimdLevelName(level);

      a = x;
      b = x;
      ref.add(a.data(), w.data(), n);
      ops.add(b.data(), w.data(), n);
      EXPECT_EQ(a, b);
    }
  }
}

TEST(VecOps, SumWordsAgreesAcrossLevels) {
  std::vector<uint64_t> words(1000);
  for (size_t i = 0; i < words.size(); ++i) words[i] = i * 0x9e3779b97f4a7c15ull;
  for (int64_t n : {0, 1, 15, 16, 33, 1000}) {
    const uint64_t ref = GetVecOps(SimdLevel::kScalar).sum_words(words.data(), n);
    for (SimdLevel level : Levels()) EXPECT_EQ(GetVecOps(level).sum_words(words.data(), n), ref);
  }
}

TEST(VecOps, SoftmaxSaturatesWithoutNaN) {
  for (SimdLevel level : {SimdLevel::kScalar, DetectSimdLevel()}) {
    std::vector<float> x = {-1e30f, 0.0f, 1e4f, -INFINITY};
    GetVecOps(level).softmax(x.data(), 1.0f, 4);
    EXPECT_FLOAT_EQ(x[2], 1.0f);
    EXPECT_EQ(x[0], 0.0f);
    EXPECT_EQ(x[3], 0.0f);
  }
}

TEST(Rope, RotatesHalvesAndKeepsNorm) {
  const int head_dim = 64;
  std::vector<float> cs(head_dim);
  RopeAngles(5.0f, head_dim, 10000.0f, cs.data());
  EXPECT_FLOAT_EQ(cs[0], std::cos(5.0f));  // i = 0: angle = pos
  EXPECT_FLOAT_EQ(cs[1], std::sin(5.0f));
  auto v = Random(2 * head_dim, 1.0f, 9);
  auto orig = v;
  RopeNeox(v.data(), 2, head_dim, cs.data());
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < head_dim / 2; ++i) {
      const float x0 = orig[h * head_dim + i], x1 = orig[h * head_dim + i + 32];
      const float y0 = v[h * head_dim + i], y1 = v[h * head_dim + i + 32];
      EXPECT_NEAR(x0 * x0 + x1 * x1, y0 * y0 + y1 * y1, 1e-5f);
      EXPECT_NEAR(y0, x0 * cs[2 * i] - x1 * cs[2 * i + 1], 1e-6f);
    }
  }
}

}  // namespace
}  // namespace bastion
