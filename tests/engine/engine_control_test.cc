// Engine control flow: the bounded queue, cancellation (Cancel and a callback returning false),
// Shutdown with a deadline, metrics, and a multi-threaded submit/cancel stress test that every
// accepted request ends with exactly one final event.
#include <atomic>
#include <random>
#include <thread>

#include "engine/engine_test_util.h"

namespace bastion::engine {
namespace {

TEST_F(EngineTest, QueueFullIsRejected) {
  EngineOptions o = Options(1);
  o.max_queue = 2;
  auto engine = NewEngine(o);
  Gate gate;
  Collector a;
  int seen = 0;
  a.hook = [&](const Event&) {
    if (seen++ == 0) gate.Arrive();  // the only slot is busy and the engine is held
    return true;
  };
  SubmitOk(*engine, MakeRequest(Prompt(5, 1), Greedy(6), &a));
  gate.WaitArrived();
  Collector b, c;
  SubmitOk(*engine, MakeRequest(Prompt(5, 2), Greedy(6), &b));
  SubmitOk(*engine, MakeRequest(Prompt(5, 3), Greedy(6), &c));
  auto d = engine->Submit(MakeRequest(Prompt(5, 4), Greedy(6), nullptr));
  ASSERT_TRUE(std::holds_alternative<Engine::Rejection>(d));
  EXPECT_EQ(std::get<Engine::Rejection>(d).code, Engine::SubmitError::kQueueFull);
  EXPECT_EQ(engine->GetMetrics().queue_depth, 2);
  gate.Open();
  for (Collector* x : {&a, &b, &c}) EXPECT_EQ(x->Wait().final.stats.generated_tokens, 6);
  const Metrics m = engine->GetMetrics();
  EXPECT_EQ(m.requests_rejected, 1u);
  EXPECT_EQ(m.requests_total, 3u);
  EXPECT_GT(b.Wait().final.stats.queue_ns, 0u);
}

TEST_F(EngineTest, CancelMidStreamFreesTheSlot) {
  auto engine = NewEngine(Options(1));
  Gate gate;
  Collector a, b;
  int seen = 0;
  a.hook = [&](const Event&) {
    if (seen++ == 2) gate.Arrive();
    return true;
  };
  const uint64_t id_a = SubmitOk(*engine, MakeRequest(Prompt(5, 1), Greedy(-1), &a));
  SubmitOk(*engine, MakeRequest(Prompt(5, 2), Greedy(7), &b));  // waits for the only slot
  gate.WaitArrived();
  engine->Cancel(id_a);
  engine->Cancel(id_a);  // twice is harmless
  gate.Open();
  const Outcome oa = a.Wait();
  EXPECT_EQ(oa.final.finish, FinishReason::kCancelled);
  EXPECT_LT(oa.final.stats.generated_tokens, 20);
  EXPECT_EQ(oa.n_final_events, 1);
  const Outcome ob = b.Wait();
  EXPECT_EQ(ob.final.finish, FinishReason::kLength);
  EXPECT_EQ(ob.final.stats.generated_tokens, 7);
  engine->Cancel(id_a);  // finished: ignored
  engine->Cancel(12345);  // unknown: ignored
}

TEST_F(EngineTest, CancelWhileQueued) {
  auto engine = NewEngine(Options(1));
  Gate gate;
  Collector a, b;
  int seen = 0;
  a.hook = [&](const Event&) {
    if (seen++ == 0) gate.Arrive();
    return true;
  };
  SubmitOk(*engine, MakeRequest(Prompt(5, 1), Greedy(5), &a));
  gate.WaitArrived();
  const uint64_t id_b = SubmitOk(*engine, MakeRequest(Prompt(5, 2), Greedy(5), &b));
  engine->Cancel(id_b);
  gate.Open();
  const Outcome ob = b.Wait();
  EXPECT_EQ(ob.final.finish, FinishReason::kCancelled);
  EXPECT_TRUE(ob.tokens.empty());
  EXPECT_EQ(ob.final.stats.prompt_ns, 0u);
  EXPECT_EQ(a.Wait().final.finish, FinishReason::kLength);
}

TEST_F(EngineTest, CallbackReturningFalseCancels) {
  auto engine = NewEngine(Options(2));
  Collector c;
  int seen = 0;
  c.hook = [&](const Event&) { return ++seen < 3; };
  SubmitOk(*engine, MakeRequest(Prompt(7, 1), Greedy(50), &c));
  const Outcome out = c.Wait();
  EXPECT_EQ(out.n_text_events, 3);
  EXPECT_EQ(out.n_final_events, 1);
  EXPECT_EQ(out.final.finish, FinishReason::kCancelled);
  EXPECT_LT(out.final.stats.generated_tokens, 50);
  // The slot is free again.
  EXPECT_EQ(RunAlone(*engine, Prompt(7, 2), Greedy(4)).final.stats.generated_tokens, 4);
}

TEST_F(EngineTest, ShutdownLetsRunningRequestsFinish) {
  auto engine = NewEngine(Options(2));
  Collector a, b, c;
  SubmitOk(*engine, MakeRequest(Prompt(5, 1), Greedy(12), &a));
  SubmitOk(*engine, MakeRequest(Prompt(9, 2), Greedy(12), &b));
  SubmitOk(*engine, MakeRequest(Prompt(7, 3), Greedy(12), &c));  // queued: served too
  engine->Shutdown(std::chrono::seconds(60));
  for (Collector* x : {&a, &b, &c}) {
    ASSERT_TRUE(x->Done());
    EXPECT_EQ(x->Snapshot().final.finish, FinishReason::kLength);
  }
  auto late = engine->Submit(MakeRequest(Prompt(5, 4), Greedy(1), nullptr));
  ASSERT_TRUE(std::holds_alternative<Engine::Rejection>(late));
  EXPECT_EQ(std::get<Engine::Rejection>(late).code, Engine::SubmitError::kShuttingDown);
  engine->Shutdown(std::chrono::seconds(0));  // again: harmless
}

TEST_F(EngineTest, ShutdownCancelsAfterDeadline) {
  auto engine = NewEngine(Options(1, 4096));
  Collector a, b;
  Gate gate;
  int seen = 0;
  a.hook = [&](const Event&) {
    if (seen++ == 0) gate.Arrive();
    return true;
  };
  SubmitOk(*engine, MakeRequest(Prompt(5, 1), Greedy(-1), &a));  // ~4000 tokens: far too long
  SubmitOk(*engine, MakeRequest(Prompt(5, 2), Greedy(-1), &b));  // never gets the slot
  gate.WaitArrived();
  gate.Open();
  const auto start = std::chrono::steady_clock::now();
  engine->Shutdown(std::chrono::milliseconds(50));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  ASSERT_TRUE(a.Done());
  ASSERT_TRUE(b.Done());
  EXPECT_EQ(a.Snapshot().final.finish, FinishReason::kCancelled);
  EXPECT_EQ(b.Snapshot().final.finish, FinishReason::kCancelled);
  EXPECT_TRUE(b.Snapshot().tokens.empty());
}

TEST_F(EngineTest, DestructorCancelsRunningRequests) {
  Collector a;
  {
    auto engine = NewEngine(Options(1, 4096));
    SubmitOk(*engine, MakeRequest(Prompt(5, 1), Greedy(-1), &a));
  }
  ASSERT_TRUE(a.Done());
  EXPECT_EQ(a.Snapshot().n_final_events, 1);
}

TEST_F(EngineTest, Metrics) {
  auto engine = NewEngine(Options(3, 128));
  Metrics m = engine->GetMetrics();
  EXPECT_EQ(m.n_slots, 3);
  EXPECT_EQ(m.kv_cells_total, 3 * 128);
  EXPECT_EQ(m.kv_cells_used, 0);
  const Outcome one = RunAlone(*engine, Prompt(10, 1), Greedy(5));
  const Outcome two = RunAlone(*engine, Prompt(20, 2), Greedy(7));
  // The loop publishes gauges before it sleeps; wait for the idle state.
  for (int i = 0; i < 1000 && engine->GetMetrics().active_slots != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  m = engine->GetMetrics();
  EXPECT_EQ(m.requests_total, 2u);
  EXPECT_EQ(m.prompt_tokens_total, 30u);
  EXPECT_EQ(m.generated_tokens_total, 12u);
  EXPECT_EQ(m.active_slots, 0);
  EXPECT_EQ(m.queue_depth, 0);
  // Idle slots keep their cache: prompt + evaluated generated tokens (the last one never is).
  EXPECT_EQ(m.kv_cells_used, (10 + 4) + (20 + 6));
  ASSERT_EQ(m.ttft_seconds.size(), 2u);
  ASSERT_EQ(m.tokens_per_second.size(), 2u);
  EXPECT_GT(m.ttft_seconds[0], 0.0);
  EXPECT_GT(m.tokens_per_second[1], 0.0);
  EXPECT_GE(m.forward_passes_total, 12u);
  const RequestStats& st = two.final.stats;
  EXPECT_GE(st.total_ns, st.queue_ns + st.prompt_ns + st.generate_ns);
  EXPECT_GT(st.generate_ns, 0u);
  EXPECT_EQ(one.final.stats.cached_tokens, 0);
}

// Several threads submit and cancel at random while requests stream; some callbacks cancel.
// Every accepted request must end with exactly one final event and nothing after it.
TEST_F(EngineTest, ConcurrentSubmitAndCancelStress) {
  EngineOptions o = Options(3, 128);
  o.max_queue = 6;
  o.prefill_chunk = 24;
  auto engine = NewEngine(o);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 30;
  std::vector<std::unique_ptr<Collector>> collectors(kThreads * kPerThread);
  for (auto& c : collectors) c = std::make_unique<Collector>();
  std::atomic<int> accepted{0}, rejected{0};
  std::atomic<bool> submitting{true};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t + 1);
      for (int i = 0; i < kPerThread; ++i) {
        Collector& c = *collectors[t * kPerThread + i];
        const int kind = static_cast<int>(rng() % 4);
        if (kind == 0) {
          int left = static_cast<int>(rng() % 4);
          c.hook = [left](const Event&) mutable { return left-- > 0; };
        }
        GenerationParams p = Greedy(1 + static_cast<int>(rng() % 20));
        if (kind == 1) p.stop = {"a", "e"};
        if (kind == 2) {
          p.sampling.temperature = 0.8f;
          p.sampling.seed = rng();
        }
        const std::vector<int32_t> prompt = Prompt(1 + static_cast<int>(rng() % 60), static_cast<int>(rng() % 5));
        const bool truncate = rng() % 2 == 0;
        // A full queue is retried a few times (as a client would after 503), then given up.
        bool ok = false;
        for (int attempt = 0; attempt < 5 && !ok; ++attempt) {
          Request r = MakeRequest(prompt, p, &c);
          r.truncate = truncate;
          auto result = engine->Submit(std::move(r));
          if (auto* id = std::get_if<uint64_t>(&result)) {
            ok = true;
            ++accepted;
            if (rng() % 3 == 0) engine->Cancel(*id);
          } else {
            ++rejected;
            EXPECT_EQ(std::get<Engine::Rejection>(result).code, Engine::SubmitError::kQueueFull);
            std::this_thread::sleep_for(std::chrono::milliseconds(1 + rng() % 4));
          }
        }
        if (!ok) collectors[t * kPerThread + i].reset();  // never called back: skipped below
      }
    });
  }
  std::thread canceller([&] {
    std::mt19937 rng(99);
    while (submitting.load()) {
      engine->Cancel(1 + rng() % (kThreads * kPerThread));
      (void)engine->GetMetrics();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  for (auto& th : threads) th.join();
  submitting = false;
  canceller.join();
  engine->Shutdown(std::chrono::seconds(120));

  int finished = 0;
  for (auto& c : collectors) {
    if (!c) continue;
    ASSERT_TRUE(c->Done());
    const Outcome out = c->Snapshot();
    EXPECT_EQ(out.n_final_events, 1);
    EXPECT_FALSE(out.event_after_done);
    EXPECT_FALSE(out.empty_text_event);
    ++finished;
  }
  EXPECT_EQ(finished, accepted.load());
  EXPECT_GT(accepted.load(), 0);
  const Metrics m = engine->GetMetrics();
  EXPECT_EQ(m.requests_total, static_cast<uint64_t>(accepted.load()));
  EXPECT_EQ(m.requests_rejected, static_cast<uint64_t>(rejected.load()));
}

}  // namespace
}  // namespace bastion::engine
