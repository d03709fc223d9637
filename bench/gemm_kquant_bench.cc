// gemm_kquant_bench: single-thread throughput of the K-quant kernels per type and SIMD level.
//
//   decode  k=4864 nr=896 nc=1   GB/s of weights streamed; "hot" reuses one matrix (it stays in
//                                L2/L3), "cold" cycles through ~256 MiB of copies so the weights
//                                come from DRAM as they do in a real model.
//   prefill k=4864 nr=896 nc=64  GOP/s, counting 2 ops (multiply + add) per weight x activation.
//   sweep   AVX-512 row vs column kernels for nc = 1..16 (where they cross; the small-batch
//           kernel's threshold, kAvx512MinColsForPairKernel in kernels/gemm_kquant_internal.h,
//           was tuned against the row kernel).
// Usage: gemm_kquant_bench [--quick]   (--quick: shorter timings, no sweep)
#include <algorithm>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/gemm_kquant_internal.h"
#include "quant/quantize.h"
#include "quant/types.h"

namespace bastion {
namespace {

constexpr int64_t kK = 4864;
constexpr int64_t kRows = 896;
constexpr GgmlType kTypes[] = {GgmlType::kQ4_K, GgmlType::kQ6_K, GgmlType::kQ5_K,
                               GgmlType::kQ3_K, GgmlType::kQ2_K};

// Thread CPU time rather than wall time: the benchmark machine is shared (2 cores), and time
// spent descheduled must not count against the kernel.
double Seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Best over `reps` rounds of the mean time per call, each round running for at least min_s.
template <typename F>
double TimePerCall(F&& call, double min_s, int reps) {
  double best = 1e30;
  for (int rep = 0; rep < reps; ++rep) {
    int64_t n = 0;
    const double t0 = Seconds();
    double t1 = t0;
    do {
      call(n++);
      t1 = Seconds();
    } while (t1 - t0 < min_s);
    best = std::min(best, (t1 - t0) / static_cast<double>(n));
  }
  return best;
}

struct Data {
  std::vector<uint8_t> weights;  // `copies` matrices back to back
  int copies = 1;
  size_t matrix_bytes = 0;
  std::vector<uint8_t> acts;     // 64 Q8_K rows
};

Data MakeData(GgmlType t, int copies) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Data d;
  d.copies = copies;
  const size_t row_bytes = RowBytes(t, kK);
  d.matrix_bytes = row_bytes * kRows;
  std::vector<float> row(kK);
  std::vector<uint8_t> one(d.matrix_bytes);
  // Quantize a few distinct rows and tile them: values do not change the kernels' speed.
  for (int64_t r = 0; r < kRows; ++r) {
    if (r < 8) {
      for (float& v : row) v = normal(rng) * 0.05f;
      QuantizeRow(t, row.data(), one.data() + r * row_bytes, kK);
    } else {
      std::memcpy(one.data() + r * row_bytes, one.data() + (r % 8) * row_bytes, row_bytes);
    }
  }
  d.weights.resize(d.matrix_bytes * copies);
  for (int c = 0; c < copies; ++c) std::memcpy(d.weights.data() + c * d.matrix_bytes, one.data(), d.matrix_bytes);
  const size_t act_bytes = RowBytes(GgmlType::kQ8_K, kK);
  d.acts.resize(act_bytes * 64);
  for (int c = 0; c < 64; ++c) {
    for (float& v : row) v = normal(rng);
    QuantizeRow(GgmlType::kQ8_K, row.data(), d.acts.data() + c * act_bytes, kK);
  }
  return d;
}

double RunGemm(GemmFn fn, GgmlType t, const Data& d, int64_t nc, bool cold, double min_s, int reps) {
  const size_t row_bytes = RowBytes(t, kK);
  const size_t act_bytes = RowBytes(GgmlType::kQ8_K, kK);
  std::vector<float> y(kRows * nc);
  return TimePerCall(
      [&](int64_t i) {
        const uint8_t* w = d.weights.data() + (cold ? (i % d.copies) * d.matrix_bytes : 0);
        fn(kK, w, row_bytes, kRows, d.acts.data(), act_bytes, nc, y.data(), kRows);
      },
      min_s, reps);
}

}  // namespace
}  // namespace bastion

int main(int argc, char** argv) {
  using namespace bastion;
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const double min_s = quick ? 0.1 : 0.4;
  const int reps = quick ? 2 : 3;
  const SimdLevel best = DetectSimdLevel();
  std::printf("K-quant gemm, 1 thread (thread CPU time), k=%lld nr=%lld; best level %s\n", static_cast<long long>(kK),
              static_cast<long long>(kRows), SimdLevelName(best));
  std::printf("%-5s %-7s %14s %15s %20s\n", "type", "level", "decode hot GB/s", "decode cold GB/s",
              "prefill nc=64 GOP/s");
  for (GgmlType t : kTypes) {
    const size_t matrix_bytes = RowBytes(t, kK) * kRows;
    const int copies = static_cast<int>(std::max<size_t>(2, (256u << 20) / matrix_bytes));
    const Data d = MakeData(t, copies);
    for (int l = 0; l <= static_cast<int>(best); ++l) {
      const auto level = static_cast<SimdLevel>(l);
      const GemmFn fn = GetGemm(t, level);
      const bool scalar = level == SimdLevel::kScalar;
      const double hot = RunGemm(fn, t, d, 1, false, min_s, reps);
      const double cold = RunGemm(fn, t, d, 1, true, min_s, reps);
      // The scalar reference is too slow for a meaningful prefill figure at this size.
      const double pre = scalar ? 0 : RunGemm(fn, t, d, 64, false, min_s, reps);
      const double ops = 2.0 * kK * kRows * 64;
      std::printf("%-5s %-7s %14.1f %15.1f %20.1f\n", TypeName(t), SimdLevelName(level),
                  matrix_bytes / hot / 1e9, matrix_bytes / cold / 1e9, scalar ? 0.0 : ops / pre / 1e9);
    }
  }
#if defined(BASTION_HAVE_AVX512)
  if (!quick && best == SimdLevel::kAvx512) {
    std::printf("\nAVX-512 row vs column kernels, GOP/s (hot), by nc:\n%-5s %-5s", "type", "kind");
    const int ncs[] = {1, 2, 3, 4, 5, 6, 8, 10, 12, 16};
    for (int nc : ncs) std::printf(" %6d", nc);
    std::printf("\n");
    for (GgmlType t : {GgmlType::kQ4_K, GgmlType::kQ6_K}) {
      const Data d = MakeData(t, 1);
      GemmFn cols = nullptr;
      if (t == GgmlType::kQ4_K) cols = kquant::Avx512ColsQ4K;
      if (t == GgmlType::kQ6_K) cols = kquant::Avx512ColsQ6K;
      for (int kind = 0; kind < 2; ++kind) {
        const GemmFn fn = kind == 0 ? kquant::Avx512RowGemm(t) : cols;
        std::printf("%-5s %-5s", TypeName(t), kind == 0 ? "row" : "cols");
        for (int nc : ncs) {
          const double s = RunGemm(fn, t, d, nc, false, 0.15, 2);
          std::printf(" %6.1f", 2.0 * kK * kRows * nc / s / 1e9);
        }
        std::printf("\n");
      }
    }
  }
#endif
  return 0;
}
