// STUB: family hooks for the legacy-quant SIMD kernels.
#include "kernels/gemm.h"
namespace bastion {
GemmFn GetLegacyGemm(GgmlType, SimdLevel) { return nullptr; }
QuantizeActFn GetLegacyQuantizeAct(GgmlType, SimdLevel) { return nullptr; }
}  // namespace bastion
