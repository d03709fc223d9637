// Sampler: greedy ties, truncation rules, penalties and seed determinism.
#include "model/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace bastion {
namespace {

SamplingParams Plain(float temp) {
  SamplingParams p;
  p.temperature = temp;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 7;
  return p;
}

TEST(Sampler, GreedyPicksArgmaxTiesToLowestId) {
  Sampler s(Plain(0.0f));
  const std::vector<float> logits = {0.5f, 2.0f, 2.0f, -1.0f};
  EXPECT_EQ(s.Sample(logits, {}), 1);
  EXPECT_EQ(Sampler::Argmax(logits), 1);
}

TEST(Sampler, SameSeedSameSequence) {
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i)) * 3.0f;
  auto run = [&](uint64_t seed) {
    SamplingParams p = Plain(1.0f);
    p.seed = seed;
    Sampler s(p);
    std::vector<int32_t> out;
    for (int i = 0; i < 50; ++i) out.push_back(s.Sample(logits, out));
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplingParams p = Plain(5.0f);
  p.top_k = 1;
  Sampler s(p);
  const std::vector<float> logits = {0.0f, 1.0f, 0.9f, 0.95f};
  for (int i = 0; i < 100; ++i) EXPECT_EQ(s.Sample(logits, {}), 1);
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  // Probabilities 0.5, 0.25, 0.125, 0.125: top_p 0.7 keeps the first two only.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.25f), std::log(0.125f), std::log(0.125f)};
  SamplingParams p = Plain(1.0f);
  p.top_p = 0.7f;
  Sampler s(p);
  std::map<int32_t, int> counts;
  for (int i = 0; i < 3000; ++i) ++counts[s.Sample(logits, {})];
  EXPECT_EQ(counts.count(2), 0u);
  EXPECT_EQ(counts.count(3), 0u);
  // Renormalized: 2/3 vs 1/3.
  EXPECT_NEAR(counts[0] / 3000.0, 2.0 / 3.0, 0.04);
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  // p = 0.6, 0.3, 0.1: min_p 0.2 drops the last (0.1 < 0.2 * 0.6).
  const std::vector<float> logits = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  SamplingParams p = Plain(1.0f);
  p.min_p = 0.2f;
  Sampler s(p);
  for (int i = 0; i < 2000; ++i) EXPECT_NE(s.Sample(logits, {}), 2);
}

TEST(Sampler, TemperatureSharpens) {
  const std::vector<float> logits = {1.0f, 0.0f};
  auto share_of_best = [&](float t) {
    SamplingParams p = Plain(t);
    Sampler s(p);
    int best = 0;
    for (int i = 0; i < 4000; ++i) best += s.Sample(logits, {}) == 0;
    return best / 4000.0;
  };
  // softmax([1,0]/T): T=1 -> 0.731, T=0.25 -> 0.982.
  EXPECT_NEAR(share_of_best(1.0f), 0.731, 0.03);
  EXPECT_NEAR(share_of_best(0.25f), 0.982, 0.01);
}

TEST(Sampler, RepeatPenaltyLowersSeenTokens) {
  SamplingParams p = Plain(0.0f);
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  // Token 0 is best (2.0) but seen: 2.0 / 2 = 1.0 < 1.5 of token 1.
  const std::vector<float> logits = {2.0f, 1.5f, -3.0f};
  const std::vector<int32_t> history = {0};
  EXPECT_EQ(s.Sample(logits, history), 1);
  // Negative logits are multiplied: token 2 stays worst.
  const std::vector<float> neg = {-1.0f, -1.5f};
  const std::vector<int32_t> seen0 = {0};
  EXPECT_EQ(s.Sample(neg, seen0), 1);  // -1 * 2 = -2 < -1.5
}

TEST(Sampler, PresenceAndFrequencyPenalties) {
  SamplingParams p = Plain(0.0f);
  p.frequency_penalty = 0.5f;
  Sampler s(p);
  const std::vector<float> logits = {2.0f, 1.2f};
  EXPECT_EQ(s.Sample(logits, std::vector<int32_t>{0}), 0);        // 2.0 - 0.5 = 1.5 > 1.2
  EXPECT_EQ(s.Sample(logits, std::vector<int32_t>{0, 0}), 1);     // 2.0 - 1.0 = 1.0 < 1.2
  SamplingParams q = Plain(0.0f);
  q.presence_penalty = 1.0f;
  Sampler s2(q);
  EXPECT_EQ(s2.Sample(logits, std::vector<int32_t>{0}), 1);       // 2.0 - 1.0 < 1.2
  // The window: repeat_last_n = 1 only sees the last token.
  q.repeat_last_n = 1;
  Sampler s3(q);
  EXPECT_EQ(s3.Sample(logits, std::vector<int32_t>{0, 1}), 0);    // 0 is outside the window
}

TEST(Sampler, FilterRestrictsChoices) {
  Sampler s(Plain(0.0f));
  const std::vector<float> logits = {5.0f, 4.0f, 3.0f};
  EXPECT_EQ(s.Sample(logits, {}, [](int32_t id) { return id != 0; }), 1);
  EXPECT_EQ(s.Sample(logits, {}, [](int32_t) { return false; }), -1);
  // Greedy beyond the sorted head: only the worst of many tokens is allowed.
  std::vector<float> many(1000);
  for (size_t i = 0; i < many.size(); ++i) many[i] = -static_cast<float>(i);
  EXPECT_EQ(s.Sample(many, {}, [](int32_t id) { return id == 999; }), 999);
}

TEST(Sampler, FilterSamplesFromTheFilteredDistribution) {
  // p = 0.5, 0.3, 0.2; forbidding token 0 leaves 0.6 / 0.4 for tokens 1 and 2.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  Sampler s(Plain(1.0f));
  int ones = 0;
  for (int i = 0; i < 4000; ++i) {
    const int32_t id = s.Sample(logits, {}, [](int32_t t) { return t != 0; });
    ASSERT_NE(id, 0);
    ones += id == 1;
  }
  EXPECT_NEAR(ones / 4000.0, 0.6, 0.03);
  // Everything inside top-k forbidden: falls back to the best allowed token outside it.
  SamplingParams p = Plain(1.0f);
  p.top_k = 2;
  Sampler k2(p);
  EXPECT_EQ(k2.Sample(logits, {}, [](int32_t t) { return t == 2; }), 2);
}

TEST(SamplingParams, ValidateNamesTheSetting) {
  SamplingParams p;
  p.top_p = 2.0f;
  const Status st = p.Validate();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("top_p"), std::string::npos);
}

}  // namespace
}  // namespace bastion
