// Conversions between the file's K-quant rows and the 16-row lanes groups (kquant_lanes_layout.h).
// To the layout runs once per matrix at load, on 64-bit words (little-endian, as every target
// is); the way back (embedding lookups, tests, other levels' fallback) goes through a 256-byte
// array of element values, simple rather than fast.
#include "kernels/kquant_lanes_layout.h"

#include <cstring>

#include "base/check.h"
#include "quant/blocks.h"

namespace bastion::klanes {
namespace {

// ---- Q4_K ----
// File: element 64 j + l is the low nibble of qs[32 j + l] (l < 32), 64 j + 32 + l its high one.

void Q4KFromValues(const uint8_t* q, BlockQ4_K* x) {
  for (int j = 0; j < 4; ++j) {
    for (int l = 0; l < 32; ++l) x->qs[32 * j + l] = static_cast<uint8_t>(q[64 * j + l] | q[64 * j + 32 + l] << 4);
  }
}

size_t Q4KQuantAt(int s, int v, int r, int i) {
  return q4k::kQuants + 256 * static_cast<size_t>(s) + 64 * static_cast<size_t>(v) + 4 * static_cast<size_t>(r) +
         static_cast<size_t>(i);
}

uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

constexpr uint64_t kLow4 = 0x0F0F0F0F0F0F0F0Full;
constexpr uint64_t kHigh4 = 0xF0F0F0F0F0F0F0F0ull;

// 16 bytes (two words) to the four dwords (s, v = 0..3) of row r.
void StoreQuarterDwords(const uint64_t (&w)[2], uint8_t* first, size_t v_stride) {
  for (int v = 0; v < 4; ++v) std::memcpy(first + v_stride * static_cast<size_t>(v), reinterpret_cast<const uint8_t*>(w) + 4 * v, 4);
}

// Eight bytes at a time (load time matters: a 1.5B model has about 600 MB of Q4_K): sub-block
// 2j + h is nibble h of qs[32 j .. 32 j + 31]; its layout bytes pair element p (low) with p + 16.
void Q4KToGroup(const BlockQ4_K& x, int r, uint8_t* blk) {
  std::memcpy(blk + q4k::kD + 2 * r, &x.d, 2);
  std::memcpy(blk + q4k::kDmin + 2 * r, &x.dmin, 2);
  for (int w = 0; w < 3; ++w) std::memcpy(blk + q4k::kScaleWords + 64 * w + 4 * r, x.scales + 4 * w, 4);
  for (int j = 0; j < 4; ++j) {
    uint64_t even[2], odd[2];
    for (int k = 0; k < 2; ++k) {
      const uint64_t a = Load64(x.qs + 32 * j + 8 * k);       // elements p = 8k .. 8k+7
      const uint64_t b = Load64(x.qs + 32 * j + 16 + 8 * k);  // elements p + 16
      even[k] = (a & kLow4) | ((b << 4) & kHigh4);
      odd[k] = ((a >> 4) & kLow4) | (b & kHigh4);
    }
    StoreQuarterDwords(even, blk + Q4KQuantAt(2 * j, 0, r, 0), 64);
    StoreQuarterDwords(odd, blk + Q4KQuantAt(2 * j + 1, 0, r, 0), 64);
  }
}

void Q4KFromGroup(const uint8_t* blk, int r, BlockQ4_K* x) {
  std::memcpy(&x->d, blk + q4k::kD + 2 * r, 2);
  std::memcpy(&x->dmin, blk + q4k::kDmin + 2 * r, 2);
  for (int w = 0; w < 3; ++w) std::memcpy(x->scales + 4 * w, blk + q4k::kScaleWords + 64 * w + 4 * r, 4);
  uint8_t q[kQK_K];
  for (int s = 0; s < 8; ++s) {
    for (int v = 0; v < 4; ++v) {
      for (int i = 0; i < 4; ++i) {
        const uint8_t byte = blk[Q4KQuantAt(s, v, r, i)];
        q[32 * s + 4 * v + i] = byte & 0x0F;
        q[32 * s + 16 + 4 * v + i] = byte >> 4;
      }
    }
  }
  Q4KFromValues(q, x);
}

// ---- Q6_K ----
// File (per 128-element half n, l < 32): ql[64 n + l] low nibble -> element 128 n + l, high
// nibble -> 128 n + 64 + l; ql[64 n + 32 + l] low -> 128 n + 32 + l, high -> 128 n + 96 + l;
// qh[32 n + l] bit pairs 0, 1, 2, 3 -> the top two bits of 128 n + l, + 32, + 64, + 96.

void Q6KFromValues(const uint8_t* q, BlockQ6_K* x) {
  for (int n = 0; n < 2; ++n) {
    uint8_t* ql = x->ql + 64 * n;
    uint8_t* qh = x->qh + 32 * n;
    const uint8_t* in = q + 128 * n;
    for (int l = 0; l < 32; ++l) {
      ql[l] = static_cast<uint8_t>((in[l] & 0x0F) | (in[l + 64] & 0x0F) << 4);
      ql[l + 32] = static_cast<uint8_t>((in[l + 32] & 0x0F) | (in[l + 96] & 0x0F) << 4);
      qh[l] = static_cast<uint8_t>((in[l] >> 4) | (in[l + 32] >> 4) << 2 | (in[l + 64] >> 4) << 4 | (in[l + 96] >> 4) << 6);
    }
  }
}

size_t Q6KGroupAt(int g) { return q6k::kQuants + q6k::kGroupBytes * static_cast<size_t>(g); }

// Group g (elements 16 g + p) lies in 128-element half n = g / 8, quarter q = (g % 8) / 2, at
// positions l0 + p of that quarter (l0 = 16 (g % 2)): low bits in nibble q / 2 of
// ql[64 n + 32 (q % 2) + l], top bits in bit pair q of qh[32 n + l]. Words at a time, as Q4_K.
void Q6KToGroup(const BlockQ6_K& x, int r, uint8_t* blk) {
  std::memcpy(blk + q6k::kD + 2 * r, &x.d, 2);
  for (int g = 0; g < 16; ++g) blk[q6k::kScales + 16 * g + r] = static_cast<uint8_t>(x.scales[g]);
  for (int g = 0; g < 16; ++g) {
    const int n = g / 8, q = (g % 8) / 2, l0 = 16 * (g % 2);
    const uint8_t* ql = x.ql + 64 * n + 32 * (q % 2) + l0;
    const uint8_t* qh = x.qh + 32 * n + l0;
    uint8_t* at = blk + Q6KGroupAt(g) + 4 * r;
    // Low bits of elements p (0..7) and p + 8.
    const uint64_t lo = Load64(ql), hi = Load64(ql + 8);
    const uint64_t nib_lo = q < 2 ? lo & kLow4 : (lo >> 4) & kLow4;
    const uint64_t nib_hi = q < 2 ? hi & kLow4 : (hi >> 4) & kLow4;
    const uint64_t packed = nib_lo | nib_hi << 4;  // byte p: element p low, p + 8 high
    std::memcpy(at, &packed, 4);                    // vector 0: p = 0..3
    std::memcpy(at + 64, reinterpret_cast<const uint8_t*>(&packed) + 4, 4);  // vector 1: p = 4..7
    // Top bits: byte i of the high-bit vector holds those of elements 4 t + i in bit pair t.
    const uint64_t t01 = (Load64(qh) >> (2 * q)) & 0x0303030303030303ull;      // elements 0..7
    const uint64_t t23 = (Load64(qh + 8) >> (2 * q)) & 0x0303030303030303ull;  // elements 8..15
    const uint32_t high = static_cast<uint32_t>(t01) | static_cast<uint32_t>(t01 >> 32) << 2 |
                          static_cast<uint32_t>(t23) << 4 | static_cast<uint32_t>(t23 >> 32) << 6;
    std::memcpy(at + 128, &high, 4);
  }
}

void Q6KFromGroup(const uint8_t* blk, int r, BlockQ6_K* x) {
  std::memcpy(&x->d, blk + q6k::kD + 2 * r, 2);
  for (int g = 0; g < 16; ++g) x->scales[g] = static_cast<int8_t>(blk[q6k::kScales + 16 * g + r]);
  uint8_t q[kQK_K];
  for (int g = 0; g < 16; ++g) {
    const uint8_t* at = blk + Q6KGroupAt(g) + 4 * r;
    uint8_t* e = q + 16 * g;
    for (int i = 0; i < 4; ++i) {
      for (int v = 0; v < 2; ++v) {
        e[4 * v + i] = at[64 * v + i] & 0x0F;
        e[8 + 4 * v + i] = at[64 * v + i] >> 4;
      }
      for (int t = 0; t < 4; ++t) e[4 * t + i] = static_cast<uint8_t>(e[4 * t + i] | ((at[128 + i] >> (2 * t)) & 3) << 4);
    }
  }
  Q6KFromValues(q, x);
}

}  // namespace

bool HasLanesLayout(GgmlType type) { return type == GgmlType::kQ4_K || type == GgmlType::kQ6_K; }

size_t GroupBlockBytes(GgmlType type) {
  BASTION_CHECK(HasLanesLayout(type));
  return type == GgmlType::kQ4_K ? q4k::kBytes : q6k::kBytes;
}

void GroupFromFileRows(GgmlType type, const uint8_t* file, int64_t nb, uint8_t* group) {
  const size_t block_bytes = GroupBlockBytes(type);
  for (int r = 0; r < kRows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = group + static_cast<size_t>(b) * block_bytes;
      if (type == GgmlType::kQ4_K) {
        Q4KToGroup(reinterpret_cast<const BlockQ4_K*>(file)[r * nb + b], r, blk);
      } else {
        Q6KToGroup(reinterpret_cast<const BlockQ6_K*>(file)[r * nb + b], r, blk);
      }
    }
  }
}

void FileRowFromGroup(GgmlType type, const uint8_t* group, int64_t nb, int r, uint8_t* row) {
  BASTION_CHECK(r >= 0 && r < kRows);
  const size_t block_bytes = GroupBlockBytes(type);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + static_cast<size_t>(b) * block_bytes;
    if (type == GgmlType::kQ4_K) {
      Q4KFromGroup(blk, r, reinterpret_cast<BlockQ4_K*>(row) + b);
    } else {
      Q6KFromGroup(blk, r, reinterpret_cast<BlockQ6_K*>(row) + b);
    }
  }
}

}  // namespace bastion::klanes
