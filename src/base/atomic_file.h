// Files in the state directory (keys, certificates, accounts, manifests) are written so that a
// crash, a kill -9 or a full disk never leaves a torn or empty file behind, and are guarded by
// advisory locks when two processes share the directory.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace bastion {

// Writes `data` to `path` atomically: a temporary file in the same directory (created with
// `mode`, so a key is never readable by others even for a moment), fsync, rename over `path`,
// fsync of the directory. Readers see the old content or the new, never a mix.
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0644);

// Reads a whole file (at most max_bytes; larger is an error, not a huge allocation). A missing
// file is an error whose message says so; use FileExists first where absence is normal.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = 64u << 20);

bool FileExists(const std::string& path);

// mkdir -p with `mode` for the directories it creates.
Status MakeDirectories(const std::string& path, mode_t mode = 0700);

// An exclusive advisory lock (flock) on a lock file, released when this object goes away or the
// process dies (so a kill -9 never leaves a stale lock). Not reentrant within one process for the
// same path from two objects: the second waits for the first.
class FileLock {
 public:
  // Waits up to `timeout` for the lock (0 = try once); creates the file (mode 0600) if needed.
  static Result<FileLock> Acquire(const std::string& path, std::chrono::milliseconds timeout);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace bastion
