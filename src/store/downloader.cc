#include "store/downloader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "net/curl_common.h"
#include "store/sha256.h"

namespace bastion::store {
namespace {

std::optional<uint64_t> ParseU64(std::string_view s) {
  uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// One attempt's state, shared by the libcurl callbacks.
struct Attempt {
  CURL* curl = nullptr;
  int fd = -1;
  Sha256* hash = nullptr;
  uint64_t offset = 0;  // bytes in the file (and in the hash)
  uint64_t start_offset = 0;
  std::optional<uint64_t> expected_size;
  uint64_t total = 0;  // for progress
  const ProgressCallback* progress = nullptr;
  const std::atomic<bool>* cancel = nullptr;

  bool started = false;  // the first body byte of the final response arrived
  int status = 0;
  std::string content_range;
  std::string retry_after;
  std::string error_body;  // start of a non-2xx body, for the message
  std::string failure;     // set when a callback stopped the transfer; says why
  bool restart = false;    // the file must start over from zero next time
  const std::string* path = nullptr;
};

Status Truncate(Attempt& a) {
  if (::ftruncate(a.fd, 0) != 0 || ::lseek(a.fd, 0, SEEK_SET) != 0) {
    return Error("truncating " + *a.path + ": " + std::strerror(errno));
  }
  a.hash->Reset();
  a.offset = 0;
  return OkStatus();
}

// The first body byte of the final response: decide whether the bytes extend the file.
bool StartBody(Attempt& a) {
  a.started = true;
  long status = 0;
  curl_easy_getinfo(a.curl, CURLINFO_RESPONSE_CODE, &status);
  a.status = static_cast<int>(status);
  if (a.status == 206) {
    const auto range = ParseContentRange(a.content_range);
    if (!range || range->first != a.offset) {
      a.failure = "the server answered the range request at another offset (Content-Range '" + a.content_range +
                  "', wanted " + std::to_string(a.offset) + ")";
      a.restart = true;
      return false;
    }
    if (range->total) a.total = *range->total;
    return true;
  }
  if (a.status == 200) {
    if (a.offset > 0) {
      // The server ignored the Range header: it sends the whole file again.
      const Status st = Truncate(a);
      if (!st.ok()) {
        a.failure = st.error().message();
        return false;
      }
    }
    curl_off_t length = -1;
    curl_easy_getinfo(a.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (length >= 0) a.total = static_cast<uint64_t>(length);
    return true;
  }
  return true;  // an error status: the body is kept as a message (OnBody)
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto& a = *static_cast<Attempt*>(user);
  const size_t n = size * count;
  if (a.cancel != nullptr && a.cancel->load()) return 0;  // stops the transfer; Download reports it
  if (!a.started && !StartBody(a)) return 0;
  if (a.status != 200 && a.status != 206) {
    if (a.error_body.size() < 512) a.error_body.append(data, std::min<size_t>(n, 512 - a.error_body.size()));
    return n;
  }
  if (a.expected_size && a.offset + n > *a.expected_size) {
    a.failure = "the server sent more than the expected " + std::to_string(*a.expected_size) + " bytes";
    a.restart = true;
    return 0;
  }
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::write(a.fd, data + done, n - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      a.failure = "writing " + *a.path + ": " + std::strerror(errno);
      return 0;
    }
    done += static_cast<size_t>(w);
  }
  a.hash->Update(data, n);
  a.offset += n;
  if (*a.progress) (*a.progress)(a.offset, a.total != 0 ? a.total : a.expected_size.value_or(0));
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto& a = *static_cast<Attempt*>(user);
  const size_t n = size * count;
  const std::string_view line(data, n);
  const net::HeaderLine h = net::ParseHeaderLine(line);
  if (h.status_line) {  // a new response in a redirect chain
    a.content_range.clear();
    a.retry_after.clear();
    return n;
  }
  if (!h.field) return n;
  const auto& [name, value] = *h.field;
  if (name == "content-range") a.content_range = value.substr(0, 200);
  if (name == "retry-after") a.retry_after = value.substr(0, 100);
  return n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto& a = *static_cast<Attempt*>(user);
  return a.cancel != nullptr && a.cancel->load() ? 1 : 0;
}

std::string Printable(std::string_view body) {
  std::string out;
  for (const char c : body.substr(0, 200)) out += (c >= ' ' && c < 0x7f) ? c : ' ';
  return std::string(net::TrimHeaderSpace(out));
}

}  // namespace

std::optional<ContentRange> ParseContentRange(std::string_view value) {
  value = net::TrimHeaderSpace(value);
  if (!value.starts_with("bytes ")) return std::nullopt;
  value.remove_prefix(6);
  const size_t dash = value.find('-');
  const size_t slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || dash > slash) return std::nullopt;
  const auto first = ParseU64(value.substr(0, dash));
  const auto last = ParseU64(value.substr(dash + 1, slash - dash - 1));
  if (!first || !last || *last < *first) return std::nullopt;
  ContentRange r{*first, *last, std::nullopt};
  const std::string_view total = value.substr(slash + 1);
  if (total != "*") {
    r.total = ParseU64(total);
    if (!r.total || *r.total <= *last) return std::nullopt;
  }
  return r;
}

Result<DownloadResult> Download(const DownloadRequest& request, const FetchOptions& options,
                                const ProgressCallback& progress) {
  BASTION_RETURN_IF_ERROR(CheckUrlAllowed(request.url, options));
  net::CurlGlobalInitOnce();
  const std::string& path = request.partial_path;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Error("opening " + path + ": " + std::strerror(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};

  Sha256 hash;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Error("stat " + path + ": " + std::strerror(errno));
  uint64_t offset = static_cast<uint64_t>(st.st_size);
  if (request.expected_size && offset > *request.expected_size) offset = 0;  // not this file: start over
  if (offset > 0) {
    BASTION_RETURN_IF_ERROR(HashFilePrefix(path, offset, hash));
  } else if (::ftruncate(fd, 0) != 0) {
    return Error("truncating " + path + ": " + std::strerror(errno));
  }
  if (::lseek(fd, static_cast<off_t>(offset), SEEK_SET) < 0) return Error("seeking in " + path + ": " + std::strerror(errno));

  DownloadResult result;
  result.resumed_from = offset;
  const std::string what = "GET " + request.url;
  int failures = 0;  // consecutive attempts that made no progress
  for (;;) {
    CURL* curl = curl_easy_init();
    if (curl == nullptr) return Error("libcurl: curl_easy_init failed");
    Attempt a;
    a.curl = curl;
    a.fd = fd;
    a.hash = &hash;
    a.offset = offset;
    a.start_offset = offset;
    a.expected_size = request.expected_size;
    a.progress = &progress;
    a.cancel = options.cancel;
    a.path = &path;
    char error_buffer[CURL_ERROR_SIZE] = {0};
    std::string blocked;
    ConfigureHandle(curl, request.url, /*follow_redirects=*/true, options, &blocked, error_buffer);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &a);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_slist* headers = nullptr;
    for (const auto& [name, value] : request.headers) headers = curl_slist_append(headers, (name + ": " + value).c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    const std::string range = std::to_string(offset) + "-";
    if (offset > 0) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
    ++result.requests;
    if (progress) progress(offset, request.expected_size.value_or(0));
    const CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    if (!a.started) a.status = static_cast<int>(status);  // no body arrived (an empty file, or an error)
    if (options.cancel != nullptr && options.cancel->load()) {
      return Error(what + ": cancelled (the partial download is kept; pulling again resumes it)");
    }

    const bool progressed = a.offset > offset;
    offset = a.offset;
    std::string why;
    std::optional<std::chrono::milliseconds> retry_after;
    bool retryable = false;
    if (code == CURLE_OK && (a.status == 200 || a.status == 206)) {
      if (a.status == 200 && !a.started && offset > 0) {
        // An empty 200 to a range request: the file on the server is empty.
        BASTION_RETURN_IF_ERROR(Truncate(a));
        offset = 0;
      }
      if (request.expected_size && offset < *request.expected_size) {
        why = "the response ended after " + std::to_string(offset) + " of " + std::to_string(*request.expected_size) + " bytes";
        retryable = true;
      } else {
        if (::fsync(fd) != 0) return Error("fsync " + path + ": " + std::strerror(errno));
        result.sha256 = hash.FinishHex();
        result.size = offset;
        return result;
      }
    } else if (code == CURLE_OK && a.status == 416 && offset > 0) {
      // Nothing left after `offset`: complete when that is the size we expect; otherwise the file
      // changed on the server, so start over.
      if (request.expected_size && offset == *request.expected_size) {
        result.sha256 = hash.FinishHex();
        result.size = offset;
        return result;
      }
      BASTION_RETURN_IF_ERROR(Truncate(a));
      offset = 0;
      why = "HTTP 416 for the range from " + range + "; starting over";
      retryable = true;
    } else if (code == CURLE_OK) {
      why = "HTTP " + std::to_string(a.status);
      if (!a.error_body.empty()) why += ": " + Printable(a.error_body);
      retryable = IsRetryableStatus(a.status);
      if (retryable && !a.retry_after.empty()) retry_after = ParseRetryAfter(a.retry_after);
      if (!retryable) return Error(what + ": " + why);
    } else if (code == CURLE_ABORTED_BY_CALLBACK) {
      return Error(what + ": cancelled (the partial download is kept; pulling again resumes it)");
    } else if (!blocked.empty()) {
      return Error(what + ": refusing to connect to non-public address " + blocked);
    } else if (!a.failure.empty()) {
      why = a.failure;
      if (!a.restart) return Error(what + ": " + why);
      BASTION_RETURN_IF_ERROR(Truncate(a));
      offset = 0;
      retryable = true;
    } else {
      why = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
      retryable = IsRetryableCurlCode(code);
      if (!retryable) return Error(what + ": " + why);
    }
    failures = progressed ? 1 : failures + 1;
    if (failures >= options.max_attempts) {
      return Error(what + ": " + why + " (gave up after " + std::to_string(failures) + " attempts without progress)");
    }
    const auto delay = BackoffDelay(failures, options, retry_after);
    if (options.on_retry) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "; retrying in %.1fs from byte %llu", static_cast<double>(delay.count()) / 1000.0,
                    static_cast<unsigned long long>(offset));
      options.on_retry(what + ": " + why + buf);
    }
    if (!SleepUnlessCancelled(delay, options)) {
      return Error(what + ": cancelled (the partial download is kept; pulling again resumes it)");
    }
  }
}

}  // namespace bastion::store
