// Engine outputs: a batch of requests produces exactly what each request produces alone (and what
// Generator produces on a fresh context), seeded sampling does not depend on the batch, the
// prefix cache (idle slot or copied from a busy one) does not change outputs, and the
// per-sequence rules — stop strings, max_tokens, end of generation, ignore_eos, context limits,
// constraints — behave as Generator's.
#include <thread>

#include "engine/engine_test_util.h"

namespace bastion::engine {
namespace {

TEST_F(EngineTest, BatchedRequestsMatchEachAloneAndGenerator) {
  constexpr int kRequests = 8;
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < kRequests; ++i) prompts.push_back(Prompt(5 + 9 * i, i));
  const GenerationParams params = Greedy(24);

  // Small prefill chunks so prompts are split over several steps and mixed with decode tokens.
  EngineOptions o = Options(kRequests);
  o.prefill_chunk = 16;
  auto engine = NewEngine(o);
  std::vector<Collector> batched(kRequests);
  for (int i = 0; i < kRequests; ++i) SubmitOk(*engine, MakeRequest(prompts[i], params, &batched[i]));
  std::vector<Outcome> together;
  for (auto& c : batched) together.push_back(c.Wait());
  EXPECT_GT(engine->GetMetrics().forward_passes_total, 24u);

  auto alone_engine = NewEngine(Options(1));
  for (int i = 0; i < kRequests; ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    const Outcome alone = RunAlone(*alone_engine, prompts[i], params);
    const GenerationResult reference = RunGenerator(prompts[i], params);
    EXPECT_EQ(together[i].tokens, alone.tokens);
    EXPECT_EQ(together[i].tokens, reference.tokens);
    EXPECT_EQ(together[i].text, reference.text);
    EXPECT_EQ(together[i].final.finish, FinishReason::kLength);
    EXPECT_EQ(together[i].final.stats.generated_tokens, 24);
    EXPECT_EQ(together[i].final.stats.prompt_tokens, static_cast<int>(prompts[i].size()));
    EXPECT_EQ(together[i].n_final_events, 1);
    EXPECT_FALSE(together[i].empty_text_event);
    EXPECT_FALSE(together[i].event_after_done);
  }
}

TEST_F(EngineTest, SeededSamplingIndependentOfBatch) {
  GenerationParams params;
  params.sampling.temperature = 1.2f;
  params.sampling.top_k = 50;
  params.sampling.top_p = 0.9f;
  params.sampling.min_p = 0.0f;
  params.sampling.repeat_penalty = 1.3f;  // penalties see prompt + generated tokens
  params.sampling.seed = 1234;
  params.max_tokens = 30;
  params.ignore_eos = true;
  const std::vector<int32_t> prompt = Prompt(12, 7);

  auto engine = NewEngine(Options(4));
  const Outcome alone = RunAlone(*engine, prompt, params);

  auto busy = NewEngine(Options(4));
  std::vector<Collector> others(3);
  for (int i = 0; i < 3; ++i) {
    GenerationParams p = params;
    p.sampling.seed = 99 + i;
    SubmitOk(*busy, MakeRequest(Prompt(20 + i, 40 + i), p, &others[i]));
  }
  Collector c;
  SubmitOk(*busy, MakeRequest(prompt, params, &c));
  const Outcome batched = c.Wait();
  for (auto& o : others) o.Wait();

  EXPECT_EQ(batched.tokens, alone.tokens);
  EXPECT_EQ(batched.tokens, RunGenerator(prompt, params).tokens);
}

TEST_F(EngineTest, PrefixCacheReusesIdleSlot) {
  const std::vector<int32_t> shared = Prompt(60, 3);
  std::vector<int32_t> first = shared, second = shared;
  first.insert(first.end(), {11, 12});
  second.insert(second.end(), {21, 22, 23});
  const GenerationParams params = Greedy(16);

  auto engine = NewEngine(Options(2));
  const Outcome a = RunAlone(*engine, first, params);
  EXPECT_EQ(a.final.stats.cached_tokens, 0);
  const Outcome b = RunAlone(*engine, second, params);
  EXPECT_EQ(b.final.stats.cached_tokens, 60);
  EXPECT_EQ(b.final.stats.prompt_tokens, 63);

  auto cold_engine = NewEngine(Options(2));
  const Outcome cold = RunAlone(*cold_engine, second, params);
  EXPECT_EQ(cold.final.stats.cached_tokens, 0);
  EXPECT_EQ(b.tokens, cold.tokens);

  // The very same prompt again: everything but the last token comes from the cache.
  const Outcome again = RunAlone(*engine, second, params);
  EXPECT_EQ(again.final.stats.cached_tokens, 62);
  EXPECT_EQ(again.tokens, cold.tokens);
  EXPECT_EQ(engine->GetMetrics().cached_prompt_tokens_total, 122u);
}

TEST_F(EngineTest, PrefixCacheChoosesLongestMatchingSlot) {
  auto engine = NewEngine(Options(3));
  const std::vector<int32_t> p1 = Prompt(40, 1), p2 = Prompt(40, 2), p3 = Prompt(40, 3);
  for (const auto& p : {p1, p2, p3}) RunAlone(*engine, p, Greedy(2));
  std::vector<int32_t> q = p2;
  q.push_back(77);
  // p2's slot is neither the most nor the least recently used one.
  EXPECT_EQ(RunAlone(*engine, q, Greedy(2)).final.stats.cached_tokens, 40);
}

// Copying from a busy slot: B shares a long prefix with A, which is still generating.
class EngineCopyTest : public EngineTest, public ::testing::WithParamInterface<int> {};

TEST_P(EngineCopyTest, CopiesPrefixFromBusySlot) {
  const int min_copy = GetParam();
  const std::vector<int32_t> shared = Prompt(80, 5);
  std::vector<int32_t> a_prompt = shared, b_prompt = shared;
  a_prompt.push_back(9);
  b_prompt.insert(b_prompt.end(), {31, 32});

  EngineOptions o = Options(2);
  o.min_copy_prefix = min_copy;
  auto engine = NewEngine(o);
  Gate gate;
  Collector a, b;
  int seen = 0;
  a.hook = [&](const Event&) {
    if (seen++ == 0) gate.Arrive();  // hold A (and the engine) until B is queued
    return true;
  };
  SubmitOk(*engine, MakeRequest(a_prompt, Greedy(40), &a));
  gate.WaitArrived();
  SubmitOk(*engine, MakeRequest(b_prompt, Greedy(20), &b));
  gate.Open();
  const Outcome ob = b.Wait();
  a.Wait();
  EXPECT_EQ(ob.final.stats.cached_tokens, min_copy > 0 ? 80 : 0);

  auto cold_engine = NewEngine(Options(1));
  EXPECT_EQ(ob.tokens, RunAlone(*cold_engine, b_prompt, Greedy(20)).tokens);
}

INSTANTIATE_TEST_SUITE_P(CopyOnOff, EngineCopyTest, ::testing::Values(32, 0));

TEST_F(EngineTest, StopStringsCutTheOutput) {
  auto engine = NewEngine(Options(2));
  const std::vector<int32_t> prompt = Prompt(10, 11);
  const Outcome full = RunAlone(*engine, prompt, Greedy(40));
  // Pick three ASCII letters from the middle of the text as the stop string.
  std::string stop;
  for (size_t i = 6; i + 3 <= full.text.size() && stop.empty(); ++i) {
    if (isalpha(static_cast<unsigned char>(full.text[i])) && isalpha(static_cast<unsigned char>(full.text[i + 1])) &&
        isalpha(static_cast<unsigned char>(full.text[i + 2]))) {
      stop = full.text.substr(i, 3);
    }
  }
  ASSERT_FALSE(stop.empty()) << "no letters in: " << full.text;
  GenerationParams params = Greedy(40);
  params.stop = {"this never appears \x01", stop};
  const Outcome cut = RunAlone(*engine, prompt, params);
  EXPECT_EQ(cut.text, full.text.substr(0, full.text.find(stop)));
  EXPECT_EQ(cut.final.finish, FinishReason::kStop);
  EXPECT_LT(cut.final.stats.generated_tokens, 40);
  EXPECT_EQ(cut.text, RunGenerator(prompt, params).text);
}

TEST_F(EngineTest, MaxTokens) {
  auto engine = NewEngine(Options(2));
  const Outcome five = RunAlone(*engine, Prompt(8, 1), Greedy(5));
  EXPECT_EQ(five.tokens.size(), 5u);
  EXPECT_EQ(five.final.stats.generated_tokens, 5);
  EXPECT_EQ(five.final.finish, FinishReason::kLength);

  const Outcome zero = RunAlone(*engine, Prompt(8, 2), Greedy(0));
  EXPECT_TRUE(zero.tokens.empty());
  EXPECT_EQ(zero.n_text_events, 0);
  EXPECT_EQ(zero.final.finish, FinishReason::kLength);
  EXPECT_GT(zero.final.stats.prompt_ns, 0u);
}

TEST_F(EngineTest, ConstraintIsHonoured) {
  const Tokenizer& tok = model_->tokenizer();
  const std::vector<int32_t> forced = {300, 301, 1200, 45, 46};
  auto engine = NewEngine(Options(2));
  GenerationParams params = Greedy(50, /*ignore_eos=*/false);
  params.sampling.temperature = 0.7f;  // sampling, not just argmax, goes through the filter
  params.sampling.seed = 5;
  Collector c;
  Request r = MakeRequest(Prompt(9, 4), params, &c);
  r.constraint = std::make_shared<ForcedSequence>(forced, tok);
  SubmitOk(*engine, std::move(r));
  const Outcome out = c.Wait();
  ASSERT_EQ(out.tokens.size(), forced.size() + 1);
  EXPECT_TRUE(std::equal(forced.begin(), forced.end(), out.tokens.begin()));
  EXPECT_TRUE(tok.IsEndOfGeneration(out.tokens.back()));
  EXPECT_EQ(out.text, tok.Decode(forced, /*render_special=*/false));
  EXPECT_EQ(out.final.finish, FinishReason::kStop);
  EXPECT_TRUE(out.final.error.empty());
}

TEST_F(EngineTest, EndOfGenerationAndIgnoreEos) {
  const Tokenizer& tok = model_->tokenizer();
  const int32_t eog = tok.eos_id();
  ASSERT_TRUE(tok.IsEndOfGeneration(eog));
  const std::vector<int32_t> forced = {500, eog, 501, 502};
  auto engine = NewEngine(Options(2));
  for (const bool ignore_eos : {false, true}) {
    SCOPED_TRACE(ignore_eos ? "ignore_eos" : "stop at eos");
    Collector c;
    Request r = MakeRequest(Prompt(6, 8), Greedy(50, ignore_eos), &c);
    r.constraint = std::make_shared<ForcedSequence>(forced, tok);
    SubmitOk(*engine, std::move(r));
    const Outcome out = c.Wait();
    std::vector<int32_t> expected = {500, eog};
    // Past the end token; then the complete constraint allows only an end token (any of them),
    // which stops even with ignore_eos.
    if (ignore_eos) expected = {500, eog, 501, 502};
    ASSERT_EQ(out.tokens.size(), expected.size() + (ignore_eos ? 1 : 0));
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), out.tokens.begin()));
    EXPECT_TRUE(tok.IsEndOfGeneration(out.tokens.back()));
    EXPECT_EQ(out.final.finish, FinishReason::kStop);
    EXPECT_TRUE(out.final.error.empty()) << out.final.error;
  }
}

TEST_F(EngineTest, ConstraintDeadEndIsAnError) {
  auto engine = NewEngine(Options(1));
  Collector c;
  Request r = MakeRequest(Prompt(6, 9), Greedy(10), &c);
  r.constraint = std::make_shared<DeadEnd>();
  SubmitOk(*engine, std::move(r));
  const Outcome out = c.Wait();
  EXPECT_TRUE(out.tokens.empty());
  EXPECT_FALSE(out.final.error.empty());
  // The engine goes on serving.
  EXPECT_EQ(RunAlone(*engine, Prompt(6, 9), Greedy(3)).tokens.size(), 3u);
}

TEST_F(EngineTest, ContextLimits) {
  constexpr int kCtx = 64;
  auto engine = NewEngine(Options(2, kCtx));
  // n_ctx - 1 prompt tokens fit; n_ctx do not.
  auto too_long = engine->Submit(MakeRequest(Prompt(kCtx, 1), Greedy(4), nullptr));
  ASSERT_TRUE(std::holds_alternative<Engine::Rejection>(too_long));
  EXPECT_EQ(std::get<Engine::Rejection>(too_long).code, Engine::SubmitError::kPromptTooLong);

  // Generation runs until the slot is full, as Generator does: the last token is never evaluated.
  const std::vector<int32_t> prompt = Prompt(40, 2);
  const Outcome full = RunAlone(*engine, prompt, Greedy(-1));
  EXPECT_EQ(full.final.finish, FinishReason::kLength);
  EXPECT_EQ(full.final.stats.generated_tokens, kCtx - 40 + 1);
  EXPECT_EQ(full.tokens, RunGenerator(prompt, Greedy(-1), kCtx).tokens);

  // Truncation keeps the last n_ctx / 2 tokens.
  const std::vector<int32_t> long_prompt = Prompt(100, 3);
  Collector c;
  Request r = MakeRequest(long_prompt, Greedy(8), &c);
  r.truncate = true;
  SubmitOk(*engine, std::move(r));
  const Outcome truncated = c.Wait();
  EXPECT_EQ(truncated.final.stats.prompt_tokens, kCtx / 2);
  const std::vector<int32_t> tail(long_prompt.end() - kCtx / 2, long_prompt.end());
  auto fresh = NewEngine(Options(1, kCtx));
  EXPECT_EQ(truncated.tokens, RunAlone(*fresh, tail, Greedy(8)).tokens);
}

TEST_F(EngineTest, InvalidRequestsAreRejected) {
  auto engine = NewEngine(Options(1));
  auto code = [&](Request r) {
    auto result = engine->Submit(std::move(r));
    return std::holds_alternative<Engine::Rejection>(result) ? std::get<Engine::Rejection>(result).code
                                                             : Engine::SubmitError::kShuttingDown;
  };
  EXPECT_EQ(code(MakeRequest({}, Greedy(1), nullptr)), Engine::SubmitError::kInvalid);
  EXPECT_EQ(code(MakeRequest({1, 2, 1 << 20}, Greedy(1), nullptr)), Engine::SubmitError::kInvalid);
  EXPECT_EQ(code(MakeRequest({1, -2}, Greedy(1), nullptr)), Engine::SubmitError::kInvalid);
  GenerationParams bad = Greedy(1);
  bad.sampling.top_p = 2.0f;
  EXPECT_EQ(code(MakeRequest({1, 2}, bad, nullptr)), Engine::SubmitError::kInvalid);
  EXPECT_FALSE(Engine::Create(*model_, [] {
                 EngineOptions o = Options(1);
                 o.n_slots = 0;
                 return o;
               }()).ok());
}

TEST_F(EngineTest, RunningStreamsKeepDecodingDuringLongPrefill) {
  EngineOptions o = Options(2, 512);
  o.prefill_chunk = 8;
  auto engine = NewEngine(o);
  Gate gate;
  Collector a, b;
  std::atomic<int> a_tokens{0};
  std::atomic<int> a_tokens_at_b_first{-1};
  a.hook = [&](const Event& e) {
    if (a_tokens.fetch_add(static_cast<int>(e.tokens.size())) == 0) gate.Arrive();
    return true;
  };
  b.hook = [&](const Event&) {
    int expected = -1;
    a_tokens_at_b_first.compare_exchange_strong(expected, a_tokens.load());
    return true;
  };
  SubmitOk(*engine, MakeRequest(Prompt(4, 1), Greedy(150), &a));
  gate.WaitArrived();
  SubmitOk(*engine, MakeRequest(Prompt(200, 2), Greedy(4), &b));
  gate.Open();
  b.Wait();
  a.Wait();
  // B's 200 prompt tokens take 25 steps of 8; A gets a token in each of them.
  EXPECT_GE(a_tokens_at_b_first.load(), 20);
}

}  // namespace
}  // namespace bastion::engine
