// attn_bench: attention alone, as decode at depth runs it (issue 7: "decode at depth").
//
// Builds an F16 KV cache shaped like Qwen2.5-0.5B (24 layers, 2 KV heads of 64, 14 query heads)
// filled with random keys and values for --depth positions in each of --seqs slots, then times
// Attention::Run over every layer for one decode step (--tokens new tokens per sequence, already
// stored). Between steps a buffer larger than the last-level cache share is streamed so the cache
// starts cold as it does after a token's weight products. Prints microseconds per step and the
// KV bytes each step reads, as GB/s.
//
// Usage: attn_bench [--depth N] [--layers N] [--seqs N] [--tokens N] [--threads N] [--rounds N] [--flush MiB]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/gemm.h"
#include "model/attention.h"
#include "model/kv_cache.h"

namespace bastion {
namespace {

using Clock = std::chrono::steady_clock;

int Main(int argc, char** argv) {
  int depth = 4096, layers = 24, seqs = 1, tokens = 1, threads = 2, rounds = 50, flush_mib = 512;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (flag == "--depth") depth = v;
    else if (flag == "--seqs") seqs = v;
    else if (flag == "--layers") layers = v;
    else if (flag == "--tokens") tokens = v;
    else if (flag == "--threads") threads = v;
    else if (flag == "--rounds") rounds = v;
    else if (flag == "--flush") flush_mib = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  ModelConfig config;
  config.n_layer = layers;
  config.n_embd = 896;
  config.n_head = 14;
  config.n_head_kv = 2;
  config.head_dim = 64;
  const int n_ctx = depth + tokens;
  auto cache_or = KvCache::Create(config.n_layer, config.kv_dim(), n_ctx, seqs, GgmlType::kF16);
  if (!cache_or.ok()) {
    std::fprintf(stderr, "%s\n", cache_or.error().message().c_str());
    return 1;
  }
  KvCache& cache = **cache_or;
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> k(config.kv_dim()), v(config.kv_dim());
  for (int s = 0; s < seqs; ++s) {
    for (int l = 0; l < config.n_layer; ++l) {
      for (int p = 0; p < n_ctx; ++p) {
        for (auto& x : k) x = dist(rng);
        for (auto& x : v) x = dist(rng);
        cache.Store(s, l, p, k.data(), v.data());
      }
    }
    cache.set_length(s, n_ctx);
  }
  std::vector<Segment> segments;
  for (int s = 0; s < seqs; ++s) segments.push_back({s, s * tokens, tokens, depth});
  const int n_batch = seqs * tokens;
  std::vector<float> q(static_cast<size_t>(n_batch) * config.q_dim()), out(q.size());
  for (auto& x : q) x = dist(rng);

  ThreadPool pool(threads);
  Attention attention(config, DetectSimdLevel());
  std::vector<uint64_t> flush(static_cast<size_t>(flush_mib) << 17, 1);
  uint64_t sink = 0;
  std::vector<double> us;
  for (int r = 0; r < rounds + 1; ++r) {
    for (size_t i = 0; i < flush.size(); i += 8) sink += flush[i];
    const auto t0 = Clock::now();
    for (int l = 0; l < config.n_layer; ++l) attention.Run(cache, l, segments, q.data(), out.data(), pool);
    const auto t1 = Clock::now();
    if (r > 0) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(us.begin(), us.end());
  const double median = us[us.size() / 2];
  const double bytes = 2.0 * config.n_layer * config.kv_dim() * static_cast<double>(depth + tokens) * 2.0 * seqs;
  std::printf("depth %d seqs %d tokens %d threads %d: median %.0f us/step (min %.0f), KV %.1f MB, %.1f GB/s  [%llu]\n",
              depth, seqs, tokens, threads, median, us.front(), bytes / 1e6, bytes / median / 1e3,
              static_cast<unsigned long long>(sink % 10));
  return 0;
}

}  // namespace
}  // namespace bastion

int main(int argc, char** argv) { return bastion::Main(argc, argv); }
