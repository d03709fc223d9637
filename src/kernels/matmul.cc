// MatMulEngine: activation conversion + chunked, threaded gemm calls.
#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>

#include "base/check.h"

namespace bastion {
namespace {

// Column (token) tile of a prefill product: the converted activations of this many tokens stay in
// L2 while a block of weight rows is multiplied against them.
constexpr int64_t kTokenTile = 64;

// Rows per work chunk are a multiple of this, so SIMD kernels see whole row tiles.
constexpr int64_t kRowAlign = 16;

// Target bytes of weights per chunk for decode: small enough that threads balance, large enough
// that the shared counter is touched rarely (a few dozen chunks per product).
constexpr size_t kChunkBytes = 96 * 1024;

// For many tokens the kernels re-arrange the activation tile on every call, so fewer, taller
// calls win: at least this many rows per chunk (each chunk is still under a MiB of weights).
constexpr int64_t kPrefillMinRows = 128;
constexpr int64_t kPrefillMinTokens = 8;

struct Chunk {
  int job;
  int64_t row_begin;
  int64_t row_end;
};

}  // namespace

MatMulEngine::MatMulEngine(ThreadPool& pool, SimdLevel level) : pool_(pool), level_(level) {}

void MatMulEngine::Run(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y) {
  const MatMulJob job{&w, y, w.n_out};
  Run(x, n_tokens, w.n_in, std::span<const MatMulJob>(&job, 1));
}

void MatMulEngine::Run(const float* x, int64_t n_tokens, int64_t x_stride,
                       std::span<const MatMulJob> jobs) {
  BASTION_CHECK(!jobs.empty() && n_tokens >= 1);
  const int64_t k = jobs[0].weight->n_in;
  for (const MatMulJob& job : jobs) {
    BASTION_CHECK(job.weight->n_in == k);
    BASTION_CHECK(job.y_stride >= job.weight->n_out);
  }

  // 1. Which activation formats are needed, and where each goes.
  std::vector<Converted> converted;
  size_t total = 0;
  std::vector<int> job_act(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j) {
    const GgmlType act = VecDotType(jobs[j].weight->type);
    int found = -1;
    for (size_t c = 0; c < converted.size(); ++c) {
      if (converted[c].act_type == act) found = static_cast<int>(c);
    }
    if (found < 0) {
      const size_t row_bytes = RowBytes(act, k);
      converted.push_back({act, row_bytes, total});
      total += (row_bytes * static_cast<size_t>(n_tokens) + 63) / 64 * 64;
      found = static_cast<int>(converted.size()) - 1;
    }
    job_act[j] = found;
  }
  if (act_buffer_.size() < total) act_buffer_.resize(total);

  // 2. Work chunks over the output rows of every job.
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
    }
    rows = std::clamp<int64_t>(rows, kRowAlign, std::max<int64_t>(w.n_out, kRowAlign));
    rows = (rows + kRowAlign - 1) / kRowAlign * kRowAlign;
    for (int64_t r = 0; r < w.n_out; r += rows) {
      chunks.push_back({static_cast<int>(j), r, std::min(w.n_out, r + rows)});
    }
  }

  // 3. Convert the activations (split over tokens and formats), then compute the chunks.
  std::vector<QuantizeActFn> quantizers;
  for (const Converted& c : converted) quantizers.push_back(GetQuantizeAct(c.act_type, level_));
  const int64_t n_conv_items = static_cast<int64_t>(converted.size()) * n_tokens;
  uint8_t* act_base = act_buffer_.data();
  auto convert = [&](int ti) {
    const auto [begin, end] = ThreadPool::Split(n_conv_items, ti, n_threads);
    for (int64_t item = begin; item < end; ++item) {
      const size_t c = static_cast<size_t>(item / n_tokens);
      const int64_t t = item % n_tokens;
      quantizers[c](x + t * x_stride, act_base + converted[c].offset + t * converted[c].row_bytes, k);
    }
  };
  pool_.Parallel(convert);

  std::vector<GemmFn> gemms(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j) gemms[j] = GetGemm(jobs[j].weight->type, level_);

  std::atomic<size_t> next{0};
  auto compute = [&](int) {
    for (;;) {
      const size_t ci = next.fetch_add(1, std::memory_order_relaxed);
      if (ci >= chunks.size()) break;
      const Chunk& ch = chunks[ci];
      const MatMulJob& job = jobs[ch.job];
      const WeightMatrix& w = *job.weight;
      const Converted& conv = converted[job_act[ch.job]];
      const uint8_t* w_rows = w.data + static_cast<size_t>(ch.row_begin) * w.row_bytes;
      for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenTile) {
        const int64_t nc = std::min(kTokenTile, n_tokens - t0);
        gemms[ch.job](k, w_rows, w.row_bytes, ch.row_end - ch.row_begin,
                      act_base + conv.offset + t0 * conv.row_bytes, conv.row_bytes, nc,
                      job.y + t0 * job.y_stride + ch.row_begin, static_cast<size_t>(job.y_stride));
      }
    }
  };
  pool_.Parallel(compute);
}

}  // namespace bastion
