// STUB: replaced by the K-quant implementation (Q2_K..Q6_K, Q8_K).
#include "quant/quantize.h"
namespace bastion {
const QuantOps* GetKQuantOps(GgmlType) { return nullptr; }
}  // namespace bastion
