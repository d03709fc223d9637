// Response serialization and header syntax for the HTTP server (see wire.h).
#include "http/wire.h"

#include <cstdio>
#include <ctime>
#include <random>

#include "http/limits.h"

namespace bastion::http::wire {
namespace {

bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  }
  return true;
}

// Headers the server owns: a handler setting them could desynchronize the framing.
bool IsReservedHeader(std::string_view name) {
  return IEquals(name, "content-length") || IEquals(name, "transfer-encoding") ||
         IEquals(name, "connection") || IEquals(name, "x-request-id") || IEquals(name, "date") ||
         IEquals(name, "server");
}

void AppendHeader(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

}  // namespace

bool StatusHasNoBody(int status) { return (status >= 100 && status < 200) || status == 204 || status == 304; }

std::string SerializeHead(const ResponseHead& head) {
  std::string out;
  out.reserve(256);
  out.append("HTTP/1.1 ");
  out.append(std::to_string(head.status));
  out.push_back(' ');
  out.append(StatusReason(head.status));
  out.append("\r\n");
  if (!head.server.empty()) AppendHeader(out, "Server", head.server);
  AppendHeader(out, "Date", HttpDate(std::chrono::system_clock::now()));
  if (!head.request_id.empty()) AppendHeader(out, "X-Request-Id", head.request_id);
  if (!head.content_type.empty() && IsFieldValue(head.content_type)) {
    AppendHeader(out, "Content-Type", head.content_type);
  }
  switch (head.framing) {
    case Framing::kContentLength:
      AppendHeader(out, "Content-Length", std::to_string(head.content_length));
      break;
    case Framing::kChunked:
      AppendHeader(out, "Transfer-Encoding", "chunked");
      break;
    case Framing::kCloseDelimited:
    case Framing::kNoBody:
      break;
  }
  if (head.close || head.framing == Framing::kCloseDelimited) AppendHeader(out, "Connection", "close");
  if (head.extra != nullptr) {
    for (const auto& [name, value] : *head.extra) {
      if (!IsToken(name) || !IsFieldValue(value) || IsReservedHeader(name)) continue;
      AppendHeader(out, name, value);
    }
  }
  out.append("\r\n");
  return out;
}

std::string ChunkFrame(std::string_view data) {
  char size[24];
  const int n = std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  std::string out;
  out.reserve(static_cast<size_t>(n) + data.size() + 2);
  out.append(size, static_cast<size_t>(n));
  out.append(data);
  out.append("\r\n");
  return out;
}

bool IsToken(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    if (!IsTokenChar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsFieldValue(std::string_view text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

std::string NewRequestId() {
  // One generator per thread, seeded once from the OS: ids only need to be unique, not secret.
  thread_local std::mt19937_64 rng = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = rng();
    for (int i = 0; i < 16; ++i, bits >>= 4) id[static_cast<size_t>(half * 16 + i)] = kHex[bits & 15];
  }
  return id;
}

bool IsAcceptableRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxClientRequestIdBytes) return false;
  for (const char c : id) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                    c == '_' || c == ':' || c == '/' || c == '+' || c == '=' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string HttpDate(std::chrono::system_clock::time_point when) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday % 7], tm.tm_mday,
                kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string JsonEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (const char c : text) {
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof(esc), "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out.append(esc);
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

uint64_t SteadyNowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

}  // namespace bastion::http::wire
