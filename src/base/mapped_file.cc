// MappedFile: a file's bytes, mapped or read into huge-page-backed anonymous memory.
#include "base/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "base/check.h"

namespace bastion {
namespace {

// Closes a descriptor on every way out of Open.
struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

}  // namespace

Result<std::unique_ptr<MappedFile>> MappedFile::Open(const std::string& path, FileResidency residency) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(path + ": cannot open: " + std::strerror(errno));
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Error(path + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Error(path + ": not a regular file");
  auto file = std::unique_ptr<MappedFile>(new MappedFile());
  file->path_ = path;
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ == 0) return file;
  if (residency == FileResidency::kInMemory) {
    BASTION_ASSIGN_OR_RETURN(const bool loaded, file->ReadIntoMemory(fd));
    if (loaded) return file;
    // No anonymous memory to be had: a mapping still works (its pages can be dropped and
    // re-read under pressure), only slower.
  }
  void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Error(path + ": mmap failed: " + std::strerror(errno));
  file->data_ = static_cast<const uint8_t*>(p);
  file->mapping_ = p;
  return file;  // the mapping keeps the file alive after the descriptor closes
}

Result<bool> MappedFile::ReadIntoMemory(int fd) {
  HugePageRegion region(size_);
  if (region.data() == nullptr) {
    if (region.error() == ENOMEM) return false;
    return Error(path_ + ": cannot allocate memory for the file: " + std::strerror(region.error()));
  }
  size_t done = 0;
  while (done < size_) {
    const ssize_t n = ::pread(fd, region.data() + done, size_ - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(path_ + ": cannot read: " + std::strerror(errno));
    if (n == 0) return Error(path_ + ": cannot read: the file shrank while being read");
    done += static_cast<size_t>(n);
  }
  if (const int err = region.MakeReadOnly(); err != 0) {
    return Error(path_ + ": cannot make the weights read-only: " + std::strerror(err));
  }
  data_ = region.data();
  memory_ = std::move(region);
  residency_ = FileResidency::kInMemory;
  return true;
}

Result<bool> MappedFile::EditInMemory(const std::function<void(std::span<uint8_t>)>& edit) {
  if (residency_ != FileResidency::kInMemory) return false;
  if (const int err = memory_.MakeWritable(); err != 0) {
    return Error(path_ + ": cannot make the weights writable: " + std::strerror(err));
  }
  edit(std::span<uint8_t>(memory_.data(), size_));
  if (const int err = memory_.MakeReadOnly(); err != 0) {
    return Error(path_ + ": cannot make the weights read-only: " + std::strerror(err));
  }
  return true;
}

std::unique_ptr<MappedFile> MappedFile::FromBytes(std::span<const uint8_t> bytes) {
  auto file = std::unique_ptr<MappedFile>(new MappedFile());
  file->path_ = "<memory>";
  file->size_ = bytes.size();
  // Allocate at least one byte so data() is never null, and align like a page would be.
  const size_t alloc = (bytes.size() + 64) / 64 * 64;  // aligned_alloc wants a multiple of 64
  file->owned_.reset(static_cast<uint8_t*>(std::aligned_alloc(64, alloc)));
  BASTION_CHECK(file->owned_ != nullptr);
  if (!bytes.empty()) std::memcpy(file->owned_.get(), bytes.data(), bytes.size());
  file->data_ = file->owned_.get();
  return file;
}

MappedFile::~MappedFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
}

void MappedFile::FreeDeleter::operator()(uint8_t* p) const { std::free(p); }

void MappedFile::AdviseWillNeed() const {
  if (mapping_ != nullptr) ::madvise(mapping_, size_, MADV_WILLNEED);
}

}  // namespace bastion
