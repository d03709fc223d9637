// Engine: the one thread that owns the model's inference state and serves generation requests
// with continuous batching.
//
// Requests arrive already tokenized (the API layer renders templates and tokenizes). The engine
// thread loops: admit queued requests into free sequence slots (reusing the longest cached
// prompt prefix any idle slot holds), then run ONE batched forward pass that advances every live
// sequence — a chunk of prompt for those still prefilling, one token for those decoding — then
// sample, detokenize, check stops, and hand each sequence's new text to its callback. New
// requests join between steps; a cancelled request (client gone) frees its slot at the next step.
// Callbacks run on the engine thread and must not block.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"
#include "model/generator.h"
#include "grammar/token_constraint.h"
#include "model/model.h"

namespace bastion::engine {

struct EngineOptions {
  int n_slots = 4;           // sequences decoded together (and prefix-cache entries)
  int n_ctx = 4096;          // positions per slot
  int n_threads = 0;         // 0 = all cores
  GgmlType kv_type = GgmlType::kF16;
  int max_queue = 64;        // waiting requests beyond the slots; more are refused (503)
  int prefill_chunk = 512;   // prompt tokens per forward pass (shared by all prefilling slots)
  SimdLevel simd = DetectSimdLevel();
};

// Timings in nanoseconds, as the Ollama API reports them.
struct RequestStats {
  int prompt_tokens = 0;      // tokens in the prompt
  int cached_tokens = 0;      // of which reused from the prefix cache
  int generated_tokens = 0;
  uint64_t queue_ns = 0;      // submit -> admitted to a slot
  uint64_t prompt_ns = 0;     // admitted -> first token sampled (prefill)
  uint64_t generate_ns = 0;   // first token -> done
  uint64_t total_ns = 0;      // submit -> done
};

// What a request hears back, in order: zero or more text events, then one final event.
struct Event {
  std::string text;           // new text (valid UTF-8, never part of a stop string)
  std::vector<int32_t> tokens;  // the tokens that produced it
  bool done = false;
  FinishReason finish = FinishReason::kStop;  // when done
  std::string error;          // when done because of an error (e.g. context overflow mid-way)
  RequestStats stats;         // complete when done
};

struct Request {
  std::vector<int32_t> prompt;
  GenerationParams params;    // sampling, max_tokens, stop strings, ignore_eos
  std::shared_ptr<grammar::TokenConstraint> constraint;  // nullptr = unconstrained
  // Prompts longer than the context: false = refuse (Submit fails), true = keep the last part.
  bool truncate = false;
  // Called on the engine thread; returning false cancels the request.
  std::function<bool(const Event&)> on_event;
};

struct Metrics {
  uint64_t requests_total = 0;
  uint64_t requests_rejected = 0;   // queue full
  uint64_t prompt_tokens_total = 0;
  uint64_t cached_prompt_tokens_total = 0;
  uint64_t generated_tokens_total = 0;
  int queue_depth = 0;
  int active_slots = 0;
  int n_slots = 0;
  int kv_cells_used = 0;            // positions held by all slots
  int kv_cells_total = 0;
  uint64_t forward_passes_total = 0;
  // Histogram samples since start (bucketed by the /metrics writer).
  std::vector<double> ttft_seconds;          // bounded: the last 10k requests
  std::vector<double> tokens_per_second;     // per finished request, decode phase
};

class Engine {
 public:
  enum class SubmitError { kQueueFull, kPromptTooLong, kInvalid, kShuttingDown };
  struct Rejection {
    SubmitError code;
    std::string message;
  };

  static Result<std::unique_ptr<Engine>> Create(const Model& model, const EngineOptions& options);
  ~Engine();  // stops the engine thread (cancelling what is left)

  // Queues a request. Fails at once (nothing is called back) when the queue is full, the
  // prompt does not fit and truncation was not asked for, or parameters are invalid.
  // Returns an id usable with Cancel.
  std::variant<uint64_t, Rejection> Submit(Request request);
  // Cancels a queued or running request; its final event reports kCancelled.
  void Cancel(uint64_t id);

  // Stops admitting requests; waits up to `deadline` for running and queued ones to finish,
  // then cancels the rest. Safe to call more than once.
  void Shutdown(std::chrono::milliseconds deadline);

  Metrics GetMetrics() const;
  const Model& model() const;
  const EngineOptions& options() const;

 private:
  class Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bastion::engine
