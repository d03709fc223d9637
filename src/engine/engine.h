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
//
// Scheduling policy (engine_step.cc has the details and the reasons):
//   admission  FIFO; each request takes the free slot whose cached tokens share the longest prefix
//              with its prompt (ties: least recently used), and may copy a longer prefix from a
//              busy slot's KV cache instead of recomputing it (min_copy_prefix).
//   batching   every step is one InferenceContext::Evaluate: one token per decoding sequence plus
//              at most prefill_chunk prompt tokens shared by the prefilling ones (shortest
//              remaining prompt first; the longest-waiting one always gets a quarter of the
//              budget so it cannot starve), so running streams keep getting a token every step.
//   truncation a prompt longer than n_ctx - 1 is refused, or with Request::truncate keeps its
//              last n_ctx / 2 tokens (room to generate; the end of a prompt matters most).
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
  // Copy a busy slot's KV prefix into a new request's slot when it covers at least this many more
  // prompt tokens than the best idle slot holds (a memcpy of the cache is far cheaper than
  // recomputing the tokens); <= 0 disables copying.
  int min_copy_prefix = 32;
  SimdLevel simd = DetectSimdLevel();
};

// Timings in nanoseconds, as the Ollama API reports them.
struct RequestStats {
  int prompt_tokens = 0;      // tokens in the prompt (after truncation)
  int cached_tokens = 0;      // of which reused from the prefix cache
  int generated_tokens = 0;
  uint64_t queue_ns = 0;      // submit -> admitted to a slot
  uint64_t prompt_ns = 0;     // admitted -> first token sampled (prefill)
  uint64_t generate_ns = 0;   // first token -> done
  uint64_t total_ns = 0;      // submit -> done
};

// What a request hears back, in order: zero or more text events (never with empty text), then
// exactly one final event (done = true; it may carry the last text). A request whose callback
// returned false still gets its final event, with kCancelled.
struct Event {
  std::string text;           // new text (valid UTF-8, never part of a stop string)
  std::vector<int32_t> tokens;  // the tokens that produced it (and any that produced no text)
  bool done = false;
  FinishReason finish = FinishReason::kStop;  // when done
  // When done because of an error (finish is then kStop): a structured-output constraint that
  // allows no token while its value is incomplete, or a model that produced NaN logits.
  std::string error;
  RequestStats stats;         // complete when done
};

struct Request {
  std::vector<int32_t> prompt;
  GenerationParams params;    // sampling, max_tokens, stop strings, ignore_eos
  std::shared_ptr<grammar::TokenConstraint> constraint;  // nullptr = unconstrained
  // Prompts longer than the context: false = refuse (Submit fails), true = keep the last part.
  bool truncate = false;
  // Called on the engine thread; returning false cancels the request. May be empty. Must not
  // block, throw, or call Shutdown (Submit and Cancel are fine).
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
  int kv_cells_used = 0;            // positions held by all slots (idle ones keep their prefix)
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

  // Queues a request. Fails at once (nothing is called back) when more than max_queue requests
  // would wait for a slot (kQueueFull), the prompt is longer than n_ctx - 1 tokens and truncation
  // was not asked for (kPromptTooLong), the prompt is empty, has a token outside the vocabulary
  // or the sampling parameters are out of range (kInvalid), or after Shutdown (kShuttingDown).
  // Returns an id usable with Cancel.
  std::variant<uint64_t, Rejection> Submit(Request request);
  // Cancels a queued or running request; its final event reports kCancelled.
  void Cancel(uint64_t id);

  // Stops accepting requests; keeps serving running and queued ones for up to `deadline`, then
  // cancels the rest and joins the engine thread. Safe to call more than once and from several
  // threads (a later call can only shorten the deadline).
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
