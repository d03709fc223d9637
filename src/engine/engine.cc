// Engine: the thread-facing half — creation, Submit/Cancel/GetMetrics (called from I/O threads),
// Shutdown, and the engine thread's loop (take work under the lock, then step without it).
#include <algorithm>
#include <string>

#include "base/check.h"
#include "engine/engine_impl.h"

namespace bastion::engine {
namespace {

// Histogram samples kept for /metrics (the most recent ones).
constexpr size_t kMaxHistogramSamples = 10000;

void PushSample(std::vector<double>* ring, size_t* next, double value) {
  if (ring->size() < kMaxHistogramSamples) {
    ring->push_back(value);
  } else {
    (*ring)[*next % kMaxHistogramSamples] = value;
  }
  ++*next;
}

}  // namespace

// ---- Sequence ----

Sequence::Sequence(uint64_t id_in, Request request, const Tokenizer& tokenizer)
    : id(id_in),
      req(std::move(request)),
      sampler(req.params.sampling),
      decoder(tokenizer, /*render_special=*/false),
      stops(req.params.stop) {
  if (req.constraint) {
    grammar::TokenConstraint* c = req.constraint.get();
    filter = [c](int32_t token) { return c->Allows(token); };
  }
  submitted = Clock::now();
}

// ---- Engine (pimpl forwarding) ----

Result<std::unique_ptr<Engine>> Engine::Create(const Model& model, const EngineOptions& options) {
  if (options.n_slots < 1) return Error("the engine needs at least one slot, got " + std::to_string(options.n_slots));
  if (options.max_queue < 0) return Error("max_queue must be >= 0, got " + std::to_string(options.max_queue));
  if (options.prefill_chunk < 1) {
    return Error("prefill_chunk must be >= 1, got " + std::to_string(options.prefill_chunk));
  }
  ContextOptions co;
  co.n_ctx = options.n_ctx;
  co.n_slots = options.n_slots;
  co.kv_type = options.kv_type;
  co.n_threads = options.n_threads;
  co.simd = options.simd;
  // One step = one forward piece: a full prefill chunk plus a decode token from every slot.
  co.n_ubatch = std::clamp(options.prefill_chunk + options.n_slots, 512, 8192);
  BASTION_ASSIGN_OR_RETURN(auto ctx, InferenceContext::Create(model, co));
  auto impl = std::make_unique<Impl>(model, options, std::move(ctx));
  impl->Start();
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

std::variant<uint64_t, Engine::Rejection> Engine::Submit(Request request) {
  return impl_->Submit(std::move(request));
}
void Engine::Cancel(uint64_t id) { impl_->Cancel(id); }
void Engine::Shutdown(std::chrono::milliseconds deadline) { impl_->Shutdown(deadline); }
Metrics Engine::GetMetrics() const { return impl_->GetMetrics(); }
const Model& Engine::model() const { return impl_->model(); }
const EngineOptions& Engine::options() const { return impl_->options(); }

// ---- Impl: threads ----

Engine::Impl::Impl(const Model& model, const EngineOptions& options, std::unique_ptr<InferenceContext> ctx)
    : model_(model), options_(options), n_vocab_(model.config().n_vocab), ctx_(std::move(ctx)) {
  slots_.resize(options_.n_slots);
  // Spans into these vectors go into the batch; reserving the whole context means they never
  // reallocate (and the memory is tiny: 4 bytes per position).
  for (Slot& slot : slots_) slot.tokens.reserve(ctx_->n_ctx());
  free_slots_ = options_.n_slots;
  metrics_.n_slots = options_.n_slots;
  metrics_.kv_cells_total = options_.n_slots * ctx_->n_ctx();
}

Engine::Impl::~Impl() { Shutdown(std::chrono::milliseconds(0)); }

void Engine::Impl::Start() {
  thread_ = std::thread([this] { Loop(); });
}

std::variant<uint64_t, Engine::Rejection> Engine::Impl::Submit(Request request) {
  auto reject = [](SubmitError code, std::string message) { return Rejection{code, std::move(message)}; };
  if (request.prompt.empty()) return reject(SubmitError::kInvalid, "the prompt is empty");
  for (const int32_t id : request.prompt) {
    if (id < 0 || id >= n_vocab_) {
      return reject(SubmitError::kInvalid, "token id " + std::to_string(id) + " out of range (vocabulary has " +
                                               std::to_string(n_vocab_) + " tokens)");
    }
  }
  if (Status st = request.params.sampling.Validate(); !st.ok()) {
    return reject(SubmitError::kInvalid, st.error().message());
  }
  const int n_ctx = ctx_->n_ctx();
  const int n_prompt = static_cast<int>(request.prompt.size());
  // A prompt that fills the context leaves no position for what is generated after it.
  if (n_prompt > n_ctx - 1) {
    if (!request.truncate) {
      return reject(SubmitError::kPromptTooLong, "the prompt has " + std::to_string(n_prompt) +
                                                     " tokens but the context holds " + std::to_string(n_ctx) +
                                                     " (at most " + std::to_string(n_ctx - 1) + " fit)");
    }
    // Keep the end: it holds the question and the generation prompt; half the context stays free
    // for the answer.
    const int keep = std::max(1, n_ctx / 2);
    request.prompt.erase(request.prompt.begin(), request.prompt.end() - keep);
  }

  auto seq = std::make_unique<Sequence>(0, std::move(request), model_.tokenizer());
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_) return reject(SubmitError::kShuttingDown, "the server is shutting down");
  // Requests in queue_ first fill the free slots; only those beyond wait.
  const int waiting = static_cast<int>(queue_.size()) - free_slots_;
  if (waiting >= options_.max_queue) {
    ++metrics_.requests_rejected;
    return reject(SubmitError::kQueueFull, "too many requests are waiting (" +
                                               std::to_string(options_.max_queue) + " queued)");
  }
  const uint64_t id = next_id_++;
  seq->id = id;
  queue_.push_back(std::move(seq));
  ++metrics_.requests_total;
  metrics_.queue_depth = static_cast<int>(queue_.size());
  cv_.notify_one();
  return id;
}

void Engine::Impl::Cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (exited_) return;
  cancels_.push_back(id);
  cv_.notify_one();
}

void Engine::Impl::Shutdown(std::chrono::milliseconds deadline) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const Clock::time_point at = Clock::now() + deadline;
    if (!shutting_down_ || at < deadline_) deadline_ = at;
    shutting_down_ = true;
    cv_.notify_one();
  }
  // From a callback (the engine thread itself) there is nothing to wait for: the loop sees the
  // flag after the current step.
  if (std::this_thread::get_id() == thread_.get_id()) return;
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (thread_.joinable()) thread_.join();
}

Metrics Engine::Impl::GetMetrics() const {
  std::lock_guard<std::mutex> lock(mu_);
  return metrics_;
}

void Engine::Impl::Loop() {
  std::vector<std::unique_ptr<Sequence>> admit, dropped;
  std::vector<uint64_t> cancels;
  for (;;) {
    admit.clear();
    dropped.clear();
    cancels.clear();
    bool cancel_all = false;
    const bool go_on = TakeWork(&admit, &dropped, &cancels, &cancel_all);
    for (auto& seq : dropped) FinishQueued(std::move(seq), FinishReason::kCancelled);
    for (const uint64_t id : cancels) CancelRunning(id);
    if (cancel_all) CancelAll();
    for (auto& seq : admit) Admit(std::move(seq));
    retired_.clear();
    if (!go_on) break;
    Step();
    retired_.clear();
  }
  std::lock_guard<std::mutex> lock(mu_);
  metrics_.active_slots = 0;
  metrics_.queue_depth = 0;
}

bool Engine::Impl::TakeWork(std::vector<std::unique_ptr<Sequence>>* admit,
                            std::vector<std::unique_ptr<Sequence>>* dropped, std::vector<uint64_t>* cancels,
                            bool* cancel_all) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (shutting_down_ && Clock::now() >= deadline_) {
      // Out of time: everything still queued or running ends as cancelled.
      while (!queue_.empty()) {
        dropped->push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      *cancel_all = true;
      exited_ = true;
      return false;
    }
    if (!cancels_.empty() || n_running_ > 0 || !queue_.empty()) break;
    if (shutting_down_) {  // idle and nothing can arrive any more
      exited_ = true;
      return false;
    }
    cv_.wait(lock);  // idle: sleep until Submit, Cancel or Shutdown
  }

  cancels->swap(cancels_);  // cancels_ takes the (empty) buffer: no allocation per step
  for (const uint64_t id : *cancels) {
    auto it = std::find_if(queue_.begin(), queue_.end(), [id](const auto& s) { return s->id == id; });
    if (it != queue_.end()) {
      dropped->push_back(std::move(*it));
      queue_.erase(it);
    }
  }
  while (!queue_.empty() && free_slots_ > 0) {
    admit->push_back(std::move(queue_.front()));
    queue_.pop_front();
    --free_slots_;
  }

  PublishGaugesLocked(static_cast<int>(admit->size()));
  return true;
}

void Engine::Impl::PublishGaugesLocked(int being_admitted) {
  int cells = 0;
  for (const Slot& slot : slots_) cells += static_cast<int>(slot.tokens.size());
  metrics_.queue_depth = static_cast<int>(queue_.size());
  metrics_.active_slots = n_running_ + being_admitted;
  metrics_.kv_cells_used = cells;
  metrics_.forward_passes_total = forward_passes_;
}

// Called by Finish/FinishQueued (engine thread) to record a finished request.
void Engine::Impl::RecordFinished(const Sequence& seq, bool had_slot) {
  std::lock_guard<std::mutex> lock(mu_);
  if (had_slot) ++free_slots_;
  const RequestStats& st = seq.stats;
  metrics_.prompt_tokens_total += static_cast<uint64_t>(st.prompt_tokens);
  metrics_.cached_prompt_tokens_total += static_cast<uint64_t>(st.cached_tokens);
  metrics_.generated_tokens_total += static_cast<uint64_t>(st.generated_tokens);
  PublishGaugesLocked(0);
  if (st.generated_tokens > 0) {
    PushSample(&metrics_.ttft_seconds, &ttft_next_, static_cast<double>(st.queue_ns + st.prompt_ns) * 1e-9);
  }
  if (st.generated_tokens > 1 && st.generate_ns > 0) {
    PushSample(&metrics_.tokens_per_second, &tps_next_,
               (st.generated_tokens - 1) / (static_cast<double>(st.generate_ns) * 1e-9));
  }
}

}  // namespace bastion::engine
