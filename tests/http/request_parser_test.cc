// RequestParser without sockets: complete and incremental requests, chunked bodies, pipelining,
// every limit, and the malformed or ambiguous requests that must be refused (and with which
// status).
#include <gtest/gtest.h>

#include <string>

#include "http/request_parser.h"

namespace bastion::http {
namespace {

ServerLimits SmallLimits() {
  ServerLimits l;
  l.max_header_bytes = 1024;
  l.max_header_count = 10;
  l.max_body_bytes = 100;
  return l;
}

struct Parsed {
  RequestParser::State state;
  size_t consumed;
  int status;
  std::string message;
  Request request;
};

Parsed ParseAll(const std::string& bytes, const ServerLimits& limits = SmallLimits()) {
  RequestParser p(limits);
  const auto r = p.Feed(bytes);
  Parsed out{r.state, r.consumed, p.error_status(), p.error_message(), {}};
  if (r.state == RequestParser::State::kComplete) out.request = p.TakeRequest();
  return out;
}

// Expects the bytes to be refused with `status`.
void ExpectError(const std::string& bytes, int status, const ServerLimits& limits = SmallLimits()) {
  const Parsed p = ParseAll(bytes, limits);
  EXPECT_EQ(p.state, RequestParser::State::kError) << bytes;
  EXPECT_EQ(p.status, status) << bytes << " -> " << p.message;
  EXPECT_FALSE(p.message.empty());
}

TEST(RequestParserTest, SimpleGet) {
  const Parsed p = ParseAll("GET /v1/models/a%20b?x=1&y=%2F HTTP/1.1\r\nHost: h\r\nX-Thing:  v  \r\n\r\n");
  ASSERT_EQ(p.state, RequestParser::State::kComplete) << p.message;
  EXPECT_EQ(p.request.method, "GET");
  EXPECT_EQ(p.request.target, "/v1/models/a%20b?x=1&y=%2F");
  EXPECT_EQ(p.request.path, "/v1/models/a b");
  EXPECT_EQ(p.request.query, "x=1&y=%2F");
  EXPECT_EQ(p.request.QueryParam("y"), "/");
  EXPECT_EQ(p.request.version, 11);
  ASSERT_NE(p.request.Header("x-thing"), nullptr);
  EXPECT_EQ(*p.request.Header("X-Thing"), "v");
  EXPECT_EQ(p.request.headers[1].first, "x-thing");  // stored lower-cased
  EXPECT_GT(p.request.received_ns, 0u);
}

TEST(RequestParserTest, PostWithBodyByteByByte) {
  const std::string bytes = "POST /api/chat HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
  RequestParser p(SmallLimits());
  std::string pending;
  RequestParser::State state = RequestParser::State::kNeedMore;
  for (const char c : bytes) {
    ASSERT_EQ(state, RequestParser::State::kNeedMore);
    pending.push_back(c);
    const auto r = p.Feed(pending);
    pending.erase(0, r.consumed);
    state = r.state;
  }
  ASSERT_EQ(state, RequestParser::State::kComplete) << p.error_message();
  EXPECT_EQ(p.TakeRequest().body, "hello world");
}

TEST(RequestParserTest, ChunkedBodyAndTrailersIgnored) {
  const Parsed p = ParseAll(
      "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
  ASSERT_EQ(p.state, RequestParser::State::kComplete) << p.message;
  EXPECT_EQ(p.request.body, "hello world");
  EXPECT_EQ(p.request.Header("x-trailer"), nullptr);
}

TEST(RequestParserTest, ObsoleteLineFoldingIsJoined) {
  const Parsed p = ParseAll("GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n");
  ASSERT_EQ(p.state, RequestParser::State::kComplete) << p.message;
  EXPECT_EQ(*p.request.Header("x-folded"), "a b");  // never a value with CR/LF inside
}

TEST(RequestParserTest, PipelinedRequestIsLeftUnconsumed) {
  const std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  RequestParser p(SmallLimits());
  std::string buffer = first + second;
  auto r = p.Feed(buffer);
  ASSERT_EQ(r.state, RequestParser::State::kComplete);
  EXPECT_EQ(r.consumed, first.size());
  EXPECT_EQ(p.TakeRequest().path, "/a");
  buffer.erase(0, r.consumed);
  p.Reset();
  r = p.Feed(buffer);
  ASSERT_EQ(r.state, RequestParser::State::kComplete);
  EXPECT_EQ(p.TakeRequest().path, "/b");
}

TEST(RequestParserTest, LeadingBlankLinesAreSkipped) {
  RequestParser p(SmallLimits());
  auto r = p.Feed("\r\n\r\n");
  EXPECT_EQ(r.state, RequestParser::State::kNeedMore);
  EXPECT_EQ(r.consumed, 4u);
  EXPECT_FALSE(p.started());
  r = p.Feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(r.state, RequestParser::State::kComplete);
  EXPECT_TRUE(p.started());
}

TEST(RequestParserTest, KeepAliveAndVersions) {
  {
    RequestParser p(SmallLimits());
    ASSERT_EQ(p.Feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n").state, RequestParser::State::kComplete);
    EXPECT_TRUE(p.keep_alive());
  }
  {
    RequestParser p(SmallLimits());
    ASSERT_EQ(p.Feed("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").state, RequestParser::State::kComplete);
    EXPECT_FALSE(p.keep_alive());
  }
  {
    RequestParser p(SmallLimits());
    ASSERT_EQ(p.Feed("GET / HTTP/1.0\r\n\r\n").state, RequestParser::State::kComplete);  // no Host needed
    EXPECT_FALSE(p.keep_alive());
    EXPECT_EQ(p.TakeRequest().version, 10);
  }
  ExpectError("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
}

TEST(RequestParserTest, ExpectContinue) {
  RequestParser p(SmallLimits());
  const auto r = p.Feed("POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(r.state, RequestParser::State::kNeedMore);
  EXPECT_TRUE(p.header_done());
  EXPECT_TRUE(p.expects_continue());
  EXPECT_EQ(p.Feed("hello").state, RequestParser::State::kComplete);
  EXPECT_FALSE(p.expects_continue());
}

TEST(RequestParserTest, AbsoluteFormAndAsterisk) {
  Parsed p = ParseAll("GET http://example.com:80/api/tags?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_EQ(p.state, RequestParser::State::kComplete) << p.message;
  EXPECT_EQ(p.request.path, "/api/tags");
  EXPECT_EQ(p.request.query, "x=1");
  p = ParseAll("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_EQ(p.state, RequestParser::State::kComplete) << p.message;
  EXPECT_EQ(p.request.path, "/");
  p = ParseAll("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(p.state, RequestParser::State::kComplete) << p.message;
  EXPECT_EQ(p.request.path, "*");
  ExpectError("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(RequestParserTest, HeaderLimits) {
  const ServerLimits limits = SmallLimits();
  // Too many bytes of header.
  ExpectError("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n", 431);
  // The same, arriving without the end of the header.
  ExpectError("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(2000, 'a'), 431);
  // The request line alone too long.
  ExpectError("GET /" + std::string(2000, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", 414);
  // Too many fields (10 allowed).
  std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 10; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  ExpectError(many + "\r\n", 431);
  // Exactly at the limit is fine.
  std::string ten = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 9; ++i) ten += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(ParseAll(ten + "\r\n", limits).state, RequestParser::State::kComplete);
}

TEST(RequestParserTest, BodyLimits) {
  // Content-Length over the limit is refused before any body byte arrives.
  ExpectError("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", 413);
  EXPECT_EQ(ParseAll("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x')).state,
            RequestParser::State::kComplete);
  // Chunked bodies are counted as they arrive.
  std::string chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) chunked += "28\r\n" + std::string(40, 'x') + "\r\n";
  ExpectError(chunked + "0\r\n\r\n", 413);
  // An absurd chunk size.
  ExpectError("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400);
  ExpectError("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400);
}

TEST(RequestParserTest, MalformedRequestsAre400) {
  const char* cases[] = {
      "GARBAGE\r\n\r\n",
      "GET\r\n\r\n",
      "GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n",
      "GET / HTTX/1.1\r\nHost: h\r\n\r\n",
      "GET noslash HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET / HTTP/1.1\nHost: h\n\n",                               // bare LF line ends
      "GET  /  HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\n: empty-name\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n",                                   // no Host
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",             // two Hosts
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n",
  };
  for (const char* c : cases) ExpectError(c, 400);
}

TEST(RequestParserTest, UnsupportedTransferCodingsAre501) {
  ExpectError("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
  ExpectError("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501);
}

TEST(RequestParserTest, PartialRequestForErrors) {
  RequestParser p(SmallLimits());
  const auto r = p.Feed("POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 500\r\n\r\n");
  ASSERT_EQ(r.state, RequestParser::State::kError);
  EXPECT_EQ(p.error_status(), 413);
  const Request partial = p.PartialRequest();
  EXPECT_EQ(partial.method, "POST");
  EXPECT_EQ(partial.path, "/v1/chat/completions");
  // Feeding after an error keeps reporting it.
  EXPECT_EQ(p.Feed("more").state, RequestParser::State::kError);
}

}  // namespace
}  // namespace bastion::http
