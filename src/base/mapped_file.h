// MappedFile: a read-only memory map of a whole file (model weights are never copied).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/result.h"

namespace bastion {

class MappedFile {
 public:
  // Maps `path` read-only. An empty file maps to an empty span.
  static Result<std::unique_ptr<MappedFile>> Open(const std::string& path);

  // Wraps bytes already in memory (tests, fuzzing). The bytes are copied.
  static std::unique_ptr<MappedFile> FromBytes(std::span<const uint8_t> bytes);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

  // Asks the kernel to read the whole file ahead (weights are all used on every token).
  void AdviseWillNeed() const;

 private:
  MappedFile() = default;

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool is_mmap_ = false;
  struct FreeDeleter { void operator()(uint8_t* p) const; };
  std::unique_ptr<uint8_t, FreeDeleter> owned_;
};

}  // namespace bastion
