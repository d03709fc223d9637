// SIMD level detection and kernel lookup with fallback to lower levels.
#include "kernels/gemm.h"

#include <cstdlib>
#include <cstring>

#include "base/check.h"
#include "kernels/gemm_legacy_internal.h"
#include "quant/quantize.h"

namespace bastion {
namespace {

// Scalar kernels: plain loops over the reference dot product and quantizer. These are what the
// SIMD kernels are tested against, and what runs on CPUs without AVX2 (and on ARM for now).
void ScalarGemm(GgmlType type, int64_t k, const void* w, size_t w_stride, int64_t nr,
                const void* a, size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t c = 0; c < nc; ++c) {
    for (int64_t r = 0; r < nr; ++r) {
      y[c * y_stride + r] = DotRow(type, wb + r * w_stride, ab + c * a_stride, k);
    }
  }
}

template <GgmlType kType>
void ScalarGemmFor(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
                   size_t a_stride, int64_t nc, float* y, size_t y_stride) {
  ScalarGemm(kType, k, w, w_stride, nr, a, a_stride, nc, y, y_stride);
}

template <GgmlType kType>
void ScalarQuantizeFor(const float* x, void* dst, int64_t k) {
  QuantizeRow(kType, x, dst, k);
}

GemmFn ScalarGemmFn(GgmlType type) {
  switch (type) {
    case GgmlType::kF32: return ScalarGemmFor<GgmlType::kF32>;
    case GgmlType::kF16: return ScalarGemmFor<GgmlType::kF16>;
    case GgmlType::kBF16: return ScalarGemmFor<GgmlType::kBF16>;
    case GgmlType::kQ4_0: return ScalarGemmFor<GgmlType::kQ4_0>;
    case GgmlType::kQ4_1: return ScalarGemmFor<GgmlType::kQ4_1>;
    case GgmlType::kQ5_0: return ScalarGemmFor<GgmlType::kQ5_0>;
    case GgmlType::kQ5_1: return ScalarGemmFor<GgmlType::kQ5_1>;
    case GgmlType::kQ8_0: return ScalarGemmFor<GgmlType::kQ8_0>;
    case GgmlType::kQ2_K: return ScalarGemmFor<GgmlType::kQ2_K>;
    case GgmlType::kQ3_K: return ScalarGemmFor<GgmlType::kQ3_K>;
    case GgmlType::kQ4_K: return ScalarGemmFor<GgmlType::kQ4_K>;
    case GgmlType::kQ5_K: return ScalarGemmFor<GgmlType::kQ5_K>;
    case GgmlType::kQ6_K: return ScalarGemmFor<GgmlType::kQ6_K>;
    case GgmlType::kIQ4_NL: return ScalarGemmFor<GgmlType::kIQ4_NL>;
    default: return nullptr;
  }
}

QuantizeActFn ScalarQuantizeFn(GgmlType type) {
  switch (type) {
    case GgmlType::kF32: return ScalarQuantizeFor<GgmlType::kF32>;
    case GgmlType::kF16: return ScalarQuantizeFor<GgmlType::kF16>;
    case GgmlType::kBF16: return ScalarQuantizeFor<GgmlType::kBF16>;
    case GgmlType::kQ8_0: return ScalarQuantizeFor<GgmlType::kQ8_0>;
    case GgmlType::kQ8_1: return ScalarQuantizeFor<GgmlType::kQ8_1>;
    case GgmlType::kQ8_K: return ScalarQuantizeFor<GgmlType::kQ8_K>;
    default: return nullptr;
  }
}

bool IsKQuantFamily(GgmlType type) {
  switch (type) {
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
    case GgmlType::kQ8_K:
      return true;
    default:
      return false;
  }
}

SimdLevel DetectUncapped() {
#if defined(__x86_64__) || defined(__i386__)
#if defined(BASTION_HAVE_AVX512)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vnni")) {
    return SimdLevel::kAvx512;
  }
#endif
#if defined(BASTION_HAVE_AVX2)
  // F16C is not asked for: every CPU with AVX2 has it (Intel since Ivy Bridge, AMD since
  // Piledriver), and clang-14's __builtin_cpu_supports does not know the "f16c" string.
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return SimdLevel::kAvx2;
  }
#endif
#endif
  return SimdLevel::kScalar;
}

}  // namespace

#if defined(BASTION_HAVE_AVX2)
GemmFn GetIqGemmAvx2(GgmlType type);  // gemm_iq4nl_avx2.cc
#endif

GemmFn GetIqGemm(GgmlType weight_type, SimdLevel level) {
#if defined(BASTION_HAVE_AVX2)
  if (level >= SimdLevel::kAvx2) return GetIqGemmAvx2(weight_type);
#endif
  (void)weight_type;
  (void)level;
  return nullptr;
}

namespace {
thread_local uint64_t activations_fixed_epoch = 0;
thread_local uint64_t activations_fixed_scopes = 0;  // scopes this thread has opened
}  // namespace

ActivationsFixedScope::ActivationsFixedScope() : outer_(activations_fixed_epoch) {
  activations_fixed_epoch = ++activations_fixed_scopes;
}

ActivationsFixedScope::~ActivationsFixedScope() { activations_fixed_epoch = outer_; }

uint64_t ActivationsFixedEpoch() { return activations_fixed_epoch; }

const char* SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar: return "scalar";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kAvx512: return "avx512";
  }
  return "?";
}

SimdLevel DetectSimdLevel() {
  static const SimdLevel level = [] {
    SimdLevel best = DetectUncapped();
    if (const char* cap = std::getenv("BASTION_SIMD")) {
      SimdLevel want = best;
      if (std::strcmp(cap, "scalar") == 0) want = SimdLevel::kScalar;
      if (std::strcmp(cap, "avx2") == 0) want = SimdLevel::kAvx2;
      if (std::strcmp(cap, "avx512") == 0) want = SimdLevel::kAvx512;
      if (static_cast<int>(want) < static_cast<int>(best)) best = want;
    }
    return best;
  }();
  return level;
}

bool CpuHasAvx512Bf16() {
#if (defined(__x86_64__) || defined(__i386__)) && defined(BASTION_HAVE_AVX512)
  static const bool has = [] {
    // GCC 12's __builtin_cpu_supports knows "avx512bf16".
    return __builtin_cpu_supports("avx512bf16") != 0;
  }();
  return has;
#else
  return false;
#endif
}

int64_t PrefillTokenTile([[maybe_unused]] GgmlType weight_type, [[maybe_unused]] SimdLevel level) {
#if defined(BASTION_HAVE_AVX512)
  if (level == SimdLevel::kAvx512 && ((weight_type == GgmlType::kBF16 && legacy::GemmBf16Amx(false) != nullptr) ||
                                      (weight_type == GgmlType::kF16 && legacy::AmxF16Enabled()) ||
                                      legacy::GemmQ8Amx(weight_type, false) != nullptr)) {
    return 1 << 20;
  }
#endif
#if defined(BASTION_HAVE_AVX2)
  // The AVX2 row-lanes kernel (gemm_legacy_avx2_lanes.cc) transposes its weights once per call:
  // more tokens per call spread that over more products. Q4_0 pp512 on Zen 3, alternating:
  // 64 tokens 347/337/335 t/s, 128 372/342/373, 256 372/349/388. Q5_0 (Q4_K_M's bulk) showed no
  // gain at 256 (282/259 against 274/300) and stays at 64.
  if (level == SimdLevel::kAvx2 && weight_type == GgmlType::kQ4_0) return 256;
#endif
#if defined(BASTION_HAVE_AVX512)
  // The AVX-512 lanes kernels (gemm_legacy_avx512_lanes.cc; Q4_0, Q5_0 and Q8_0 in the lanes
  // layouts wherever AMX-INT8 does not run them) re-arrange each 16-row group pair once per call. pp512
  // on Zen 5, two rounds: Q4_K_M 963/961 t/s at 64 tokens, 985/984 at 256, 1039/1005 at 512;
  // Q8_0 944/903, 988/976, 1039/1027.
  if (level == SimdLevel::kAvx512 &&
      (weight_type == GgmlType::kQ4_0 || weight_type == GgmlType::kQ5_0 || weight_type == GgmlType::kQ8_0)) {
    return 512;
  }
#endif
  return 64;
}

GemmFn GetGemm(GgmlType weight_type, SimdLevel level) {
  for (int l = static_cast<int>(level); l > 0; --l) {
    const auto lv = static_cast<SimdLevel>(l);
    GemmFn fn = weight_type == GgmlType::kIQ4_NL ? GetIqGemm(weight_type, lv)
                : IsKQuantFamily(weight_type)        ? GetKQuantGemm(weight_type, lv)
                                                     : GetLegacyGemm(weight_type, lv);
    if (fn != nullptr) return fn;
  }
  GemmFn fn = ScalarGemmFn(weight_type);
  BASTION_CHECK_MSG(fn != nullptr, TypeName(weight_type));
  return fn;
}

GemmFn GetAttentionGemm(GgmlType cache_type, AttentionProduct product, SimdLevel level) {
#if defined(BASTION_HAVE_AVX512)
  // Only where GetGemm's F16 kernel is the one these match (not the opt-in AMX F16 kernel).
  if (level == SimdLevel::kAvx512 && cache_type == GgmlType::kF16 && !legacy::AmxF16Enabled()) {
    return product == AttentionProduct::kScores ? legacy::GemmF16ScoresAvx512() : legacy::GemmF16ValuesAvx512();
  }
#endif
  return GetGemm(cache_type, level);
}

QuantizeActFn GetQuantizeAct(GgmlType act_type, SimdLevel level) {
  for (int l = static_cast<int>(level); l > 0; --l) {
    const auto lv = static_cast<SimdLevel>(l);
    QuantizeActFn fn = IsKQuantFamily(act_type) ? GetKQuantQuantizeAct(act_type, lv)
                                                : GetLegacyQuantizeAct(act_type, lv);
    if (fn != nullptr) return fn;
  }
  QuantizeActFn fn = ScalarQuantizeFn(act_type);
  BASTION_CHECK_MSG(fn != nullptr, TypeName(act_type));
  return fn;
}

}  // namespace bastion
