// Causal grouped-query attention over the KV cache, for one layer and a batch of segments.
//
// Both products are gemm calls on the cache's own type (kernels/gemm.h), which reproduces
// llama.cpp's arithmetic for an F16 cache: queries rounded to F16 for Q.K^T, softmax in F32,
// probabilities rounded to F16 for P.V.
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

 private:
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

  void RunItem(const KvCache& cache, int layer, const Segment& seg, const Item& item,
               const float* q, float* out, Scratch& scratch);

  const ModelConfig config_;
  SimdLevel level_;
  GemmFn gemm_ = nullptr;
  QuantizeActFn to_act_ = nullptr;
  const VecOps* ops_ = nullptr;
  GgmlType cache_type_ = GgmlType::kF16;
  std::vector<Scratch> scratch_;  // one per thread
  std::vector<Item> items_;
};

}  // namespace bastion
