// Internal interface between the legacy-type kernel hooks (gemm_legacy.cc) and the per-level
// kernel files (gemm_legacy_avx2*.cc, gemm_legacy_avx512*.cc), plus what those files share.
//
// Each level file is compiled with its own instruction-set flags, so nothing here may be an
// inline function that uses SIMD intrinsics (the linker could pick the AVX-512 copy for an AVX2
// caller); it holds only declarations and plain constants.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/gemm.h"

namespace bastion::legacy {

// A 64-byte-aligned scratch buffer private to the calling thread, at least `bytes` long. Kernels
// use it for the activation rows converted to their inner-loop layout ("prepared" once per call,
// then read by every row tile). Valid until the same thread calls it again.
void* ThreadScratch(size_t bytes);

// Decode's one-row-at-a-time kernels (AVX-512 F16/BF16/F32 and Q8_0) prefetch the row stream this
// many bytes ahead into L2 and kDecodeRowNearPrefetchBytes ahead on into L1. Measured with
// bench/decode_bench, 2 threads, against 4 KiB into L2: F16 1 KiB -18%, 2 KiB -7%, 8 KiB -8%, no
// prefetch -20%, into L1 instead -7%; Q8_0 1 KiB 13.9 GB/s, 2 KiB 16.0, 4 KiB 18.0, 8 KiB 17.8,
// none 12.5. The L1 prefetch: +3% F16, +5-8% Q8_0 (256 bytes: less).
constexpr int64_t kDecodeRowPrefetchBytes = 4096;
constexpr int64_t kDecodeRowNearPrefetchBytes = 512;

#if defined(BASTION_HAVE_AVX2)
GemmFn GemmAvx2(GgmlType weight_type);
// Q4_0, Q5_0, Q8_0 (gemm_legacy_avx2_split.cc; what GemmAvx2 returns for them); nullptr for
// other types.
GemmFn GemmSplitAvx2(GgmlType weight_type);
// Q5_0 weights in WeightLayout::kQ5_0Pairs (kernels/weight_layout.h), same file.
GemmFn GemmQ5_0PairsAvx2();
// Q4_0, Q5_0 and Q8_0 (Q5_0 in file layout, or kQ5_0Pairs with q5_0_pairs) from
// kRowLanesMinCols columns on (gemm_legacy_avx2_lanes.cc; the split kernel calls it); nullptr for
// other types (Q8_0 at 16 columns: 73-84 -> 77-99 GOP/s at k = 4864). The
// threshold: bench/gemm_bench on Zen 3, k = 896, one thread, against the split kernel: at 16
// columns Q4_0 98-100 -> 115-122 GOP/s, Q5_0 pairs 96-106 -> 112-129; at 8 mixed (67-115 vs
// 99-105), at 4 the Q5_0 pairs slower (65-69 vs 75-87): the weights' transposition is then
// spread over too few columns.
GemmFn GemmRowLanesAvx2(GgmlType weight_type, bool q5_0_pairs);
constexpr int64_t kRowLanesMinCols = 16;
// Q8_0 weights in WeightLayout::kQ8_0Lanes and Q5_0 in kQ5_0Lanes, every column count (same
// file).
GemmFn GemmQ8_0LanesAvx2();
GemmFn GemmQ5_0LanesAvx2();
GemmFn GemmFloatAvx2(GgmlType weight_type);
QuantizeActFn QuantizeActAvx2(GgmlType act_type);
#endif

#if defined(BASTION_HAVE_AVX512)
// Block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): GemmAvx512 runs the row kernel (lanes = elements
// of a weight row, gemm_legacy_avx512.cc) for fewer than kAvx512MinColsForColumnKernel columns
// and the column kernel (lanes = 16 tokens, gemm_legacy_avx512_cols.cc) from there on (measured
// crossover on Sapphire Rapids: 6-8 columns; at 16 the column kernel is 2.3x faster); Q4_0, Q5_0
// and Q8_0 use the small-batch column kernel below for kAvx512MinColsForPairKernel to
// kAvx512MaxColsForPairKernel columns instead. All are exposed for tests and benchmarks.
GemmFn GemmAvx512(GgmlType weight_type);
GemmFn GemmRowsAvx512(GgmlType weight_type);
GemmFn GemmColsAvx512(GgmlType weight_type);
constexpr int64_t kAvx512MinColsForColumnKernel = 8;
// Q4_0, Q5_0, Q8_0 column kernel for 1 to kAvx512MaxColsForPairKernel tokens: two weight rows per
// vector (lane 2t + h = token t x row r + h), so a small batch fills every lane; nullptr for other
// types.
GemmFn GemmColsPairsAvx512(GgmlType weight_type);
// Q8_0 weights in WeightLayout::kQ8_0Lanes, Q5_0 in kQ5_0Lanes and Q4_0 in kQ4_0Lanes, every
// column count, with VNNI on 8-row lanes (gemm_legacy_avx512_lanes.cc).
GemmFn GemmQ8_0LanesAvx512();
GemmFn GemmQ5_0LanesAvx512();
GemmFn GemmQ4_0LanesAvx512();
constexpr int64_t kAvx512MaxColsForPairKernel = 8;
constexpr int64_t kAvx512MinColsForPairKernel = 6;
// F32/F16/BF16 weights. With use_bf16_insn the BF16 kernel uses vdpbf16ps; callers must only ask
// for it when CpuHasAvx512Bf16(). Without it BF16 runs on plain AVX-512F.
GemmFn GemmFloatAvx512(GgmlType weight_type, bool use_bf16_insn);
QuantizeActFn QuantizeActAvx512(GgmlType act_type);
// Decode attention on an F16 cache (GetAttentionGemm): Q.K^T (gemm_attention_avx512.cc) and
// P.V (same file); both bit-identical to GemmFloatAvx512(kF16).
GemmFn GemmF16ScoresAvx512();
GemmFn GemmF16ValuesAvx512();
// BF16 weights on AMX (gemm_bf16_amx.cc): nullptr unless the CPU has AMX-BF16 (and AVX512_BF16)
// and the OS grants the tile state (BASTION_AMX=off also says no). all_shapes = false: AMX from
// kAmxMinTokens tokens on, the vdpbf16ps kernel below that (decode reads each weight once; AMX
// gains nothing there); true: AMX for every shape whose k is a multiple of 32 (tests).
bool AmxBf16Ready();
GemmFn GemmBf16Amx(bool all_shapes);
// F16 weights on AMX through an exact split into two BF16 halves. all_shapes = true: as above
// (tests); false: only with BASTION_AMX=all (AmxF16Enabled), since it makes F16 results depend
// on the batch size (gemm_bf16_amx.cc says why that matters).
GemmFn GemmF16Amx(bool all_shapes);
bool AmxF16Enabled();
constexpr int64_t kAmxMinTokens = 16;

// Q4_0, Q5_0, Q8_0 weights x Q8_0 activations on AMX-INT8 (gemm_q8_amx.cc): nullptr unless the
// CPU has AMX-INT8 and the OS grants the tile state (BASTION_AMX=off also says no). all_shapes as
// for GemmBf16Amx; otherwise AMX from kAmxMinTokens tokens on, the VNNI kernels below that.
bool AmxInt8Ready();
// Measured: with 8 tokens (8 streams decoding) the per-weight costs of packing for AMX outweigh
// its faster products — 8-stream decode 90 t/s against 124 with the VNNI column kernel.
constexpr int64_t kAmxInt8MinTokens = 16;
GemmFn GemmQ8Amx(GgmlType weight_type, bool all_shapes);

// Shared by the AMX files (gemm_amx_common.cc). The tile configuration block of LDTILECFG.
struct alignas(64) AmxTileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
// Whether the OS grants this process the AMX tile state (asked once) and BASTION_AMX is not off.
bool AmxTilesPermitted();
// dst (16 x 16 dwords, contiguous) = transpose of the 16 dwords at each of rows[0..15]: dst row p
// holds dword p of every row, the B-tile ("VNNI") layout of 16 weight rows.
void AmxTranspose16x16(const uint8_t* const rows[16], uint32_t* dst);
#endif

}  // namespace bastion::legacy
