// gemm_bench: single-thread throughput of the legacy-type gemm kernels per weight type and SIMD
// level, on the shapes the model runs (defaults: Qwen2.5-0.5B's FFN, k = 896, nr = 4864).
//
//   decode  (nc = 1)  memory-bound: reported as GB/s of weight bytes streamed. "hot" reuses one
//                     matrix (it stays in the last-level cache); "cold" rotates through copies
//                     totalling --cold-mb so the weights come from DRAM as in real decoding.
//   prefill (nc = 64, --prefill-nc) compute-bound: GOP/s (2 * k * nr * nc / time).
//   chunked (nc = 64) prefill the way kernels/matmul.cc slices it: k = 4864 (ffn_down), calls of
//                     --chunk-rows rows each, so per-call setup costs show.
// Each figure is the best of --reps timed runs of >= 0.2 s of this thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID: on a shared machine, time spent preempted does not count; cache and
// memory-bandwidth contention still do, hence the best of several runs).
//
// Usage: gemm_bench [--types q8_0,q4_0,...] [--levels scalar,avx2,avx512] [--k N] [--nr N]
//                   [--cold-mb N] [--chunk-rows N] [--prefill-nc N] [--reps N]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <time.h>

#include "base/half.h"
#include "kernels/gemm.h"
#include "kernels/gemm_legacy_internal.h"
#include "kernels/weight_layout.h"
#include "quant/quantize.h"
#include "quant/types.h"

namespace bastion {
namespace {

struct Options {
  std::vector<GgmlType> types = {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ5_0, GgmlType::kQ4_1,
                                 GgmlType::kQ5_1, GgmlType::kF16,  GgmlType::kBF16, GgmlType::kF32};
  std::vector<std::string> levels = {"avx2", "avx2_repacked", "avx512", "avx512_repacked", "avx512_nobf16"};
  int64_t k = 896;
  int64_t nr = 4864;
  int64_t cold_mb = 1024;
  int64_t chunk_rows = 16;
  int64_t prefill_nc = 64;
  int reps = 5;
};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

GemmFn KernelFor(GgmlType t, const std::string& level) {
  if (level == "scalar") return GetGemm(t, SimdLevel::kScalar);
  if (level == "avx2") return DetectSimdLevel() >= SimdLevel::kAvx2 ? GetGemm(t, SimdLevel::kAvx2) : nullptr;
#if defined(BASTION_HAVE_AVX512)
  if (DetectSimdLevel() < SimdLevel::kAvx512) return nullptr;
  if (level == "avx512") return GetGemm(t, SimdLevel::kAvx512);
  if (level == "avx512_nobf16") return t == GgmlType::kBF16 ? legacy::GemmFloatAvx512(t, false) : nullptr;
  // The two internal paths of the block types (row kernel, column kernel), each forced for
  // every shape.
  if (level == "avx512_rows") return legacy::GemmRowsAvx512(t);
  if (level == "avx512_cols") return legacy::GemmColsAvx512(t);
#endif
  return nullptr;
}

// Random weights of realistic magnitude (quantized from normal floats).
std::vector<uint8_t> MakeWeights(GgmlType t, int64_t k, int64_t nr) {
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  const size_t row = RowBytes(t, k);
  std::vector<uint8_t> w(row * static_cast<size_t>(nr));
  std::vector<float> f(static_cast<size_t>(k));
  for (int64_t r = 0; r < nr; ++r) {
    for (auto& v : f) v = normal(rng);
    QuantizeRow(t, f.data(), w.data() + r * row, k);
  }
  return w;
}

std::vector<uint8_t> MakeActs(GgmlType wt, int64_t k, int64_t nc) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const GgmlType at = VecDotType(wt);
  const size_t row = RowBytes(at, k);
  std::vector<uint8_t> a(row * static_cast<size_t>(nc));
  std::vector<float> f(static_cast<size_t>(k));
  for (int64_t c = 0; c < nc; ++c) {
    for (auto& v : f) v = normal(rng);
    QuantizeRow(at, f.data(), a.data() + c * row, k);
  }
  return a;
}

double ThreadSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Best CPU seconds per call of fn over reps runs of >= 0.2 s each.
template <class Fn>
double BestSeconds(int reps, Fn&& fn) {
  double best = 1e30;
  for (int rep = 0; rep < reps; ++rep) {
    int64_t calls = 0;
    const double start = ThreadSeconds();
    double elapsed = 0;
    do {
      fn(calls++);
      elapsed = ThreadSeconds() - start;
    } while (elapsed < 0.2);
    best = std::min(best, elapsed / static_cast<double>(calls));
  }
  return best;
}

void Run(const Options& o) {
  std::printf("k=%lld nr=%lld, single thread, SIMD detected: %s%s\n", static_cast<long long>(o.k),
              static_cast<long long>(o.nr), SimdLevelName(DetectSimdLevel()),
              CpuHasAvx512Bf16() ? " (+AVX512_BF16)" : "");
  std::printf("%-6s %-14s %12s %12s %14s %16s\n", "type", "level", "decode GB/s", "cold GB/s",
              "prefill GOP/s", "chunked GOP/s");
  for (GgmlType t : o.types) {
    const auto w = MakeWeights(t, o.k, o.nr);
    const size_t row = RowBytes(t, o.k);
    const GgmlType at = VecDotType(t);
    const auto a1 = MakeActs(t, o.k, 1);
    const auto a64 = MakeActs(t, o.k, o.prefill_nc);
    // Cold decode: copies of the matrix filling --cold-mb, visited in turn.
    const size_t copies = std::max<size_t>(2, static_cast<size_t>(o.cold_mb) * (1 << 20) / w.size());
    std::vector<uint8_t> cold(w.size() * copies);
    for (size_t i = 0; i < copies; ++i) std::memcpy(cold.data() + i * w.size(), w.data(), w.size());
    // Chunked prefill: ffn_down-like k = 4864, 896 output rows in slices of chunk_rows.
    const int64_t kd = 4864, nrd = 896;
    const auto wd = MakeWeights(t, kd, nrd);
    const auto ad = MakeActs(t, kd, 64);
    std::vector<float> y(static_cast<size_t>(std::max(o.nr, nrd)) * static_cast<size_t>(std::max<int64_t>(64, o.prefill_nc)));

    for (const std::string& level : o.levels) {
      GemmFn fn = KernelFor(t, level);
      // "avx2_repacked", "avx512_repacked": the weights in the layout Model::Load repacks them
      // into at that level (kernels/weight_layout.h: Q5_0 pairs or lanes, Q8_0 lanes), through
      // its kernel.
      const bool repacked = level == "avx2_repacked" || level == "avx512_repacked";
      const SimdLevel repack_level = level == "avx512_repacked" ? SimdLevel::kAvx512 : SimdLevel::kAvx2;
      const WeightLayout layout = PreferredLayout(t, o.k, o.nr, repack_level);
      if (repacked) {
        if (DetectSimdLevel() < repack_level || layout == WeightLayout::kFile ||
            PreferredLayout(t, 4864, 896, repack_level) != layout) {
          continue;
        }
        fn = GetLayoutGemm(t, layout, repack_level);
      }
      if (fn == nullptr) continue;
      std::vector<uint8_t> w_repacked, cold_repacked, wd_repacked;
      const uint8_t* w_data = w.data();
      const uint8_t* cold_data = cold.data();
      const uint8_t* wd_data = wd.data();
      if (repacked) {
        w_repacked = w;
        cold_repacked = cold;
        wd_repacked = wd;
        RepackRows(layout, t, o.k, w_repacked.data(), row, o.nr);
        RepackRows(layout, t, o.k, cold_repacked.data(), row, o.nr * static_cast<int64_t>(copies));
        RepackRows(layout, t, kd, wd_repacked.data(), RowBytes(t, kd), nrd);
        w_data = w_repacked.data();
        cold_data = cold_repacked.data();
        wd_data = wd_repacked.data();
      }
      const double hot = BestSeconds(o.reps, [&](int64_t) {
        fn(o.k, w_data, row, o.nr, a1.data(), RowBytes(at, o.k), 1, y.data(), static_cast<size_t>(o.nr));
      });
      const double cold_s = BestSeconds(o.reps, [&](int64_t call) {
        const uint8_t* m = cold_data + static_cast<size_t>(call) % copies * w.size();
        fn(o.k, m, row, o.nr, a1.data(), RowBytes(at, o.k), 1, y.data(), static_cast<size_t>(o.nr));
      });
      const int prefill_reps = level == "scalar" ? 1 : o.reps;
      const double pre = BestSeconds(prefill_reps, [&](int64_t) {
        fn(o.k, w_data, row, o.nr, a64.data(), RowBytes(at, o.k), o.prefill_nc, y.data(), static_cast<size_t>(o.nr));
      });
      const size_t rowd = RowBytes(t, kd);
      const double chunked = BestSeconds(prefill_reps, [&](int64_t) {
        for (int64_t r0 = 0; r0 < nrd; r0 += o.chunk_rows) {
          const int64_t n = std::min(o.chunk_rows, nrd - r0);
          fn(kd, wd_data + r0 * rowd, rowd, n, ad.data(), RowBytes(at, kd), 64, y.data() + r0,
             static_cast<size_t>(nrd));
        }
      });
      const double bytes = static_cast<double>(w.size());
      const double ops = 2.0 * static_cast<double>(o.k) * static_cast<double>(o.nr) * static_cast<double>(o.prefill_nc);
      const double ops_d = 2.0 * kd * nrd * 64;
      std::printf("%-6s %-14s %12.1f %12.1f %14.1f %16.1f\n", TypeName(t), level.c_str(), bytes / hot / 1e9,
                  bytes / cold_s / 1e9, ops / pre / 1e9, ops_d / chunked / 1e9);
      std::fflush(stdout);
    }
  }
}

}  // namespace
}  // namespace bastion

int main(int argc, char** argv) {
  bastion::Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--types") {
      o.types.clear();
      for (const auto& name : bastion::Split(value)) {
        const auto t = bastion::ParseTypeName(name);
        if (!t) {
          std::fprintf(stderr, "unknown type %s\n", name.c_str());
          return 2;
        }
        o.types.push_back(*t);
      }
    } else if (flag == "--levels") {
      o.levels = bastion::Split(value);
    } else if (flag == "--k") {
      o.k = std::atoll(value.c_str());
    } else if (flag == "--nr") {
      o.nr = std::atoll(value.c_str());
    } else if (flag == "--cold-mb") {
      o.cold_mb = std::atoll(value.c_str());
    } else if (flag == "--chunk-rows") {
      o.chunk_rows = std::atoll(value.c_str());
    } else if (flag == "--prefill-nc") {
      o.prefill_nc = std::atoll(value.c_str());
    } else if (flag == "--reps") {
      o.reps = std::atoi(value.c_str());
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  bastion::Run(o);
  return 0;
}
