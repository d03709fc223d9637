// Engine::Impl: the state the engine thread owns (slots, running sequences, the batch being built)
// and the state it shares with I/O threads (the queue, cancellations, metrics) under one mutex.
//
// engine.cc holds the thread-facing half (Submit, Cancel, Shutdown, GetMetrics, the loop);
// engine_step.cc the scheduling half (admission, the batched step, sampling, finishing).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "model/context.h"
#include "model/sampler.h"
#include "model/stop_matcher.h"
#include "tokenizer/streaming_decoder.h"

namespace bastion::engine {

using Clock = std::chrono::steady_clock;

// One request from Submit to its final event.
struct Sequence {
  Sequence(uint64_t id, Request request, const Tokenizer& tokenizer);

  uint64_t id;
  Request req;
  Sampler sampler;
  StreamingDecoder decoder;
  StopMatcher stops;
  std::function<bool(int32_t)> filter;  // the constraint as a Sampler filter (empty if none)
  Event event;                          // reused for every callback (keeps its buffers)

  int slot = -1;
  int prompt_done = 0;       // prompt tokens the slot holds
  int generated = 0;
  int32_t next_token = -1;   // sampled, to be evaluated in the next step (decoding)

  Clock::time_point submitted, admitted, first_token;
  bool has_first_token = false;
  uint64_t admit_order = 0;  // for the prefill starvation guard
  RequestStats stats;

  bool prefilling() const { return prompt_done < static_cast<int>(req.prompt.size()); }
};

// A KV cache slot. `tokens` is exactly what the slot's cache holds (between steps), so an idle
// slot is a prefix-cache entry.
struct Slot {
  std::vector<int32_t> tokens;
  std::unique_ptr<Sequence> seq;  // nullptr = idle
  uint64_t last_used = 0;
};

class Engine::Impl {
 public:
  Impl(const Model& model, const EngineOptions& options, std::unique_ptr<InferenceContext> ctx);
  ~Impl();

  std::variant<uint64_t, Rejection> Submit(Request request);
  void Cancel(uint64_t id);
  void Shutdown(std::chrono::milliseconds deadline);
  Metrics GetMetrics() const;

  const Model& model() const { return model_; }
  const EngineOptions& options() const { return options_; }

  void Start();

 private:
  // --- engine thread (engine.cc) ---
  void Loop();
  // Under mu_: publish gauges, take cancellations and the requests that fit in free slots.
  // Returns false when the loop should end.
  bool TakeWork(std::vector<std::unique_ptr<Sequence>>* admit,
                std::vector<std::unique_ptr<Sequence>>* dropped, std::vector<uint64_t>* cancels,
                bool* cancel_all);

  // Under mu_: queue depth, active slots, KV cells, forward passes.
  void PublishGaugesLocked(int being_admitted);

  // --- engine thread (engine_step.cc) ---
  void Admit(std::unique_ptr<Sequence> seq);
  // One batched forward pass and what follows it; false when nothing was running.
  bool Step();
  // Samples the next token of every sequence in draws_ (-1: nothing allowed / NaN logits).
  void DrawTokens();
  // Appends a sampled token to its sequence and handles what it ends (EOG, stop strings,
  // max_tokens, a full context, a cancelling callback).
  void HandleToken(Sequence& seq, int32_t id);
  // Sends the final event, records stats and frees the slot (its tokens stay cached).
  void Finish(Sequence& seq, FinishReason reason, const std::string& error = {});
  // Finishes a sequence that never got a slot.
  void FinishQueued(std::unique_ptr<Sequence> seq, FinishReason reason);
  // Sends the pending text event; false when the callback asked to cancel.
  bool Emit(Sequence& seq);
  void FillFinalStats(Sequence& seq, Clock::time_point now);
  // Counters and histogram samples of a finished request; frees its slot for Submit's count.
  void RecordFinished(const Sequence& seq, bool had_slot);
  void CancelRunning(uint64_t id);
  void CancelAll();

  const Model& model_;
  const EngineOptions options_;
  const int n_vocab_;
  std::unique_ptr<InferenceContext> ctx_;

  // Engine-thread state.
  std::vector<Slot> slots_;
  int n_running_ = 0;
  uint64_t use_clock_ = 0;       // LRU stamps for slots
  uint64_t admit_clock_ = 0;
  std::vector<SequenceInput> inputs_;   // the batch being built
  std::vector<Sequence*> input_seq_;    // owner of each input
  std::vector<Sequence*> prefill_order_;
  std::vector<int> grant_, order_;      // prefill tokens granted per prefilling sequence
  std::vector<float> logits_;
  struct Draw {
    Sequence* seq;
    const float* logits;  // its row in logits_
    int32_t token;
  };
  std::vector<Draw> draws_;             // sequences sampling this step
  // Finished sequences are parked here until the step is over, so nothing that still holds a
  // Sequence& sees it destroyed.
  std::vector<std::unique_ptr<Sequence>> retired_;
  uint64_t forward_passes_ = 0;
  std::thread thread_;

  // Shared with I/O threads, under mu_.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Sequence>> queue_;
  std::vector<uint64_t> cancels_;
  int free_slots_ = 0;           // slots without a running sequence
  uint64_t next_id_ = 1;
  bool shutting_down_ = false;
  bool exited_ = false;          // the loop has ended: Cancel has nothing to reach
  Clock::time_point deadline_;
  Metrics metrics_;              // gauges refreshed every step; histogram rings below
  size_t ttft_next_ = 0, tps_next_ = 0;

  std::mutex shutdown_mu_;       // serializes Shutdown's join
};

}  // namespace bastion::engine
