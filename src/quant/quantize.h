// Scalar reference routines for every weight/activation type: dequantize, quantize, dot.
//
// These are the definition of correctness: SIMD kernels are tested against DotRow, the GGUF
// writer (bastion synth) quantizes with QuantizeRow, and activations are converted to a weight's
// VecDotType with QuantizeRow exactly as llama.cpp's reference quantizers do (same rounding), so
// that integer dot products — and therefore logits — agree with llama.cpp.
#pragma once

#include <cstdint>

#include "quant/types.h"

namespace bastion {

// Dequantizes n elements (a multiple of BlockSize(type)) from src to dst.
void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n);

// Quantizes n floats (a multiple of BlockSize(type)) into dst (RowBytes(type, n) bytes).
// For the activation types (Q8_0, Q8_1, Q8_K) and F16/BF16 this is bit-exact with llama.cpp's
// reference quantizer; for weight types it is a reasonable quantizer (used by synth and tests).
void QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n);

// Dot product of one weight row of type `wtype` with one activation row already converted to
// VecDotType(wtype); n elements. Computes the same integer/float products as llama.cpp's
// ggml_vec_dot_<type>_<vec_dot_type>, in a plain order.
float DotRow(GgmlType wtype, const void* w, const void* a, int64_t n);

// The per-type implementations behind the functions above. Each family lives in its own file:
// quant/legacy_quants.cc (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1) and
// quant/k_quants.cc (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K).
struct QuantOps {
  void (*dequantize)(const void* src, float* dst, int64_t n);
  void (*quantize)(const float* src, void* dst, int64_t n);
  // nullptr for types that are only activation formats (Q8_1, Q8_K).
  float (*dot)(const void* w, const void* a, int64_t n);
};

// nullptr when the type is not part of that family.
const QuantOps* GetLegacyQuantOps(GgmlType type);
const QuantOps* GetKQuantOps(GgmlType type);
const QuantOps* GetIqQuantOps(GgmlType type);  // quant/iq4_nl.cc: IQ4_NL

}  // namespace bastion
