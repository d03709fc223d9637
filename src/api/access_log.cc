#include "api/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

#include "base/log.h"

namespace bastion::api {
namespace {

// Quotes a value for the combined format: '"' and '\' escaped, control bytes as \xNN (nginx's
// escaping), so a hostile User-Agent cannot forge log lines.
std::string Quoted(std::string_view v) {
  std::string out = "\"";
  for (const unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string OrDash(const std::string& v) { return v.empty() ? "-" : v; }

const std::string& HeaderOr(const http::Request& r, std::string_view name, const std::string& fallback) {
  const std::string* v = r.Header(name);
  return v ? *v : fallback;
}

}  // namespace

Result<std::unique_ptr<AccessLog>> AccessLog::Open(const std::string& path, Format format) {
  if (path == "-") return std::unique_ptr<AccessLog>(new AccessLog(path, format, -1));
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return Error("cannot open the access log " + path + ": " + std::strerror(errno));
  auto log = std::unique_ptr<AccessLog>(new AccessLog(path, format, fd));
  log->reopen_generation_ = log::ReopenGeneration();
  return log;
}

AccessLog::~AccessLog() {
  if (fd_ >= 0) ::close(fd_);
}


void AccessLog::ReopenIfRequested() {
  const uint64_t generation = log::ReopenGeneration();
  if (generation == reopen_generation_ || path_ == "-") return;
  reopen_generation_ = generation;
  const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    log::Err("log", "cannot reopen the access log " + path_ + ": " + std::strerror(errno) +
                        " (still writing to the old file)");
    return;
  }
  ::close(fd_);
  fd_ = fd;
}

std::string AccessLog::FormatLine(Format format, const http::Request& r, int status, uint64_t bytes,
                                  uint64_t duration_ns, int64_t unix_ms) {
  const int64_t ttft = r.generation ? r.generation->ttft_ns.load() : -1;
  const int tokens_in = r.generation ? r.generation->tokens_in.load() : -1;
  const int tokens_out = r.generation ? r.generation->tokens_out.load() : -1;
  const std::string client = r.client_address.empty() ? r.remote_address : r.client_address;
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  static const std::string kEmpty;
  if (format == Format::kJson) {
    char when[40];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    char ms[8];
    std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(unix_ms % 1000));
    nlohmann::json j;
    j["time"] = std::string(when) + ms;
    j["client"] = client;
    j["request_id"] = r.request_id;
    j["key"] = r.key_name.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.key_name);
    j["method"] = r.method;
    j["path"] = r.target;
    j["status"] = status;
    j["bytes"] = bytes;
    j["latency_ms"] = static_cast<double>(duration_ns) / 1e6;
    j["ttft_ms"] = ttft >= 0 ? nlohmann::json(static_cast<double>(ttft) / 1e6) : nlohmann::json(nullptr);
    j["tokens_in"] = tokens_in >= 0 ? nlohmann::json(tokens_in) : nlohmann::json(nullptr);
    j["tokens_out"] = tokens_out >= 0 ? nlohmann::json(tokens_out) : nlohmann::json(nullptr);
    j["tls"] = r.tls_version.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.tls_version);
    j["user_agent"] = HeaderOr(r, "user-agent", kEmpty);
    // Invalid UTF-8 from a client is replaced, never a reason to lose the line.
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  char when[40];
  std::strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
  std::string line = client + " - " + OrDash(r.key_name) + " [" + when + "] " +
                     Quoted(r.method + " " + r.target + (r.version == 10 ? " HTTP/1.0" : " HTTP/1.1")) + " " +
                     std::to_string(status) + " " + std::to_string(bytes) + " " +
                     Quoted(HeaderOr(r, "referer", kEmpty)) + " " + Quoted(HeaderOr(r, "user-agent", kEmpty));
  char extra[160];
  std::snprintf(extra, sizeof extra, " rid=%s rt=%.3f", r.request_id.c_str(), static_cast<double>(duration_ns) / 1e9);
  line += extra;
  if (ttft >= 0) {
    std::snprintf(extra, sizeof extra, " ttft=%.3f", static_cast<double>(ttft) / 1e9);
    line += extra;
  }
  if (tokens_in >= 0) line += " in=" + std::to_string(tokens_in) + " out=" + std::to_string(tokens_out);
  if (!r.tls_version.empty()) line += " tls=" + r.tls_version;
  return line;
}

void AccessLog::Log(const http::Request& request, int status, uint64_t bytes, uint64_t duration_ns) {
  const int64_t unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();
  std::string line = FormatLine(format_, request, status, bytes, duration_ns, unix_ms);
  line += '\n';
  std::lock_guard lock(mutex_);
  ReopenIfRequested();
  const int fd = fd_ >= 0 ? fd_ : STDERR_FILENO;
  // O_APPEND + one write per line: lines stay whole even with another writer on the file.
  const ssize_t n = ::write(fd, line.data(), line.size());
  (void)n;  // a full disk must not take the server down; the error log would be the same disk
}

}  // namespace bastion::api
