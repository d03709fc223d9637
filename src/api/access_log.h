// The access log: one line per finished request, in nginx's `combined` format (plus bastion's
// fields) or as JSON lines for Loki/ELK. Never the API key (only its name), never prompts or
// outputs. Reopened on SIGUSR1 (base/log.h RequestReopen, shared with the error log) so
// logrotate can move the file away, as with nginx.
//
// combined:  client - key [26/Nov/2026:09:30:00 +0000] "POST /api/chat HTTP/1.1" 200 512 "referer"
//            "user-agent" rid=... rt=0.123 ttft=0.045 in=17 out=32 tls=TLSv1.3
// json:      {"time":"2026-11-26T09:30:00.123Z","client":"...","request_id":"...","key":"...",
//             "method":"POST","path":"/api/chat","status":200,"bytes":512,"latency_ms":123.4,
//             "ttft_ms":45.1,"tokens_in":17,"tokens_out":32,"tls":"TLSv1.3","user_agent":"..."}
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"
#include "http/http_types.h"

namespace bastion::api {

class AccessLog {
 public:
  enum class Format { kCombined, kJson };

  // path "-" = stderr. The file is opened for appending (created 0640).
  static Result<std::unique_ptr<AccessLog>> Open(const std::string& path, Format format);
  ~AccessLog();

  // Thread-safe; one write(2) per line so lines from threads never interleave.
  void Log(const http::Request& request, int status, uint64_t bytes, uint64_t duration_ns);

  // The line, for tests.
  static std::string FormatLine(Format format, const http::Request& request, int status, uint64_t bytes,
                                uint64_t duration_ns, int64_t unix_ms);

 private:
  AccessLog(std::string path, Format format, int fd) : path_(std::move(path)), format_(format), fd_(fd) {}
  void ReopenIfRequested();

  std::string path_;
  Format format_;
  std::mutex mutex_;
  int fd_ = -1;
  uint64_t reopen_generation_ = 0;
};

}  // namespace bastion::api
