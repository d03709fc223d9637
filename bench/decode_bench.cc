// decode_bench: how close the weight products of single-token decoding come to the machine's
// read bandwidth, on a real model file (weights read into huge-page memory as `bastion bench` and
// `serve` hold them; BASTION_MMAP=1 in the environment maps the file instead, as --mmap does).
//
// Each round runs, back to back so that neighbours on a shared machine affect all alike:
//   read   a plain SIMD read of a 1 GiB huge-page buffer with the pool's threads (what
//          `bastion bench` calls the measured read bandwidth), best of two passes;
//   wread  the same read loop over the weights in decode order (each matrix split in
//          halves between the threads): the best any kernel could do on these pages;
//   decode --tokens tokens' worth of MatMulEngine calls exactly as the forward pass issues them
//          (QKV, O, gate/up, down per layer, then the output head) on random activations; only
//          the products, no attention or element-wise work. Also timed per product kind.
// Prints every round and the medians; the figure of merit is decode GB/s / read GB/s.
//
// Usage: decode_bench MODEL.gguf [--threads N] [--rounds N] [--tokens N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "base/huge_page_region.h"
#include "base/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/vec_ops.h"
#include "model/model.h"

namespace bastion {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : (v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]));
}

// The product kinds timed separately.
enum Kind { kQkv, kO, kGateUp, kDown, kHead, kKinds };
const char* const kKindNames[kKinds] = {"qkv", "o", "gate_up", "down", "head"};

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: decode_bench MODEL.gguf [--threads N] [--rounds N] [--tokens N]\n");
    return 2;
  }
  int threads = 2, rounds = 7, tokens = 8;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (flag == "--threads") threads = v;
    else if (flag == "--rounds") rounds = v;
    else if (flag == "--tokens") tokens = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  const bool mmap = std::getenv("BASTION_MMAP") != nullptr;
  auto loaded = Model::Load(argv[1], mmap ? FileResidency::kMapped : FileResidency::kInMemory);
  if (!loaded.ok()) {
    std::fprintf(stderr, "decode_bench: %s\n", loaded.error().message().c_str());
    return 1;
  }
  const Model& model = **loaded;
  const ModelWeights& w = model.weights();
  const ModelConfig& cfg = model.config();
  const SimdLevel level = DetectSimdLevel();
  ThreadPool pool(threads);
  MatMulEngine engine(pool, level);
  const VecOps& ops = GetVecOps(level);

  // Activations and outputs.
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t C = cfg.n_embd, F = cfg.n_ff;
  std::vector<float> xc(static_cast<size_t>(C)), xf(static_cast<size_t>(F));
  for (auto& v : xc) v = normal(rng);
  for (auto& v : xf) v = normal(rng);
  std::vector<float> q(static_cast<size_t>(cfg.q_dim())), k(static_cast<size_t>(cfg.kv_dim())),
      v(static_cast<size_t>(cfg.kv_dim())), o(static_cast<size_t>(C)), g(static_cast<size_t>(F)),
      u(static_cast<size_t>(F)), logits(static_cast<size_t>(cfg.n_vocab));

  // The matrices in decode order, with their kind.
  std::vector<std::pair<const WeightMatrix*, Kind>> order;
  double kind_bytes[kKinds] = {};
  for (const LayerWeights& lw : w.layers) {
    order.push_back({&lw.wq, kQkv});
    order.push_back({&lw.wk, kQkv});
    order.push_back({&lw.wv, kQkv});
    order.push_back({&lw.wo, kO});
    order.push_back({&lw.w_gate, kGateUp});
    order.push_back({&lw.w_up, kGateUp});
    order.push_back({&lw.w_down, kDown});
  }
  order.push_back({&w.output, kHead});
  double token_bytes = 0;
  for (const auto& [m, kind] : order) {
    kind_bytes[kind] += static_cast<double>(m->total_bytes());
    token_bytes += static_cast<double>(m->total_bytes());
  }

  HugePageRegion region(size_t{1} << 30);
  if (region.data() == nullptr) {
    std::fprintf(stderr, "decode_bench: cannot allocate the 1 GiB probe buffer\n");
    return 1;
  }
  std::span<uint64_t> buf(reinterpret_cast<uint64_t*>(region.data()), region.size() / sizeof(uint64_t));
  auto fill = [&](int ti) {
    const auto [b, e] = ThreadPool::Split(static_cast<int64_t>(buf.size()), ti, pool.size());
    for (int64_t i = b; i < e; ++i) buf[static_cast<size_t>(i)] = static_cast<uint64_t>(i);
  };
  pool.Parallel(fill);
  std::vector<uint64_t> sums(static_cast<size_t>(pool.size()));

  auto read_buffer = [&]() {
    double best = 0;
    for (int pass = 0; pass < 2; ++pass) {
      const auto t0 = Clock::now();
      auto read = [&](int ti) {
        const auto [b, e] = ThreadPool::Split(static_cast<int64_t>(buf.size()), ti, pool.size());
        sums[static_cast<size_t>(ti)] += ops.sum_words(buf.data() + b, e - b);
      };
      pool.Parallel(read);
      best = std::max(best, static_cast<double>(buf.size() * 8) / Seconds(t0, Clock::now()));
    }
    return best;
  };
  auto read_weights = [&]() {
    const auto t0 = Clock::now();
    auto read = [&](int ti) {
      for (const auto& [m, kind] : order) {
        const int64_t words = static_cast<int64_t>(m->total_bytes() / 8);
        const auto [b, e] = ThreadPool::Split(words, ti, pool.size(), 8);
        sums[static_cast<size_t>(ti)] += ops.sum_words(reinterpret_cast<const uint64_t*>(m->data) + b, e - b);
      }
    };
    pool.Parallel(read);
    return token_bytes / Seconds(t0, Clock::now());
  };
  double kind_seconds[kKinds] = {};
  auto decode_token = [&]() {
    auto timed = [&](Kind kind, auto&& fn) {
      const auto t0 = Clock::now();
      fn();
      kind_seconds[kind] += Seconds(t0, Clock::now());
    };
    for (const LayerWeights& lw : w.layers) {
      const MatMulJob qkv[] = {{&lw.wq, q.data(), cfg.q_dim()}, {&lw.wk, k.data(), cfg.kv_dim()},
                               {&lw.wv, v.data(), cfg.kv_dim()}};
      timed(kQkv, [&] { engine.Run(xc.data(), 1, C, qkv); });
      timed(kO, [&] { engine.Run(lw.wo, xc.data(), 1, o.data()); });
      const MatMulJob gate_up[] = {{&lw.w_gate, g.data(), F}, {&lw.w_up, u.data(), F}};
      timed(kGateUp, [&] { engine.Run(xc.data(), 1, C, gate_up); });
      timed(kDown, [&] { engine.Run(lw.w_down, xf.data(), 1, o.data()); });
    }
    timed(kHead, [&] { engine.Run(w.output, xc.data(), 1, logits.data()); });
  };

  std::printf("%s: %.1f MiB of weights per token, %d threads, %s\n", argv[1], token_bytes / 1048576.0,
              threads, SimdLevelName(level));
  std::printf("%5s %9s %9s %9s %7s %7s |", "round", "read", "wread", "decode", "d/read", "d/wread");
  for (const char* n : kKindNames) std::printf(" %8s", n);
  std::printf("   (GB/s)\n");
  decode_token();  // warm-up: page tables, scratch buffers
  {
    // Dispatch cost: an empty parallel job, round trip.
    auto noop = [](int) {};
    const int n = 20000;
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) pool.Parallel(noop);
    std::printf("empty parallel job: %.2f us\n", Seconds(t0, Clock::now()) / n * 1e6);
  }
  std::vector<double> r_read, r_wread, r_dec, r_ratio, r_wratio, r_kind[kKinds];
  for (int round = 0; round < rounds; ++round) {
    const double read = read_buffer();
    std::fill(std::begin(kind_seconds), std::end(kind_seconds), 0.0);
    std::vector<double> token_s;
    for (int t = 0; t < tokens; ++t) {
      const auto t0 = Clock::now();
      decode_token();
      token_s.push_back(Seconds(t0, Clock::now()));
    }
    const double wread = read_weights();
    const double dec = token_bytes / Median(token_s);
    r_read.push_back(read / 1e9);
    r_wread.push_back(wread / 1e9);
    r_dec.push_back(dec / 1e9);
    r_ratio.push_back(dec / read);
    r_wratio.push_back(dec / wread);
    std::printf("%5d %9.2f %9.2f %9.2f %7.3f %7.3f |", round, read / 1e9, wread / 1e9, dec / 1e9, dec / read,
                dec / wread);
    for (int kd = 0; kd < kKinds; ++kd) {
      const double gbs = kind_bytes[kd] * tokens / kind_seconds[kd] / 1e9;
      r_kind[kd].push_back(gbs);
      std::printf(" %8.2f", gbs);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  std::printf("%5s %9.2f %9.2f %9.2f %7.3f %7.3f |", "med", Median(r_read), Median(r_wread), Median(r_dec),
              Median(r_ratio), Median(r_wratio));
  for (int kd = 0; kd < kKinds; ++kd) std::printf(" %8.2f", Median(r_kind[kd]));
  std::printf("\n");
  uint64_t total = 0;
  for (uint64_t s : sums) total += s;
  return total == 42 ? 3 : 0;  // keeps the reads alive
}

}  // namespace
}  // namespace bastion

int main(int argc, char** argv) { return bastion::Main(argc, argv); }
