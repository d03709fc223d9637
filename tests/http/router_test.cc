// Router (exact and parameter routes, HEAD, OPTIONS, 404/405 through the error responder),
// Request accessors and percent-decoding, and the wire helpers — all without sockets, through an
// in-memory ResponseWriter.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "http/http_types.h"
#include "http/router.h"
#include "http/wire.h"

namespace bastion::http {
namespace {

// Records what a handler sent.
class RecordingWriter : public ResponseWriter {
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

  std::string HeaderOr(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return "";
  }

  int status = 0;
  std::string content_type;
  std::string body;
  Headers headers;
};

Request MakeRequest(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = r.target = std::move(path);
  return r;
}

Handler Reply(std::string text) {
  return [text](const Request& req, std::shared_ptr<ResponseWriter> w) {
    std::string body = text;
    for (const auto& [k, v] : req.path_params) body += " " + k + "=" + v;
    w->Send(200, "text/plain", body);
  };
}

struct Dispatched {
  std::shared_ptr<RecordingWriter> writer;
  Request request;
};

Dispatched DispatchTo(const Router& router, std::string method, std::string path) {
  Dispatched d{std::make_shared<RecordingWriter>(), MakeRequest(std::move(method), std::move(path))};
  router.Dispatch(d.request, d.writer);
  return d;
}

TEST(RouterTest, ExactAndParameterRoutes) {
  Router router;
  router.Add("GET", "/v1/models", Reply("list"));
  router.Add("GET", "/v1/models/{id}", Reply("one"));
  router.Add("POST", "/api/chat", Reply("chat"));

  EXPECT_EQ(DispatchTo(router, "GET", "/v1/models").writer->body, "list");
  auto d = DispatchTo(router, "GET", "/v1/models/qwen2.5:0.5b");
  EXPECT_EQ(d.writer->body, "one id=qwen2.5:0.5b");
  ASSERT_NE(d.request.PathParam("id"), nullptr);
  EXPECT_EQ(*d.request.PathParam("id"), "qwen2.5:0.5b");
  EXPECT_EQ(d.request.PathParam("nope"), nullptr);
  // The trailing parameter takes the rest of the path, slashes included (Ollama names do).
  EXPECT_EQ(DispatchTo(router, "GET", "/v1/models/library/qwen").writer->body, "one id=library/qwen");
  EXPECT_EQ(DispatchTo(router, "POST", "/api/chat").writer->body, "chat");
}

TEST(RouterTest, NotFoundAndEmptyParameter) {
  Router router;
  router.Add("GET", "/v1/models/{id}", Reply("one"));
  for (const char* path : {"/", "/v1/models/", "/v1/models", "/v1/modelsx", "/api/chat/"}) {
    auto d = DispatchTo(router, "GET", path);
    EXPECT_EQ(d.writer->status, 404) << path;
    EXPECT_EQ(d.writer->content_type, "application/json");
    EXPECT_NE(d.writer->body.find("\"error\":\"no such endpoint"), std::string::npos) << d.writer->body;
  }
}

TEST(RouterTest, MethodNotAllowedListsAllow) {
  Router router;
  router.Add("GET", "/api/tags", Reply("tags"));
  router.Add("DELETE", "/api/tags", Reply("del"));
  auto d = DispatchTo(router, "POST", "/api/tags");
  EXPECT_EQ(d.writer->status, 405);
  EXPECT_EQ(d.writer->HeaderOr("Allow"), "DELETE, GET, HEAD, OPTIONS");
  EXPECT_EQ(router.AllowedMethods("/api/tags"), "DELETE, GET, HEAD, OPTIONS");
  EXPECT_EQ(router.AllowedMethods("/nope"), "");
}

TEST(RouterTest, HeadFallsBackToGetUnlessRegistered) {
  Router router;
  router.Add("GET", "/a", Reply("get-a"));
  router.Add("GET", "/b", Reply("get-b"));
  router.Add("HEAD", "/b", Reply("head-b"));
  EXPECT_EQ(DispatchTo(router, "HEAD", "/a").writer->body, "get-a");
  EXPECT_EQ(DispatchTo(router, "HEAD", "/b").writer->body, "head-b");
  router.Add("POST", "/c", Reply("c"));
  EXPECT_EQ(DispatchTo(router, "HEAD", "/c").writer->status, 405);
}

TEST(RouterTest, OptionsDefaultAndHandler) {
  Router router;
  router.Add("POST", "/v1/chat/completions", Reply("chat"));
  auto d = DispatchTo(router, "OPTIONS", "/v1/chat/completions");
  EXPECT_EQ(d.writer->status, 204);
  EXPECT_EQ(d.writer->HeaderOr("Allow"), "OPTIONS, POST");
  EXPECT_EQ(DispatchTo(router, "OPTIONS", "/nope").writer->status, 404);
  EXPECT_EQ(DispatchTo(router, "OPTIONS", "*").writer->status, 204);

  Router with_handler;
  with_handler.Add("POST", "/x", Reply("x"));
  with_handler.SetOptionsHandler(Reply("cors"));
  EXPECT_EQ(DispatchTo(with_handler, "OPTIONS", "/x").writer->body, "cors");
  EXPECT_EQ(DispatchTo(with_handler, "OPTIONS", "*").writer->body, "cors");
}

TEST(RouterTest, LongestPrefixWinsAndExactBeatsParameter) {
  Router router;
  router.Add("GET", "/a/{x}", Reply("short"));
  router.Add("GET", "/a/b/{y}", Reply("long"));
  router.Add("GET", "/a/b/fixed", Reply("exact"));
  EXPECT_EQ(DispatchTo(router, "GET", "/a/z").writer->body, "short x=z");
  EXPECT_EQ(DispatchTo(router, "GET", "/a/b/z").writer->body, "long y=z");
  EXPECT_EQ(DispatchTo(router, "GET", "/a/b/fixed").writer->body, "exact");
}

TEST(RouterTest, ErrorResponderShapesByPath) {
  Router router;
  router.Add("GET", "/v1/models", Reply("list"));
  router.SetErrorResponder([](const Request& req, int status, std::string_view message) {
    if (req.path.rfind("/v1/", 0) == 0) {
      return ErrorBody{"application/json", "{\"error\":{\"message\":\"" + std::string(message) +
                                                "\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":" +
                                                std::to_string(status) + "}}"};
    }
    return ErrorBody{"application/json", "{\"error\":\"" + std::string(message) + "\"}"};
  });
  auto openai = DispatchTo(router, "GET", "/v1/nope");
  EXPECT_EQ(openai.writer->status, 404);
  EXPECT_NE(openai.writer->body.find("\"type\":\"invalid_request_error\""), std::string::npos);
  auto ollama = DispatchTo(router, "GET", "/api/nope");
  EXPECT_EQ(ollama.writer->body.rfind("{\"error\":\"no such endpoint", 0), 0u) << ollama.writer->body;
  auto method = DispatchTo(router, "DELETE", "/v1/models");
  EXPECT_EQ(method.writer->status, 405);
  EXPECT_NE(method.writer->body.find("\"code\":405"), std::string::npos);
}

TEST(RouterTest, ThrowingErrorResponderFallsBackToDefault) {
  Router router;
  router.SetErrorResponder([](const Request&, int, std::string_view) -> ErrorBody { throw std::runtime_error("x"); });
  auto d = DispatchTo(router, "GET", "/x");
  EXPECT_EQ(d.writer->status, 404);
  EXPECT_EQ(d.writer->body.rfind("{\"error\":", 0), 0u);
}

TEST(RouterDeathTest, MisuseIsABug) {
  EXPECT_DEATH({ Router r; r.Add("GET", "no-slash", Reply("x")); }, "must start with");
  EXPECT_DEATH({ Router r; r.Add("GET", "/a/{x}/b", Reply("x")); }, "last segment");
  EXPECT_DEATH(
      {
        Router r;
        r.Add("GET", "/a", Reply("x"));
        r.Add("GET", "/a", Reply("y"));
      },
      "registered twice");
  EXPECT_DEATH(
      {
        Router r;
        r.Freeze();
        r.Add("GET", "/a", Reply("x"));
      },
      "after the server started");
}

TEST(RequestTest, HeaderLookupIsCaseInsensitive) {
  Request r;
  r.headers = {{"content-type", "application/json"}, {"x-a", "1"}, {"x-a", "2"}};
  ASSERT_NE(r.Header("Content-Type"), nullptr);
  EXPECT_EQ(*r.Header("CONTENT-TYPE"), "application/json");
  EXPECT_EQ(*r.Header("x-a"), "1");
  EXPECT_EQ(r.Header("missing"), nullptr);
}

TEST(RequestTest, QueryParams) {
  Request r;
  r.query = "a=1&b=hello+world&c=%2Fx%3D&empty=&flag&a=2&bad=%zz";
  EXPECT_EQ(r.QueryParam("a"), "1");
  EXPECT_EQ(r.QueryParam("b"), "hello world");
  EXPECT_EQ(r.QueryParam("c"), "/x=");
  EXPECT_EQ(r.QueryParam("missing"), "");
  EXPECT_EQ(r.FindQueryParam("missing"), std::nullopt);
  EXPECT_EQ(r.FindQueryParam("empty"), std::optional<std::string>(""));
  EXPECT_EQ(r.FindQueryParam("flag"), std::optional<std::string>(""));
  EXPECT_EQ(r.FindQueryParam("bad"), std::nullopt);
}

TEST(PercentDecodeTest, DecodesAndRejects) {
  EXPECT_EQ(PercentDecode("/a%20b%2Fc", false), std::optional<std::string>("/a b/c"));
  EXPECT_EQ(PercentDecode("a+b", false), std::optional<std::string>("a+b"));
  EXPECT_EQ(PercentDecode("a+b", true), std::optional<std::string>("a b"));
  EXPECT_EQ(PercentDecode("%e4%bd%a0", false), std::optional<std::string>("\xe4\xbd\xa0"));
  EXPECT_EQ(PercentDecode("%", false), std::nullopt);
  EXPECT_EQ(PercentDecode("%4", false), std::nullopt);
  EXPECT_EQ(PercentDecode("%zz", false), std::nullopt);
  EXPECT_EQ(PercentDecode("a%00b", false), std::nullopt);
  EXPECT_EQ(PercentDecode("", false), std::optional<std::string>(""));
}

TEST(WireTest, HeadSerialization) {
  Headers extra = {{"X-Custom", "yes"},
                   {"Content-Length", "999"},        // framing: the server's, ignored
                   {"Bad Name", "x"},                // not a token
                   {"X-Inject", "a\r\nSet-Cookie: x"}};  // CRLF injection
  wire::ResponseHead head;
  head.status = 404;
  head.content_type = "application/json";
  head.content_length = 12;
  head.server = "bastion";
  head.request_id = "abc";
  head.extra = &extra;
  const std::string out = wire::SerializeHead(head);
  EXPECT_EQ(out.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
  EXPECT_NE(out.find("\r\nServer: bastion\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nX-Request-Id: abc\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nContent-Length: 12\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nX-Custom: yes\r\n"), std::string::npos);
  EXPECT_EQ(out.find("999"), std::string::npos);
  EXPECT_EQ(out.find("Bad Name"), std::string::npos);
  EXPECT_EQ(out.find("Set-Cookie"), std::string::npos);
  EXPECT_EQ(out.find("Connection"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");

  head.framing = wire::Framing::kCloseDelimited;
  head.extra = nullptr;
  const std::string close = wire::SerializeHead(head);
  EXPECT_NE(close.find("Connection: close"), std::string::npos);
  EXPECT_EQ(close.find("Content-Length"), std::string::npos);
}

TEST(WireTest, ChunksIdsDatesJson) {
  EXPECT_EQ(wire::ChunkFrame("hello"), "5\r\nhello\r\n");
  EXPECT_EQ(wire::ChunkFrame(std::string(255, 'x')).substr(0, 4), "ff\r\n");
  const std::string id = wire::NewRequestId();
  EXPECT_EQ(id.size(), 32u);
  EXPECT_NE(id, wire::NewRequestId());
  EXPECT_TRUE(wire::IsAcceptableRequestId(id));
  EXPECT_TRUE(wire::IsAcceptableRequestId("req_abc-123:x/y+z="));
  EXPECT_FALSE(wire::IsAcceptableRequestId(""));
  EXPECT_FALSE(wire::IsAcceptableRequestId("has space"));
  EXPECT_FALSE(wire::IsAcceptableRequestId(std::string(129, 'a')));
  EXPECT_EQ(wire::HttpDate(std::chrono::system_clock::from_time_t(784111777)), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(wire::JsonEscape("a\"b\\c\nd\x01"), "a\\\"b\\\\c\\nd\\u0001");
  EXPECT_EQ(StatusReason(431), "Request Header Fields Too Large");
  EXPECT_EQ(StatusReason(799), "Unknown");
}

}  // namespace
}  // namespace bastion::http
