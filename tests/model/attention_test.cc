// Attention's two work splits (model/attention.h) must give bit-identical results: the phased
// path runs when (segments x KV heads) < threads, so a pool of 1 thread takes the item path and a
// pool of 5 the phased one for the same inputs. Checked at the best SIMD level and at scalar,
// for decode segments of 1 and 3 tokens, alone and beside other segments, F16 and F32 caches.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/gemm.h"
#include "model/attention.h"
#include "model/kv_cache.h"

namespace bastion {
namespace {

ModelConfig SmallQwen() {
  ModelConfig c;
  c.n_layer = 2;
  c.n_embd = 896;
  c.n_head = 14;
  c.n_head_kv = 2;
  c.head_dim = 64;
  return c;
}

std::vector<float> RunAttention(const ModelConfig& config, SimdLevel level, GgmlType type,
                                const std::vector<Segment>& segments, int n_threads) {
  const int n_ctx = 1200;
  auto cache = KvCache::Create(config.n_layer, config.kv_dim(), n_ctx, 3, type);
  EXPECT_TRUE(cache.ok());
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> k(config.kv_dim()), v(config.kv_dim());
  int n_batch = 0;
  for (const Segment& seg : segments) {
    for (int l = 0; l < config.n_layer; ++l) {
      for (int p = 0; p < seg.pos0 + seg.n_tokens; ++p) {
        for (auto& x : k) x = dist(rng);
        for (auto& x : v) x = dist(rng);
        (*cache)->Store(seg.slot, l, p, k.data(), v.data());
      }
    }
    n_batch = std::max(n_batch, seg.token_begin + seg.n_tokens);
  }
  std::vector<float> q(static_cast<size_t>(n_batch) * config.q_dim());
  for (auto& x : q) x = 3.0f * dist(rng);  // peaked softmax rows as well as flat ones
  std::vector<float> out(q.size() * config.n_layer, -1.0f);
  ThreadPool pool(n_threads);
  Attention attention(config, level);
  for (int l = 0; l < config.n_layer; ++l) {
    attention.Run(**cache, l, segments, q.data(), out.data() + l * q.size(), pool);
  }
  return out;
}

void ExpectPathsIdentical(SimdLevel level, GgmlType type, const std::vector<Segment>& segments) {
  const ModelConfig config = SmallQwen();
  const std::vector<float> items = RunAttention(config, level, type, segments, 1);
  const std::vector<float> phased = RunAttention(config, level, type, segments, 5);
  ASSERT_EQ(items.size(), phased.size());
  for (size_t i = 0; i < items.size(); ++i) {
    ASSERT_EQ(std::memcmp(&items[i], &phased[i], sizeof(float)), 0) << "i=" << i << ": " << items[i] << " vs " << phased[i];
    ASSERT_NE(items[i], -1.0f) << "i=" << i << " not written";
  }
}

// KvCache::Store converts with the level's activation converter: every level must store the
// bytes the portable conversion stores (F16: round to nearest even, subnormals, overflow to
// infinity; F32 as is), keys as a row and values transposed, and touch nothing else.
TEST(KvCacheTest, StoreWritesTheSameBytesAtEveryLevel) {
  const int n_layer = 2, kv_dim = 128, n_ctx = 40;
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> k(kv_dim), v(kv_dim);
  for (const GgmlType type : {GgmlType::kF16, GgmlType::kF32}) {
    auto want = KvCache::Create(n_layer, kv_dim, n_ctx, 2, type, SimdLevel::kScalar);
    auto got = KvCache::Create(n_layer, kv_dim, n_ctx, 2, type, DetectSimdLevel());
    ASSERT_TRUE(want.ok() && got.ok());
    for (int pos : {0, 7, 39}) {
      for (int d = 0; d < kv_dim; ++d) {
        k[d] = dist(rng) * std::ldexp(1.0f, d % 40 - 20);  // 2^-20 .. 2^19: subnormal to overflow
        v[d] = -dist(rng) * std::ldexp(1.0f, (d * 7) % 44 - 26);
      }
      k[3] = 65519.0f;  // the largest value that still rounds to a finite F16
      v[5] = 65520.0f;  // rounds to infinity
      (*want)->Store(1, 1, pos, k.data(), v.data());
      (*got)->Store(1, 1, pos, k.data(), v.data());
    }
    ASSERT_EQ(0, std::memcmp((*want)->k_rows(0, 0), (*got)->k_rows(0, 0), (*want)->total_bytes())) << TypeName(type);
    // The stores landed where the layout says (not all zeros).
    const uint8_t* v_row5 = (*got)->v_rows(1, 1) + 5 * (*got)->v_row_bytes() + 7 * (*got)->elem_size();
    ASSERT_TRUE(std::any_of(v_row5, v_row5 + (*got)->elem_size(), [](uint8_t b) { return b != 0; }));
  }
}

class AttentionPathsTest : public testing::TestWithParam<SimdLevel> {};

TEST_P(AttentionPathsTest, OneDecodeToken) {
  ExpectPathsIdentical(GetParam(), GgmlType::kF16, {{0, 0, 1, 1000}});
  ExpectPathsIdentical(GetParam(), GgmlType::kF32, {{0, 0, 1, 37}});
}

TEST_P(AttentionPathsTest, FewTokensBesideAnotherSequence) {
  // 3 tokens at depth 517 in slot 1, one token at depth 5 in slot 0: 2 segments x 2 KV heads
  // = 4 items < 5 threads, so both take the phased path.
  ExpectPathsIdentical(GetParam(), GgmlType::kF16, {{1, 0, 3, 517}, {0, 3, 1, 5}});
}

INSTANTIATE_TEST_SUITE_P(Levels, AttentionPathsTest, testing::Values(SimdLevel::kScalar, DetectSimdLevel()));

}  // namespace
}  // namespace bastion
