// Internal interface between the K-quant kernel hooks (gemm_kquant.cc) and the per-instruction-set
// kernel files (gemm_kquant_avx2.cc, gemm_kquant_avx512*.cc), which are compiled with their own
// -m flags and so may only be entered after the runtime CPU check in kernels/gemm.cc.
#pragma once

#include "kernels/gemm.h"

namespace bastion::kquant {

// Kernel for a K-quant weight type (Q2_K..Q6_K) at one level, or nullptr.
GemmFn Avx2Gemm(GgmlType weight_type);
GemmFn Avx512Gemm(GgmlType weight_type);

// Q8_K activation quantizers, bit-identical to QuantizeRow(kQ8_K, ...).
void QuantizeQ8KAvx2(const float* x, void* dst, int64_t k);
void QuantizeQ8KAvx512(const float* x, void* dst, int64_t k);

// AVX-512 kernels come in two shapes (gemm_kquant_avx512.cc decides which to run):
//  * "row" kernels (lanes = weight elements) for few activation columns: decode is bandwidth
//    bound and these stream the weights once with no setup;
//  * "column" kernels (lanes = 16 activation columns, gemm_kquant_avx512_cols.cc) for prefill:
//    activations are repacked so one VNNI instruction multiplies 4 weight bytes with the same 4
//    bytes of 16 tokens, which keeps the inner loop free of shuffles and reductions.
// Column kernels, one per weight type; same signature as GemmFn.
void Avx512ColsQ2K(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
                   size_t a_stride, int64_t nc, float* y, size_t y_stride);
void Avx512ColsQ3K(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
                   size_t a_stride, int64_t nc, float* y, size_t y_stride);
void Avx512ColsQ4K(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
                   size_t a_stride, int64_t nc, float* y, size_t y_stride);
void Avx512ColsQ5K(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
                   size_t a_stride, int64_t nc, float* y, size_t y_stride);
void Avx512ColsQ6K(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a,
                   size_t a_stride, int64_t nc, float* y, size_t y_stride);

// Kernels for Q4_K and Q6_K weights in the lanes layouts (kernels/weight_layout.h kQ4_KLanes,
// kQ6_KLanes; gemm_kquant_avx512_lanes.cc), any column count; nullptr for other types.
GemmFn Avx512LanesGemm(GgmlType weight_type);
// The column kernel (prefill) on those layouts: each 16-row group decoded into the column
// kernel's prepared rows (gemm_kquant_avx512_cols.cc). Avx512LanesGemm hands it calls of
// kAvx512LanesMinColsForCols columns or more.
GemmFn Avx512LanesColsGemm(GgmlType weight_type);
constexpr int64_t kAvx512LanesMinColsForCols = 9;

// The row kernels alone (any nc), for benchmarks that compare the two shapes.
GemmFn Avx512RowGemm(GgmlType weight_type);

// Small-batch column kernel (gemm_kquant_avx512_cols.cc): two weight rows per vector, so up to 8
// columns (decoding streams) fill all 16 lanes; bit-equal to the column kernel. Hands calls with
// more than 8 columns to the column kernel.
GemmFn Avx512PairGemm(GgmlType weight_type);

// Below this many columns the row kernels run; from it, the small-batch kernel (Avx512PairGemm,
// which hands more than 8 columns to the column kernel). Its cost hardly depends on the column
// count (weight preparation and all 16 lanes every step): one thread, 896 x 4864 from memory,
// Q4_K/Q6_K: 0.69/0.80 ms at 5-8 columns, against the row kernel's 0.67/0.97 at 5 and 0.94/1.22
// at 8 and the column kernel's 0.85/1.14 at 8 (the row and column kernels cross at 7 columns,
// bench/gemm_kquant_bench's sweep).
constexpr int64_t kAvx512MinColsForPairKernel = 5;

}  // namespace bastion::kquant
