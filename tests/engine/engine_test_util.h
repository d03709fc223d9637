// Shared by the engine tests: a tiny synthetic F16 model, an event collector per request, a gate
// that holds the engine thread inside a callback (to make queue states deterministic), a
// constraint stub, and a reference run through bastion::Generator.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "grammar/token_constraint.h"
#include "model/context.h"
#include "model/generator.h"
#include "synth/synth.h"
#include "test_util.h"

namespace bastion::engine {

// What one request heard back.
struct Outcome {
  std::vector<int32_t> tokens;
  std::string text;
  int n_text_events = 0;
  int n_final_events = 0;
  bool empty_text_event = false;  // a non-final event without text (must not happen)
  bool event_after_done = false;  // must not happen
  Event final;
};

// Collects a request's events; `hook` (optional) sees each text event first and decides whether
// to continue. Thread-safe: events arrive on the engine thread, the test reads on its own.
class Collector {
 public:
  std::function<bool(const Event&)> hook;

  std::function<bool(const Event&)> Callback() {
    return [this](const Event& e) {
      bool keep = true;
      if (!e.done && hook) keep = hook(e);
      std::lock_guard<std::mutex> lock(mu_);
      if (out_.n_final_events > 0) out_.event_after_done = true;
      out_.tokens.insert(out_.tokens.end(), e.tokens.begin(), e.tokens.end());
      out_.text += e.text;
      if (e.done) {
        ++out_.n_final_events;
        out_.final = e;
        cv_.notify_all();
      } else {
        ++out_.n_text_events;
        if (e.text.empty()) out_.empty_text_event = true;
      }
      return keep;
    };
  }

  // Waits for the final event (fails the test after `timeout`).
  Outcome Wait(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool ok = cv_.wait_for(lock, timeout, [&] { return out_.n_final_events > 0; });
    EXPECT_TRUE(ok) << "request did not finish in time";
    return out_;
  }
  bool Done() {
    std::lock_guard<std::mutex> lock(mu_);
    return out_.n_final_events > 0;
  }
  Outcome Snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return out_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  Outcome out_;
};

// Holds whoever calls Arrive() until Open(); the test waits for the arrival first.
class Gate {
 public:
  void Arrive() {
    std::unique_lock<std::mutex> lock(mu_);
    arrived_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void WaitArrived() {
    std::unique_lock<std::mutex> lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, std::chrono::seconds(60), [&] { return arrived_; }));
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool arrived_ = false, open_ = false;
};

// Allows exactly `sequence`, one token at a time; Complete() once all of it was accepted, and
// end-of-generation tokens only then (as TokenConstraint says).
class ForcedSequence : public grammar::TokenConstraint {
 public:
  ForcedSequence(std::vector<int32_t> sequence, const Tokenizer& tokenizer)
      : sequence_(std::move(sequence)), tokenizer_(tokenizer) {}
  bool Allows(int32_t token) override {
    if (Complete()) return tokenizer_.IsEndOfGeneration(token);
    return token == sequence_[pos_];
  }
  void Accept(int32_t token) override {
    ASSERT_FALSE(Complete());
    ASSERT_EQ(token, sequence_[pos_]);
    ++pos_;
  }
  bool Complete() const override { return pos_ == sequence_.size(); }

 private:
  std::vector<int32_t> sequence_;
  const Tokenizer& tokenizer_;
  size_t pos_ = 0;
};

// Allows nothing at all: a dead end from the first token.
class DeadEnd : public grammar::TokenConstraint {
 public:
  bool Allows(int32_t) override { return false; }
  void Accept(int32_t) override { ADD_FAILURE() << "nothing was allowed"; }
  bool Complete() const override { return false; }
};

class EngineTest : public ::testing::Test {
 protected:
  // F16 weights: batch composition then changes only float summation order, never int8 rounding
  // of activations (see tests/model/context_test.cc), so greedy outputs compare exactly.
  static void SetUpTestSuite() {
    const std::string dir = testing::TempDir("engine_test");
    SynthOptions o;
    o.preset = "tiny";
    o.file_type = FileType::kF16;
    o.n_threads = 2;
    ASSERT_TRUE(WriteSyntheticModel(o, dir + "/tiny-f16.gguf").ok());
    auto m = Model::Load(dir + "/tiny-f16.gguf");
    ASSERT_TRUE(m.ok()) << m.error().message();
    model_ = std::move(m).value().release();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }

  static EngineOptions Options(int n_slots = 4, int n_ctx = 256) {
    EngineOptions o;
    o.n_slots = n_slots;
    o.n_ctx = n_ctx;
    o.n_threads = 2;
    o.max_queue = 64;
    o.prefill_chunk = 512;
    return o;
  }
  static std::unique_ptr<Engine> NewEngine(const EngineOptions& o) {
    auto e = Engine::Create(*model_, o);
    EXPECT_TRUE(e.ok()) << e.error().message();
    return std::move(e).value();
  }

  static GenerationParams Greedy(int max_tokens, bool ignore_eos = true) {
    GenerationParams p;
    p.sampling.temperature = 0.0f;
    p.max_tokens = max_tokens;
    p.ignore_eos = ignore_eos;
    return p;
  }

  // A prompt of n ordinary tokens, distinct for each seed from the first token on.
  static std::vector<int32_t> Prompt(int n, int seed) {
    std::vector<int32_t> p(n);
    for (int i = 0; i < n; ++i) p[i] = 3 + (seed * 131 + i * 977 + (i * i) % 89) % 3500;
    return p;
  }

  static Request MakeRequest(std::vector<int32_t> prompt, GenerationParams params, Collector* c) {
    Request r;
    r.prompt = std::move(prompt);
    r.params = std::move(params);
    if (c != nullptr) r.on_event = c->Callback();
    return r;
  }

  static uint64_t SubmitOk(Engine& engine, Request request) {
    auto r = engine.Submit(std::move(request));
    if (auto* rej = std::get_if<Engine::Rejection>(&r)) {
      ADD_FAILURE() << "rejected: " << rej->message;
      return 0;
    }
    return std::get<uint64_t>(r);
  }

  static Outcome RunAlone(Engine& engine, const std::vector<int32_t>& prompt, const GenerationParams& params) {
    Collector c;
    SubmitOk(engine, MakeRequest(prompt, params, &c));
    return c.Wait();
  }

  // The CLI's single-sequence loop on a fresh context: the reference the engine must match.
  static GenerationResult RunGenerator(const std::vector<int32_t>& prompt, const GenerationParams& params,
                                       int n_ctx = 256) {
    ContextOptions o;
    o.n_ctx = n_ctx;
    o.n_slots = 1;
    o.n_threads = 2;
    auto ctx = InferenceContext::Create(*model_, o);
    EXPECT_TRUE(ctx.ok());
    Generator gen(**ctx);
    auto r = gen.Generate(prompt, params, nullptr);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return std::move(r).value();
  }

  static inline Model* model_ = nullptr;
};

}  // namespace bastion::engine
