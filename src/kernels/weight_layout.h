// Weight layouts other than the file's: some kernels run faster on blocks rearranged once at load.
//
// A weight matrix read into memory (FileResidency::kInMemory) may be rewritten in place, same
// size, into the layout its SIMD level's kernel prefers (Model::Load does it); a mapped file is
// never touched. Every level accepts every layout (GetLayoutGemm), so a model repacked for one
// level still runs, with the same results, on an engine at another (tests do that).
//
// kQ5_0Pairs: Q5_0 rows whose block count is even (where kQ5_0Lanes below does not fit: row
// counts that are not a multiple of 8), as 44-byte pairs of blocks (2s, 2s+1):
//   bytes 0-3    the two F16 scales d(2s), d(2s+1)
//   bytes 4-11   the 64 fifth bits, placed so that AVX2 extracts them with one variable shift
//                per 64-bit lane instead of the shuffle/compare the file's qh needs (see below)
//   bytes 12-43  qs of block 2s then qs of block 2s+1, as in the file (byte m: element m in
//                the low nibble, element m+16 in the high one)
// The AVX2 split kernel (gemm_legacy_avx2_split.cc) unpacks a pair into `lo` (byte p < 16:
// element p of block 2s, p >= 16: element p-16 of block 2s+1) and `hi` (the same for elements
// 16-31). The fifth bit of lo's byte p = 8q + i (q = 0..3, i = 0..7) is bit q of high-bit byte
// i, and of hi's byte p bit 4+q: so broadcasting the 8 bytes to all four 64-bit lanes and
// shifting lane q left by 4-q (lo) or right by q (hi) brings every element's bit to bit 4 of its
// own byte. Measured: Q5_0 decode on Zen 3 (no VNNI), docs/PERFORMANCE.md.
//
// kQ8_0Lanes: Q8_0 rows in groups of 8 (the matrix's row count a multiple of 8, rows contiguous),
// each group's 8 rows interleaved block by block in the bytes the group occupies. Block b of
// group j starts at byte 8 j row_bytes + 272 b (272 = 8 x 34, the size of 8 blocks):
//   bytes 0-15     the F16 scales of rows 8j .. 8j+7
//   bytes 16-271   8 vectors of 32 bytes; in vector g, bytes 4r .. 4r+3 are quants 4g .. 4g+3 of
//                  row 8j + r
// That is the order the AVX2 row-lanes kernel (gemm_legacy_avx2_lanes.cc) multiplies in (one
// output row per int32 lane), so neither decode nor prefill transposes weights per call. A kernel
// call must start at a group's first row; its last group is read whole even where the call
// stops short of its last row (those rows' outputs are not written).
//
// kQ5_0Lanes: Q5_0 the same way, 176 bytes (8 x 22) per block of 8 rows:
//   bytes 0-15     the F16 scales of the 8 rows
//   bytes 16-47    8 words of fifth bits; row r's word at 16 + 4r has in bit 8t + g the fifth
//                  bit of element 4g + t (so bit g of each byte belongs to group g)
//   bytes 48-175   4 vectors of 32 bytes; in vector j, bytes 4r .. 4r+3 are qs bytes 4j .. 4j+3
//                  of row r (low nibbles: elements 4j .. 4j+3, high: 16 + 4j .. 16 + 4j+3)
// Preferred over kQ5_0Pairs where the row count allows (a multiple of 8).
//
// kQ4_0Lanes: Q4_0 the same way without the fifth bits, 144 bytes (8 x 18) per block of 8 rows:
//   bytes 0-15     the F16 scales of the 8 rows
//   bytes 16-143   4 vectors of 32 bytes as kQ5_0Lanes' bytes 48-175
// Only the AVX-512 VNNI kernels read it (gemm_legacy_avx512_lanes.cc); on Zen 3 the AVX2 Q4_0
// row-lanes tile needs no layout of its own (its prefill transposes once per 256-token call).
//
// kQ4_KLanes, kQ6_KLanes: Q4_K and Q6_K rows in groups of 16 (the row count a multiple of 16),
// each group's super-blocks interleaved 16 rows at a time so that every 64-byte vector holds 4
// consecutive elements of the 16 rows and the scales decode for all 16 at once; the byte map is
// in kernels/kquant_lanes_layout.h. Read by the AVX-512 VNNI kernels of
// gemm_kquant_avx512_lanes.cc at every column count (decode, small batches and prefill).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/gemm.h"
#include "quant/types.h"

namespace bastion {

enum class WeightLayout : uint8_t {
  kFile = 0,      // as stored in the GGUF file
  kQ5_0Pairs = 1, // Q5_0, even block count per row (see above)
  kQ8_0Lanes = 2, // Q8_0, rows in groups of 8 (see above)
  kQ5_0Lanes = 3, // Q5_0, rows in groups of 8 (see above)
  kQ4_0Lanes = 4, // Q4_0, rows in groups of 8 (see above)
  kQ4_KLanes = 5, // Q4_K, rows in groups of 16 (see above)
  kQ6_KLanes = 6, // Q6_K, rows in groups of 16 (see above)
};

// Rows per interleaved group: 8 for the legacy lanes layouts, 16 for the K-quant ones, 1 for
// those that keep rows apart. Callers split a matrix only at multiples of it.
int64_t LayoutRowGroup(WeightLayout layout);

const char* WeightLayoutName(WeightLayout layout);

// The layout to repack a matrix of n_rows rows of k elements of `type` into when its products
// will run at `level`; kFile where nothing is gained (or the shape does not allow it), and always
// with BASTION_REPACK=off in the environment (for comparisons).
WeightLayout PreferredLayout(GgmlType type, int64_t k, int64_t n_rows, SimdLevel level);

// Rewrites n_rows rows of `type` (k elements, row_bytes apart) from the file's layout into
// `layout`, in place; and back. The byte size does not change. Lanes layouts: row_bytes is the
// row size (rows contiguous) and n_rows a multiple of the layout's row group.
void RepackRows(WeightLayout layout, GgmlType type, int64_t k, uint8_t* rows, size_t row_bytes, int64_t n_rows);
void UnpackRows(WeightLayout layout, GgmlType type, int64_t k, uint8_t* rows, size_t row_bytes, int64_t n_rows);

// GetGemm for weights in `layout` (kFile: GetGemm itself), with GemmFn's contract. kQ5_0Pairs
// at kAvx2 runs the AVX2 split kernel's pair variant: the same instructions in the same order as
// GetGemm(kQ5_0, kAvx2) but for the fifth bits' extraction, so bit-identical results. At other
// levels rows are unpacked into a scratch buffer a few at a time and given to
// GetGemm(type, level) (bit-identical at kScalar; at kAvx512 that kernel's arithmetic, though
// its row tiling may then differ).
// The lanes layouts at kAvx2 run the row-lanes tiles from the layout (the same arithmetic as the
// row-lanes kernel on the file's layout, which the split kernel uses only from kRowLanesMinCols
// columns: so results equal GetGemm(type, kAvx2)'s within the kernels' float-order bound).
GemmFn GetLayoutGemm(GgmlType type, WeightLayout layout, SimdLevel level);

// Row `row` of a matrix in `layout` (rows as RepackRows was given them), dequantized to k floats:
// what DequantizeRow gives for the row in the file's layout (embedding lookups read the output
// head's matrix when the two are tied).
void DequantizeLayoutRow(WeightLayout layout, GgmlType type, int64_t k, const uint8_t* rows, size_t row_bytes,
                         int64_t row, float* out);

}  // namespace bastion
