// MappedFile: a whole file's bytes, read-only — either mapped from the page cache or read once
// into anonymous memory backed by huge pages (FileResidency says which and why).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "base/huge_page_region.h"
#include "base/result.h"

namespace bastion {

// Where a file's bytes live while it is open.
//  kMapped   mmap of the file: opening costs nothing, the page cache is shared with other
//            processes, and pages the kernel drops under memory pressure are read again on use.
//            Model metadata readers (show, pull's verification) want this.
//  kInMemory read once into anonymous memory aligned to and advised for 2 MiB transparent huge
//            pages, then made read-only. Decode streams every weight once per token, and this
//            VM decoded 10-40% faster from huge pages than from the 4 KiB page
//            cache pages of a mapping (docs/PERFORMANCE.md, "Weights in memory"); the resident
//            size is the same. Costs a copy at load (0.2-1.3 s for 500 MiB here: page faults,
//            compaction, copy), and the pages cannot be dropped under memory pressure (they swap
//            instead).
//            Where the anonymous memory cannot be had (ENOMEM), Open maps the file instead.
enum class FileResidency { kMapped, kInMemory };

class MappedFile {
 public:
  // Opens `path` read-only with the given residency. An empty file gives an empty span.
  static Result<std::unique_ptr<MappedFile>> Open(const std::string& path,
                                                   FileResidency residency = FileResidency::kMapped);

  // Wraps bytes already in memory (tests, fuzzing). The bytes are copied.
  static std::unique_ptr<MappedFile> FromBytes(std::span<const uint8_t> bytes);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  // kInMemory only when the bytes were read into anonymous memory (not FromBytes).
  FileResidency residency() const { return residency_; }

  // Asks the kernel to read a mapped file ahead (weights are all used on every token); nothing
  // to do for bytes already in memory.
  void AdviseWillNeed() const;

  // For bytes read kInMemory: makes them writable, calls edit(bytes), then makes them read-only
  // again, and returns true. Model::Load repacks weights this way (kernels/weight_layout.h); a
  // mapped file is never written, so otherwise nothing is called and the result is false.
  Result<bool> EditInMemory(const std::function<void(std::span<uint8_t>)>& edit);

 private:
  MappedFile() = default;
  // Reads the open file `fd` into a fresh HugePageRegion. False when the region cannot be had
  // (ENOMEM); other failures are errors.
  Result<bool> ReadIntoMemory(int fd);

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  FileResidency residency_ = FileResidency::kMapped;
  void* mapping_ = nullptr;  // kMapped: the file mapping to munmap
  HugePageRegion memory_;    // kInMemory: where the bytes were read to
  struct FreeDeleter { void operator()(uint8_t* p) const; };
  std::unique_ptr<uint8_t, FreeDeleter> owned_;
};

}  // namespace bastion
