// Repacking weights into kernel-preferred layouts, and the kernels that read them.
#include "kernels/weight_layout.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/check.h"
#include "kernels/gemm_kquant_internal.h"
#include "kernels/gemm_legacy_internal.h"
#include "kernels/kquant_lanes_layout.h"
#include "quant/blocks.h"
#include "quant/quantize.h"

namespace bastion {
namespace {

constexpr size_t kPairBytes = 2 * sizeof(BlockQ5_0);
static_assert(kPairBytes == 44);

// High-bit byte i, bit j  <->  (vector, position p = 8 * (j % 4) + i): lo for j < 4, hi else;
// position p < 16 is element p (+16 for hi) of the pair's first block, p >= 16 element p - 16
// (+16 for hi) of its second.
struct BitPlace {
  int block;    // 0 or 1
  int element;  // 0..31
};
BitPlace PlaceOf(int byte, int bit) {
  const int p = 8 * (bit % 4) + byte;
  const int base = bit < 4 ? 0 : 16;
  return p < 16 ? BitPlace{0, base + p} : BitPlace{1, base + p - 16};
}

uint32_t LoadQh(const BlockQ5_0& b) {
  uint32_t v;
  std::memcpy(&v, b.qh, sizeof v);
  return v;
}

// Bits i, 8+i, 16+i, 24+i of x -> bits 0-3 (one multiply gathers them; the partial products
// occupy distinct bits, so nothing carries into 24-27).
uint8_t GatherNibble(uint32_t x, int i) {
  const uint64_t spread = (x >> i) & 0x01010101u;
  return static_cast<uint8_t>((spread * 0x01020408u >> 24) & 0xF);
}

// The same bits as UnpackPair's PlaceOf places, computed wholesale: bit p of `lo` is lo's
// position p (elements 0-15 of both blocks), of `hi` hi's (elements 16-31).
void PackPair(const BlockQ5_0& b0, const BlockQ5_0& b1, uint8_t* out) {
  const uint32_t q0 = LoadQh(b0), q1 = LoadQh(b1);
  const uint32_t lo = (q0 & 0xFFFF) | (q1 << 16);
  const uint32_t hi = (q0 >> 16) | (q1 & 0xFFFF0000u);
  std::memcpy(out, &b0.d, 2);
  std::memcpy(out + 2, &b1.d, 2);
  for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<uint8_t>(GatherNibble(lo, i) | GatherNibble(hi, i) << 4);
  std::memcpy(out + 12, b0.qs, 16);
  std::memcpy(out + 28, b1.qs, 16);
}

void UnpackPair(const uint8_t* in, BlockQ5_0* b0, BlockQ5_0* b1) {
  std::memcpy(&b0->d, in, 2);
  std::memcpy(&b1->d, in + 2, 2);
  std::memset(b0->qh, 0, 4);
  std::memset(b1->qh, 0, 4);
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 8; ++j) {
      if (!((in[4 + i] >> j) & 1)) continue;
      const BitPlace at = PlaceOf(i, j);
      BlockQ5_0* b = at.block == 0 ? b0 : b1;
      b->qh[at.element / 8] |= static_cast<uint8_t>(1u << (at.element % 8));
    }
  }
  std::memcpy(b0->qs, in + 12, 16);
  std::memcpy(b1->qs, in + 28, 16);
}

void CheckPairsShape(GgmlType type, int64_t k) {
  BASTION_CHECK(type == GgmlType::kQ5_0 && k % (2 * kQK5_0) == 0);
}

// Rows handed to the file-layout kernel per call by UnpackingGemm: enough for the kernels' row
// tiles, few enough to stay in L1/L2 (at k = 4864, 16 rows are 53 KiB); a multiple of every
// layout's row group.
constexpr int64_t kUnpackRows = 16;

template <WeightLayout kLayout, GgmlType kType, SimdLevel kLevel>
void UnpackingGemm(int64_t k, const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nc,
                   float* y, size_t y_stride) {
  const GemmFn inner = GetGemm(kType, kLevel);
  const int64_t group = LayoutRowGroup(kLayout);
  const size_t row_bytes = RowBytes(kType, k);
  thread_local std::vector<uint8_t> rows;
  rows.resize(row_bytes * kUnpackRows);
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t r0 = 0; r0 < nr; r0 += kUnpackRows) {
    const int64_t n = std::min(kUnpackRows, nr - r0);
    // Whole groups: the layout's contract lets the last one be read past nr.
    const int64_t n_whole = (n + group - 1) / group * group;
    for (int64_t r = 0; r < n_whole; ++r) std::memcpy(rows.data() + r * row_bytes, wb + (r0 + r) * w_stride, row_bytes);
    UnpackRows(kLayout, kType, k, rows.data(), row_bytes, n_whole);
    inner(k, rows.data(), row_bytes, n, a, a_stride, nc, y + r0, y_stride);
  }
}

template <WeightLayout kLayout, GgmlType kType>
GemmFn UnpackingGemmAt(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar: return UnpackingGemm<kLayout, kType, SimdLevel::kScalar>;
    case SimdLevel::kAvx2: return UnpackingGemm<kLayout, kType, SimdLevel::kAvx2>;
    case SimdLevel::kAvx512: return UnpackingGemm<kLayout, kType, SimdLevel::kAvx512>;
  }
  return nullptr;
}

// ---- kQ8_0Lanes ----------------------------------------------------------------------------------

constexpr int kLaneRows = 8;
constexpr size_t kLanesBlockBytes = kLaneRows * sizeof(BlockQ8_0);
static_assert(kLanesBlockBytes == 272);

// Where row r (0-7) of a group keeps block b's scale and its quants 4g .. 4g+3.
size_t LanesScaleAt(int64_t b, int r) { return static_cast<size_t>(b) * kLanesBlockBytes + 2 * static_cast<size_t>(r); }
size_t LanesQuantsAt(int64_t b, int r, int g) {
  return static_cast<size_t>(b) * kLanesBlockBytes + 16 + 32 * static_cast<size_t>(g) + 4 * static_cast<size_t>(r);
}

// One group of 8 file-layout rows (nb blocks each, contiguous at `file`) <-> the group's bytes.
void LanesFromFile(const uint8_t* file, int64_t nb, uint8_t* group) {
  for (int r = 0; r < kLaneRows; ++r) {
    const auto* blocks = reinterpret_cast<const BlockQ8_0*>(file + static_cast<size_t>(r * nb) * sizeof(BlockQ8_0));
    for (int64_t b = 0; b < nb; ++b) {
      std::memcpy(group + LanesScaleAt(b, r), &blocks[b].d, 2);
      for (int g = 0; g < 8; ++g) std::memcpy(group + LanesQuantsAt(b, r, g), blocks[b].qs + 4 * g, 4);
    }
  }
}

void FileRowFromLanes(const uint8_t* group, int64_t nb, int r, BlockQ8_0* row) {
  for (int64_t b = 0; b < nb; ++b) {
    std::memcpy(&row[b].d, group + LanesScaleAt(b, r), 2);
    for (int g = 0; g < 8; ++g) std::memcpy(row[b].qs + 4 * g, group + LanesQuantsAt(b, r, g), 4);
  }
}

// ---- kQ5_0Lanes ----------------------------------------------------------------------------------

constexpr size_t kQ5LanesBlockBytes = kLaneRows * sizeof(BlockQ5_0);
static_assert(kQ5LanesBlockBytes == 176);

size_t Q5LanesScaleAt(int64_t b, int r) { return static_cast<size_t>(b) * kQ5LanesBlockBytes + 2 * static_cast<size_t>(r); }
size_t Q5LanesBitsAt(int64_t b, int r) { return static_cast<size_t>(b) * kQ5LanesBlockBytes + 16 + 4 * static_cast<size_t>(r); }
size_t Q5LanesQsAt(int64_t b, int r, int j) {
  return static_cast<size_t>(b) * kQ5LanesBlockBytes + 48 + 32 * static_cast<size_t>(j) + 4 * static_cast<size_t>(r);
}

// File qh (bit e: element e) <-> the layout's word (bit 8t + g: element 4g + t): a transpose of
// 8 x 4 bits. Byte i of qh holds elements 8i .. 8i+7 (g = 2i + j / 4, t = j % 4 for bit j), which
// land on the same bits as byte 0's shifted left by 2i; the other way, byte t of the word holds
// elements 4g + t, byte 0's spread shifted left by t. So one 256-entry table per direction: a
// bit at a time over every block was most of a Q4_K_M file's load time (0.4 -> 0.7-0.9 s).
struct LanesBitTables {
  std::array<uint32_t, 256> from_qh_byte{};     // qh byte 0 -> its bits in the word
  std::array<uint32_t, 256> from_lanes_byte{};  // word byte 0 -> its bits in qh
  constexpr LanesBitTables() {
    for (uint32_t x = 0; x < 256; ++x) {
      for (int j = 0; j < 8; ++j) {
        if ((x >> j & 1u) == 0) continue;
        from_qh_byte[x] |= 1u << (8 * (j % 4) + j / 4);
        from_lanes_byte[x] |= 1u << (4 * j);
      }
    }
  }
};
constexpr LanesBitTables kLanesBits;

uint32_t LanesBitsFromQh(uint32_t qh) {
  uint32_t out = 0;
  for (int i = 0; i < 4; ++i) out |= kLanesBits.from_qh_byte[(qh >> (8 * i)) & 0xFF] << (2 * i);
  return out;
}
uint32_t QhFromLanesBits(uint32_t bits) {
  uint32_t qh = 0;
  for (int t = 0; t < 4; ++t) qh |= kLanesBits.from_lanes_byte[(bits >> (8 * t)) & 0xFF] << t;
  return qh;
}

void Q5LanesFromFile(const uint8_t* file, int64_t nb, uint8_t* group) {
  for (int r = 0; r < kLaneRows; ++r) {
    const auto* blocks = reinterpret_cast<const BlockQ5_0*>(file + static_cast<size_t>(r * nb) * sizeof(BlockQ5_0));
    for (int64_t b = 0; b < nb; ++b) {
      std::memcpy(group + Q5LanesScaleAt(b, r), &blocks[b].d, 2);
      uint32_t qh;
      std::memcpy(&qh, blocks[b].qh, 4);
      const uint32_t bits = LanesBitsFromQh(qh);
      std::memcpy(group + Q5LanesBitsAt(b, r), &bits, 4);
      for (int j = 0; j < 4; ++j) std::memcpy(group + Q5LanesQsAt(b, r, j), blocks[b].qs + 4 * j, 4);
    }
  }
}

void FileRowFromQ5Lanes(const uint8_t* group, int64_t nb, int r, BlockQ5_0* row) {
  for (int64_t b = 0; b < nb; ++b) {
    std::memcpy(&row[b].d, group + Q5LanesScaleAt(b, r), 2);
    uint32_t bits;
    std::memcpy(&bits, group + Q5LanesBitsAt(b, r), 4);
    const uint32_t qh = QhFromLanesBits(bits);
    std::memcpy(row[b].qh, &qh, 4);
    for (int j = 0; j < 4; ++j) std::memcpy(row[b].qs + 4 * j, group + Q5LanesQsAt(b, r, j), 4);
  }
}

// ---- kQ4_0Lanes ----------------------------------------------------------------------------------

constexpr size_t kQ4LanesBlockBytes = kLaneRows * sizeof(BlockQ4_0);
static_assert(kQ4LanesBlockBytes == 144);

size_t Q4LanesScaleAt(int64_t b, int r) { return static_cast<size_t>(b) * kQ4LanesBlockBytes + 2 * static_cast<size_t>(r); }
size_t Q4LanesQsAt(int64_t b, int r, int j) {
  return static_cast<size_t>(b) * kQ4LanesBlockBytes + 16 + 32 * static_cast<size_t>(j) + 4 * static_cast<size_t>(r);
}

void Q4LanesFromFile(const uint8_t* file, int64_t nb, uint8_t* group) {
  for (int r = 0; r < kLaneRows; ++r) {
    const auto* blocks = reinterpret_cast<const BlockQ4_0*>(file + static_cast<size_t>(r * nb) * sizeof(BlockQ4_0));
    for (int64_t b = 0; b < nb; ++b) {
      std::memcpy(group + Q4LanesScaleAt(b, r), &blocks[b].d, 2);
      for (int j = 0; j < 4; ++j) std::memcpy(group + Q4LanesQsAt(b, r, j), blocks[b].qs + 4 * j, 4);
    }
  }
}

void FileRowFromQ4Lanes(const uint8_t* group, int64_t nb, int r, BlockQ4_0* row) {
  for (int64_t b = 0; b < nb; ++b) {
    std::memcpy(&row[b].d, group + Q4LanesScaleAt(b, r), 2);
    for (int j = 0; j < 4; ++j) std::memcpy(row[b].qs + 4 * j, group + Q4LanesQsAt(b, r, j), 4);
  }
}

// The lanes layouts by weight type: a group of 8 file-layout rows (nb blocks each,
// contiguous) -> the group's bytes, and row r (0-7) of a group -> its file-layout blocks.
void GroupFromFileRows(GgmlType type, const uint8_t* file, int64_t nb, uint8_t* group) {
  if (type == GgmlType::kQ8_0) return LanesFromFile(file, nb, group);
  if (type == GgmlType::kQ4_0) return Q4LanesFromFile(file, nb, group);
  BASTION_CHECK(type == GgmlType::kQ5_0);
  Q5LanesFromFile(file, nb, group);
}

void FileRowFromGroup(GgmlType type, const uint8_t* group, int64_t nb, int r, uint8_t* row) {
  if (type == GgmlType::kQ8_0) return FileRowFromLanes(group, nb, r, reinterpret_cast<BlockQ8_0*>(row));
  if (type == GgmlType::kQ4_0) return FileRowFromQ4Lanes(group, nb, r, reinterpret_cast<BlockQ4_0*>(row));
  BASTION_CHECK(type == GgmlType::kQ5_0);
  FileRowFromQ5Lanes(group, nb, r, reinterpret_cast<BlockQ5_0*>(row));
}

// Whole groups of `group_rows` rows rewritten through a copy of the group: into the layout with
// to_group(file rows, group), back with to_row(group, r, row) for each of its rows.
template <class ToGroup, class ToRow>
void ConvertGroups(bool to_lanes, uint8_t* rows, size_t row_bytes, int64_t n_rows, int group_rows, ToGroup to_group,
                   ToRow to_row) {
  BASTION_CHECK(n_rows % group_rows == 0);
  const size_t group_bytes = static_cast<size_t>(group_rows) * row_bytes;
  std::vector<uint8_t> copy(group_bytes);
  for (int64_t r0 = 0; r0 < n_rows; r0 += group_rows) {
    uint8_t* group = rows + static_cast<size_t>(r0) * row_bytes;
    std::memcpy(copy.data(), group, group_bytes);
    if (to_lanes) {
      to_group(copy.data(), group);
    } else {
      for (int r = 0; r < group_rows; ++r) to_row(copy.data(), r, group + r * row_bytes);
    }
  }
}

void ConvertLanes(bool to_lanes, GgmlType type, int64_t k, uint8_t* rows, size_t row_bytes, int64_t n_rows) {
  BASTION_CHECK((type == GgmlType::kQ8_0 || type == GgmlType::kQ5_0 || type == GgmlType::kQ4_0) && k % 32 == 0);
  BASTION_CHECK(row_bytes == RowBytes(type, k));
  const int64_t nb = k / 32;
  ConvertGroups(
      to_lanes, rows, row_bytes, n_rows, kLaneRows,
      [&](const uint8_t* file, uint8_t* group) { GroupFromFileRows(type, file, nb, group); },
      [&](const uint8_t* group, int r, uint8_t* row) { FileRowFromGroup(type, group, nb, r, row); });
}

void ConvertKLanes(bool to_lanes, GgmlType type, int64_t k, uint8_t* rows, size_t row_bytes, int64_t n_rows) {
  BASTION_CHECK(klanes::HasLanesLayout(type) && k % kQK_K == 0);
  BASTION_CHECK(row_bytes == RowBytes(type, k));
  const int64_t nb = k / kQK_K;
  ConvertGroups(
      to_lanes, rows, row_bytes, n_rows, klanes::kRows,
      [&](const uint8_t* file, uint8_t* group) { klanes::GroupFromFileRows(type, file, nb, group); },
      [&](const uint8_t* group, int r, uint8_t* row) { klanes::FileRowFromGroup(type, group, nb, r, row); });
}

bool IsKLanes(WeightLayout layout) { return layout == WeightLayout::kQ4_KLanes || layout == WeightLayout::kQ6_KLanes; }

}  // namespace

const char* WeightLayoutName(WeightLayout layout) {
  switch (layout) {
    case WeightLayout::kFile: return "file";
    case WeightLayout::kQ5_0Pairs: return "q5_0-pairs";
    case WeightLayout::kQ8_0Lanes: return "q8_0-lanes";
    case WeightLayout::kQ5_0Lanes: return "q5_0-lanes";
    case WeightLayout::kQ4_0Lanes: return "q4_0-lanes";
    case WeightLayout::kQ4_KLanes: return "q4_k-lanes";
    case WeightLayout::kQ6_KLanes: return "q6_k-lanes";
  }
  return "?";
}

int64_t LayoutRowGroup(WeightLayout layout) {
  if (IsKLanes(layout)) return klanes::kRows;
  return layout == WeightLayout::kQ8_0Lanes || layout == WeightLayout::kQ5_0Lanes || layout == WeightLayout::kQ4_0Lanes
             ? kLaneRows
             : 1;
}

WeightLayout PreferredLayout(GgmlType type, int64_t k, int64_t n_rows, SimdLevel level) {
  static const bool off = [] {
    const char* v = std::getenv("BASTION_REPACK");
    return v != nullptr && std::strcmp(v, "off") == 0;
  }();
  if (off) return WeightLayout::kFile;
#if defined(BASTION_HAVE_AVX2)
  // The lanes layouts have kernels at AVX2 and at AVX-512 (VNNI). Where AMX-INT8 runs the
  // prefill products (Sapphire Rapids) the AVX-512 level keeps the file's layout, which the AMX
  // kernel packs from.
  bool lanes_level = level == SimdLevel::kAvx2;
#if defined(BASTION_HAVE_AVX512)
  lanes_level = lanes_level || (level == SimdLevel::kAvx512 && !legacy::AmxInt8Ready());
#endif
  const bool whole_groups = n_rows % kLaneRows == 0;
  if (lanes_level && type == GgmlType::kQ5_0 && k % kQK5_0 == 0 && whole_groups) return WeightLayout::kQ5_0Lanes;
  // The pairs layout has an AVX2 kernel only; the AVX-512 kernels read the file's layout.
  if (level == SimdLevel::kAvx2 && type == GgmlType::kQ5_0 && k % (2 * kQK5_0) == 0) return WeightLayout::kQ5_0Pairs;
  if (lanes_level && type == GgmlType::kQ8_0 && k % kQK8_0 == 0 && whole_groups) return WeightLayout::kQ8_0Lanes;
  if (lanes_level && level == SimdLevel::kAvx512 && type == GgmlType::kQ4_0 && k % kQK4_0 == 0 && whole_groups) {
    return WeightLayout::kQ4_0Lanes;
  }
#if defined(BASTION_HAVE_AVX512)
  // The K-quant lanes kernels are AVX-512 VNNI only; there is no AMX kernel for these types, so
  // they are used with or without AMX.
  if (level == SimdLevel::kAvx512 && k % kQK_K == 0 && n_rows % klanes::kRows == 0) {
    if (type == GgmlType::kQ4_K) return WeightLayout::kQ4_KLanes;
    if (type == GgmlType::kQ6_K) return WeightLayout::kQ6_KLanes;
  }
#endif
#else
  (void)type;
  (void)k;
  (void)n_rows;
  (void)level;
#endif
  return WeightLayout::kFile;
}

namespace {

// Rewrites every pair of every row in place, packing (to_pairs) or unpacking.
void ConvertRows(bool to_pairs, GgmlType type, int64_t k, uint8_t* rows, size_t row_bytes, int64_t n_rows) {
  CheckPairsShape(type, k);
  const int64_t pairs = k / (2 * kQK5_0);
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t s = 0; s < pairs; ++s) {
      uint8_t* pair = rows + r * row_bytes + s * kPairBytes;
      BlockQ5_0 b[2];
      if (to_pairs) {
        std::memcpy(b, pair, kPairBytes);
        PackPair(b[0], b[1], pair);
      } else {
        UnpackPair(pair, &b[0], &b[1]);
        std::memcpy(pair, b, kPairBytes);
      }
    }
  }
}

}  // namespace

void RepackRows(WeightLayout layout, GgmlType type, int64_t k, uint8_t* rows, size_t row_bytes, int64_t n_rows) {
  switch (layout) {
    case WeightLayout::kFile: return;
    case WeightLayout::kQ5_0Pairs: return ConvertRows(true, type, k, rows, row_bytes, n_rows);
    case WeightLayout::kQ8_0Lanes:
    case WeightLayout::kQ5_0Lanes:
    case WeightLayout::kQ4_0Lanes: return ConvertLanes(true, type, k, rows, row_bytes, n_rows);
    case WeightLayout::kQ4_KLanes:
    case WeightLayout::kQ6_KLanes: return ConvertKLanes(true, type, k, rows, row_bytes, n_rows);
  }
}

void UnpackRows(WeightLayout layout, GgmlType type, int64_t k, uint8_t* rows, size_t row_bytes, int64_t n_rows) {
  switch (layout) {
    case WeightLayout::kFile: return;
    case WeightLayout::kQ5_0Pairs: return ConvertRows(false, type, k, rows, row_bytes, n_rows);
    case WeightLayout::kQ8_0Lanes:
    case WeightLayout::kQ5_0Lanes:
    case WeightLayout::kQ4_0Lanes: return ConvertLanes(false, type, k, rows, row_bytes, n_rows);
    case WeightLayout::kQ4_KLanes:
    case WeightLayout::kQ6_KLanes: return ConvertKLanes(false, type, k, rows, row_bytes, n_rows);
  }
}

void DequantizeLayoutRow(WeightLayout layout, GgmlType type, int64_t k, const uint8_t* rows, size_t row_bytes,
                         int64_t row, float* out) {
  const uint8_t* file_row = rows + static_cast<size_t>(row) * row_bytes;
  thread_local std::vector<uint8_t> unpacked;
  switch (layout) {
    case WeightLayout::kFile: break;
    case WeightLayout::kQ5_0Pairs:
      unpacked.assign(file_row, file_row + row_bytes);
      UnpackRows(layout, type, k, unpacked.data(), row_bytes, 1);
      file_row = unpacked.data();
      break;
    case WeightLayout::kQ8_0Lanes:
    case WeightLayout::kQ5_0Lanes:
    case WeightLayout::kQ4_0Lanes:
      // Only this row's bytes out of its group (a lookup per token; unpacking the group would
      // do eight rows' work).
      unpacked.resize(row_bytes);
      FileRowFromGroup(type, rows + static_cast<size_t>(row / kLaneRows * kLaneRows) * row_bytes, k / 32,
                       static_cast<int>(row % kLaneRows), unpacked.data());
      file_row = unpacked.data();
      break;
    case WeightLayout::kQ4_KLanes:
    case WeightLayout::kQ6_KLanes:
      unpacked.resize(row_bytes);
      klanes::FileRowFromGroup(type, rows + static_cast<size_t>(row / klanes::kRows * klanes::kRows) * row_bytes,
                               k / kQK_K, static_cast<int>(row % klanes::kRows), unpacked.data());
      file_row = unpacked.data();
      break;
  }
  DequantizeRow(type, file_row, out, k);
}

GemmFn GetLayoutGemm(GgmlType type, WeightLayout layout, SimdLevel level) {
  switch (layout) {
    case WeightLayout::kFile: return GetGemm(type, level);
    case WeightLayout::kQ5_0Pairs:
      BASTION_CHECK(type == GgmlType::kQ5_0);
#if defined(BASTION_HAVE_AVX2)
      if (level == SimdLevel::kAvx2) return legacy::GemmQ5_0PairsAvx2();
#endif
      return UnpackingGemmAt<WeightLayout::kQ5_0Pairs, GgmlType::kQ5_0>(level);
    case WeightLayout::kQ8_0Lanes:
      BASTION_CHECK(type == GgmlType::kQ8_0);
#if defined(BASTION_HAVE_AVX2)
      if (level == SimdLevel::kAvx2) return legacy::GemmQ8_0LanesAvx2();
#endif
#if defined(BASTION_HAVE_AVX512)
      if (level == SimdLevel::kAvx512) return legacy::GemmQ8_0LanesAvx512();
#endif
      return UnpackingGemmAt<WeightLayout::kQ8_0Lanes, GgmlType::kQ8_0>(level);
    case WeightLayout::kQ5_0Lanes:
      BASTION_CHECK(type == GgmlType::kQ5_0);
#if defined(BASTION_HAVE_AVX2)
      if (level == SimdLevel::kAvx2) return legacy::GemmQ5_0LanesAvx2();
#endif
#if defined(BASTION_HAVE_AVX512)
      if (level == SimdLevel::kAvx512) return legacy::GemmQ5_0LanesAvx512();
#endif
      return UnpackingGemmAt<WeightLayout::kQ5_0Lanes, GgmlType::kQ5_0>(level);
    case WeightLayout::kQ4_0Lanes:
      BASTION_CHECK(type == GgmlType::kQ4_0);
#if defined(BASTION_HAVE_AVX512)
      if (level == SimdLevel::kAvx512) return legacy::GemmQ4_0LanesAvx512();
#endif
      return UnpackingGemmAt<WeightLayout::kQ4_0Lanes, GgmlType::kQ4_0>(level);
    case WeightLayout::kQ4_KLanes:
    case WeightLayout::kQ6_KLanes: {
      const bool q4k = layout == WeightLayout::kQ4_KLanes;
      BASTION_CHECK(type == (q4k ? GgmlType::kQ4_K : GgmlType::kQ6_K));
#if defined(BASTION_HAVE_AVX512)
      if (level == SimdLevel::kAvx512) return kquant::Avx512LanesGemm(type);
#endif
      return q4k ? UnpackingGemmAt<WeightLayout::kQ4_KLanes, GgmlType::kQ4_K>(level)
                 : UnpackingGemmAt<WeightLayout::kQ6_KLanes, GgmlType::kQ6_K>(level);
    }
  }
  return nullptr;
}

}  // namespace bastion
