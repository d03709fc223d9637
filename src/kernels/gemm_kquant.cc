// STUB: family hooks for the K-quant SIMD kernels.
#include "kernels/gemm.h"
namespace bastion {
GemmFn GetKQuantGemm(GgmlType, SimdLevel) { return nullptr; }
QuantizeActFn GetKQuantQuantizeAct(GgmlType, SimdLevel) { return nullptr; }
}  // namespace bastion
