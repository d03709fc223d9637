// Which weight type each tensor gets in a quantized model file ("Q4_K_M" and friends).
//
// These are llama.cpp's llama-quantize rules for the Qwen2 tensors, so a synthetic model has the
// same per-tensor type mix — and therefore the same speed — as the official GGUF files. Notably,
// tensors whose rows are not a multiple of 256 (all the 896-wide ones of Qwen2.5-0.5B) cannot use
// K-quants and fall back: Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> IQ4_NL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "quant/types.h"

namespace bastion {

// llama.cpp's LLAMA_FTYPE_* values (stored as general.file_type).
enum class FileType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ8_0 = 7,
  kQ5_0 = 8,
  kQ5_1 = 9,
  kQ2_K = 10,
  kQ3_K_S = 11,
  kQ3_K_M = 12,
  kQ3_K_L = 13,
  kQ4_K_S = 14,
  kQ4_K_M = 15,
  kQ5_K_S = 16,
  kQ5_K_M = 17,
  kQ6_K = 18,
  kBF16 = 32,
};

// "Q4_K_M", "q8_0", "f16", ... -> FileType.
std::optional<FileType> ParseFileType(std::string_view name);
const char* FileTypeName(FileType type);
// Every name ParseFileType accepts, for help texts.
std::string FileTypeNames();

// What the tensor decides on its own: which kind of tensor it is and where it sits.
struct TensorRole {
  enum Kind { kTokenEmbd, kOutput, kAttnQ, kAttnK, kAttnV, kAttnOutput, kFfnGate, kFfnUp, kFfnDown };
  Kind kind;
  int layer = 0;          // for per-layer tensors
  int n_layer = 1;
  int64_t row_length = 0; // ne[0]
  int n_gqa = 1;          // n_head / n_head_kv
  bool has_output = false;  // false: token_embd doubles as the output head
};

// The weight type of a 2-D tensor in a file of type `ftype`.
GgmlType TensorTypeFor(FileType ftype, const TensorRole& role);

}  // namespace bastion
