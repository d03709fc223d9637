// Weight x activation products, per weight type and SIMD level, chosen once at runtime.
//
// Notation: a weight matrix W has nr rows of k elements (GGUF ne[0] = k) in its own type; an
// activation matrix A has nc rows ("columns" of the product: tokens) of k elements already
// converted to VecDotType(weight type). A Gemm kernel computes
//     y[c * y_stride + r] = dot(W row r, A row c)     for 0 <= r < nr, 0 <= c < nc
// with the arithmetic of DotRow (quant/quantize.h): same integer products, same scales; only the
// float summation order may differ. Kernels handle any nr >= 1 and nc >= 1 (they tile internally
// and do the ragged edges themselves); k is a multiple of the type's block size.
// The threaded driver (kernels/matmul.h) decides which slices of rows and columns go where.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/types.h"

namespace bastion {

enum class SimdLevel {
  kScalar = 0,  // portable C++: the reference every other level is tested against
  kAvx2 = 1,    // AVX2 + FMA + F16C
  kAvx512 = 2,  // AVX-512 F/BW/VL/DQ + VNNI (Ice Lake, Zen 4 and later)
};

const char* SimdLevelName(SimdLevel level);

// Best level this CPU supports (and this binary was built with). BASTION_SIMD=scalar|avx2|avx512
// in the environment caps it (for tests and comparisons).
SimdLevel DetectSimdLevel();

// True where the CPU also has AVX512_BF16 (vdpbf16ps); BF16 kernels may use it at kAvx512.
bool CpuHasAvx512Bf16();

using GemmFn = void (*)(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
                        size_t a_stride, int64_t nc, float* y, size_t y_stride);

// A caller's promise for the kernel calls this thread makes while the scope lives: the
// activation bytes a call reads do not change before the scope ends (MatMulEngine converts a
// product's activations once, then runs the kernels on them piece by piece). Kernels that
// re-arrange the activations on every call (the lanes kernels) may then reuse that work in the
// next call on the same activations: decode hands a kernel as little as one 8-row group of a
// 4864-element ffn_down row, for which re-arranging the activation cost about as much as the
// product. The weights a call reads must not change either (they never do while a model is
// loaded): the K-quant lanes prefill kernel keeps its decoded weight rows between the token tiles
// of one chunk. Without a scope (tests, any other caller) every call starts afresh.
class ActivationsFixedScope {
 public:
  ActivationsFixedScope();
  ~ActivationsFixedScope();
  ActivationsFixedScope(const ActivationsFixedScope&) = delete;
  ActivationsFixedScope& operator=(const ActivationsFixedScope&) = delete;

 private:
  uint64_t outer_;  // the enclosing scope's epoch, restored on exit
};

// 0 outside any ActivationsFixedScope on this thread; inside, a number no other scope on this
// thread has had, so work kept under it is never mistaken for a later scope's.
uint64_t ActivationsFixedEpoch();

// Converts one activation row of k floats into an activation type (Q8_0, Q8_1, Q8_K, F16, BF16,
// F32) with exactly QuantizeRow's results.
using QuantizeActFn = void (*)(const float* x, void* dst, int64_t k);

// Kernel for this weight type at this level. Levels without a kernel of their own for the type
// fall back to the next lower one; kScalar always exists (loops over DotRow).
GemmFn GetGemm(GgmlType weight_type, SimdLevel level);

// Tokens per kernel call the threaded prefill driver should use for this weight type: most
// kernels re-arrange a tile of activations per call and want it to stay in L2 (64); the AMX
// kernel re-arranges weights per call instead and wants every token of the batch in one call.
int64_t PrefillTokenTile(GgmlType weight_type, SimdLevel level);

// Attention's two products on the KV cache for decode (few query rows, model/attention.h): kernels
// with GemmFn's contract and GetGemm(cache_type, level)'s results bit for bit (same FMA chains,
// same reduction tree), shaped for these calls:
//   kScores: Q.K^T — k = head_dim (short), nr = keys (many), nc = query rows of one KV group;
//   kValues: P.V   — k = keys (long), nr = a block of V^T rows, nc = up to 8 query rows.
// Where no such kernel exists (F32 cache, lower levels) this is GetGemm(cache_type, level).
enum class AttentionProduct { kScores, kValues };
GemmFn GetAttentionGemm(GgmlType cache_type, AttentionProduct product, SimdLevel level);

// Activation converter for an activation type at this level (same fallback rule).
QuantizeActFn GetQuantizeAct(GgmlType act_type, SimdLevel level);

// Family hooks, implemented next to the kernels (nullptr = no kernel at exactly this level):
//   kernels/gemm_legacy_*.cc : F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 weights;
//                              Q8_0, Q8_1, F16, BF16, F32 activations
//   kernels/gemm_kquant_*.cc : Q2_K, Q3_K, Q4_K, Q5_K, Q6_K weights; Q8_K activations
//   kernels/gemm_iq4nl_avx2.cc : IQ4_NL weights (AVX2 kernel, also used at the AVX-512 level)
GemmFn GetLegacyGemm(GgmlType weight_type, SimdLevel level);
GemmFn GetKQuantGemm(GgmlType weight_type, SimdLevel level);
GemmFn GetIqGemm(GgmlType weight_type, SimdLevel level);
QuantizeActFn GetLegacyQuantizeAct(GgmlType act_type, SimdLevel level);
QuantizeActFn GetKQuantQuantizeAct(GgmlType act_type, SimdLevel level);

}  // namespace bastion
