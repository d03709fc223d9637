// libFuzzer target for the HTTP request path without sockets: bytes go through RequestParser
// (Beast underneath, with small limits so every limit is reachable) in pieces the way a socket
// delivers them, pipelined requests included; each parsed request is checked against the limits
// and invariants, dispatched through a Router (exact, parameter, HEAD/OPTIONS/404/405 paths) into
// an in-memory writer, and its response head serialized. Never crashes; a violated invariant
// aborts.
//
// Input: byte 0 chooses how the rest is split into reads (0 = all at once, else 1..64 bytes).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "base/check.h"
#include "http/request_parser.h"
#include "http/router.h"
#include "http/wire.h"

namespace {

using namespace bastion::http;

class MemoryWriter : public ResponseWriter {
 public:
  void Send(int s, std::string_view ct, std::string b, Headers extra) override {
    status = s;
    content_type = std::string(ct);
    body = std::move(b);
    headers = std::move(extra);
  }
  void StartStream(int s, std::string_view ct, Headers extra) override {
    status = s;
    content_type = std::string(ct);
    headers = std::move(extra);
  }
  bool Write(std::string chunk) override {
    body += chunk;
    return true;
  }
  void End() override {}
  bool cancelled() const override { return false; }
  void OnCancel(std::function<void()>) override {}

  int status = 0;
  std::string content_type;
  std::string body;
  Headers headers;
};

const Router& FuzzRouter() {
  static const Router* router = [] {
    auto* r = new Router();
    const Handler echo = [](const Request& req, std::shared_ptr<ResponseWriter> w) {
      std::string body = req.method + " " + req.path + " " + req.QueryParam("q");
      if (const std::string* id = req.PathParam("id")) body += " " + *id;
      if (const std::string* ct = req.Header("Content-Type")) body += " " + *ct;
      w->Send(200, "text/plain", body, {{"X-Echo", req.target}});
    };
    r->Add("GET", "/", echo);
    r->Add("GET", "/v1/models", echo);
    r->Add("GET", "/v1/models/{id}", echo);
    r->Add("POST", "/api/chat", echo);
    r->Add("DELETE", "/api/delete", echo);
    r->Freeze();
    return r;
  }();
  return *router;
}

bool IsLowerToken(const std::string& name) {
  if (!wire::IsToken(name)) return false;
  for (const char c : name) {
    if (c >= 'A' && c <= 'Z') return false;
  }
  return true;
}

void CheckRequest(const Request& r, const ServerLimits& limits) {
  BASTION_CHECK(r.version == 10 || r.version == 11);
  BASTION_CHECK(wire::IsToken(r.method));
  BASTION_CHECK(!r.path.empty() && (r.path[0] == '/' || r.path == "*"));
  BASTION_CHECK(r.path.find('\0') == std::string::npos);
  BASTION_CHECK(r.body.size() <= limits.max_body_bytes);
  BASTION_CHECK(r.headers.size() <= static_cast<size_t>(limits.max_header_count));
  for (const auto& [name, value] : r.headers) {
    BASTION_CHECK(IsLowerToken(name));
    BASTION_CHECK(value.find('\n') == std::string::npos && value.find('\r') == std::string::npos);
  }
}

void CheckResponse(const Request& request, MemoryWriter& w) {
  BASTION_CHECK(w.status >= 200 && w.status <= 599);
  wire::ResponseHead head;
  head.status = w.status;
  head.content_type = w.content_type;
  head.content_length = w.body.size();
  head.request_id = "fuzz";
  head.extra = &w.headers;
  const std::string text = wire::SerializeHead(head);
  // Whatever the request contained, the head is one block: no header was split or injected.
  BASTION_CHECK(text.find("\r\n\r\n") == text.size() - 4);
  BASTION_CHECK(text.find('\0') == std::string::npos);
  (void)request;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = data[0] == 0 ? SIZE_MAX : static_cast<size_t>(data[0] % 64) + 1;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  ServerLimits limits;
  limits.max_header_bytes = 512;
  limits.max_header_count = 16;
  limits.max_body_bytes = 1024;
  RequestParser parser(limits);
  std::string buffer;
  size_t pos = 0;
  for (int requests = 0; requests < 64;) {
    if (pos < input.size()) {
      const size_t n = std::min(piece, input.size() - pos);
      buffer.append(input.substr(pos, n));
      pos += n;
    }
    const RequestParser::FeedResult result = parser.Feed(buffer);
    BASTION_CHECK(result.consumed <= buffer.size());
    buffer.erase(0, result.consumed);
    if (result.state == RequestParser::State::kError) {
      const int s = parser.error_status();
      BASTION_CHECK(s == 400 || s == 413 || s == 414 || s == 431 || s == 501 || s == 505);
      BASTION_CHECK(!parser.error_message().empty());
      // The error response is shaped from what was parsed so far.
      Request partial = parser.PartialRequest();
      auto writer = std::make_shared<MemoryWriter>();
      FuzzRouter().SendError(partial, s, parser.error_message(), *writer);
      CheckResponse(partial, *writer);
      break;
    }
    if (result.state == RequestParser::State::kComplete) {
      Request request = parser.TakeRequest();
      CheckRequest(request, limits);
      auto writer = std::make_shared<MemoryWriter>();
      FuzzRouter().Dispatch(request, writer);
      CheckResponse(request, *writer);
      parser.Reset();
      ++requests;
      continue;  // a pipelined request may follow in the buffer
    }
    if (pos >= input.size()) break;  // needs more than the input has
  }
  return 0;
}
