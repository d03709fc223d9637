// Tests of the threaded driver (kernels/matmul.cc) against the scalar reference: for decode-sized
// batches (byte-balanced shares with stealing) and prefill-sized ones (row chunks), with several
// products sharing one input (mixed weight types, so several activation formats), row counts that
// are not multiples of any tile, and 1-3 threads. Each output must match
//     DotRow(w row, QuantizeRow(VecDotType, x row))
// within |y - ref| <= (2 n + 64) * 2^-24 * sum|w_i a_i| over the row (n = k / 32 summed blocks: a
// worst-case bound for float sums taken in two different orders), and must not depend on the
// thread count beyond that. Every output element is written exactly once (NaN-poisoned outputs).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/matmul.h"
#include "quant/quantize.h"
#include "quant/types.h"

namespace bastion {
namespace {

struct OwnedMatrix {
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // dequantized, for the error bound
  WeightMatrix w;
};

OwnedMatrix MakeMatrix(GgmlType type, int64_t k, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  OwnedMatrix m;
  const size_t row = RowBytes(type, k);
  m.bytes.resize(row * static_cast<size_t>(n));
  m.values.resize(static_cast<size_t>(k * n));
  std::vector<float> f(static_cast<size_t>(k));
  for (int64_t r = 0; r < n; ++r) {
    for (auto& v : f) v = normal(rng);
    QuantizeRow(type, f.data(), m.bytes.data() + r * row, k);
    DequantizeRow(type, m.bytes.data() + r * row, m.values.data() + r * k, k);
  }
  m.w = {type, k, n, m.bytes.data(), row};
  return m;
}

// Reference output of one row and token, and the error bound for it.
std::pair<float, float> Reference(const OwnedMatrix& m, int64_t r, const float* x) {
  const int64_t k = m.w.n_in;
  const GgmlType at = VecDotType(m.w.type);
  std::vector<uint8_t> a(RowBytes(at, k));
  QuantizeRow(at, x, a.data(), k);
  std::vector<float> ad(static_cast<size_t>(k));
  DequantizeRow(at, a.data(), ad.data(), k);
  const float ref = DotRow(m.w.type, m.w.data + static_cast<size_t>(r) * m.w.row_bytes, a.data(), k);
  double mag = 0;
  for (int64_t i = 0; i < k; ++i) mag += std::fabs(static_cast<double>(m.values[r * k + i]) * ad[i]);
  const double n = static_cast<double>(k) / 32.0;
  return {ref, static_cast<float>((2 * n + 64) * std::ldexp(1.0, -24) * mag)};
}

class MatMulTest : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(MatMulTest, SharedInputProductsMatchReference) {
  const auto [threads, tokens] = GetParam();
  // Q5_0 / Q8_0 / Q4_K / Q6_K mixed like a Q4_K_M model's attention; k = 512 suits all of them.
  const int64_t k = 512;
  std::vector<OwnedMatrix> mats;
  mats.push_back(MakeMatrix(GgmlType::kQ5_0, k, 203, 1));
  mats.push_back(MakeMatrix(GgmlType::kQ8_0, k, 37, 2));
  mats.push_back(MakeMatrix(GgmlType::kQ4_K, k, 66, 3));
  mats.push_back(MakeMatrix(GgmlType::kQ6_K, k, 5, 4));
  mats.push_back(MakeMatrix(GgmlType::kQ4_0, k, 1, 5));

  std::mt19937 rng(99);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t x_stride = k + 7;
  std::vector<float> x(static_cast<size_t>(tokens * x_stride));
  for (auto& v : x) v = normal(rng);

  std::vector<std::vector<float>> ys(mats.size());
  std::vector<MatMulJob> jobs;
  for (size_t j = 0; j < mats.size(); ++j) {
    const int64_t stride = mats[j].w.n_out + 3;
    ys[j].assign(static_cast<size_t>(tokens * stride), std::numeric_limits<float>::quiet_NaN());
    jobs.push_back({&mats[j].w, ys[j].data(), stride});
  }
  ThreadPool pool(threads);
  MatMulEngine engine(pool, DetectSimdLevel());
  // Twice: the second call reuses the engine's plans and buffers.
  for (int pass = 0; pass < 2; ++pass) {
    engine.Run(x.data(), tokens, x_stride, jobs);
    for (size_t j = 0; j < mats.size(); ++j) {
      const int64_t stride = jobs[j].y_stride;
      for (int t = 0; t < tokens; ++t) {
        for (int64_t r = 0; r < mats[j].w.n_out; ++r) {
          const auto [ref, bound] = Reference(mats[j], r, x.data() + t * x_stride);
          const float got = ys[j][static_cast<size_t>(t * stride + r)];
          ASSERT_LE(std::fabs(got - ref), bound) << "job " << j << " token " << t << " row " << r;
        }
        for (int64_t r = mats[j].w.n_out; r < stride; ++r) {
          ASSERT_TRUE(std::isnan(ys[j][static_cast<size_t>(t * stride + r)])) << "padding written";
        }
      }
    }
  }
}

// A product large enough that both threads run out of their own shares and steal.
TEST(MatMulTest, LargeDecodeProductMatchesReference) {
  const int64_t k = 256;
  OwnedMatrix m = MakeMatrix(GgmlType::kQ8_0, k, 20011, 7);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(k));
  for (auto& v : x) v = normal(rng);
  ThreadPool pool(2);
  MatMulEngine engine(pool, DetectSimdLevel());
  std::vector<float> y(static_cast<size_t>(m.w.n_out), std::numeric_limits<float>::quiet_NaN());
  for (int pass = 0; pass < 3; ++pass) {
    engine.Run(m.w, x.data(), 1, y.data());
    for (int64_t r = 0; r < m.w.n_out; ++r) {
      const auto [ref, bound] = Reference(m, r, x.data());
      ASSERT_LE(std::fabs(y[static_cast<size_t>(r)] - ref), bound) << "row " << r;
    }
  }
}

// Prefill chunk rows: every thread gets as many chunks of a job as the others where the row
// alignment allows, never more rows than asked for, and the same rows when already balanced.
TEST(MatMulTest, PrefillChunksSplitEvenlyOverTheThreads) {
  // Qwen2.5-0.5B's attention output and ffn_down (896 rows): 7 chunks of 128 -> 8 of 112.
  EXPECT_EQ(BalancedChunkRows(896, 128, 16, 2), 112);
  // Its k and v projections (128 rows): one chunk -> two of 64.
  EXPECT_EQ(BalancedChunkRows(128, 128, 16, 2), 64);
  // Already even: ffn_gate/up (4864 rows in 38 chunks of 128).
  EXPECT_EQ(BalancedChunkRows(4864, 128, 16, 2), 128);
  // 4864 rows in 256-row chunks are 19; 20 chunks would round back up to 256 rows, so 22 of 224.
  EXPECT_EQ(BalancedChunkRows(4864, 256, 16, 2), 224);
  // One thread: any count is balanced.
  EXPECT_EQ(BalancedChunkRows(896, 128, 16, 1), 128);
  // Too few aligned rows to split: unchanged.
  EXPECT_EQ(BalancedChunkRows(16, 16, 16, 2), 16);
  EXPECT_EQ(BalancedChunkRows(20, 32, 16, 3), 32);
  for (int threads = 1; threads <= 8; ++threads) {
    for (int64_t n_out : {16, 100, 128, 896, 1000, 4864, 151936}) {
      for (int64_t rows : {16, 64, 112, 128, 256, 2048}) {
        const int64_t got = BalancedChunkRows(n_out, rows, 16, threads);
        EXPECT_LE(got, rows);
        EXPECT_EQ(got % 16, 0);
        const int64_t chunks = (n_out + got - 1) / got;
        if (got != rows) {
          EXPECT_EQ(chunks % threads, 0) << n_out << " " << rows << " " << threads;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, MatMulTest,
                         ::testing::Combine(::testing::Values(1, 2, 3), ::testing::Values(1, 2, 3, 8, 70)));

}  // namespace
}  // namespace bastion
