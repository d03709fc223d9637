// InferenceContext: batching of inputs into pieces, and the Qwen2 forward pass of one piece.
#include "model/context.h"

#include <algorithm>
#include <cstring>

#include "base/check.h"
#include "kernels/weight_layout.h"
#include "quant/quantize.h"

namespace bastion {
namespace {

// Below this many tokens the element-wise steps run on the calling thread: waking the pool
// costs more than the work (decode has T = 1).
constexpr int kParallelElementwiseTokens = 4;

// Moves rows `rows` (ascending token indices) of the per-token buffers q (q_dim wide) and x (C
// wide) to rows 0, 1, ... and returns their attention segments: moved rows of one slot at
// consecutive positions share one, positions as before, so causal attention over the cache gives
// each row the same keys as in its original segment. `rows` becomes 0, 1, ....
std::vector<Segment> MoveRowsToFront(std::span<int> rows, std::span<const int> tok_slot, std::span<const int> tok_pos,
                                     float* q, int q_dim, float* x, int C) {
  std::vector<Segment> segments;
  for (size_t i = 0; i < rows.size(); ++i) {
    const int t = rows[i];
    const int dst = static_cast<int>(i);
    if (t != dst) {  // rows[i] >= i: moving to the front never overwrites a row still needed
      std::copy_n(q + static_cast<size_t>(t) * q_dim, q_dim, q + i * static_cast<size_t>(q_dim));
      std::copy_n(x + static_cast<size_t>(t) * C, C, x + i * static_cast<size_t>(C));
    }
    Segment* back = segments.empty() ? nullptr : &segments.back();
    if (back != nullptr && back->slot == tok_slot[t] && back->pos0 + back->n_tokens == tok_pos[t]) {
      ++back->n_tokens;
    } else {
      segments.push_back({tok_slot[t], dst, 1, tok_pos[t]});
    }
  }
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int>(i);
  return segments;
}

}  // namespace

InferenceContext::InferenceContext(const Model& model, ContextOptions options)
    : model_(model),
      options_(options),
      pool_(std::make_unique<ThreadPool>(options.n_threads)),
      matmul_(*pool_, options.simd),
      attention_(model.config(), options.simd),
      ops_(&GetVecOps(options.simd)) {}

Result<std::unique_ptr<InferenceContext>> InferenceContext::Create(const Model& model,
                                                                   ContextOptions options) {
  const ModelConfig& cfg = model.config();
  if (options.n_threads <= 0) options.n_threads = DefaultThreadCount();
  if (options.n_ctx <= 0) return Error("context size must be positive, got " + std::to_string(options.n_ctx));
  if (cfg.n_ctx_train > 0 && options.n_ctx > cfg.n_ctx_train) {
    return Error("context size " + std::to_string(options.n_ctx) + " exceeds the model's training context " +
                 std::to_string(cfg.n_ctx_train));
  }
  if (options.n_slots <= 0) return Error("need at least one sequence slot");
  options.n_ubatch = std::clamp(options.n_ubatch, 1, 8192);
  // Every weight is read on every token: ask the kernel to page the file in ahead of use.
  model.gguf().mapped_file().AdviseWillNeed();
  auto ctx = std::unique_ptr<InferenceContext>(new InferenceContext(model, options));
  BASTION_ASSIGN_OR_RETURN(ctx->cache_, KvCache::Create(cfg.n_layer, cfg.kv_dim(), options.n_ctx,
                                                        options.n_slots, options.kv_type, options.simd));
  return ctx;
}

void InferenceContext::TruncateSlot(int slot, int n) {
  BASTION_CHECK(slot >= 0 && slot < options_.n_slots);
  cache_->set_length(slot, std::clamp(n, 0, cache_->length(slot)));
}

void InferenceContext::CopySlotPrefix(int from, int to, int n) {
  BASTION_CHECK(n <= cache_->length(from));
  cache_->CopyPrefix(from, to, n);
  cache_->set_length(to, n);
}

Status InferenceContext::Evaluate(int slot, std::span<const int32_t> tokens, LogitsMode mode,
                                  std::vector<float>* logits) {
  const SequenceInput input{slot, tokens, mode};
  return Evaluate(std::span<const SequenceInput>(&input, 1), logits);
}

Status InferenceContext::Evaluate(std::span<const SequenceInput> inputs, std::vector<float>* logits) {
  const ModelConfig& cfg = model_.config();
  // Validate everything before touching any state.
  std::vector<int> added(options_.n_slots, 0);
  for (const SequenceInput& in : inputs) {
    if (in.slot < 0 || in.slot >= options_.n_slots) {
      return Error("sequence slot " + std::to_string(in.slot) + " out of range (have " +
                   std::to_string(options_.n_slots) + ")");
    }
    for (const int32_t id : in.tokens) {
      if (id < 0 || id >= cfg.n_vocab) {
        return Error("token id " + std::to_string(id) + " out of range (vocabulary has " +
                     std::to_string(cfg.n_vocab) + " tokens)");
      }
    }
    added[in.slot] += static_cast<int>(in.tokens.size());
  }
  for (int s = 0; s < options_.n_slots; ++s) {
    if (cache_->length(s) + added[s] > options_.n_ctx) {
      return Error("context full: " + std::to_string(cache_->length(s)) + " + " + std::to_string(added[s]) +
                   " tokens exceed the context size " + std::to_string(options_.n_ctx));
    }
  }
  if (logits != nullptr) logits->clear();

  // Cut the concatenated inputs into pieces of at most n_ubatch tokens.
  std::vector<int32_t> tokens;
  std::vector<Segment> segments;
  std::vector<uint8_t> want;
  auto flush = [&] {
    if (tokens.empty()) return;
    ForwardPiece(tokens, segments, want, logits);
    for (const Segment& seg : segments) cache_->set_length(seg.slot, seg.pos0 + seg.n_tokens);
    tokens.clear();
    segments.clear();
    want.clear();
  };
  for (const SequenceInput& in : inputs) {
    const int n = static_cast<int>(in.tokens.size());
    int done = 0;
    while (done < n) {
      if (static_cast<int>(tokens.size()) == options_.n_ubatch) flush();
      const int room = options_.n_ubatch - static_cast<int>(tokens.size());
      const int take = std::min(room, n - done);
      // Position of this run: what the slot holds plus what earlier segments of this piece add.
      int pos0 = cache_->length(in.slot);
      for (const Segment& seg : segments) {
        if (seg.slot == in.slot) pos0 = seg.pos0 + seg.n_tokens;
      }
      segments.push_back({in.slot, static_cast<int>(tokens.size()), take, pos0});
      for (int i = 0; i < take; ++i) {
        const int idx = done + i;
        tokens.push_back(in.tokens[idx]);
        const bool last = idx == n - 1;
        want.push_back(in.logits == LogitsMode::kAll || (in.logits == LogitsMode::kLast && last));
      }
      done += take;
    }
  }
  flush();
  return OkStatus();
}

void InferenceContext::EnsureScratch(int n_tokens) {
  if (n_tokens <= scratch_tokens_) return;
  const ModelConfig& cfg = model_.config();
  const size_t t = static_cast<size_t>(n_tokens);
  x_.resize(t * cfg.n_embd);
  xn_.resize(t * cfg.n_embd);
  q_.resize(t * cfg.q_dim());
  k_.resize(t * cfg.kv_dim());
  v_.resize(t * cfg.kv_dim());
  att_.resize(t * cfg.q_dim());
  gate_.resize(t * cfg.n_ff);
  up_.resize(t * cfg.n_ff);
  rope_.resize(t * cfg.head_dim);
  scratch_tokens_ = n_tokens;
}

void InferenceContext::ForwardPiece(std::span<const int32_t> tokens, std::span<const Segment> segments,
                                    std::span<const uint8_t> want_logits, std::vector<float>* logits) {
  const ModelConfig& cfg = model_.config();
  const ModelWeights& w = model_.weights();
  const int T = static_cast<int>(tokens.size());
  // Tokens the remaining layers still work on: all of them until the last layer, which needs only
  // the rows whose logits somebody wants (see below).
  int n_active = T;
  const int C = cfg.n_embd;
  const int F = cfg.n_ff;
  const int q_dim = cfg.q_dim();
  const int kv_dim = cfg.kv_dim();
  EnsureScratch(T);

  // Per-token work, on the pool when there is enough of it.
  auto for_tokens = [&](auto&& fn) {
    if (n_active < kParallelElementwiseTokens) {
      for (int t = 0; t < n_active; ++t) fn(t);
      return;
    }
    auto job = [&](int ti) {
      const auto [b, e] = ThreadPool::Split(n_active, ti, pool_->size());
      for (int64_t t = b; t < e; ++t) fn(static_cast<int>(t));
    };
    pool_->Parallel(job);
  };

  // Slot and position of each token, and RoPE angles per token.
  std::vector<int> tok_slot(T), tok_pos(T);
  for (const Segment& seg : segments) {
    for (int i = 0; i < seg.n_tokens; ++i) {
      tok_slot[seg.token_begin + i] = seg.slot;
      tok_pos[seg.token_begin + i] = seg.pos0 + i;
    }
  }

  // Token embeddings (rows of token_embd, dequantized) and RoPE angles.
  for_tokens([&](int t) {
    const WeightMatrix& e = w.token_embd;
    DequantizeLayoutRow(e.layout, e.type, C, e.data, e.row_bytes, tokens[t], x_.data() + static_cast<size_t>(t) * C);
    RopeAngles(static_cast<float>(tok_pos[t]) * cfg.rope_freq_scale, cfg.head_dim, cfg.rope_freq_base,
               rope_.data() + static_cast<size_t>(t) * cfg.head_dim);
  });

  // Rows whose logits are wanted, in order.
  std::vector<int> rows;
  if (logits != nullptr) {
    for (int t = 0; t < T; ++t) {
      if (want_logits[t]) rows.push_back(t);
    }
  }
  std::vector<Segment> wanted_segments;  // the last layer's attention segments, when pruned

  for (int l = 0; l < cfg.n_layer; ++l) {
    const LayerWeights& lw = w.layers[l];
    const bool last_layer = l == cfg.n_layer - 1;

    // Attention block: xn = norm(x); q, k, v = xn W + b; rope; store k, v; attend; x += att Wo.
    for_tokens([&](int t) {
      ops_->rms_norm(x_.data() + static_cast<size_t>(t) * C, lw.attn_norm.data(), cfg.rms_norm_eps,
                     xn_.data() + static_cast<size_t>(t) * C, C);
    });
    const MatMulJob qkv[] = {{&lw.wq, q_.data(), q_dim}, {&lw.wk, k_.data(), kv_dim}, {&lw.wv, v_.data(), kv_dim}};
    matmul_.Run(xn_.data(), T, C, qkv);
    for_tokens([&](int t) {
      float* q = q_.data() + static_cast<size_t>(t) * q_dim;
      float* k = k_.data() + static_cast<size_t>(t) * kv_dim;
      float* v = v_.data() + static_cast<size_t>(t) * kv_dim;
      ops_->add(q, lw.bq.data(), q_dim);
      ops_->add(k, lw.bk.data(), kv_dim);
      ops_->add(v, lw.bv.data(), kv_dim);
      const float* cs = rope_.data() + static_cast<size_t>(t) * cfg.head_dim;
      RopeNeox(q, cfg.n_head, cfg.head_dim, cs);
      RopeNeox(k, cfg.n_head_kv, cfg.head_dim, cs);
      cache_->Store(tok_slot[t], l, tok_pos[t], k, v);
    });
    std::span<const Segment> att_segments = segments;
    if (last_layer && static_cast<int>(rows.size()) < T) {
      // Past the last layer's keys and values only the wanted rows matter (the output head reads
      // nothing else, and no later layer reads the hidden states): the rest of the layer —
      // attention, its projection and the feed-forward block, about 1/n_layer of a prompt's
      // work — runs on those rows alone, moved to the front of the buffers.
      if (rows.empty()) break;
      wanted_segments = MoveRowsToFront(rows, tok_slot, tok_pos, q_.data(), q_dim, x_.data(), C);
      n_active = static_cast<int>(rows.size());
      att_segments = wanted_segments;
    }
    attention_.Run(*cache_, l, att_segments, q_.data(), att_.data(), *pool_);
    // xn_ is free once q, k, v are computed: it takes the projected attention output, which each
    // token's row adds to x just before the row is overwritten with the FFN's normed input.
    matmul_.Run(lw.wo, att_.data(), n_active, xn_.data());

    // Feed-forward block: x += down(silu(gate(xn)) * up(xn)), xn = norm(x).
    for_tokens([&](int t) {
      float* x = x_.data() + static_cast<size_t>(t) * C;
      ops_->add(x, xn_.data() + static_cast<size_t>(t) * C, C);
      ops_->rms_norm(x, lw.ffn_norm.data(), cfg.rms_norm_eps, xn_.data() + static_cast<size_t>(t) * C, C);
    });
    const MatMulJob gate_up[] = {{&lw.w_gate, gate_.data(), F}, {&lw.w_up, up_.data(), F}};
    matmul_.Run(xn_.data(), n_active, C, gate_up);
    // silu(gate) * up is formed row by row inside the product's activation conversion.
    matmul_.RunGated(lw.w_down, gate_.data(), up_.data(), n_active, xn_.data());  // xn_ is free again
    for_tokens([&](int t) {
      ops_->add(x_.data() + static_cast<size_t>(t) * C, xn_.data() + static_cast<size_t>(t) * C, C);
    });
  }

  // Output head only for the rows somebody wants: norm them into a compact block, then one product.
  if (rows.empty()) return;
  const int n_rows = static_cast<int>(rows.size());
  for (int i = 0; i < n_rows; ++i) {
    ops_->rms_norm(x_.data() + static_cast<size_t>(rows[i]) * C, w.output_norm.data(), cfg.rms_norm_eps,
                   xn_.data() + static_cast<size_t>(i) * C, C);
  }
  const size_t base = logits->size();
  logits->resize(base + static_cast<size_t>(n_rows) * cfg.n_vocab);
  matmul_.Run(w.output, xn_.data(), n_rows, logits->data() + base);
}

}  // namespace bastion
