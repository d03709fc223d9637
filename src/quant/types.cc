// Table of GGML type facts (block sizes and byte sizes match ggml.c's type_traits).
#include "quant/types.h"

#include <array>
#include <cctype>

#include "base/check.h"
#include "quant/blocks.h"
#include "quant/iq4_nl.h"

namespace bastion {
namespace {

constexpr size_t kNoType = 0;

struct Entry {
  uint32_t id;
  TypeInfo info;
};

// Every type id GGML has defined. Unsupported ones are listed so errors can name them.
constexpr std::array<Entry, 37> kTypes = {{
    {0, {"F32", 1, 4, true, GgmlType::kF32}},
    {1, {"F16", 1, 2, true, GgmlType::kF16}},
    {2, {"Q4_0", kQK4_0, sizeof(BlockQ4_0), true, GgmlType::kQ8_0}},
    {3, {"Q4_1", kQK4_1, sizeof(BlockQ4_1), true, GgmlType::kQ8_1}},
    {4, {"Q4_2", 0, kNoType, false, GgmlType::kF32}},
    {5, {"Q4_3", 0, kNoType, false, GgmlType::kF32}},
    {6, {"Q5_0", kQK5_0, sizeof(BlockQ5_0), true, GgmlType::kQ8_0}},
    {7, {"Q5_1", kQK5_1, sizeof(BlockQ5_1), true, GgmlType::kQ8_1}},
    {8, {"Q8_0", kQK8_0, sizeof(BlockQ8_0), true, GgmlType::kQ8_0}},
    {9, {"Q8_1", kQK8_1, sizeof(BlockQ8_1), false, GgmlType::kQ8_1}},
    {10, {"Q2_K", kQK_K, sizeof(BlockQ2_K), true, GgmlType::kQ8_K}},
    {11, {"Q3_K", kQK_K, sizeof(BlockQ3_K), true, GgmlType::kQ8_K}},
    {12, {"Q4_K", kQK_K, sizeof(BlockQ4_K), true, GgmlType::kQ8_K}},
    {13, {"Q5_K", kQK_K, sizeof(BlockQ5_K), true, GgmlType::kQ8_K}},
    {14, {"Q6_K", kQK_K, sizeof(BlockQ6_K), true, GgmlType::kQ8_K}},
    {15, {"Q8_K", kQK_K, sizeof(BlockQ8_K), false, GgmlType::kQ8_K}},
    // The IQ types and integer types: sizes as in ggml.c, kept so a file using them is
    // reported by name and its tensor sizes can still be bounds-checked.
    {16, {"IQ2_XXS", 256, 66, false, GgmlType::kF32}},
    {17, {"IQ2_XS", 256, 74, false, GgmlType::kF32}},
    {18, {"IQ3_XXS", 256, 98, false, GgmlType::kF32}},
    {19, {"IQ1_S", 256, 50, false, GgmlType::kF32}},
    {20, {"IQ4_NL", kQK4_NL, sizeof(BlockIQ4_NL), true, GgmlType::kQ8_0}},
    {21, {"IQ3_S", 256, 110, false, GgmlType::kF32}},
    {22, {"IQ2_S", 256, 82, false, GgmlType::kF32}},
    {23, {"IQ4_XS", 256, 136, false, GgmlType::kF32}},
    {24, {"I8", 1, 1, false, GgmlType::kF32}},
    {25, {"I16", 1, 2, false, GgmlType::kF32}},
    {26, {"I32", 1, 4, false, GgmlType::kF32}},
    {27, {"I64", 1, 8, false, GgmlType::kF32}},
    {28, {"F64", 1, 8, false, GgmlType::kF32}},
    {29, {"IQ1_M", 256, 56, false, GgmlType::kF32}},
    {30, {"BF16", 1, 2, true, GgmlType::kBF16}},
    {31, {"Q4_0_4_4", 0, kNoType, false, GgmlType::kF32}},
    {32, {"Q4_0_4_8", 0, kNoType, false, GgmlType::kF32}},
    {33, {"Q4_0_8_8", 0, kNoType, false, GgmlType::kF32}},
    {34, {"TQ1_0", 256, 54, false, GgmlType::kF32}},
    {35, {"TQ2_0", 256, 66, false, GgmlType::kF32}},
    {39, {"MXFP4", 32, 17, false, GgmlType::kF32}},
}};

}  // namespace

std::optional<TypeInfo> LookupType(uint32_t type_id) {
  for (const Entry& e : kTypes) {
    if (e.id == type_id) return e.info;
  }
  return std::nullopt;
}

const TypeInfo& GetTypeInfo(GgmlType type) {
  for (const Entry& e : kTypes) {
    if (e.id == static_cast<uint32_t>(type)) return e.info;
  }
  BASTION_CHECK_MSG(false, "unknown GgmlType");
  __builtin_unreachable();
}

size_t RowBytes(GgmlType type, int64_t n) {
  const TypeInfo& info = GetTypeInfo(type);
  BASTION_CHECK(info.block_size > 0 && n % info.block_size == 0);
  return static_cast<size_t>(n / info.block_size) * info.type_size;
}

std::string TypeIdName(uint32_t type_id) {
  if (auto info = LookupType(type_id)) return info->name;
  return "type " + std::to_string(type_id);
}

std::optional<GgmlType> ParseTypeName(std::string_view name) {
  for (const Entry& e : kTypes) {
    if (!e.info.supported && e.id != 9 && e.id != 15) continue;  // Q8_1/Q8_K: activation types
    std::string_view n = e.info.name;
    if (n.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < n.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(name[i])) != n[i]) same = false;
    }
    if (same) return static_cast<GgmlType>(e.id);
  }
  return std::nullopt;
}

}  // namespace bastion
