// HugePageRegion: over-allocate by one huge page, keep the aligned middle, advise THP.
#include "base/huge_page_region.h"

#include <sys/mman.h>

#include <cerrno>
#include <utility>

namespace bastion {
namespace {

// Transparent huge page size on x86-64 and arm64 with 4 KiB base pages (elsewhere the advice
// just does less).
constexpr size_t kHugePage = size_t{2} << 20;

}  // namespace

HugePageRegion::HugePageRegion(size_t bytes) {
  const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  if (rounded == 0) return;
  // THP only backs whole aligned 2 MiB ranges: reserve one more and keep an aligned run.
  const size_t reserve = rounded + kHugePage;
  void* raw = ::mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    error_ = errno;
    return;
  }
  const auto base = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (base + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > base) ::munmap(raw, aligned - base);
  const uintptr_t end = base + reserve;
  if (end > aligned + rounded) ::munmap(reinterpret_cast<void*>(aligned + rounded), end - (aligned + rounded));
  data_ = reinterpret_cast<uint8_t*>(aligned);
  size_ = rounded;
  ::madvise(data_, size_, MADV_HUGEPAGE);  // best effort: EINVAL where THP is compiled out
}

HugePageRegion::~HugePageRegion() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

HugePageRegion::HugePageRegion(HugePageRegion&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)), error_(other.error_) {}

HugePageRegion& HugePageRegion::operator=(HugePageRegion&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    error_ = other.error_;
  }
  return *this;
}

int HugePageRegion::MakeReadOnly() {
  if (data_ == nullptr) return 0;
  return ::mprotect(data_, size_, PROT_READ) == 0 ? 0 : errno;
}

int HugePageRegion::MakeWritable() {
  if (data_ == nullptr) return 0;
  return ::mprotect(data_, size_, PROT_READ | PROT_WRITE) == 0 ? 0 : errno;
}

}  // namespace bastion
