// STUB: replaced by the legacy-quant implementation (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1).
#include "quant/quantize.h"
namespace bastion {
const QuantOps* GetLegacyQuantOps(GgmlType) { return nullptr; }
}  // namespace bastion
