// Engine scheduling (engine thread only): admission into slots with prefix reuse, building and
// running one batched step, per-sequence sampling / stop handling / streaming, and finishing.
//
// Per-sequence semantics follow Generator (model/generator.cc) exactly: penalties see every token
// the slot holds (prompt + generated), an end-of-generation token ends the request unless
// ignore_eos, text passes through the streaming decoder and the stop matcher, a slot that reaches
// n_ctx ends it with kLength, and so does max_tokens (checked right after the token that reaches
// it, which saves Generator's last, unused forward pass but yields the same output).
#include <algorithm>
#include <string>

#include "base/check.h"
#include "engine/engine_impl.h"

namespace bastion::engine {
namespace {

// Share of the prefill budget always given to the longest-waiting prefilling sequence (1/4):
// shortest-remaining-first alone would let a stream of short prompts starve a long one.
constexpr int kOldestShareDivisor = 4;

uint64_t Nanos(Clock::duration d) {
  return static_cast<uint64_t>(std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
}

int CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return static_cast<int>(i);
}

}  // namespace

// ---- admission ----

void Engine::Impl::Admit(std::unique_ptr<Sequence> seq) {
  const std::vector<int32_t>& prompt = seq->req.prompt;
  // At least the last prompt token is evaluated again, so that its logits exist.
  const int cap = static_cast<int>(prompt.size()) - 1;

  // The free slot sharing the longest prefix; ties go to the least recently used, so the caches
  // that were useful lately survive longest.
  int best = -1, best_common = -1;
  for (int s = 0; s < static_cast<int>(slots_.size()); ++s) {
    if (slots_[s].seq) continue;
    const int common = std::min(cap, CommonPrefix(slots_[s].tokens, prompt));
    if (common > best_common || (common == best_common && slots_[s].last_used < slots_[best].last_used)) {
      best = s;
      best_common = common;
    }
  }
  BASTION_CHECK(best >= 0);  // TakeWork only admits into free slots
  Slot& slot = slots_[best];

  // A busy slot may hold more of this prompt (a conversation continuing while an earlier turn is
  // still streaming, or a shared system prompt): copying its cache rows costs a memcpy of
  // ~12 KiB per position for a 0.5B model, recomputing them a forward pass.
  int source = -1, source_common = best_common;
  if (options_.min_copy_prefix > 0) {
    for (int s = 0; s < static_cast<int>(slots_.size()); ++s) {
      if (s == best) continue;
      const int common = std::min(cap, CommonPrefix(slots_[s].tokens, prompt));
      if (common >= best_common + options_.min_copy_prefix && common > source_common) {
        source = s;
        source_common = common;
      }
    }
  }
  if (source >= 0) {
    ctx_->CopySlotPrefix(source, best, source_common);
    slot.tokens.assign(slots_[source].tokens.begin(), slots_[source].tokens.begin() + source_common);
    best_common = source_common;
  } else {
    ctx_->TruncateSlot(best, best_common);
    slot.tokens.resize(static_cast<size_t>(best_common));
  }
  BASTION_CHECK(ctx_->SlotLength(best) == static_cast<int>(slot.tokens.size()));

  seq->slot = best;
  seq->prompt_done = best_common;
  seq->stats.prompt_tokens = static_cast<int>(prompt.size());
  seq->stats.cached_tokens = best_common;
  seq->admitted = Clock::now();
  seq->admit_order = ++admit_clock_;
  slot.last_used = ++use_clock_;
  slot.seq = std::move(seq);
  ++n_running_;
}

// ---- one step ----

bool Engine::Impl::Step() {
  if (n_running_ == 0) return false;
  inputs_.clear();
  input_seq_.clear();
  prefill_order_.clear();

  // Decoding sequences: one token each, always (that is what keeps streams flowing while a long
  // prompt is being prefilled).
  for (int s = 0; s < static_cast<int>(slots_.size()); ++s) {
    Slot& slot = slots_[s];
    Sequence* seq = slot.seq.get();
    if (seq == nullptr) continue;
    if (seq->prefilling()) {
      prefill_order_.push_back(seq);
      continue;
    }
    slot.tokens.push_back(seq->next_token);
    inputs_.push_back({s, std::span<const int32_t>(&slot.tokens.back(), 1), LogitsMode::kLast});
    input_seq_.push_back(seq);
  }

  // Prefilling sequences share prefill_chunk tokens: the longest-waiting one gets a guaranteed
  // quarter, then shortest remaining prompt first (it minimizes the mean time to first token).
  if (!prefill_order_.empty()) {
    int budget = options_.prefill_chunk;
    auto remaining = [](const Sequence* q) { return static_cast<int>(q->req.prompt.size()) - q->prompt_done; };
    std::vector<int>& grant = grant_;
    grant.assign(prefill_order_.size(), 0);
    if (prefill_order_.size() > 1) {
      size_t oldest = 0;
      for (size_t i = 1; i < prefill_order_.size(); ++i) {
        if (prefill_order_[i]->admit_order < prefill_order_[oldest]->admit_order) oldest = i;
      }
      grant[oldest] = std::min(remaining(prefill_order_[oldest]), std::max(1, budget / kOldestShareDivisor));
      budget -= grant[oldest];
    }
    order_.resize(prefill_order_.size());
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int>(i);
    std::sort(order_.begin(), order_.end(), [&](int a, int b) {
      const int ra = remaining(prefill_order_[a]), rb = remaining(prefill_order_[b]);
      return ra != rb ? ra < rb : prefill_order_[a]->admit_order < prefill_order_[b]->admit_order;
    });
    for (const int i : order_) {
      if (budget <= 0) break;
      const int extra = std::min(budget, remaining(prefill_order_[i]) - grant[i]);
      grant[i] += extra;
      budget -= extra;
    }
    for (size_t i = 0; i < prefill_order_.size(); ++i) {
      if (grant[i] == 0) continue;
      Sequence* seq = prefill_order_[i];
      Slot& slot = slots_[seq->slot];
      const auto chunk = std::span<const int32_t>(seq->req.prompt).subspan(seq->prompt_done, grant[i]);
      slot.tokens.insert(slot.tokens.end(), chunk.begin(), chunk.end());
      const bool last = seq->prompt_done + grant[i] == static_cast<int>(seq->req.prompt.size());
      inputs_.push_back({seq->slot, chunk, last ? LogitsMode::kLast : LogitsMode::kNone});
      input_seq_.push_back(seq);
    }
  }

  const Status st = ctx_->Evaluate(inputs_, &logits_);
  if (!st.ok()) {
    // Evaluate changed nothing; Submit validated token ids and the scheduler keeps every slot
    // within n_ctx, so this is unexpected — fail the batch rather than the process.
    for (size_t i = 0; i < inputs_.size(); ++i) {
      Slot& slot = slots_[inputs_[i].slot];
      slot.tokens.resize(static_cast<size_t>(ctx_->SlotLength(inputs_[i].slot)));
      Finish(*input_seq_[i], FinishReason::kStop, "inference failed: " + st.error().message());
    }
    return true;
  }
  ++forward_passes_;

  draws_.clear();
  size_t row = 0;
  for (size_t i = 0; i < inputs_.size(); ++i) {
    Sequence& seq = *input_seq_[i];
    if (seq.prefilling()) seq.prompt_done += static_cast<int>(inputs_[i].tokens.size());
    if (inputs_[i].logits != LogitsMode::kLast) continue;
    const float* logits = logits_.data() + row++ * static_cast<size_t>(n_vocab_);
    if (!seq.has_first_token) {  // the prompt is done: from here on it is generation time
      seq.has_first_token = true;
      seq.first_token = Clock::now();
    }
    if (seq.req.params.max_tokens == 0) {  // the prompt was only to be evaluated (warming a cache)
      Finish(seq, FinishReason::kLength);
      continue;
    }
    draws_.push_back({&seq, logits, -1});
  }
  DrawTokens();
  for (const Draw& d : draws_) HandleToken(*d.seq, d.token);
  return true;
}

void Engine::Impl::DrawTokens() {
  // Sampling is O(vocab) per sequence (copying and scanning 150k logits): with 8 streams that is
  // a few percent of a decode step on one core, so unconstrained sequences are sampled on the
  // pool. Constrained ones stay on this thread: a constraint may share caches between requests.
  ThreadPool& pool = ctx_->pool();
  auto draw = [this](Draw& d) {
    d.token = d.seq->sampler.Sample(std::span<const float>(d.logits, static_cast<size_t>(n_vocab_)),
                                    slots_[d.seq->slot].tokens, d.seq->filter);
  };
  size_t n_free = 0;
  for (const Draw& d : draws_) n_free += d.seq->filter ? 0 : 1;
  if (n_free >= 2 && pool.size() > 1) {
    auto job = [&](int ti) {
      const auto [b, e] = ThreadPool::Split(static_cast<int64_t>(draws_.size()), ti, pool.size());
      for (int64_t i = b; i < e; ++i) {
        if (!draws_[i].seq->filter) draw(draws_[i]);
      }
    };
    pool.Parallel(job);
  }
  for (Draw& d : draws_) {
    if (d.seq->filter || n_free < 2 || pool.size() == 1) draw(d);
  }
}

// ---- per-sequence sampling ----

void Engine::Impl::HandleToken(Sequence& seq, int32_t id) {
  const GenerationParams& params = seq.req.params;
  Slot& slot = slots_[seq.slot];
  grammar::TokenConstraint* constraint = seq.req.constraint.get();
  if (id < 0) {
    if (constraint != nullptr && constraint->Complete()) {
      Finish(seq, FinishReason::kStop);  // a complete value that admits nothing more
    } else if (constraint != nullptr) {
      Finish(seq, FinishReason::kStop, "the output constraint allows no next token");
    } else {
      Finish(seq, FinishReason::kStop, "the model produced no usable logits (NaN)");
    }
    return;
  }
  ++seq.generated;
  seq.event.tokens.push_back(id);

  // End of generation; ignore_eos cannot extend a structured value that is already complete.
  if (model_.tokenizer().IsEndOfGeneration(id) &&
      (!params.ignore_eos || (constraint != nullptr && constraint->Complete()))) {
    Finish(seq, FinishReason::kStop);
    return;
  }
  if (constraint != nullptr) constraint->Accept(id);

  seq.event.text += seq.stops.Push(seq.decoder.Push(id));
  if (!seq.event.text.empty() && !Emit(seq)) {
    Finish(seq, FinishReason::kCancelled);
    return;
  }
  if (seq.stops.stopped()) {
    Finish(seq, FinishReason::kStop);
    return;
  }
  if (static_cast<int>(slot.tokens.size()) >= ctx_->n_ctx()) {  // no room to evaluate this token
    Finish(seq, FinishReason::kLength);
    return;
  }
  // Generator would evaluate this token and then stop at the top of its loop; the result is the
  // same without spending a forward pass on logits nobody samples.
  if (params.max_tokens >= 0 && seq.generated >= params.max_tokens) {
    Finish(seq, FinishReason::kLength);
    return;
  }
  seq.next_token = id;
}

bool Engine::Impl::Emit(Sequence& seq) {
  seq.event.done = false;
  const bool keep_going = seq.req.on_event ? seq.req.on_event(seq.event) : true;
  seq.event.text.clear();
  seq.event.tokens.clear();
  return keep_going;
}

// ---- finishing ----

void Engine::Impl::FillFinalStats(Sequence& seq, Clock::time_point now) {
  RequestStats& st = seq.stats;
  st.prompt_tokens = static_cast<int>(seq.req.prompt.size());
  st.generated_tokens = seq.generated;
  const bool admitted = seq.slot >= 0;
  st.queue_ns = Nanos((admitted ? seq.admitted : now) - seq.submitted);
  st.prompt_ns = admitted ? Nanos((seq.has_first_token ? seq.first_token : now) - seq.admitted) : 0;
  st.generate_ns = seq.has_first_token ? Nanos(now - seq.first_token) : 0;
  st.total_ns = Nanos(now - seq.submitted);
  seq.event.stats = st;
}

void Engine::Impl::Finish(Sequence& seq, FinishReason reason, const std::string& error) {
  if (reason != FinishReason::kCancelled && error.empty() && !seq.stops.stopped()) {
    // Held-back bytes: an incomplete UTF-8 tail, or text that might have begun a stop string.
    seq.event.text += seq.stops.Push(seq.decoder.Flush());
    seq.event.text += seq.stops.Flush();
  }
  seq.event.done = true;
  seq.event.finish = reason;
  seq.event.error = error;
  FillFinalStats(seq, Clock::now());

  Slot& slot = slots_[seq.slot];
  BASTION_CHECK(slot.seq.get() == &seq);
  slot.last_used = ++use_clock_;
  retired_.push_back(std::move(slot.seq));  // the slot keeps its tokens: a prefix-cache entry
  --n_running_;
  // Metrics first, so a client that reads them after its final event sees its own request.
  RecordFinished(seq, /*had_slot=*/true);
  if (seq.req.on_event) seq.req.on_event(seq.event);
}

void Engine::Impl::FinishQueued(std::unique_ptr<Sequence> seq, FinishReason reason) {
  seq->event.done = true;
  seq->event.finish = reason;
  FillFinalStats(*seq, Clock::now());
  RecordFinished(*seq, /*had_slot=*/false);
  if (seq->req.on_event) seq->req.on_event(seq->event);
}

void Engine::Impl::CancelRunning(uint64_t id) {
  for (Slot& slot : slots_) {
    if (slot.seq && slot.seq->id == id) {
      Finish(*slot.seq, FinishReason::kCancelled);
      return;
    }
  }
  // Not running: finished already (or cancelled while queued, handled in TakeWork).
}

void Engine::Impl::CancelAll() {
  for (Slot& slot : slots_) {
    if (slot.seq) Finish(*slot.seq, FinishReason::kCancelled);
  }
}

}  // namespace bastion::engine
