// The HTTP layer's contract with the code above it: a parsed request, a writer for the response
// (whole or streamed), and handlers. Nothing here knows about sockets, Asio or TLS, so the API
// handlers (src/api/) and the engine stay independent of the transport, and a fuzzer or a unit
// test can drive a handler with an in-memory writer.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/log.h"

namespace bastion::http {

// Header names are stored lower-cased; values as received (trimmed).
using Headers = std::vector<std::pair<std::string, std::string>>;

// What a generation handler reports about a request for the access log, from whichever thread
// it runs on; -1 = not applicable (no generation).
struct GenerationLog {
  std::atomic<int64_t> ttft_ns{-1};  // request received -> first generated text (or the end)
  std::atomic<int32_t> tokens_in{-1};
  std::atomic<int32_t> tokens_out{-1};
};

struct Request {
  std::string method;  // "GET", "POST", ... (case-sensitive, as received)
  std::string target;  // as received: "/v1/models/x?y=1" (absolute-form is reduced to its path)
  std::string path;    // target without the query, percent-decoded: "/v1/models/x"
  std::string query;   // after '?', raw
  Headers headers;
  std::string body;    // after chunked decoding
  int version = 11;    // 10 = HTTP/1.0, 11 = HTTP/1.1
  std::string remote_address;  // client IP as text (the socket peer)
  // Filled by the guard (api/request_guard.h): the client as trusted proxies report it (else the
  // socket peer), and the name of the API key used ("" without one). Never the key itself.
  std::string client_address;
  std::string key_name;
  std::string tls_version;  // "TLSv1.3", "" for plain HTTP
  // Shared with the handler (copies of the request share it) and read by the access log.
  std::shared_ptr<GenerationLog> generation = std::make_shared<GenerationLog>();
  uint16_t remote_port = 0;
  bool secure = false;         // arrived over TLS
  std::string request_id;      // unique per request, also sent back as X-Request-Id
  uint64_t received_ns = 0;    // steady clock, when the headers were complete
  // Filled by the router: the trailing parameter of a "/v1/models/{id}" route, percent-decoded
  // ({"id", "qwen2.5:0.5b"}). Empty for exact routes.
  Headers path_params;

  // First header with this (case-insensitive) name, or nullptr.
  const std::string* Header(std::string_view name) const;
  // Value of a query parameter (percent-decoded, '+' as space); empty when absent.
  std::string QueryParam(std::string_view name) const;
  // The same, but tells an absent parameter from an empty one.
  std::optional<std::string> FindQueryParam(std::string_view name) const;
  // Value of a path parameter by name ("id"), or nullptr.
  const std::string* PathParam(std::string_view name) const;
};

// Decodes %XX escapes (and '+' as space when plus_as_space). nullopt on a malformed escape or
// an encoded NUL, which no path or parameter of this server may contain.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_as_space);

// A copy of what error responses and log lines need of a request (method, target, path, client,
// key name, request id) without its body or headers: for work that outlives the handler.
Request RequestMeta(const Request& request);

// One error-log line for an error response the server sends (base/log.h): which request, from
// whom, and why. Limits and refusals (408, 413, 414, 429, 431, 503) are warnings, a 5xx other
// than 503 an error, any other 4xx (bad JSON, unknown model, missing key) info.
void LogErrorResponse(const Request& request, int status, std::string_view message);
// The general form: "<what> <METHOD> <target> client=... key=... rid=...: <message>".
void LogRequest(log::Level level, const Request& request, std::string_view what, std::string_view message);

// "Not Found" for 404 and so on; "Unknown" for codes without a standard phrase.
std::string_view StatusReason(int status);

// Where a handler's response goes. Implementations are thread-safe: a handler may answer from
// another thread (the engine's), long after it returned. Exactly one of Send or
// StartStream...End must be used (anything else is a bug and fails a BASTION_CHECK); after the
// client went away every call is accepted and dropped. A writer dropped without a response makes
// the server answer 500 (or, mid-stream, close the connection so the client sees it truncated).
// For HEAD requests the server sends the headers and drops the body.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;

  // A complete response. Content-Length is set by the writer. `extra` adds headers; the framing
  // headers (Content-Length, Transfer-Encoding, Connection) are the server's and are ignored
  // there, as is any name or value containing a control character (no header injection).
  virtual void Send(int status, std::string_view content_type, std::string body, Headers extra = {}) = 0;

  // A streamed response (chunked transfer encoding): headers now, then any number of Write calls,
  // then End. Each Write is flushed to the client as soon as the socket allows. HTTP/1.0 clients
  // get the body unframed, ended by closing the connection.
  virtual void StartStream(int status, std::string_view content_type, Headers extra = {}) = 0;
  // Returns false once the client has gone away (further writes are dropped).
  virtual bool Write(std::string chunk) = 0;
  virtual void End() = 0;

  // True once the client disconnected (or the server is shutting down past its deadline).
  virtual bool cancelled() const = 0;
  // Called once, on an I/O thread, when the client disconnects before End/Send completes (or the
  // server shuts down past its deadline). Handlers use it to cancel work in the engine. If the
  // writer is already cancelled, the callback runs at once on the calling thread. It must not
  // call back into this writer's OnCancel.
  virtual void OnCancel(std::function<void()> callback) = 0;
};

// Runs on an I/O thread and must not block: parse, validate, hand the work (and the writer) to
// the engine, return. The Request reference is valid only during the call — copy what the
// engine needs. The writer may be kept and used from any thread.
using Handler = std::function<void(const Request&, std::shared_ptr<ResponseWriter>)>;

}  // namespace bastion::http
