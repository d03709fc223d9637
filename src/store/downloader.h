// Streams one large file (a GGUF blob) from a URL into a partial file, hashing it as it goes.
//
// Resume: when the partial file already holds N bytes (an interrupted earlier run, or an earlier
// attempt of this one), those bytes are hashed and the request asks for "Range: bytes=N-". A 206
// whose Content-Range starts at N is appended; a 200 means the server ignored the range, so the
// file starts over from zero; a 416 with N == the expected size means the file was complete.
// Connection errors, stalls, 408/429/5xx are retried with backoff (FetchOptions), each attempt
// resuming where the last one stopped; an attempt that made progress resets the attempt count.
// Cancellation keeps the partial file for a later resume.
//
// The digest is computed, not judged: the caller compares it with what it expected and deletes
// the partial file on a mismatch (pull.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/result.h"
#include "store/http_fetch.h"

namespace bastion::store {

struct DownloadRequest {
  std::string url;
  HeaderList headers;
  std::string partial_path;              // created if missing, resumed if present
  std::optional<uint64_t> expected_size;  // when known: more bytes than this is an error
};

struct DownloadResult {
  std::string sha256;         // hex, of the whole file
  uint64_t size = 0;          // bytes in the file
  uint64_t resumed_from = 0;  // bytes that were already there when the first request went out
  int requests = 0;           // HTTP requests made (1 when nothing went wrong)
};

// completed bytes (including resumed ones) and the total (0 when unknown), called often.
using ProgressCallback = std::function<void(uint64_t completed, uint64_t total)>;

// Errors say what failed (HTTP status with the start of the body, network error after the last
// attempt, disk error, "cancelled"). The partial file is kept in every case.
Result<DownloadResult> Download(const DownloadRequest& request, const FetchOptions& options,
                                const ProgressCallback& progress);

// "bytes 100-199/1000" -> {100, 199, 1000}; total is nullopt for "*".
struct ContentRange {
  uint64_t first = 0, last = 0;
  std::optional<uint64_t> total;
};
std::optional<ContentRange> ParseContentRange(std::string_view value);

}  // namespace bastion::store
