// Family hooks for the K-quant kernels: which SIMD kernel serves a K-quant weight type (Q2_K..Q6_K)
// or the Q8_K activation format at exactly one level. kernels/gemm.cc falls back to lower levels
// and finally to the scalar reference when this returns nullptr.
#include "kernels/gemm.h"
#include "kernels/gemm_kquant_internal.h"

namespace bastion {

GemmFn GetKQuantGemm([[maybe_unused]] GgmlType weight_type, SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return nullptr;
    case SimdLevel::kAvx2:
#if defined(BASTION_HAVE_AVX2)
      return kquant::Avx2Gemm(weight_type);
#else
      return nullptr;
#endif
    case SimdLevel::kAvx512:
#if defined(BASTION_HAVE_AVX512)
      return kquant::Avx512Gemm(weight_type);
#else
      return nullptr;
#endif
  }
  return nullptr;
}

QuantizeActFn GetKQuantQuantizeAct(GgmlType act_type, SimdLevel level) {
  if (act_type != GgmlType::kQ8_K) return nullptr;
  switch (level) {
    case SimdLevel::kScalar:
      return nullptr;
    case SimdLevel::kAvx2:
#if defined(BASTION_HAVE_AVX2)
      return kquant::QuantizeQ8KAvx2;
#else
      return nullptr;
#endif
    case SimdLevel::kAvx512:
#if defined(BASTION_HAVE_AVX512)
      return kquant::QuantizeQ8KAvx512;
#else
      return nullptr;
#endif
  }
  return nullptr;
}

}  // namespace bastion
