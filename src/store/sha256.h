// Streaming SHA-256 (OpenSSL EVP) for blobs that are far larger than memory: the downloader feeds
// it as bytes arrive, and a resumed download feeds it the bytes already on disk first.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace bastion::store {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t size);
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  // Lower-case hex of the digest; the object starts over afterwards.
  std::string FinishHex();
  void Reset();

 private:
  void* ctx_;  // EVP_MD_CTX*
};

// Hashes the first `length` bytes of `path` into `hash` (the start of a partial download).
Status HashFilePrefix(const std::string& path, uint64_t length, Sha256& hash);

// Whether `hex` is 64 hex digits (either case).
bool IsSha256Hex(std::string_view hex);

// "sha256:<hex>" / "sha256-<hex>" / "<hex>" -> lower-case hex; anything else is an error.
Result<std::string> NormalizeSha256(std::string_view text);

}  // namespace bastion::store
