// Threaded matrix products of GGUF weight matrices with float activations.
//
// Conventions: T = tokens (activation rows), K = input features, N = output features.
// A weight matrix is N rows of K elements in its own type; activations x are T x K floats;
// the product y = x W^T is T x N floats (row t = token t).
//
// Each product first converts x to the weight type's VecDotType (Q8_0, Q8_K, F16, ...) once
// (on the calling thread for one or two rows, else in parallel), then computes the output rows
// with the SIMD gemm kernel for the weight type on all threads. Decode gives every thread one
// contiguous, byte-balanced share of the rows, with stealing at the end; prefill hands out row
// chunks from a shared counter (see matmul.cc). Products that share the same input (Q/K/V,
// gate/up) are issued together so the input is converted once and the threads synchronize once.
#pragma once

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/gemm.h"
#include "kernels/vec_ops.h"
#include "kernels/weight_layout.h"
#include "quant/types.h"

namespace bastion {

// A view of one 2-D weight tensor in the mapped model file.
struct WeightMatrix {
  GgmlType type = GgmlType::kF32;
  int64_t n_in = 0;   // K: elements per row (GGUF ne[0])
  int64_t n_out = 0;  // N: rows (GGUF ne[1])
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  // How the rows' blocks are arranged (kernels/weight_layout.h): as in the file unless the model
  // was repacked at load.
  WeightLayout layout = WeightLayout::kFile;

  size_t total_bytes() const { return row_bytes * static_cast<size_t>(n_out); }
};

// One product of a MatMulBatch: y (T x out_stride floats, columns [0, N) written) = x W^T.
struct MatMulJob {
  const WeightMatrix* weight;
  float* y;
  int64_t y_stride;  // floats between token rows of y (>= weight->n_out)
};

// Rows per prefill chunk for a job of n_out rows: the most rows, at most `rows` and a multiple of
// `align`, whose chunk count is a multiple of n_threads; `rows` itself where none is. Chunks of one job cost the
// same, so a count that is not a multiple leaves threads idle while the last ones run: 896 rows
// in 128-row chunks are seven, four for one thread and three for the other (an eighth of the
// attention output and ffn_down products idle at two threads); 112-row chunks are eight.
int64_t BalancedChunkRows(int64_t n_out, int64_t rows, int64_t align, int n_threads);

class MatMulEngine {
 public:
  MatMulEngine(ThreadPool& pool, SimdLevel level);

  // Computes every job for the same input x (T x K floats, row stride x_stride floats).
  // All weights must have n_in == K.
  void Run(const float* x, int64_t n_tokens, int64_t x_stride, std::span<const MatMulJob> jobs);

  // Single product y = x W^T with y's row stride = W.n_out.
  void Run(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y);

  // y = (silu(gate) * up) W^T, the feed-forward block's down projection, where gate and up are
  // n_tokens x W.n_in floats. Each gated row is formed in a per-thread row buffer just before it
  // is converted to the weight's activation type, so the T x n_ff product is never written out
  // and read back (a pass over 2 x 10 MB per layer at 512 tokens); the values are the same as
  // silu_mul into a buffer followed by Run.
  void RunGated(const WeightMatrix& w, const float* gate, const float* up, int64_t n_tokens, float* y);

  SimdLevel level() const { return level_; }
  ThreadPool& pool() { return pool_; }

 private:
  struct Converted {
    GgmlType act_type;
    size_t row_bytes;
    size_t offset;  // into act_buffer_
    QuantizeActFn quantize;
  };
  // One thread's decode share: [front, back) in row units, packed in one word so that the owner
  // (taking from the front) and a thief (taking from the back) never both get a unit.
  struct alignas(64) Share {
    std::atomic<uint64_t> range{0};
  };

  // Run's body; up != nullptr makes input row t silu(x_t) * up_t (row stride x_stride too).
  void RunImpl(const float* x, const float* up, int64_t n_tokens, int64_t x_stride, std::span<const MatMulJob> jobs);

  // compute(j, row_begin, row_end) runs the kernel for those rows of job j and every token.
  template <typename Compute>
  void RunShares(std::span<const MatMulJob> jobs, Compute& compute);
  template <typename Compute>
  void RunChunks(std::span<const MatMulJob> jobs, int64_t n_tokens, Compute& compute);

  ThreadPool& pool_;
  SimdLevel level_;
  const VecOps& ops_;  // silu_mul for RunGated
  std::vector<uint8_t> act_buffer_;
  // Per-call plans, kept to reuse their allocations (a token makes ~100 calls).
  std::vector<Converted> converted_;
  std::vector<int> job_act_;
  std::vector<GemmFn> gemms_;
  std::vector<int64_t> token_tiles_;  // tokens per kernel call, per job (PrefillTokenTile)
  std::vector<int64_t> unit_begin_;
  std::unique_ptr<Share[]> shares_;
};

}  // namespace bastion
