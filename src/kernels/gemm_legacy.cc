// Portable entry points for the legacy-type kernels (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0
// weights; Q8_0, Q8_1, F16, BF16, F32 activations): which function runs at which SIMD level, and
// the per-thread scratch buffer the kernels prepare activations into.
//
// Only this file is compiled without SIMD flags; it must not call into a level file unless the
// caller asked for that level (kernels/gemm.cc checks the CPU before asking).
#include <cstdlib>
#include <new>

#include "base/check.h"
#include "kernels/gemm.h"
#include "kernels/gemm_legacy_internal.h"

namespace bastion {
namespace legacy {

namespace {

// Owns one thread's scratch memory; freed when the thread exits.
struct Scratch {
  void* data = nullptr;
  size_t capacity = 0;
  ~Scratch() { std::free(data); }
};

}  // namespace

void* ThreadScratch(size_t bytes) {
  thread_local Scratch scratch;
  if (bytes > scratch.capacity) {
    // Grow geometrically so a run of slightly larger requests does not reallocate every call.
    size_t capacity = scratch.capacity * 2;
    if (capacity < bytes) capacity = bytes;
    capacity = (capacity + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
    void* fresh = std::aligned_alloc(64, capacity);
    BASTION_CHECK_MSG(fresh != nullptr, "out of memory for kernel scratch");
    std::free(scratch.data);
    scratch.data = fresh;
    scratch.capacity = capacity;
  }
  return scratch.data;
}

}  // namespace legacy

GemmFn GetLegacyGemm([[maybe_unused]] GgmlType weight_type, SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return nullptr;  // kernels/gemm.cc's DotRow loop is the scalar kernel
    case SimdLevel::kAvx2:
#if defined(BASTION_HAVE_AVX2)
      if (GemmFn fn = legacy::GemmAvx2(weight_type)) return fn;
      return legacy::GemmFloatAvx2(weight_type);
#else
      return nullptr;
#endif
    case SimdLevel::kAvx512:
#if defined(BASTION_HAVE_AVX512)
      if (GemmFn fn = legacy::GemmQ8Amx(weight_type, /*all_shapes=*/false)) return fn;
      if (GemmFn fn = legacy::GemmAvx512(weight_type)) return fn;
      if (weight_type == GgmlType::kBF16) {
        if (GemmFn fn = legacy::GemmBf16Amx(/*all_shapes=*/false)) return fn;
      }
      if (weight_type == GgmlType::kF16) {
        if (GemmFn fn = legacy::GemmF16Amx(/*all_shapes=*/false)) return fn;
      }
      return legacy::GemmFloatAvx512(weight_type, CpuHasAvx512Bf16());
#else
      return nullptr;
#endif
  }
  return nullptr;
}

QuantizeActFn GetLegacyQuantizeAct([[maybe_unused]] GgmlType act_type, SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return nullptr;
    case SimdLevel::kAvx2:
#if defined(BASTION_HAVE_AVX2)
      return legacy::QuantizeActAvx2(act_type);
#else
      return nullptr;
#endif
    case SimdLevel::kAvx512:
#if defined(BASTION_HAVE_AVX512)
      return legacy::QuantizeActAvx512(act_type);
#else
      return nullptr;
#endif
  }
  return nullptr;
}

}  // namespace bastion
