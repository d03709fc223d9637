// The K-quant lanes layouts (kernels/weight_layout.h: kQ4_KLanes, kQ6_KLanes): where each byte
// of a 16-row group sits, and the conversions between the file's rows and a group. The AVX-512
// kernels that read them are in gemm_kquant_avx512_lanes.cc.
//
// Rows go in groups of 16 (one int32 lane of a 512-bit vector per row); a group's super-block b
// starts at byte 16 x row_bytes x group + b x kBytes, so a group occupies exactly the bytes its 16
// file rows did. Within one group super-block:
//
// Q4_K (2304 = 16 x 144 bytes):
//   0-31      the 16 rows' F16 d
//   32-63     the 16 rows' F16 dmin
//   64-127    row r's scale bytes 0-3 at 64 + 4r     } the file's 12 packed 6-bit scale and
//   128-191   row r's scale bytes 4-7 at 128 + 4r    } min bytes, as stored, so one vector
//   192-255   row r's scale bytes 8-11 at 192 + 4r   } operation decodes all 16 rows
//   256-2303  for sub-block s (32 elements) and v = 0..3, a 64-byte vector at 256 + 256 s + 64 v
//             whose bytes 4r .. 4r+3 hold row r's elements 32 s + 4 v + i (low nibble) and
//             32 s + 16 + 4 v + i (high nibble), i = 0..3
//
// Q6_K (3360 = 16 x 210 bytes):
//   0-31      the 16 rows' F16 d
//   32-287    the int8 scales: group g (16 elements) of row r at 32 + 16 g + r
//   288-3359  per group g, 192 bytes at 288 + 192 g: two 64-byte vectors of low nibbles (vector
//             v, bytes 4r + i: element 16 g + 4 v + i in the low nibble, 16 g + 8 + 4 v + i in
//             the high one) and one of high bits (bytes 4r + i: bits 2t, 2t + 1 are the top two
//             bits of element 16 g + 4 t + i, t = 0..3)
//
// So each vector a kernel loads is 4 consecutive elements of 16 rows, the order in which vpdpbusd
// multiplies them against one broadcast activation dword, and no per-row horizontal sums remain.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/types.h"

namespace bastion::klanes {

inline constexpr int kRows = 16;

namespace q4k {
inline constexpr size_t kD = 0;
inline constexpr size_t kDmin = 32;
inline constexpr size_t kScaleWords = 64;  // three 64-byte vectors: scale bytes 0-3, 4-7, 8-11
inline constexpr size_t kQuants = 256;
inline constexpr size_t kBytes = 2304;
}  // namespace q4k

namespace q6k {
inline constexpr size_t kD = 0;
inline constexpr size_t kScales = 32;
inline constexpr size_t kQuants = 288;
inline constexpr size_t kGroupBytes = 192;
inline constexpr size_t kBytes = 3360;
}  // namespace q6k

// Q4_K and Q6_K: the types with a lanes layout.
bool HasLanesLayout(GgmlType type);

// Group bytes (per super-block) of a type with a lanes layout.
size_t GroupBlockBytes(GgmlType type);

// 16 file-layout rows (nb super-blocks each, contiguous at `file`) -> the group's bytes.
void GroupFromFileRows(GgmlType type, const uint8_t* file, int64_t nb, uint8_t* group);

// Row r (0-15) of a group -> its nb file-layout super-blocks.
void FileRowFromGroup(GgmlType type, const uint8_t* group, int64_t nb, int r, uint8_t* row);

}  // namespace bastion::klanes
