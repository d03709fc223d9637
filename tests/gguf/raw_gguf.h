// RawGguf: assembles GGUF bytes field by field, so tests can build files the writer refuses to
// produce (bad counts, bad type ids, overlapping tensors ...). Also small parse helpers.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "gguf/gguf_reader.h"

namespace bastion::testing {

inline std::string U8(uint8_t v) { return std::string(1, static_cast<char>(v)); }
inline std::string U32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
inline std::string U64(uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }
inline std::string Str(std::string_view s) { return U64(s.size()) + std::string(s); }

struct RawTensor {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type = 0;  // F32
  uint64_t offset = 0;
  std::optional<uint32_t> n_dims;  // overrides dims.size() in the file
};

class RawGguf {
 public:
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  std::optional<uint64_t> tensor_count;  // overrides tensors.size()
  std::optional<uint64_t> kv_count;      // overrides the number of Kv() calls
  size_t alignment = 32;                 // used to place the data section (set the key yourself)
  std::vector<RawTensor> tensors;
  std::string data;  // data section contents

  // A key with a value type id and the already-encoded value bytes.
  void Kv(std::string_view key, uint32_t type_id, const std::string& payload) {
    kvs_ += Str(key) + U32(type_id) + payload;
    ++n_kv_;
  }
  void KvU32(std::string_view key, uint32_t v) { Kv(key, 4, U32(v)); }
  void KvString(std::string_view key, std::string_view v) { Kv(key, 8, Str(v)); }

  std::string Build() const {
    std::string out = U32(magic) + U32(version) + U64(tensor_count.value_or(tensors.size())) +
                      U64(kv_count.value_or(n_kv_)) + kvs_;
    for (const RawTensor& t : tensors) {
      out += Str(t.name) + U32(t.n_dims.value_or(static_cast<uint32_t>(t.dims.size())));
      for (uint64_t d : t.dims) out += U64(d);
      out += U32(t.type) + U64(t.offset);
    }
    out.resize((out.size() + alignment - 1) / alignment * alignment, '\0');
    return out + data;
  }

 private:
  std::string kvs_;
  uint64_t n_kv_ = 0;
};

inline Result<std::unique_ptr<GgufFile>> ParseBytes(std::string_view bytes) {
  return GgufFile::Parse(
      MappedFile::FromBytes({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}));
}

inline Result<std::unique_ptr<GgufFile>> ParseBytes(const std::vector<uint8_t>& bytes) {
  return GgufFile::Parse(MappedFile::FromBytes(bytes));
}

// The parse error message, or "<parsed OK>" so a failed expectation shows what happened.
inline std::string ParseError(std::string_view bytes) {
  auto r = ParseBytes(bytes);
  return r.ok() ? "<parsed OK>" : r.error().message();
}

}  // namespace bastion::testing
