// `bastion bench`: prompt processing and generation speed, llama-bench style.
//
//   bastion bench -m FILE [-p 512] [-n 128] [-r 5] [-t THREADS] [-d DEPTH] [--json]
// pp<P>: one batch of P random tokens from an empty context (logits for the last one only).
// tg<N>: N tokens decoded one at a time from an empty context (or after DEPTH tokens, -d).
// Each test runs once to warm up, then -r times; t/s is reported as mean +- stddev and median.
// Decode is memory-bound, so tg also reports the weight bytes read per second and the limit the
// machine's measured read bandwidth implies.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "app/cli_common.h"
#include "base/huge_page_region.h"
#include "base/peak_memory.h"
#include "base/thread_pool.h"
#include "kernels/vec_ops.h"

namespace bastion::cli {
namespace {

struct BenchArgs {
  ModelOptions model;
  int n_prompt = 512;
  int n_gen = 128;
  int reps = 5;
  int depth = 0;
  bool json = false;
};

struct Stats {
  double mean = 0, stddev = 0, median = 0;
  std::vector<double> samples;
};

Stats Summarize(std::vector<double> v) {
  Stats s;
  s.samples = v;
  if (v.empty()) return s;
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  double var = 0;
  for (double x : v) var += (x - s.mean) * (x - s.mean);
  s.stddev = v.size() > 1 ? std::sqrt(var / static_cast<double>(v.size() - 1)) : 0.0;
  std::sort(v.begin(), v.end());
  s.median = v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  return s;
}

// Read bandwidth of this machine with the pool's threads over a buffer larger than the caches
// (best of a few passes, SIMD reads), in bytes per second. The buffer is filled once and kept, so
// the probe can be repeated between decode repetitions: this VM's memory bandwidth moves by
// tens of percent from one second to the next (docs/PERFORMANCE.md), and only a probe taken
// around a repetition tells what the memory could do while that repetition ran.
class ReadProbe {
 public:
  ReadProbe(ThreadPool& pool, SimdLevel level) : pool_(pool), ops_(GetVecOps(level)), region_(kBytes) {
    if (region_.data() == nullptr) return;
    auto fill = [&](int ti) {
      const auto [b, e] = ThreadPool::Split(static_cast<int64_t>(words().size()), ti, pool_.size());
      for (int64_t i = b; i < e; ++i) words()[i] = static_cast<uint64_t>(i);
    };
    pool_.Parallel(fill);
  }

  // Bytes per second, best of `passes`; 0 where the buffer could not be had.
  double Measure(int passes) {
    if (region_.data() == nullptr) return 0;
    double best = 0;
    std::vector<uint64_t> sums(static_cast<size_t>(pool_.size()));
    for (int pass = 0; pass < passes; ++pass) {
      const auto start = std::chrono::steady_clock::now();
      auto read = [&](int ti) {
        const auto [b, e] = ThreadPool::Split(static_cast<int64_t>(words().size()), ti, pool_.size());
        sums[static_cast<size_t>(ti)] = ops_.sum_words(words().data() + b, e - b);
      };
      pool_.Parallel(read);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best = std::max(best, static_cast<double>(kBytes) / s);
    }
    volatile uint64_t sink = std::accumulate(sums.begin(), sums.end(), uint64_t{0});
    (void)sink;
    return best;
  }

 private:
  // Huge pages, as the weights use (base/mapped_file.h): the limit is what this memory can do.
  static constexpr size_t kBytes = size_t{1} << 30;  // 1 GiB
  std::span<uint64_t> words() const {
    return {reinterpret_cast<uint64_t*>(region_.data()), kBytes / sizeof(uint64_t)};
  }
  ThreadPool& pool_;
  const VecOps& ops_;
  HugePageRegion region_;
};

int RunBench(const BenchArgs& a) {
  auto model = LoadModel(a.model.model_path, a.model.residency());
  if (!model.ok()) return Fail(model.error());
  const Model& m = **model;
  auto options = a.model.ToContextOptions();
  if (!options.ok()) return Fail(options.error());
  options->n_ctx = std::max(a.depth + std::max(a.n_prompt, a.n_gen) + 1, 256);
  if (m.config().n_ctx_train > 0 && options->n_ctx > m.config().n_ctx_train) {
    return Fail("depth + test length exceed the model's context (" + std::to_string(m.config().n_ctx_train) + ")");
  }
  auto ctx_result = InferenceContext::Create(m, *options);
  if (!ctx_result.ok()) return Fail(ctx_result.error());
  InferenceContext& ctx = **ctx_result;
  const int threads = ctx.pool().size();

  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> pick(0, std::min(m.config().n_vocab, m.tokenizer().n_vocab()) - 1);
  auto random_tokens = [&](int n) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& id : t) id = pick(rng);
    return t;
  };
  std::vector<float> logits;
  auto prefill_depth = [&]() -> Status {
    ctx.TruncateSlot(0, 0);
    if (a.depth > 0) return ctx.Evaluate(0, random_tokens(a.depth), LogitsMode::kNone, nullptr);
    return OkStatus();
  };
  auto run_pp = [&]() -> Result<double> {
    BASTION_RETURN_IF_ERROR(prefill_depth());
    const auto tokens = random_tokens(a.n_prompt);
    const auto start = std::chrono::steady_clock::now();
    BASTION_RETURN_IF_ERROR(ctx.Evaluate(0, tokens, LogitsMode::kLast, &logits));
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  auto run_tg = [&]() -> Result<double> {
    BASTION_RETURN_IF_ERROR(prefill_depth());
    const auto tokens = random_tokens(a.n_gen);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < a.n_gen; ++i) {
      BASTION_RETURN_IF_ERROR(ctx.Evaluate(0, std::span<const int32_t>(&tokens[i], 1), LogitsMode::kLast, &logits));
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };

  struct Test {
    std::string name;
    int n_prompt, n_gen;
    Stats ts;
  };
  std::vector<Test> tests;
  const double bytes_per_token = static_cast<double>(m.weights().DecodeBytesPerToken());
  // Peak memory of the tests themselves: read after the warm-up runs (the repetitions allocate
  // nothing more) and before the bandwidth probe's 1 GiB buffer.
  double peak_rss = 0;
  std::unique_ptr<ReadProbe> probe;
  std::vector<double> probes;  // every probe's bytes per second
  std::vector<double> shares;  // per tg repetition: t/s over the limit the probes around it imply
  auto measure = [&](const std::string& name, int np, int ng, const std::function<Result<double>()>& fn) -> Status {
    BASTION_ASSIGN_OR_RETURN(double warm, fn());
    (void)warm;
    peak_rss = static_cast<double>(PeakResidentBytes());
    const bool decode = ng > 0;
    if (decode && probe == nullptr) probe = std::make_unique<ReadProbe>(ctx.pool(), ctx.options().simd);
    std::vector<double> tps;
    const int n = np > 0 ? np : ng;
    double before = decode ? probe->Measure(2) : 0.0;
    for (int r = 0; r < a.reps; ++r) {
      BASTION_ASSIGN_OR_RETURN(double seconds, fn());
      tps.push_back(static_cast<double>(n) / seconds);
      if (!decode) continue;
      const double after = probe->Measure(2);
      probes.push_back(before);
      if (before > 0 && after > 0) shares.push_back(tps.back() * bytes_per_token / (0.5 * (before + after)));
      before = after;
    }
    if (decode) probes.push_back(before);
    tests.push_back({name, np, ng, Summarize(tps)});
    return OkStatus();
  };
  const std::string at_depth = a.depth > 0 ? " @ d" + std::to_string(a.depth) : "";
  if (a.n_prompt > 0) {
    const Status st = measure("pp" + std::to_string(a.n_prompt) + at_depth, a.n_prompt, 0, run_pp);
    if (!st.ok()) return Fail(st.error());
  }
  if (a.n_gen > 0) {
    const Status st = measure("tg" + std::to_string(a.n_gen) + at_depth, 0, a.n_gen, run_tg);
    if (!st.ok()) return Fail(st.error());
  }

  // The read bandwidth: the median of the probes (each the best of two passes), and each
  // repetition's share of the limit against the probes just before and after it.
  const double bandwidth = Summarize(probes).median;
  const Stats share = Summarize(shares);
  const double file_bytes = static_cast<double>(m.gguf().mapped_file().size());
  const std::string simd = SimdLevelName(ctx.options().simd);

  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const Test& t : tests) {
      nlohmann::json j;
      j["model_filename"] = m.path();
      j["model_type"] = m.Describe();
      j["model_size"] = static_cast<uint64_t>(file_bytes);
      j["model_n_params"] = m.ParameterCount();
      j["n_threads"] = threads;
      j["simd"] = simd;
      j["n_prompt"] = t.n_prompt;
      j["n_gen"] = t.n_gen;
      j["n_depth"] = a.depth;
      j["avg_ts"] = t.ts.mean;
      j["stddev_ts"] = t.ts.stddev;
      j["median_ts"] = t.ts.median;
      j["samples_ts"] = t.ts.samples;
      j["peak_rss_bytes"] = static_cast<uint64_t>(peak_rss);
      if (t.n_gen > 0) {
        j["weight_bytes_per_token"] = static_cast<uint64_t>(bytes_per_token);
        j["avg_gbps"] = t.ts.mean * bytes_per_token / 1e9;
        j["read_bandwidth_gbps"] = bandwidth / 1e9;
        j["bandwidth_limit_ts"] = bandwidth / bytes_per_token;
        j["limit_share_median"] = share.median;
        j["limit_share_samples"] = share.samples;
      }
      out.push_back(j);
    }
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }

  std::printf("model: %s\n", m.Describe().c_str());
  const bool in_memory = m.gguf().mapped_file().residency() == FileResidency::kInMemory;
  std::printf("file: %s (%.1f MiB, %s), threads: %d, simd: %s, kv: %s\n", m.path().c_str(), file_bytes / 1048576.0,
              in_memory ? "in memory" : "mapped", threads, simd.c_str(), TypeName(ctx.options().kv_type));
  std::printf("| %-14s | %20s | %12s | %10s |\n", "test", "t/s (mean +- sd)", "median t/s", "GB/s");
  std::printf("|%s|%s|%s|%s|\n", std::string(16, '-').c_str(), std::string(22, '-').c_str(),
              std::string(14, '-').c_str(), std::string(12, '-').c_str());
  for (const Test& t : tests) {
    char gbps[32] = "";
    if (t.n_gen > 0) std::snprintf(gbps, sizeof gbps, "%.1f", t.ts.median * bytes_per_token / 1e9);
    std::printf("| %-14s | %12.2f +- %5.2f | %12.2f | %10s |\n", t.name.c_str(), t.ts.mean, t.ts.stddev, t.ts.median, gbps);
  }
  std::printf("peak resident memory: %.1f MiB (weights included)\n", peak_rss / 1048576.0);
  if (a.n_gen > 0) {
    std::printf("decode reads %.1f MiB of weights per token; measured read bandwidth (median probe) %.1f GB/s -> limit %.1f t/s\n",
                bytes_per_token / 1048576.0, bandwidth / 1e9, bandwidth / bytes_per_token);
    if (!shares.empty()) {
      std::string each;
      for (double s : share.samples) {
        char v[16];
        std::snprintf(v, sizeof v, "%s%.2f", each.empty() ? "" : " ", s);
        each += v;
      }
      std::printf("share of the read limit per repetition, against the probes around it: median %.2f (%s)\n",
                  share.median, each.c_str());
    }
  }
  return kExitOk;
}

}  // namespace

Command AddBenchCommand(CLI::App& root) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* app = root.add_subcommand("bench", "Measure prompt processing (pp) and generation (tg) speed");
  args->model.Register(app, /*with_context=*/false);
  app->add_option("-p,--n-prompt", args->n_prompt, "Prompt tokens for the pp test; 0 = skip (default 512)")
      ->check(CLI::Range(0, 1 << 20));
  app->add_option("-n,--n-gen", args->n_gen, "Tokens for the tg test; 0 = skip (default 128)")->check(CLI::Range(0, 1 << 20));
  app->add_option("-r,--repetitions", args->reps, "Repetitions of each test (default 5)")->check(CLI::Range(1, 1000));
  app->add_option("-d,--depth", args->depth, "Tokens already in the context before each test (default 0)")
      ->check(CLI::Range(0, 1 << 20));
  app->add_option("--kv-type", args->model.kv_type, "KV cache type: f16 (default) or f32")
      ->check(CLI::IsMember({"f16", "f32"}, CLI::ignore_case));
  app->add_option("--ubatch", args->model.ubatch, "Tokens per forward pass (default 512)")->check(CLI::Range(1, 8192));
  app->add_flag("--json", args->json, "Print llama-bench-style JSON");
  return {app, [args] { return RunBench(*args); }};
}

}  // namespace bastion::cli
