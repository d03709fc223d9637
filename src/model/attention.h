// Causal grouped-query attention over the KV cache, for one layer and a batch of segments.
//
// Both products are gemm calls on the cache's own type (kernels/gemm.h), which reproduces
// llama.cpp's arithmetic for an F16 cache: queries rounded to F16 for Q.K^T, softmax in F32,
// probabilities rounded to F16 for P.V.
//
// Two ways of splitting the work between threads, chosen per segment (so a sequence's results
// never depend on what else is in the batch), with bit-identical results: every score and every
// output element is one dot product computed whole by one kernel call, and each softmax row is
// computed whole by one thread; only which thread does what differs.
//   - prefill segments: items of (KV head, chunk of query tokens), each doing Q.K^T, softmax and
//     P.V for its rows (plenty of items, and each one's scores stay in its core's cache);
//   - when those items are fewer than the threads (say one decoding sequence, 2 KV heads, 16
//     threads), segments of at most kPhasedMaxTokens tokens go through three phases instead, so
//     that every thread has work and streams long contiguous runs of the cache:
//       1. Q.K^T per chunk of keys, all KV heads (whole K rows, front to back);
//       2. softmax per (KV head, query row), probabilities converted to the cache type;
//       3. P.V per block of V^T rows (each row read front to back once).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/gemm.h"
#include "kernels/vec_ops.h"
#include "model/config.h"
#include "model/kv_cache.h"

namespace bastion {

// A run of consecutive tokens of one sequence inside a batch.
struct Segment {
  int slot;         // KV cache slot
  int token_begin;  // index of the first token in the batch
  int n_tokens;
  int pos0;         // position of the first token (= slot length before this batch)
};

class Attention {
 public:
  Attention(const ModelConfig& config, SimdLevel level);

  // q: n_batch x q_dim roped queries; out: n_batch x q_dim. The cache already holds the keys and
  // values of every token in the segments.
  void Run(const KvCache& cache, int layer, std::span<const Segment> segments, const float* q,
           float* out, ThreadPool& pool);

  // Segments of at most this many tokens may take the three-phase path.
  static constexpr int kPhasedMaxTokens = 8;

 private:
  // Prefill path: one (segment, KV head, chunk of tokens) item does all of its rows' work.
  struct Item {
    int segment;
    int kv_head;
    int t_begin;  // first token of the segment handled
    int t_count;
  };
  struct Scratch {
    std::vector<uint8_t> q_act;    // converted queries
    std::vector<float> scores;     // rows x n_kv
    std::vector<uint8_t> p_act;    // converted probabilities
    std::vector<float> out;        // rows x head_dim
  };

  // Decode path: a segment's state in the shared buffers below, and the tasks of each phase.
  struct Phased {
    int segment;
    int rows;      // query rows per KV head: n_tokens * gqa (row r = token r / gqa, head r % gqa)
    int n_kv;      // keys visible to the segment's last token
    size_t q_off;  // byte offset in q_act_: n_head_kv blocks of rows converted queries
    size_t s_off;  // float offset in scores_: n_head_kv blocks of rows x n_kv
    size_t p_off;  // byte offset in p_act_: n_head_kv blocks of rows converted probability rows
  };
  struct Task {
    int phased;  // index in phased_
    int a, b;    // phase 1: keys [a, b); phase 2: KV head a, row b; phase 3: KV head a, V^T row b
  };

  void RunItem(const KvCache& cache, int layer, const Segment& seg, const Item& item,
               const float* q, float* out, Scratch& scratch);
  void Scores(const KvCache& cache, int layer, const Segment& seg, const Phased& ph, const Task& t);
  void Softmax(const Segment& seg, const Phased& ph, const Task& t);
  void Values(const KvCache& cache, int layer, const Segment& seg, const Phased& ph, const Task& t,
              float* out);

  const ModelConfig config_;
  SimdLevel level_;
  GemmFn gemm_ = nullptr;         // prefill path
  GemmFn scores_gemm_ = nullptr;  // decode path: Q.K^T, P.V (same results as gemm_)
  GemmFn values_gemm_ = nullptr;
  QuantizeActFn to_act_ = nullptr;
  const VecOps* ops_ = nullptr;
  GgmlType cache_type_ = GgmlType::kF16;
  std::vector<Scratch> scratch_;  // one per thread
  std::vector<Item> items_;
  std::vector<Phased> phased_;
  std::vector<Task> score_tasks_, softmax_tasks_, value_tasks_;
  std::vector<uint8_t> q_act_, p_act_;  // shared by the threads of the decode path
  std::vector<float> scores_;
};

}  // namespace bastion
