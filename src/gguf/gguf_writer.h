// GgufWriter: builds a GGUF v3 file the way llama.cpp writes them, so llama.cpp can load it.
//
// Conventions followed: version 3, little-endian; `general.alignment` (uint32) is written only
// when the alignment is not the default 32; the data section starts at the next multiple of the
// alignment after the tensor infos; tensors are laid out in AddTensor order at offsets that are
// multiples of the alignment, each padded with zeros to the next multiple (llama.cpp checks
// that offsets are exactly this sequence). Write() is atomic: a temporary file in the same
// directory, fsync, rename, fsync of the directory.
//
// Misuse (bad shapes, wrong data sizes, duplicate tensor names) is a bug in the caller and
// CHECK-fails; I/O problems and errors from tensor producers are returned as Status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "gguf/gguf_value.h"
#include "quant/types.h"

namespace bastion {

class GgufWriter {
 public:
  // Fills `out` (exactly the tensor's size in bytes, zeroed beforehand) with the tensor's data.
  // Called once per Write(), in tensor order, so one tensor at a time is in memory.
  using TensorProducer = std::function<Status(std::span<uint8_t> out)>;

  GgufWriter() = default;

  // ---- Metadata: keys keep their first insertion position; setting a key again replaces its
  // value in place. Setting `general.alignment` is the same as SetAlignment().
  void Set(std::string_view key, GgufValue value);
  void SetString(std::string_view key, std::string value) {
    Set(key, GgufValue::Of(std::move(value)));
  }
  void SetUint32(std::string_view key, uint32_t value) { Set(key, GgufValue::Of(value)); }
  void SetInt32(std::string_view key, int32_t value) { Set(key, GgufValue::Of(value)); }
  void SetUint64(std::string_view key, uint64_t value) { Set(key, GgufValue::Of(value)); }
  void SetFloat32(std::string_view key, float value) { Set(key, GgufValue::Of(value)); }
  void SetBool(std::string_view key, bool value) { Set(key, GgufValue::Of(value)); }
  void SetStringArray(std::string_view key, std::vector<std::string> values) {
    Set(key, GgufValue::ArrayOf(std::move(values)));
  }
  void SetInt32Array(std::string_view key, std::vector<int32_t> values) {
    Set(key, GgufValue::ArrayOf(std::move(values)));
  }
  void SetFloat32Array(std::string_view key, std::vector<float> values) {
    Set(key, GgufValue::ArrayOf(std::move(values)));
  }
  // Removes a key if present (keeps the order of the others).
  void Remove(std::string_view key);

  // Power of two; the default 32 is not written to the file, anything else is.
  void SetAlignment(size_t alignment);
  size_t alignment() const { return alignment_; }

  // ---- Tensors, written in the order added. `shape` is in GGML order (shape[0] = row length).
  // Bytes of a tensor of this type and shape (CHECKs that the shape is valid for the type).
  static size_t TensorBytes(GgmlType type, std::span<const int64_t> shape);
  // Takes ownership of `data`, which must be exactly TensorBytes(type, shape) long.
  void AddTensor(std::string name, GgmlType type, std::vector<int64_t> shape,
                 std::vector<uint8_t> data);
  // The data is produced during Write() (large models: nothing is held twice).
  void AddTensorFrom(std::string name, GgmlType type, std::vector<int64_t> shape,
                     TensorProducer producer);

  // Writes the file atomically; on error `path` is untouched and no temporary file remains.
  Status Write(const std::string& path) const;
  // The same bytes, in memory (tests, fuzz seeds).
  Result<std::vector<uint8_t>> WriteToBuffer() const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> shape;
    size_t size_bytes;
    std::vector<uint8_t> data;  // used when producer is empty
    TensorProducer producer;
  };
  // Receives the file's bytes in order: a file descriptor or a memory buffer.
  using ByteSink = std::function<Status(std::span<const uint8_t>)>;

  void AddTensorImpl(Tensor tensor);
  std::string SerializeHeader() const;  // header, metadata, tensor infos, padding
  Status WriteTo(const ByteSink& sink) const;

  std::vector<std::string> keys_;
  std::vector<GgufValue> values_;  // parallel to keys_
  size_t alignment_ = kGgufDefaultAlignment;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace bastion
