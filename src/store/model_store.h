// The model store in the state directory: GGUF blobs named by their SHA-256 and one small JSON
// manifest per model name.
//
//   <state>/models/blobs/sha256-<hex>            the GGUF file (never modified once there)
//   <state>/models/blobs/<key>.partial           a download in progress (resumable), + .lock
//   <state>/models/manifests/<escaped name>.json  {name, source, digest, size, weight_type, ...}
//   <state>/models/.lock                         held while blobs move in or out and manifests
//                                                change, so pull, rm and cp in several
//                                                processes never see each other half-done
//
// Manifests are written atomically (WriteFileAtomic); a blob enters the store by rename after it
// was verified, so a blob file is always complete and correct. A blob is deleted only when the
// last manifest that names its digest goes.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/atomic_file.h"
#include "base/result.h"

namespace bastion::store {

struct Manifest {
  std::string name;          // the store name: "qwen2.5:0.5b"
  std::string source;        // ModelRef::Source(): "hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-...gguf"
  std::string source_url;    // the URL the blob was downloaded from (before redirects)
  std::string digest;        // "sha256:<64 lower-case hex>"
  uint64_t size = 0;         // bytes
  std::string weight_type;   // "Q4_K_M" (general.file_type, or the most common weight type)
  std::string architecture;  // "qwen2"
  int64_t parameters = 0;
  int64_t context_length = 0;  // the context the model was trained for
  std::string added;           // RFC 3339 UTC, "2025-01-31T12:00:00Z"

  std::string DigestHex() const;  // digest without "sha256:"
};

// Strict: every field has its type, name and digest are valid; errors say which field is wrong.
Result<Manifest> ParseManifest(std::string_view json);
std::string SerializeManifest(const Manifest& manifest);

// The manifest file name for a model name: bytes outside [A-Za-z0-9._-] (and a leading '.')
// become %XX, so "qwen2.5:0.5b" -> "qwen2.5%3A0.5b" and no name can contain a path separator.
// An escaped name over 200 bytes becomes a prefix of it, '~' and the name's SHA-256, so every
// valid name fits a file name.
std::string EscapeModelName(std::string_view name);

// The current time as RFC 3339 UTC, and that format back to seconds since the epoch.
std::string NowRfc3339();
std::optional<int64_t> ParseRfc3339(std::string_view text);

class ModelStore {
 public:
  // `state_dir` is the bastion state directory; the store lives in its models/ subdirectory.
  explicit ModelStore(std::string state_dir);

  const std::string& root() const { return root_; }
  std::string BlobPath(std::string_view sha256_hex) const;
  std::string ManifestPath(std::string_view name) const;
  // Where a download keyed by `key` (the expected "sha256-<hex>", or a hash of the URL) goes.
  std::string PartialPath(std::string_view key) const;

  // Creates models/, blobs/ and manifests/.
  Status EnsureDirectories() const;

  // The manifest for `name`: nullopt when there is none, an Error when it is unreadable or
  // malformed.
  Result<std::optional<Manifest>> Find(std::string_view name) const;

  // Every readable manifest, sorted by name. Malformed manifest files are skipped; each adds a
  // line to `problems` when given.
  std::vector<Manifest> List(std::vector<std::string>* problems = nullptr) const;

  // Makes `manifest` part of the store: under the store lock, moves `verified_file` (a verified
  // download; empty when the blob is already there) to the blob path of manifest.digest, checks
  // that the blob exists and has manifest.size bytes, and writes the manifest (replacing one of
  // the same name).
  Status Commit(const std::string& verified_file, const Manifest& manifest) const;

  // Removes the model `name`; its blob too when no other manifest refers to it. Returns false
  // when there is no such model. A malformed manifest is removed as well.
  Result<bool> Remove(std::string_view name) const;

  // Gives the model `source` a second name `destination` (same blob; replaces `destination`).
  // Errors: no such source, invalid destination name.
  Status Copy(std::string_view source, std::string_view destination) const;

  // The store-wide lock (models/.lock); `timeout` as FileLock::Acquire.
  Result<FileLock> Lock(std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;

 private:
  std::string root_;
};

// What a -m/--model argument names: an existing file is used as it is; anything else is looked
// up as a store name in `state_dir`. Errors say neither worked.
struct ModelLocation {
  std::string path;  // the GGUF file to load
  std::string name;  // the store name, or "" when the argument was a file
  std::optional<Manifest> manifest;
};
Result<ModelLocation> ResolveModelArgument(const std::string& state_dir, const std::string& argument);

}  // namespace bastion::store
