// Per-tensor weight types for each file type, following llama-quantize's choices.
#include "synth/type_mix.h"

#include <array>
#include <cctype>

namespace bastion {
namespace {

struct FileTypeName_ {
  FileType type;
  const char* name;
};

constexpr std::array<FileTypeName_, 17> kNames = {{
    {FileType::kF32, "F32"},       {FileType::kF16, "F16"},       {FileType::kBF16, "BF16"},
    {FileType::kQ8_0, "Q8_0"},     {FileType::kQ4_0, "Q4_0"},     {FileType::kQ4_1, "Q4_1"},
    {FileType::kQ5_0, "Q5_0"},     {FileType::kQ5_1, "Q5_1"},     {FileType::kQ2_K, "Q2_K"},
    {FileType::kQ3_K_S, "Q3_K_S"}, {FileType::kQ3_K_M, "Q3_K_M"}, {FileType::kQ3_K_L, "Q3_K_L"},
    {FileType::kQ4_K_S, "Q4_K_S"}, {FileType::kQ4_K_M, "Q4_K_M"}, {FileType::kQ5_K_S, "Q5_K_S"},
    {FileType::kQ5_K_M, "Q5_K_M"}, {FileType::kQ6_K, "Q6_K"},
}};

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third in between.
bool UseMoreBits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

GgmlType DefaultType(FileType f) {
  switch (f) {
    case FileType::kF32: return GgmlType::kF32;
    case FileType::kF16: return GgmlType::kF16;
    case FileType::kBF16: return GgmlType::kBF16;
    case FileType::kQ8_0: return GgmlType::kQ8_0;
    case FileType::kQ4_0: return GgmlType::kQ4_0;
    case FileType::kQ4_1: return GgmlType::kQ4_1;
    case FileType::kQ5_0: return GgmlType::kQ5_0;
    case FileType::kQ5_1: return GgmlType::kQ5_1;
    case FileType::kQ2_K: return GgmlType::kQ2_K;
    case FileType::kQ3_K_S:
    case FileType::kQ3_K_M:
    case FileType::kQ3_K_L: return GgmlType::kQ3_K;
    case FileType::kQ4_K_S:
    case FileType::kQ4_K_M: return GgmlType::kQ4_K;
    case FileType::kQ5_K_S:
    case FileType::kQ5_K_M: return GgmlType::kQ5_K;
    case FileType::kQ6_K: return GgmlType::kQ6_K;
  }
  return GgmlType::kF32;
}

bool IsFloat(FileType f) { return f == FileType::kF32 || f == FileType::kF16 || f == FileType::kBF16; }

// A K-quant that does not fit the row length falls back to a 32-block type.
GgmlType Fallback(GgmlType t, int64_t row_length) {
  if (row_length % BlockSize(t) == 0) return t;
  switch (t) {
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K: t = GgmlType::kIQ4_NL; break;
    case GgmlType::kQ4_K: t = GgmlType::kQ5_0; break;
    case GgmlType::kQ5_K: t = GgmlType::kQ5_1; break;
    case GgmlType::kQ6_K: t = GgmlType::kQ8_0; break;
    default: break;
  }
  if (row_length % BlockSize(t) != 0) t = GgmlType::kF16;
  return t;
}

}  // namespace

std::optional<FileType> ParseFileType(std::string_view name) {
  for (const auto& n : kNames) {
    std::string_view s = n.name;
    if (s.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < s.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(name[i])) != s[i]) same = false;
    }
    if (same) return n.type;
  }
  return std::nullopt;
}

const char* FileTypeName(FileType type) {
  for (const auto& n : kNames) {
    if (n.type == type) return n.name;
  }
  return "?";
}

std::string FileTypeNames() {
  std::string s;
  for (const auto& n : kNames) s += (s.empty() ? "" : ", ") + std::string(n.name);
  return s;
}

GgmlType TensorTypeFor(FileType f, const TensorRole& r) {
  if (IsFloat(f)) return DefaultType(f);
  GgmlType t = DefaultType(f);
  using K = TensorRole::Kind;
  const bool is_output = r.kind == K::kOutput || (r.kind == K::kTokenEmbd && !r.has_output);
  if (is_output) {
    // The output head (or the tied embedding) gets Q6_K, or Q8_0 when Q6_K does not fit.
    if (r.row_length % BlockSize(t) != 0) return GgmlType::kQ8_0;
    if (t != GgmlType::kQ8_0) t = GgmlType::kQ6_K;
    return Fallback(t, r.row_length);
  }
  if (r.kind == K::kTokenEmbd) return Fallback(t, r.row_length);  // untied embedding: default type

  const int i = r.layer;
  const int n = r.n_layer;
  switch (r.kind) {
    case K::kAttnV:
      if (f == FileType::kQ2_K) t = r.n_gqa >= 4 ? GgmlType::kQ4_K : GgmlType::kQ3_K;
      else if (f == FileType::kQ3_K_M) t = i < 2 ? GgmlType::kQ5_K : GgmlType::kQ4_K;
      else if (f == FileType::kQ3_K_L) t = GgmlType::kQ5_K;
      else if ((f == FileType::kQ4_K_M || f == FileType::kQ5_K_M) && UseMoreBits(i, n)) t = GgmlType::kQ6_K;
      else if (f == FileType::kQ4_K_S && i < 4) t = GgmlType::kQ5_K;
      break;
    case K::kFfnDown:
      if (f == FileType::kQ2_K) t = GgmlType::kQ3_K;
      else if (f == FileType::kQ3_K_M) t = i < n / 16 ? GgmlType::kQ5_K : GgmlType::kQ4_K;
      else if (f == FileType::kQ3_K_L) t = GgmlType::kQ5_K;
      else if (f == FileType::kQ4_K_M && UseMoreBits(i, n)) t = GgmlType::kQ6_K;
      else if (f == FileType::kQ5_K_M && UseMoreBits(i, n)) t = GgmlType::kQ6_K;
      else if (f == FileType::kQ4_K_S && i < n / 8) t = GgmlType::kQ5_K;
      break;
    case K::kAttnOutput:
      if (f == FileType::kQ2_K) t = GgmlType::kQ3_K;
      else if (f == FileType::kQ3_K_M) t = GgmlType::kQ4_K;
      else if (f == FileType::kQ3_K_L) t = GgmlType::kQ5_K;
      break;
    default:
      break;
  }
  return Fallback(t, r.row_length);
}

}  // namespace bastion
