// Attention: work split into (segment, KV head, query chunk) items, each two gemm calls.
#include "model/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "base/check.h"

namespace bastion {
namespace {

// Query rows (tokens x heads of one KV group) per item are sized so the score block of one item
// stays around this many floats (1 MiB): cache-resident, and enough items for all threads.
constexpr int64_t kScoreBudget = 256 * 1024;
constexpr int kMaxChunkTokens = 64;

}  // namespace

Attention::Attention(const ModelConfig& config, SimdLevel level)
    : config_(config), level_(level), ops_(&GetVecOps(level)) {}

void Attention::Run(const KvCache& cache, int layer, std::span<const Segment> segments,
                    const float* q, float* out, ThreadPool& pool) {
  if (gemm_ == nullptr || cache_type_ != cache.type()) {
    cache_type_ = cache.type();
    gemm_ = GetGemm(cache_type_, level_);
    to_act_ = GetQuantizeAct(cache_type_, level_);
  }
  const int gqa = config_.gqa_ratio();
  items_.clear();
  for (size_t s = 0; s < segments.size(); ++s) {
    const Segment& seg = segments[s];
    const int64_t n_kv = seg.pos0 + seg.n_tokens;
    int chunk = static_cast<int>(std::clamp<int64_t>(kScoreBudget / (n_kv * gqa), 1, kMaxChunkTokens));
    for (int t = 0; t < seg.n_tokens; t += chunk) {
      for (int g = 0; g < config_.n_head_kv; ++g) {
        items_.push_back({static_cast<int>(s), g, t, std::min(chunk, seg.n_tokens - t)});
      }
    }
  }
  if (scratch_.size() < static_cast<size_t>(pool.size())) scratch_.resize(pool.size());

  std::atomic<size_t> next{0};
  auto work = [&](int ti) {
    Scratch& scratch = scratch_[ti];
    for (;;) {
      const size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= items_.size()) break;
      const Item& item = items_[i];
      RunItem(cache, layer, segments[item.segment], item, q, out, scratch);
    }
  };
  if (items_.size() == 1) {
    work(0);
  } else {
    pool.Parallel(work);
  }
}

void Attention::RunItem(const KvCache& cache, int layer, const Segment& seg, const Item& item,
                        const float* q, float* out, Scratch& scratch) {
  const int head_dim = config_.head_dim;
  const int gqa = config_.gqa_ratio();
  const int q_dim = config_.q_dim();
  const int rows = item.t_count * gqa;               // row r = token (r / gqa), head (r % gqa)
  const int n_kv = seg.pos0 + item.t_begin + item.t_count;  // keys visible to the last token
  const size_t q_row_bytes = RowBytes(cache_type_, head_dim);
  const size_t p_row_bytes = RowBytes(cache_type_, n_kv);

  if (scratch.q_act.size() < rows * q_row_bytes) scratch.q_act.resize(rows * q_row_bytes);
  if (scratch.scores.size() < static_cast<size_t>(rows) * n_kv) scratch.scores.resize(static_cast<size_t>(rows) * n_kv);
  if (scratch.p_act.size() < rows * p_row_bytes) scratch.p_act.resize(rows * p_row_bytes);
  if (scratch.out.size() < static_cast<size_t>(rows) * head_dim) scratch.out.resize(static_cast<size_t>(rows) * head_dim);

  // Gather this KV head's queries, converted to the cache type.
  for (int r = 0; r < rows; ++r) {
    const int t = seg.token_begin + item.t_begin + r / gqa;
    const int h = item.kv_head * gqa + r % gqa;
    to_act_(q + static_cast<int64_t>(t) * q_dim + h * head_dim, scratch.q_act.data() + r * q_row_bytes, head_dim);
  }

  // scores[r][j] = q_r . k_j for every visible key j.
  const uint8_t* k_base = cache.k_rows(seg.slot, layer) + item.kv_head * head_dim * cache.elem_size();
  gemm_(head_dim, k_base, cache.k_row_bytes(), n_kv, scratch.q_act.data(), q_row_bytes, rows,
        scratch.scores.data(), n_kv);

  // Causal softmax per row, then convert the probabilities (zeros past the row's own position).
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  for (int r = 0; r < rows; ++r) {
    float* row = scratch.scores.data() + static_cast<int64_t>(r) * n_kv;
    const int valid = seg.pos0 + item.t_begin + r / gqa + 1;
    ops_->softmax(row, scale, valid);
    std::fill(row + valid, row + n_kv, 0.0f);
    to_act_(row, scratch.p_act.data() + r * p_row_bytes, n_kv);
  }

  // out[r][d] = sum_j p[r][j] * v_j[d], with V stored transposed (row d = values of dim d).
  const uint8_t* v_base = cache.v_rows(seg.slot, layer) + static_cast<size_t>(item.kv_head * head_dim) * cache.v_row_bytes();
  gemm_(n_kv, v_base, cache.v_row_bytes(), head_dim, scratch.p_act.data(), p_row_bytes, rows,
        scratch.out.data(), head_dim);

  for (int r = 0; r < rows; ++r) {
    const int t = seg.token_begin + item.t_begin + r / gqa;
    const int h = item.kv_head * gqa + r % gqa;
    std::memcpy(out + static_cast<int64_t>(t) * q_dim + h * head_dim,
                scratch.out.data() + static_cast<int64_t>(r) * head_dim, sizeof(float) * head_dim);
  }
}

}  // namespace bastion
