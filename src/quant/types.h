// Weight types (GGML's numbering, as stored in GGUF files) and their per-type facts.
//
// A tensor row of type T with n elements occupies n / BlockSize(T) * TypeSize(T) bytes.
// Every weight type is multiplied against activations converted to its VecDotType (what llama.cpp
// calls vec_dot_type): Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants, and
// F16/BF16/F32 for the float types. Matching this is what makes our logits agree with llama.cpp's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bastion {

enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  // 4 and 5 (Q4_2, Q4_3) were removed from GGML long ago.
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  // 16..29: IQ* types, I8..I64, F64 — known by name; of these only IQ4_NL is supported (llama.cpp's
  // fallback for Q2_K/Q3_K tensors whose rows are not a multiple of 256).
  kIQ4_NL = 20,
  kBF16 = 30,
};

struct TypeInfo {
  const char* name;       // llama.cpp's name, e.g. "Q4_K"
  int block_size;         // elements per block (1 for float types)
  size_t type_size;       // bytes per block
  bool supported;         // bastion can compute with it as a weight
  GgmlType vec_dot_type;  // activation format it is multiplied against
};

// Facts about a type id as read from a file; nullopt for ids GGML never defined.
std::optional<TypeInfo> LookupType(uint32_t type_id);

// Same, for ids known to be valid (aborts otherwise).
const TypeInfo& GetTypeInfo(GgmlType type);

inline const char* TypeName(GgmlType type) { return GetTypeInfo(type).name; }
inline int BlockSize(GgmlType type) { return GetTypeInfo(type).block_size; }
inline size_t TypeSize(GgmlType type) { return GetTypeInfo(type).type_size; }
inline GgmlType VecDotType(GgmlType type) { return GetTypeInfo(type).vec_dot_type; }

// Bytes of one row of n elements; n must be a multiple of the block size.
size_t RowBytes(GgmlType type, int64_t n);

// Name of any type id, including unknown ones ("type 99").
std::string TypeIdName(uint32_t type_id);

// Parses a type name ("q4_k", "Q8_0", "bf16"); case-insensitive.
std::optional<GgmlType> ParseTypeName(std::string_view name);

}  // namespace bastion
