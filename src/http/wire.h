// Internal to src/http: the bytes the server writes (response heads, chunk frames), the header
// syntax checks that keep handler-supplied headers from injecting lines, request ids, and the
// JSON escaping the default error bodies need. No sockets here, so the fuzzer and unit tests
// reach all of it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/http_types.h"

namespace bastion::http::wire {

// How the body of a response is delimited on the wire.
enum class Framing {
  kContentLength,   // Content-Length: n (also sent, without the body, for HEAD)
  kChunked,         // Transfer-Encoding: chunked
  kCloseDelimited,  // HTTP/1.0 streams: no length, the server closes the connection at the end
  kNoBody,          // 1xx, 204, 304: neither header, no body
};

struct ResponseHead {
  int status = 200;
  std::string_view content_type;  // omitted when empty
  Framing framing = Framing::kContentLength;
  uint64_t content_length = 0;    // for kContentLength
  bool close = false;             // adds Connection: close
  std::string_view server;        // Server header; omitted when empty
  std::string_view request_id;    // X-Request-Id; omitted when empty
  const Headers* extra = nullptr;
};

// Status line and header fields up to and including the blank line. Extra headers that are not a
// valid token name and field value, or that name a framing header, are skipped.
std::string SerializeHead(const ResponseHead& head);

// True for 1xx, 204 and 304: responses that never carry a body.
bool StatusHasNoBody(int status);

// One chunk of a chunked body: "<hex size>\r\n<data>\r\n". `data` must not be empty (an empty
// chunk is the terminator).
std::string ChunkFrame(std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";
inline constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// RFC 9110 token (header names, methods) and field-value (no control characters but HTAB).
bool IsToken(std::string_view text);
bool IsFieldValue(std::string_view text);

// A fresh request id: 32 lower-case hex digits (128 random bits).
std::string NewRequestId();
// Whether a client-supplied X-Request-Id can be reused as ours: 1..128 characters of
// [A-Za-z0-9._:/+=-], so it is safe in logs and headers.
bool IsAcceptableRequestId(std::string_view id);

// IMF-fixdate for the Date header: "Sun, 06 Nov 1994 08:49:37 GMT" (locale-independent).
std::string HttpDate(std::chrono::system_clock::time_point when);

// Escapes text for a JSON string literal (without the quotes); invalid UTF-8 passes through
// byte-wise, since it only appears in messages the server itself wrote.
std::string JsonEscape(std::string_view text);

// Steady-clock nanoseconds, the time base of Request::received_ns.
uint64_t SteadyNowNs();

}  // namespace bastion::http::wire
