// MappedFile: mmap of a whole file, read-only.
#include "base/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/check.h"

namespace bastion {

Result<std::unique_ptr<MappedFile>> MappedFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Error(path + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error(path + ": not a regular file");
  }
  auto file = std::unique_ptr<MappedFile>(new MappedFile());
  file->path_ = path;
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return Error(path + ": mmap failed: " + std::strerror(err));
    }
    file->data_ = static_cast<const uint8_t*>(p);
    file->is_mmap_ = true;
  }
  ::close(fd);  // the mapping keeps the file alive
  return file;
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
  if (is_mmap_ && data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void MappedFile::FreeDeleter::operator()(uint8_t* p) const { std::free(p); }

void MappedFile::AdviseWillNeed() const {
  if (is_mmap_ && size_ > 0) ::madvise(const_cast<uint8_t*>(data_), size_, MADV_WILLNEED);
}

}  // namespace bastion
