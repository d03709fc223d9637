// MatMulEngine: activation conversion + threaded gemm calls.
//
// Two ways to hand out the output rows:
//  * decode and small batches (the row kernels, bound by weight bandwidth): every thread owns one
//    contiguous share of all rows, balanced by bytes, and walks it front to back in small pieces,
//    so each core streams one long run of memory that its prefetchers (and the kernels' software
//    prefetch, which runs past the end of a piece into the next) keep ahead of. A thread that
//    finishes early takes small pieces from the back of another's share, so a preempted or slower
//    thread costs little at the end of the product.
//  * prefill (compute bound): chunks of rows from one shared counter, each chunk walked in token
//    tiles so a block of weights is reused from cache.
#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>

#include "base/check.h"

namespace bastion {
namespace {

// Rows per prefill work chunk are a multiple of this, so SIMD kernels see whole row tiles.
constexpr int64_t kRowAlign = 16;

// Target bytes of weights per prefill chunk before the minimum below applies.
constexpr size_t kChunkBytes = 96 * 1024;

// For many tokens the kernels re-arrange the activation tile on every call, so fewer, taller
// calls win: at least this many rows per chunk (each chunk is still under a MiB of weights), less
// only what BalancedChunkRows trims so that the count divides evenly between the threads.
constexpr int64_t kPrefillMinRows = 128;
constexpr int64_t kPrefillMinTokens = 8;
// Row cap per chunk for kernels that take all tokens at once (their per-call scratch holds the
// chunk's weights re-arranged: 2048 rows of 896 F16 elements split in two = 7 MiB).
constexpr int64_t kAllTokensMaxRows = 2048;

// Decode shares are cut in units of this many rows (a multiple of the row kernels' tile heights
// and of the legacy lanes layouts' 8-row groups), or of a job's layout row group where that is
// larger (the K-quant lanes layouts interleave 16 rows): small units let two threads finish a
// product close together.
constexpr int64_t kUnitRows = 8;
// Bytes a thread takes from the front of its own share per kernel call: large enough that the
// per-call setup (activation preparation, the atomic) is noise, small enough that little is left
// unstealable when the other thread runs dry.
constexpr size_t kOwnPieceBytes = 32 * 1024;
// Bytes a thread takes per steal from the back of another's share: the most the two can finish
// apart by (about a microsecond of streaming).
constexpr size_t kStealPieceBytes = 8 * 1024;

// Activation conversions up to this many rows run on the calling thread: a row is about a
// microsecond of work, less than a round trip through the pool.
constexpr int64_t kInlineConvertItems = 2;

struct Chunk {
  int job;
  int64_t row_begin;
  int64_t row_end;
};

uint64_t PackRange(uint32_t front, uint32_t back) { return static_cast<uint64_t>(back) << 32 | front; }
uint32_t Front(uint64_t r) { return static_cast<uint32_t>(r); }
uint32_t Back(uint64_t r) { return static_cast<uint32_t>(r >> 32); }

}  // namespace

int64_t BalancedChunkRows(int64_t n_out, int64_t rows, int64_t align, int n_threads) {
  const auto chunks_of = [n_out](int64_t r) { return (n_out + r - 1) / r; };
  const int64_t first = (chunks_of(rows) + n_threads - 1) / n_threads * n_threads;
  for (int64_t want = first;; want += n_threads) {
    const int64_t fewer = (n_out + want - 1) / want;
    const int64_t aligned = std::max(align, (fewer + align - 1) / align * align);
    if (chunks_of(aligned) % n_threads == 0) return aligned;
    if (aligned == align) return rows;
  }
}

MatMulEngine::MatMulEngine(ThreadPool& pool, SimdLevel level)
    : pool_(pool), level_(level), ops_(GetVecOps(level)), shares_(std::make_unique<Share[]>(static_cast<size_t>(pool.size()))) {}

void MatMulEngine::Run(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y) {
  const MatMulJob job{&w, y, w.n_out};
  Run(x, n_tokens, w.n_in, std::span<const MatMulJob>(&job, 1));
}

void MatMulEngine::RunGated(const WeightMatrix& w, const float* gate, const float* up, int64_t n_tokens, float* y) {
  const MatMulJob job{&w, y, w.n_out};
  RunImpl(gate, up, n_tokens, w.n_in, std::span<const MatMulJob>(&job, 1));
}

void MatMulEngine::Run(const float* x, int64_t n_tokens, int64_t x_stride, std::span<const MatMulJob> jobs) {
  RunImpl(x, nullptr, n_tokens, x_stride, jobs);
}

void MatMulEngine::RunImpl(const float* x, const float* up, int64_t n_tokens, int64_t x_stride,
                           std::span<const MatMulJob> jobs) {
  BASTION_CHECK(!jobs.empty() && n_tokens >= 1);
  const int64_t k = jobs[0].weight->n_in;
  for (const MatMulJob& job : jobs) {
    BASTION_CHECK(job.weight->n_in == k);
    BASTION_CHECK(job.y_stride >= job.weight->n_out);
  }

  // 1. Which activation formats are needed, and where each goes.
  converted_.clear();
  size_t total = 0;
  job_act_.resize(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j) {
    const GgmlType act = VecDotType(jobs[j].weight->type);
    int found = -1;
    for (size_t c = 0; c < converted_.size(); ++c) {
      if (converted_[c].act_type == act) found = static_cast<int>(c);
    }
    if (found < 0) {
      const size_t row_bytes = RowBytes(act, k);
      converted_.push_back({act, row_bytes, total, GetQuantizeAct(act, level_)});
      total += (row_bytes * static_cast<size_t>(n_tokens) + 63) / 64 * 64;
      found = static_cast<int>(converted_.size()) - 1;
    }
    job_act_[j] = found;
  }
  if (act_buffer_.size() < total) act_buffer_.resize(total);
  gemms_.resize(jobs.size());
  token_tiles_.resize(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j) {
    const WeightLayout layout = jobs[j].weight->layout;
    BASTION_CHECK(kRowAlign % LayoutRowGroup(layout) == 0);
    gemms_[j] = GetLayoutGemm(jobs[j].weight->type, layout, level_);
    token_tiles_[j] = PrefillTokenTile(jobs[j].weight->type, level_);
  }

  // 2. Convert the activations (split over tokens and formats).
  const int n_threads = pool_.size();
  const int64_t n_conv_items = static_cast<int64_t>(converted_.size()) * n_tokens;
  uint8_t* act_base = act_buffer_.data();
  auto convert_items = [&](int64_t begin, int64_t end) {
    // The gated row of RunGated: one row per thread, in L1/L2 while it is converted.
    thread_local std::vector<float> gated;
    if (up != nullptr && gated.size() < static_cast<size_t>(k)) gated.resize(static_cast<size_t>(k));
    for (int64_t item = begin; item < end; ++item) {
      const Converted& c = converted_[static_cast<size_t>(item / n_tokens)];
      const int64_t t = item % n_tokens;
      const float* row = x + t * x_stride;
      if (up != nullptr) {
        ops_.silu_mul(row, up + t * x_stride, gated.data(), k);
        row = gated.data();
      }
      c.quantize(row, act_base + c.offset + t * c.row_bytes, k);
    }
  };
  if (n_conv_items <= kInlineConvertItems || n_threads == 1) {
    convert_items(0, n_conv_items);
  } else {
    auto convert = [&](int ti) {
      const auto [begin, end] = ThreadPool::Split(n_conv_items, ti, n_threads);
      convert_items(begin, end);
    };
    pool_.Parallel(convert);
  }

  // 3. The products: rows [row_begin, row_end) of job j for every token.
  auto compute = [&](size_t j, int64_t row_begin, int64_t row_end) {
    const MatMulJob& job = jobs[j];
    const WeightMatrix& w = *job.weight;
    const Converted& conv = converted_[static_cast<size_t>(job_act_[j])];
    const uint8_t* w_rows = w.data + static_cast<size_t>(row_begin) * w.row_bytes;
    const int64_t token_tile = token_tiles_[j];
    for (int64_t t0 = 0; t0 < n_tokens; t0 += token_tile) {
      const int64_t nc = std::min(token_tile, n_tokens - t0);
      gemms_[j](k, w_rows, w.row_bytes, row_end - row_begin, act_base + conv.offset + t0 * conv.row_bytes,
                conv.row_bytes, nc, job.y + t0 * job.y_stride + row_begin, static_cast<size_t>(job.y_stride));
    }
  };
  if (n_tokens < kPrefillMinTokens) {
    RunShares(jobs, compute);
  } else {
    RunChunks(jobs, n_tokens, compute);
  }
}

template <typename Compute>
void MatMulEngine::RunShares(std::span<const MatMulJob> jobs, Compute& compute) {
  const int n_threads = pool_.size();
  // Units (unit_rows rows of one job) numbered across the jobs; unit_begin_[j] is job j's first.
  int64_t unit_rows = kUnitRows;
  for (const MatMulJob& job : jobs) unit_rows = std::max(unit_rows, LayoutRowGroup(job.weight->layout));
  for (const MatMulJob& job : jobs) BASTION_CHECK(unit_rows % LayoutRowGroup(job.weight->layout) == 0);
  unit_begin_.resize(jobs.size() + 1);
  unit_begin_[0] = 0;
  double total_bytes = 0;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const WeightMatrix& w = *jobs[j].weight;
    unit_begin_[j + 1] = unit_begin_[j] + (w.n_out + unit_rows - 1) / unit_rows;
    total_bytes += static_cast<double>(w.total_bytes());
  }
  BASTION_CHECK(unit_begin_.back() < (int64_t{1} << 32));
  // Thread t's share starts where t / n_threads of the bytes have gone by.
  auto unit_at_fraction = [&](int t) -> int64_t {
    double target = total_bytes * t / n_threads;
    for (size_t j = 0; j < jobs.size(); ++j) {
      const WeightMatrix& w = *jobs[j].weight;
      const double bytes = static_cast<double>(w.total_bytes());
      if (target < bytes) {
        const double unit_bytes = static_cast<double>(w.row_bytes) * static_cast<double>(unit_rows);
        return unit_begin_[j] + static_cast<int64_t>(target / unit_bytes);
      }
      target -= bytes;
    }
    return unit_begin_.back();
  };
  for (int t = 0; t < n_threads; ++t) {
    const auto front = static_cast<uint32_t>(unit_at_fraction(t));
    const auto back = static_cast<uint32_t>(unit_at_fraction(t + 1));
    shares_[static_cast<size_t>(t)].range.store(PackRange(front, back), std::memory_order_relaxed);
  }
  auto job_of = [&](int64_t unit) {
    size_t j = 0;
    while (unit >= unit_begin_[j + 1]) ++j;
    return j;
  };
  auto units_for = [&](int64_t unit, size_t bytes) {
    const size_t unit_bytes = jobs[job_of(unit)].weight->row_bytes * static_cast<size_t>(unit_rows);
    return static_cast<uint32_t>(std::max<size_t>(1, bytes / std::max<size_t>(unit_bytes, 1)));
  };
  // Units [a, b), which may span jobs.
  auto run_units = [&](int64_t a, int64_t b) {
    while (a < b) {
      const size_t j = job_of(a);
      const int64_t e = std::min(b, unit_begin_[j + 1]);
      const int64_t n_out = jobs[j].weight->n_out;
      compute(j, (a - unit_begin_[j]) * unit_rows, std::min(n_out, (e - unit_begin_[j]) * unit_rows));
      a = e;
    }
  };
  auto work = [&](int ti) {
    const ActivationsFixedScope fixed;  // the converted activations stay put until the pool returns
    // Own share, from the front.
    std::atomic<uint64_t>& own = shares_[static_cast<size_t>(ti)].range;
    for (uint64_t r = own.load(std::memory_order_relaxed);;) {
      const uint32_t f = Front(r), b = Back(r);
      if (f >= b) break;
      const uint32_t n = std::min(units_for(f, kOwnPieceBytes), b - f);
      if (own.compare_exchange_weak(r, PackRange(f + n, b), std::memory_order_relaxed)) {
        run_units(f, f + n);
        r = own.load(std::memory_order_relaxed);
      }
    }
    // Then what the others have not started, from the back of their shares.
    for (int d = 1; d < n_threads; ++d) {
      std::atomic<uint64_t>& other = shares_[static_cast<size_t>((ti + d) % n_threads)].range;
      for (uint64_t r = other.load(std::memory_order_relaxed);;) {
        const uint32_t f = Front(r), b = Back(r);
        if (f >= b) break;
        const uint32_t n = std::min(units_for(b - 1, kStealPieceBytes), b - f);
        if (other.compare_exchange_weak(r, PackRange(f, b - n), std::memory_order_relaxed)) {
          run_units(b - n, b);
          r = other.load(std::memory_order_relaxed);
        }
      }
    }
  };
  pool_.Parallel(work);
}

template <typename Compute>
void MatMulEngine::RunChunks(std::span<const MatMulJob> jobs, int64_t n_tokens, Compute& compute) {
  std::vector<Chunk> chunks;
  const int n_threads = pool_.size();
  for (size_t j = 0; j < jobs.size(); ++j) {
    const WeightMatrix& w = *jobs[j].weight;
    int64_t rows = static_cast<int64_t>(kChunkBytes / std::max<size_t>(w.row_bytes, 1));
    // At least a few chunks per thread so uneven progress evens out.
    const int64_t fair = (w.n_out + 4 * n_threads - 1) / (4 * n_threads);
    rows = std::min(rows, fair);
    if (n_tokens >= kPrefillMinTokens) {
      const int64_t half_share = (w.n_out + 2 * n_threads - 1) / (2 * n_threads);
      rows = std::max(rows, std::min(kPrefillMinRows, half_share));
      // Kernels that take every token per call (AMX) re-arrange the activations per call too:
      // give them as few, tall chunks as the balance allows (two per thread, bounded scratch).
      if (token_tiles_[j] >= n_tokens) rows = std::max(rows, std::min(kAllTokensMaxRows, half_share));
    }
    rows = std::clamp<int64_t>(rows, kRowAlign, std::max<int64_t>(w.n_out, kRowAlign));
    rows = (rows + kRowAlign - 1) / kRowAlign * kRowAlign;
    if (n_tokens >= kPrefillMinTokens) rows = BalancedChunkRows(w.n_out, rows, kRowAlign, n_threads);
    for (int64_t r = 0; r < w.n_out; r += rows) {
      chunks.push_back({static_cast<int>(j), r, std::min(w.n_out, r + rows)});
    }
  }
  std::atomic<size_t> next{0};
  auto work = [&](int) {
    const ActivationsFixedScope fixed;
    for (;;) {
      const size_t ci = next.fetch_add(1, std::memory_order_relaxed);
      if (ci >= chunks.size()) break;
      compute(static_cast<size_t>(chunks[ci].job), chunks[ci].row_begin, chunks[ci].row_end);
    }
  };
  pool_.Parallel(work);
}

}  // namespace bastion
