// GgufFile: a bounds-checked reader of GGUF v2/v3 files over a memory map.
//
// Everything read from the file is untrusted. Parse() checks every count, length, offset and
// shape against the bytes actually present before using or allocating for it, and reports what
// is wrong with the expected and actual values; it never aborts on bad input. Tensor data is not
// copied: GgufTensorInfo::data points into the mapping, which lives as long as the GgufFile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/mapped_file.h"
#include "base/result.h"
#include "gguf/gguf_value.h"
#include "quant/types.h"

namespace bastion {

struct GgufTensorInfo {
  std::string name;
  GgmlType type;  // a type id GGML defines; the model decides if it can use it
  std::vector<int64_t>
      shape;               // GGML order: shape[0] is the contiguous row length; 1-4 dims, each >= 1
  int64_t n_elements = 0;  // product of shape
  uint64_t offset = 0;     // relative to the data section; a multiple of the alignment
  size_t size_bytes = 0;   // n_elements / block_size * type_size
  const uint8_t* data = nullptr;  // into the mapped file; [data, data + size_bytes) is in bounds

  std::span<const uint8_t> bytes() const { return {data, size_bytes}; }
};

class GgufFile {
 public:
  // Opens (base/mapped_file.h: mapped, or read into memory) and parses `path`. Errors start with
  // the path.
  static Result<std::unique_ptr<GgufFile>> Open(const std::string& path,
                                                 FileResidency residency = FileResidency::kMapped);
  // Parses an already mapped file (tests and the fuzzer use MappedFile::FromBytes).
  static Result<std::unique_ptr<GgufFile>> Parse(std::unique_ptr<MappedFile> file);

  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  // Absolute file offset where tensor data starts.
  uint64_t data_offset() const { return data_offset_; }
  const MappedFile& mapped_file() const { return *file_; }
  MappedFile& mutable_mapped_file() { return *file_; }
  const std::string& path() const { return file_->path(); }

  // ---- Metadata ----
  const std::vector<std::string>& keys() const { return keys_; }  // in file order
  const GgufValue* Find(std::string_view key) const;              // nullptr when absent

  // Typed getters. Errors name the key and the expected and actual type or value, e.g.
  // "key 'qwen2.block_count': expected an unsigned integer, got string".
  // Integers: any integer type whose value fits the result.
  Result<uint64_t> GetUint(std::string_view key) const;
  Result<uint32_t> GetUint32(std::string_view key) const;
  Result<int64_t> GetInt(std::string_view key) const;
  // float32 or float64 (narrowed), or an integer (converted).
  Result<float> GetFloat(std::string_view key) const;
  Result<bool> GetBool(std::string_view key) const;
  Result<std::string> GetString(std::string_view key) const;
  // Arrays of exactly that element type; the spans live as long as this GgufFile.
  Result<std::span<const std::string>> GetStringArray(std::string_view key) const;
  Result<std::span<const int32_t>> GetInt32Array(std::string_view key) const;
  Result<std::span<const float>> GetFloatArray(std::string_view key) const;

  // One-line description of a value (type, size, leading elements) for `bastion show`;
  // "<missing>" when the key is absent.
  std::string DescribeValue(std::string_view key, size_t max_chars) const;

  // ---- Tensors ----
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }  // in file order
  const GgufTensorInfo* FindTensor(std::string_view name) const;           // nullptr when absent

 private:
  class Parser;
  explicit GgufFile(std::unique_ptr<MappedFile> file) : file_(std::move(file)) {}

  // The value for `key`, or a "key 'x' not found" error.
  Result<const GgufValue*> Require(std::string_view key) const;

  std::unique_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  size_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::string> keys_;
  std::vector<GgufValue> values_;                         // parallel to keys_
  std::map<std::string, size_t, std::less<>> key_index_;  // key -> index into keys_/values_
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace bastion
