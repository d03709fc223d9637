// Attention: prefill segments as (segment, KV head, query chunk) items, decode segments in three
// phases (attention.h says why and why both give the same results).
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

// Decode path task sizes. They change only which thread computes what, never a result.
// Keys per Q.K^T task: 256 keys x 2 KV heads x 64 dims of F16 = 64 KiB of K, whole rows.
constexpr int kKeysPerTask = 256;
// V^T rows per P.V task: 32 rows of a 4096-position cache = 256 KiB (each task widens its
// probability rows once, so fewer, longer tasks).
constexpr int kValueRowsPerTask = 32;

// Runs fn(i) for i in [0, n) on the pool's threads, handing out indices in order.
template <typename F>
void ForEachTask(ThreadPool& pool, size_t n, F&& fn) {
  if (n == 0) return;
  if (n == 1) {
    fn(size_t{0});
    return;
  }
  std::atomic<size_t> next{0};
  pool.Parallel([&](int) {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) fn(i);
  });
}

template <typename T>
void GrowTo(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace

Attention::Attention(const ModelConfig& config, SimdLevel level)
    : config_(config), level_(level), ops_(&GetVecOps(level)) {}

void Attention::Run(const KvCache& cache, int layer, std::span<const Segment> segments,
                    const float* q, float* out, ThreadPool& pool) {
  if (gemm_ == nullptr || cache_type_ != cache.type()) {
    cache_type_ = cache.type();
    gemm_ = GetGemm(cache_type_, level_);
    scores_gemm_ = GetAttentionGemm(cache_type_, AttentionProduct::kScores, level_);
    values_gemm_ = GetAttentionGemm(cache_type_, AttentionProduct::kValues, level_);
    to_act_ = GetQuantizeAct(cache_type_, level_);
  }
  const int gqa = config_.gqa_ratio();
  const int n_head_kv = config_.n_head_kv;
  const int head_dim = config_.head_dim;
  const size_t q_row_bytes = RowBytes(cache_type_, head_dim);
  items_.clear();
  phased_.clear();
  score_tasks_.clear();
  softmax_tasks_.clear();
  value_tasks_.clear();
  size_t q_bytes = 0, s_floats = 0, p_bytes = 0;
  // The phased path only pays off when whole (segment, KV head) items cannot keep every thread
  // busy: its three parallel jobs and the scores crossing between cores cost more than they
  // save otherwise (measured with 2 threads and 2 KV heads,
  // one layer at depth 2048 in cache: 76 vs 57 us per step). The choice changes no result.
  const bool phased = static_cast<int64_t>(segments.size()) * n_head_kv < pool.size();
  for (size_t s = 0; s < segments.size(); ++s) {
    const Segment& seg = segments[s];
    const int n_kv = seg.pos0 + seg.n_tokens;
    if (phased && seg.n_tokens <= kPhasedMaxTokens) {
      const int rows = seg.n_tokens * gqa;
      const int idx = static_cast<int>(phased_.size());
      phased_.push_back({static_cast<int>(s), rows, n_kv, q_bytes, s_floats, p_bytes});
      q_bytes += static_cast<size_t>(n_head_kv) * rows * q_row_bytes;
      s_floats += static_cast<size_t>(n_head_kv) * rows * n_kv;
      p_bytes += static_cast<size_t>(n_head_kv) * rows * RowBytes(cache_type_, n_kv);
      for (int j = 0; j < n_kv; j += kKeysPerTask) score_tasks_.push_back({idx, j, std::min(j + kKeysPerTask, n_kv)});
      for (int g = 0; g < n_head_kv; ++g) {
        for (int r = 0; r < rows; ++r) softmax_tasks_.push_back({idx, g, r});
        for (int d = 0; d < head_dim; d += kValueRowsPerTask) value_tasks_.push_back({idx, g, d});
      }
      continue;
    }
    const int chunk = static_cast<int>(std::clamp<int64_t>(kScoreBudget / (int64_t{n_kv} * gqa), 1, kMaxChunkTokens));
    for (int t = 0; t < seg.n_tokens; t += chunk) {
      for (int g = 0; g < n_head_kv; ++g) {
        items_.push_back({static_cast<int>(s), g, t, std::min(chunk, seg.n_tokens - t)});
      }
    }
  }
  if (scratch_.size() < static_cast<size_t>(pool.size())) scratch_.resize(pool.size());
  GrowTo(q_act_, q_bytes);
  GrowTo(scores_, s_floats);
  GrowTo(p_act_, p_bytes);

  // Decode queries, gathered per KV head and converted to the cache type (a few rows: no threads).
  for (const Phased& ph : phased_) {
    const Segment& seg = segments[ph.segment];
    for (int g = 0; g < n_head_kv; ++g) {
      for (int r = 0; r < ph.rows; ++r) {
        const int t = seg.token_begin + r / gqa;
        const int h = g * gqa + r % gqa;
        to_act_(q + static_cast<int64_t>(t) * config_.q_dim() + h * head_dim,
                q_act_.data() + ph.q_off + (static_cast<size_t>(g) * ph.rows + r) * q_row_bytes, head_dim);
      }
    }
  }

  // Phase 1: the prefill items (larger, first) and the decode path's Q.K^T tasks.
  std::atomic<size_t> next{0};
  const size_t n_first = items_.size() + score_tasks_.size();
  auto first = [&](int ti) {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n_first;) {
      if (i < items_.size()) {
        const Item& item = items_[i];
        RunItem(cache, layer, segments[item.segment], item, q, out, scratch_[ti]);
      } else {
        const Task& t = score_tasks_[i - items_.size()];
        Scores(cache, layer, segments[phased_[t.phased].segment], phased_[t.phased], t);
      }
    }
  };
  if (n_first == 1) {
    first(0);
  } else if (n_first > 1) {
    pool.Parallel(first);
  }
  if (phased_.empty()) return;

  // Phase 2: softmax rows. Phase 3: P.V.
  ForEachTask(pool, softmax_tasks_.size(), [&](size_t i) {
    const Task& t = softmax_tasks_[i];
    Softmax(segments[phased_[t.phased].segment], phased_[t.phased], t);
  });
  ForEachTask(pool, value_tasks_.size(), [&](size_t i) {
    const Task& t = value_tasks_[i];
    Values(cache, layer, segments[phased_[t.phased].segment], phased_[t.phased], t, out);
  });
}

void Attention::Scores(const KvCache& cache, int layer, const Segment& seg, const Phased& ph, const Task& t) {
  const int head_dim = config_.head_dim;
  const size_t q_row_bytes = RowBytes(cache_type_, head_dim);
  const uint8_t* k_rows = cache.k_rows(seg.slot, layer) + static_cast<size_t>(t.a) * cache.k_row_bytes();
  for (int g = 0; g < config_.n_head_kv; ++g) {
    // scores[g][r][j] = q_r . k_j for keys j in [a, b).
    scores_gemm_(head_dim, k_rows + static_cast<size_t>(g) * head_dim * cache.elem_size(), cache.k_row_bytes(),
          t.b - t.a, q_act_.data() + ph.q_off + static_cast<size_t>(g) * ph.rows * q_row_bytes, q_row_bytes,
          ph.rows, scores_.data() + ph.s_off + static_cast<size_t>(g) * ph.rows * ph.n_kv + t.a, ph.n_kv);
  }
}

void Attention::Softmax(const Segment& seg, const Phased& ph, const Task& t) {
  const int row = t.a * ph.rows + t.b;
  float* s = scores_.data() + ph.s_off + static_cast<size_t>(row) * ph.n_kv;
  // Causal: the row's token sees keys up to its own position; zeros past it.
  const int valid = seg.pos0 + t.b / config_.gqa_ratio() + 1;
  ops_->softmax(s, 1.0f / std::sqrt(static_cast<float>(config_.head_dim)), valid);
  std::fill(s + valid, s + ph.n_kv, 0.0f);
  to_act_(s, p_act_.data() + ph.p_off + static_cast<size_t>(row) * RowBytes(cache_type_, ph.n_kv), ph.n_kv);
}

void Attention::Values(const KvCache& cache, int layer, const Segment& seg, const Phased& ph, const Task& t,
                       float* out) {
  const int gqa = config_.gqa_ratio();
  const int head_dim = config_.head_dim;
  const int d0 = t.b;
  const int nd = std::min(kValueRowsPerTask, head_dim - d0);
  const size_t p_row_bytes = RowBytes(cache_type_, ph.n_kv);
  const uint8_t* v_rows = cache.v_rows(seg.slot, layer) + static_cast<size_t>(t.a * head_dim + d0) * cache.v_row_bytes();
  // out[token][head g*gqa + i][d0 + d] = p_(token, i) . v_(d0 + d); one call per token, since a
  // token's gqa heads are adjacent in `out` but tokens are q_dim apart.
  for (int tok = 0; tok < seg.n_tokens; ++tok) {
    const uint8_t* p = p_act_.data() + ph.p_off + (static_cast<size_t>(t.a) * ph.rows + tok * gqa) * p_row_bytes;
    float* o = out + static_cast<int64_t>(seg.token_begin + tok) * config_.q_dim() + t.a * gqa * head_dim + d0;
    values_gemm_(ph.n_kv, v_rows, cache.v_row_bytes(), nd, p, p_row_bytes, gqa, o, head_dim);
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
  // Items keep the generic kernels: at decode shapes GetAttentionGemm's were no faster here
  // (both FMA-bound in cache; `bastion bench -d 4096` 23.2-24.6 vs 25.1-26.3 t/s, within noise).
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
