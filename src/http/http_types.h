// The HTTP layer's contract with the code above it: a parsed request, a writer for the response
// (whole or streamed), and handlers. Nothing here knows about sockets, Asio or TLS, so the API
// handlers (src/api/) and the engine stay independent of the transport, and a fuzzer or a unit
// test can drive a handler with an in-memory writer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bastion::http {

// Header names are stored lower-cased; values as received (trimmed).
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received: "/v1/models/x?y=1"
  std::string path;    // target without the query, percent-decoded: "/v1/models/x"
  std::string query;   // after '?', raw
  Headers headers;
  std::string body;
  std::string remote_address;  // client IP as text
  uint16_t remote_port = 0;
  bool secure = false;         // arrived over TLS
  std::string request_id;      // unique per request, also sent back as X-Request-Id
  uint64_t received_ns = 0;    // steady clock, when the headers were complete

  // First header with this (case-insensitive) name, or nullptr.
  const std::string* Header(std::string_view name) const;
  // Value of a query parameter (percent-decoded), or nullptr.
  std::string QueryParam(std::string_view name) const;
};

// Where a handler's response goes. Implementations are thread-safe: a handler may answer from
// another thread (the engine's), long after it returned. Exactly one of Send or
// StartStream...End must be used.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;

  // A complete response. Content-Length is set by the writer.
  virtual void Send(int status, std::string_view content_type, std::string body, Headers extra = {}) = 0;

  // A streamed response (chunked transfer encoding): headers now, then any number of Write calls,
  // then End. Each Write is flushed to the client as soon as the socket allows.
  virtual void StartStream(int status, std::string_view content_type, Headers extra = {}) = 0;
  // Returns false once the client has gone away (further writes are dropped).
  virtual bool Write(std::string chunk) = 0;
  virtual void End() = 0;

  // True once the client disconnected (or the server is shutting down past its deadline).
  virtual bool cancelled() const = 0;
  // Called once, on an I/O thread, when the client disconnects before End/Send completes.
  // Handlers use it to cancel work in the engine.
  virtual void OnCancel(std::function<void()> callback) = 0;
};

using Handler = std::function<void(const Request&, std::shared_ptr<ResponseWriter>)>;

}  // namespace bastion::http
