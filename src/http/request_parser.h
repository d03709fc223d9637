// RequestParser: turns the bytes of one HTTP/1.x request into a Request, enforcing ServerLimits
// and rejecting what could smuggle or desynchronize requests. Incremental (feed it whatever the
// socket delivered; it consumes what it can) and socket-free, so the connection, the unit tests
// and the fuzzer (fuzz/http_request_fuzz.cc) all drive exactly the same code. Beast's parser
// does the tokenizing (inside request_parser.cc only; this header stays Beast-free).
//
// Errors carry the status to answer with:
//   400  malformed request line/headers/chunking, bad target or percent-escape, missing or
//        repeated Host on HTTP/1.1, Content-Length with Transfer-Encoding, Transfer-Encoding on
//        HTTP/1.0
//   413  body larger than max_body_bytes (Content-Length is checked before the body arrives)
//   414  request line alone longer than max_header_bytes
//   431  header longer than max_header_bytes, or more than max_header_count fields
//   501  a transfer coding other than "chunked"
//   505  an HTTP version other than 1.0 and 1.1
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "http/http_types.h"
#include "http/limits.h"

namespace bastion::http {

class RequestParser {
 public:
  enum class State { kNeedMore, kComplete, kError };
  struct FeedResult {
    State state;
    size_t consumed;  // bytes of the input that belong to this request; drop them
  };

  explicit RequestParser(const ServerLimits& limits);
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses as much of `data` as possible. While the header is incomplete nothing is consumed:
  // call again with the same bytes plus more. Bytes after a complete request (pipelining) are
  // not consumed. After kComplete or kError, call Reset before feeding again.
  FeedResult Feed(std::string_view data);

  // Any byte of a request (other than the blank lines allowed before one) has been seen.
  bool started() const { return started_; }
  bool header_done() const;
  // The client sent "Expect: 100-continue" and the body has not fully arrived.
  bool expects_continue() const;
  // Whether the connection may carry another request after this one (HTTP/1.1 without
  // "Connection: close", or HTTP/1.0 with "Connection: keep-alive").
  bool keep_alive() const;

  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }

  // The parsed request (after kComplete); leaves the parser needing Reset.
  Request TakeRequest();
  // What is known of a request that failed or is incomplete (method, target, path, headers so
  // far), for shaping the error response.
  Request PartialRequest() const;

  // Ready for the next request on the same connection.
  void Reset();

 private:
  class Impl;
  friend class Impl;

  void Fail(int status, std::string message);

  ServerLimits limits_;
  std::unique_ptr<Impl> impl_;
  Request request_;
  bool started_ = false;
  bool expect_continue_ = false;
  int header_count_ = 0;
  int host_count_ = 0;
  std::string transfer_encoding_;  // all Transfer-Encoding values, comma-joined
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace bastion::http
