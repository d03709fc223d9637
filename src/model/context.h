// InferenceContext: runs the Qwen2 forward pass over a KV cache with a fixed number of slots.
//
// Notation: T = tokens in a batch, C = n_embd, F = n_ff, V = n_vocab.
// A batch is one or more SequenceInputs, each appending tokens to one slot; all their tokens go
// through the weight products together (that is what makes prefill and multi-sequence decode
// matrix-matrix work), and attention runs per segment over its slot's cache. Batches longer than
// n_ubatch are processed in pieces so scratch memory stays bounded.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/vec_ops.h"
#include "model/attention.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace bastion {

struct ContextOptions {
  int n_ctx = 4096;    // positions per slot (capped by the model's training context)
  int n_slots = 1;     // independent sequences
  GgmlType kv_type = GgmlType::kF16;
  int n_threads = 0;   // 0 = all available cores
  int n_ubatch = 512;  // tokens per forward piece
  SimdLevel simd = DetectSimdLevel();
};

enum class LogitsMode { kNone, kLast, kAll };

struct SequenceInput {
  int slot = 0;
  std::span<const int32_t> tokens;  // appended after what the slot already holds
  LogitsMode logits = LogitsMode::kLast;
};

class InferenceContext {
 public:
  static Result<std::unique_ptr<InferenceContext>> Create(const Model& model, ContextOptions options);

  // Evaluates the inputs in one batched pass. Logit rows (V floats each) are written to *logits in
  // input order: one row for kLast, one per token for kAll. Errors (bad token id, context full)
  // leave every slot unchanged.
  Status Evaluate(std::span<const SequenceInput> inputs, std::vector<float>* logits);

  // Convenience for one slot.
  Status Evaluate(int slot, std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>* logits);

  int SlotLength(int slot) const { return cache_->length(slot); }
  // Forgets positions >= n of a slot (0 clears it).
  void TruncateSlot(int slot, int n);
  void CopySlotPrefix(int from, int to, int n);

  const Model& model() const { return model_; }
  const ContextOptions& options() const { return options_; }
  int n_ctx() const { return options_.n_ctx; }
  ThreadPool& pool() { return *pool_; }
  const KvCache& cache() const { return *cache_; }

 private:
  InferenceContext(const Model& model, ContextOptions options);

  // One piece of at most n_ubatch tokens. want_logits[t] marks rows to compute; their logits are
  // appended to *logits in token order.
  void ForwardPiece(std::span<const int32_t> tokens, std::span<const Segment> segments,
                    std::span<const uint8_t> want_logits, std::vector<float>* logits);
  void EnsureScratch(int n_tokens);

  const Model& model_;
  ContextOptions options_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<KvCache> cache_;
  MatMulEngine matmul_;
  Attention attention_;
  const VecOps* ops_;

  // Scratch activations, sized for n_ubatch tokens on first use.
  int scratch_tokens_ = 0;
  std::vector<float> x_;     // T x C   residual stream
  std::vector<float> xn_;    // T x C   normed input of a block; then the block's output
  std::vector<float> q_;     // T x q_dim
  std::vector<float> k_;     // T x kv_dim
  std::vector<float> v_;     // T x kv_dim
  std::vector<float> att_;   // T x q_dim
  std::vector<float> gate_;  // T x F
  std::vector<float> up_;    // T x F
  std::vector<float> rope_;  // T x head_dim  (cos, sin) pairs per token
};

}  // namespace bastion
