// Dispatch of the reference quant routines to their type family.
#include "quant/quantize.h"

#include "base/check.h"

namespace bastion {
namespace {

const QuantOps& Ops(GgmlType type) {
  const QuantOps* ops = GetLegacyQuantOps(type);
  if (ops == nullptr) ops = GetKQuantOps(type);
  if (ops == nullptr) ops = GetIqQuantOps(type);
  BASTION_CHECK_MSG(ops != nullptr, TypeName(type));
  return *ops;
}

}  // namespace

void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n) {
  BASTION_CHECK(n % BlockSize(type) == 0);
  Ops(type).dequantize(src, dst, n);
}

void QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n) {
  BASTION_CHECK(n % BlockSize(type) == 0);
  Ops(type).quantize(src, dst, n);
}

float DotRow(GgmlType wtype, const void* w, const void* a, int64_t n) {
  BASTION_CHECK(n % BlockSize(wtype) == 0);
  const QuantOps& ops = Ops(wtype);
  BASTION_CHECK_MSG(ops.dot != nullptr, TypeName(wtype));
  return ops.dot(w, a, n);
}

}  // namespace bastion
