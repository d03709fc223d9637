// HugePageRegion: anonymous memory aligned to 2 MiB and advised for transparent huge pages.
//
// Streaming reads (decode's pass over every weight, the read-bandwidth probe that its speed is
// measured against) ran faster here from such memory than from mapped 4 KiB page-cache pages
// (decode 10-40%): fewer TLB misses and page walks, and physically contiguous 2 MiB runs.
// MADV_HUGEPAGE is advice: where THP is off (/sys/kernel/mm/transparent_hugepage/enabled =
// never) the region is ordinary memory.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bastion {

class HugePageRegion {
 public:
  // At least `bytes` of zeroed, writable memory (rounded up to whole huge pages). On failure
  // data() is null and error() holds the errno (ENOMEM when there is no memory to be had).
  explicit HugePageRegion(size_t bytes);
  HugePageRegion() = default;
  ~HugePageRegion();
  HugePageRegion(HugePageRegion&& other) noexcept;
  HugePageRegion& operator=(HugePageRegion&& other) noexcept;
  HugePageRegion(const HugePageRegion&) = delete;
  HugePageRegion& operator=(const HugePageRegion&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }  // the rounded size
  int error() const { return error_; }

  // Makes the region read-only (a stray write faults, as in a read-only mapping). Returns the
  // errno of a failure, 0 on success.
  int MakeReadOnly();
  // Undoes MakeReadOnly (for an edit in place; see MappedFile::EditInMemory).
  int MakeWritable();

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  int error_ = 0;
};

}  // namespace bastion
