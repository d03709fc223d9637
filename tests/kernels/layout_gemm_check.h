// Shared by the weight-layout tests: one call of a layout's kernel against the same level's
// file-layout kernel on the same weights and activations.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "quant/quantize.h"
#include "quant/types.h"

namespace bastion::layout_check {

// n rows of k elements of `type`, quantized from normal floats.
inline std::vector<uint8_t> QuantizedRows(GgmlType type, int64_t k, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const size_t row = RowBytes(type, k);
  std::vector<uint8_t> out(row * static_cast<size_t>(n));
  std::vector<float> f(static_cast<size_t>(k));
  for (int64_t r = 0; r < n; ++r) {
    for (auto& v : f) v = normal(rng);
    QuantizeRow(type, f.data(), out.data() + r * row, k);
  }
  return out;
}

// Scalar and every SIMD level this CPU (and build) has.
inline std::vector<SimdLevel> LevelsHere() {
  std::vector<SimdLevel> levels = {SimdLevel::kScalar};
  const SimdLevel best = DetectSimdLevel();
  if (best >= SimdLevel::kAvx2) levels.push_back(SimdLevel::kAvx2);
  if (best >= SimdLevel::kAvx512) levels.push_back(SimdLevel::kAvx512);
  return levels;
}

// The kernels' bound for two float summation orders of the same exact block sums of one output:
// (2 nb + 64) 2^-24 sum|w a|, with nb = k / 32 blocks and w, a the dequantized row and column.
inline double TwoOrderBound(const std::vector<float>& wf, const std::vector<float>& af) {
  double abs_sum = 0;
  for (size_t i = 0; i < wf.size(); ++i) abs_sum += std::fabs(static_cast<double>(wf[i]) * af[i]);
  return (2.0 * static_cast<double>(wf.size() / 32) + 64) * std::ldexp(1.0, -24) * abs_sum;
}

// file_gemm on `file` rows and layout_gemm on the same rows repacked (`packed`), nr rows x nc
// activation rows `a` (VecDotType(type)), into a y with 3 spare rows per column: bit for bit
// when `exact`, else within TwoOrderBound per output; and neither writes past row nr.
inline void ExpectLayoutGemmMatchesFile(GemmFn file_gemm, GemmFn layout_gemm, GgmlType type, bool exact, int64_t k,
                                        const std::vector<uint8_t>& file, const std::vector<uint8_t>& packed,
                                        int64_t nr, const std::vector<uint8_t>& a, int64_t nc) {
  const size_t row = RowBytes(type, k);
  const GgmlType act_type = VecDotType(type);
  const size_t a_row = RowBytes(act_type, k);
  const size_t y_stride = static_cast<size_t>(nr) + 3;
  std::vector<float> want(y_stride * static_cast<size_t>(nc), -1.0f), got(want);
  file_gemm(k, file.data(), row, nr, a.data(), a_row, nc, want.data(), y_stride);
  layout_gemm(k, packed.data(), row, nr, a.data(), a_row, nc, got.data(), y_stride);
  const std::string where = std::string(TypeName(type)) + " k=" + std::to_string(k) + " nr=" + std::to_string(nr) +
                            " nc=" + std::to_string(nc);
  if (exact) {
    ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float))) << where;
    return;
  }
  std::vector<float> af(static_cast<size_t>(k)), wf(static_cast<size_t>(k));
  for (int64_t c = 0; c < nc; ++c) {
    for (size_t i = static_cast<size_t>(nr); i < y_stride; ++i) {
      ASSERT_EQ(got[static_cast<size_t>(c) * y_stride + i], -1.0f) << "wrote past row nr: " << where << " c=" << c;
    }
    DequantizeRow(act_type, a.data() + c * a_row, af.data(), k);
    for (int64_t r = 0; r < nr; ++r) {
      DequantizeRow(type, file.data() + r * row, wf.data(), k);
      const size_t i = static_cast<size_t>(c) * y_stride + static_cast<size_t>(r);
      ASSERT_LE(std::fabs(static_cast<double>(got[i]) - want[i]), TwoOrderBound(wf, af))
          << where << " r=" << r << " c=" << c;
    }
  }
}

}  // namespace bastion::layout_check
