// engine_bench: continuous batching throughput and latency of the engine on a model file.
//
// For each stream count (default 1, 4, 8) it submits that many greedy requests at once (distinct
// prompts of --prompt tokens, --tokens generated each, end-of-generation ignored) to one engine
// with --parallel slots, and reports:
//   agg t/s   generated tokens of all streams / wall time from submit to the last final event
//   dec t/s   aggregate decode rate: tokens after each stream's first / (last done - last first
//             token), i.e. the steady state with every stream decoding
//   ttft      time to first token (median and max over the streams), queueing included
// Rounds repeat back to back (a shared machine is noisy); the medians are printed last, with the
// 8-stream rate as a multiple of the single-stream one (a batched decode step reads the weights
// once for every stream, so it should be well above 1.5x).
//
// --prefix N adds a prefix-sharing case: request A (N shared tokens + 1) is decoding when B
// (the same N tokens + 2) arrives; B's time to first token with the busy slot's KV prefix copied
// (min_copy_prefix 32) vs recomputed (copying disabled).
//
// Usage: engine_bench MODEL.gguf [--parallel 8] [--threads 0] [--tokens 128] [--prompt 32]
//                     [--rounds 3] [--streams 1,4,8] [--prefix 0]
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "model/model.h"

namespace bastion::engine {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : (v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]));
}

struct Flags {
  std::string model;
  int parallel = 8, threads = 0, tokens = 128, prompt = 32, rounds = 3, prefix = 0;
  std::vector<int> streams = {1, 4, 8};
};

// One request's timeline as the bench sees it.
struct Track {
  Clock::time_point first, done;
  bool has_first = false, finished = false;
  int generated = 0;
  std::vector<std::pair<Clock::time_point, int>> events;  // (when, tokens) per event
};

// Waits for a set of requests submitted together.
class Batch {
 public:
  explicit Batch(size_t n) : tracks_(n) {}
  std::function<bool(const Event&)> Callback(size_t i) {
    return [this, i](const Event& e) {
      std::lock_guard<std::mutex> lock(mu_);
      Track& t = tracks_[i];
      const auto now = Clock::now();
      if (!t.has_first && (!e.tokens.empty() || e.done)) {
        t.first = now;
        t.has_first = true;
      }
      t.events.emplace_back(now, static_cast<int>(e.tokens.size()));
      if (e.done) {
        t.done = Clock::now();
        t.finished = true;
        t.generated = e.stats.generated_tokens;
        if (!e.error.empty()) std::fprintf(stderr, "request %zu failed: %s\n", i, e.error.c_str());
        cv_.notify_all();
      }
      return true;
    };
  }
  std::vector<Track> Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] {
      return std::all_of(tracks_.begin(), tracks_.end(), [](const Track& t) { return t.finished; });
    });
    return tracks_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Track> tracks_;
};

std::vector<int32_t> MakePrompt(int n, int salt, int n_vocab) {
  std::vector<int32_t> p(n);
  // Ordinary tokens (well below the specials), distinct from the first token on per salt so
  // that the prefix cache never helps.
  const int range = std::min(n_vocab, 100000) - 1000;
  for (int i = 0; i < n; ++i) p[i] = 1000 + static_cast<int>((salt * 7919ull + i * 104729ull + i * i) % range);
  return p;
}

struct RunResult {
  double agg_tps, dec_tps, ttft_median, ttft_max;
};

RunResult RunStreams(Engine& engine, int n_streams, const Flags& f, int salt) {
  GenerationParams params;
  params.sampling.temperature = 0.0f;
  params.max_tokens = f.tokens;
  params.ignore_eos = true;
  const int n_vocab = engine.model().config().n_vocab;
  Batch batch(n_streams);
  const auto start = Clock::now();
  for (int i = 0; i < n_streams; ++i) {
    Request r;
    r.prompt = MakePrompt(f.prompt, salt * 64 + i, n_vocab);
    r.params = params;
    r.on_event = batch.Callback(i);
    auto id = engine.Submit(std::move(r));
    if (std::holds_alternative<Engine::Rejection>(id)) {
      std::fprintf(stderr, "rejected: %s\n", std::get<Engine::Rejection>(id).message.c_str());
      std::exit(1);
    }
  }
  const std::vector<Track> tracks = batch.Wait();
  Clock::time_point last_done = start, last_first = start;
  int total = 0, after_first = 0;
  std::vector<double> ttft;
  for (const Track& t : tracks) {
    last_done = std::max(last_done, t.done);
    last_first = std::max(last_first, t.first);
    total += t.generated;
    ttft.push_back(Seconds(t.first - start));
  }
  // Steady state: tokens that arrived once every stream had its first token.
  for (const Track& t : tracks) {
    for (const auto& [when, n] : t.events) {
      if (when > last_first) after_first += n;
    }
  }
  RunResult r;
  r.agg_tps = total / Seconds(last_done - start);
  r.dec_tps = after_first / std::max(1e-9, Seconds(last_done - last_first));
  r.ttft_median = Median(ttft);
  r.ttft_max = *std::max_element(ttft.begin(), ttft.end());
  return r;
}

// B's time to first token while A (sharing `prefix` tokens) decodes.
double PrefixTtft(const Model& model, const Flags& f, int min_copy, int salt) {
  EngineOptions o;
  o.n_slots = 2;
  o.n_ctx = std::max(4096, f.prefix + f.tokens + 16);
  o.n_threads = f.threads;
  o.min_copy_prefix = min_copy;
  o.prefill_chunk = std::max(512, f.prefix + 8);
  auto engine = Engine::Create(model, o);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.error().message().c_str());
    std::exit(1);
  }
  const std::vector<int32_t> shared = MakePrompt(f.prefix, salt, model.config().n_vocab);
  GenerationParams params;
  params.sampling.temperature = 0.0f;
  params.ignore_eos = true;
  params.max_tokens = 64;
  Batch a(1), b(1);
  std::mutex mu;
  std::condition_variable cv;
  bool a_decoding = false;
  Request ra;
  ra.prompt = shared;
  ra.prompt.push_back(1001);
  ra.params = params;
  auto a_cb = a.Callback(0);
  ra.on_event = [&](const Event& e) {
    {
      std::lock_guard<std::mutex> lock(mu);
      a_decoding = true;
    }
    cv.notify_all();
    return a_cb(e);
  };
  (void)(*engine)->Submit(std::move(ra));
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return a_decoding; });
  }
  Request rb;
  rb.prompt = shared;
  rb.prompt.insert(rb.prompt.end(), {1002, 1003});
  rb.params = params;
  rb.params.max_tokens = 1;
  rb.on_event = b.Callback(0);
  const auto start = Clock::now();
  (void)(*engine)->Submit(std::move(rb));
  const Track tb = b.Wait()[0];
  a.Wait();
  return Seconds(tb.first - start);
}

int Main(int argc, char** argv) {
  Flags f;
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: engine_bench MODEL.gguf [--parallel 8] [--threads 0] [--tokens 128] [--prompt 32]\n"
                 "                    [--rounds 3] [--streams 1,4,8] [--prefix 0]\n");
    return 2;
  }
  f.model = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--parallel") f.parallel = std::atoi(v);
    else if (flag == "--threads") f.threads = std::atoi(v);
    else if (flag == "--tokens") f.tokens = std::atoi(v);
    else if (flag == "--prompt") f.prompt = std::atoi(v);
    else if (flag == "--rounds") f.rounds = std::atoi(v);
    else if (flag == "--prefix") f.prefix = std::atoi(v);
    else if (flag == "--streams") {
      f.streams.clear();
      std::stringstream ss(v);
      for (std::string part; std::getline(ss, part, ',');) f.streams.push_back(std::atoi(part.c_str()));
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  // Weights held as `serve` holds them (in memory; BASTION_MMAP=1 maps the file, as --mmap does).
  const bool mmap = std::getenv("BASTION_MMAP") != nullptr;
  auto model = Model::Load(f.model, mmap ? FileResidency::kMapped : FileResidency::kInMemory);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.error().message().c_str());
    return 1;
  }
  EngineOptions o;
  o.n_slots = f.parallel;
  o.n_ctx = std::max(512, f.prompt + f.tokens + 8);
  o.n_threads = f.threads;
  auto engine = Engine::Create(**model, o);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.error().message().c_str());
    return 1;
  }
  std::printf("model %s, parallel %d, prompt %d, tokens %d per stream\n", f.model.c_str(), f.parallel, f.prompt,
              f.tokens);
  std::printf("%-6s %-7s %10s %10s %12s %10s\n", "round", "streams", "agg t/s", "dec t/s", "ttft med ms",
              "ttft max");
  std::vector<std::vector<RunResult>> results(f.streams.size());
  int salt = 1;
  for (int round = 0; round < f.rounds; ++round) {
    for (size_t s = 0; s < f.streams.size(); ++s) {
      const RunResult r = RunStreams(**engine, f.streams[s], f, salt++);
      results[s].push_back(r);
      std::printf("%-6d %-7d %10.2f %10.2f %12.1f %10.1f\n", round, f.streams[s], r.agg_tps, r.dec_tps,
                  r.ttft_median * 1e3, r.ttft_max * 1e3);
      std::fflush(stdout);
    }
  }
  std::printf("\nmedians over %d rounds\n", f.rounds);
  // The speedup over one stream is taken within each round (neighbours on a shared machine slow
  // a whole round alike), then the median of those.
  const auto single = std::find(f.streams.begin(), f.streams.end(), 1);
  for (size_t s = 0; s < f.streams.size(); ++s) {
    std::vector<double> agg, dec, ttft, speedup;
    for (size_t r = 0; r < results[s].size(); ++r) {
      agg.push_back(results[s][r].agg_tps);
      dec.push_back(results[s][r].dec_tps);
      ttft.push_back(results[s][r].ttft_median);
      if (single != f.streams.end()) speedup.push_back(results[s][r].agg_tps / results[single - f.streams.begin()][r].agg_tps);
    }
    std::printf("streams %-3d agg %8.2f t/s  dec %8.2f t/s  ttft %7.1f ms", f.streams[s], Median(agg), Median(dec),
                Median(ttft) * 1e3);
    if (!speedup.empty()) std::printf("  agg %.2fx single-stream", Median(speedup));
    std::printf("\n");
  }

  if (f.prefix > 0) {
    engine->reset();
    std::vector<double> copy, recompute;
    for (int round = 0; round < f.rounds; ++round) {
      copy.push_back(PrefixTtft(**model, f, 32, 1000 + round));
      recompute.push_back(PrefixTtft(**model, f, 0, 2000 + round));
    }
    std::printf("\nprefix %d tokens shared with a busy slot: ttft copied %.1f ms, recomputed %.1f ms (medians)\n",
                f.prefix, Median(copy) * 1e3, Median(recompute) * 1e3);
  }
  return 0;
}

}  // namespace
}  // namespace bastion::engine

int main(int argc, char** argv) { return bastion::engine::Main(argc, argv); }
