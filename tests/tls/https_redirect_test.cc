// The plain-HTTP listener's behavior: ACME HTTP-01 answers, redirects with the right Location
// and status, over a real socket too.
#include <gtest/gtest.h>

#include "http/https_redirect.h"
#include "http/server.h"
#include "tls_test_client.h"

namespace bastion::http {
namespace {

struct Captured {
  int status = 0;
  std::string content_type, body;
  Headers extra;
};

class CapturingWriter : public ResponseWriter {
 public:
  explicit CapturingWriter(Captured* out) : out_(out) {}
  void Send(int status, std::string_view content_type, std::string body, Headers extra) override {
    out_->status = status;
    out_->content_type = std::string(content_type);
    out_->body = std::move(body);
    out_->extra = std::move(extra);
  }
  void StartStream(int, std::string_view, Headers) override {}
  bool Write(std::string) override { return false; }
  void End() override {}
  bool cancelled() const override { return false; }
  void OnCancel(std::function<void()>) override {}

 private:
  Captured* out_;
};

Captured Dispatch(Router& router, std::string method, std::string target, std::string host) {
  Request r;
  r.method = std::move(method);
  r.target = target;
  const size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) r.query = target.substr(q + 1);
  if (!host.empty()) r.headers.emplace_back("Host", host);
  Captured out;
  router.Dispatch(r, std::make_shared<CapturingWriter>(&out));
  return out;
}

std::string Location(const Captured& c) {
  for (const auto& [name, value] : c.extra) {
    if (name == "Location") return value;
  }
  return "";
}

TEST(HttpsRedirect, AnswersChallengesAndRedirectsTheRest) {
  auto responder = std::make_shared<AcmeHttp01Responder>();
  responder->Put("tok123", "tok123.thumbprint");
  Router router;
  AddHttpsRedirect(router, {8443, "", responder});

  Captured c = Dispatch(router, "GET", "/.well-known/acme-challenge/tok123", "example.com");
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(c.content_type, "text/plain");
  EXPECT_EQ(c.body, "tok123.thumbprint");
  EXPECT_EQ(Dispatch(router, "GET", "/.well-known/acme-challenge/unknown", "example.com").status, 404);
  responder->Remove("tok123");
  EXPECT_EQ(Dispatch(router, "GET", "/.well-known/acme-challenge/tok123", "example.com").status, 404);

  c = Dispatch(router, "GET", "/api/tags?a=1&b=%20", "Example.com:8080");
  EXPECT_EQ(c.status, 301);
  EXPECT_EQ(Location(c), "https://example.com:8443/api/tags?a=1&b=%20");
  c = Dispatch(router, "POST", "/v1/chat/completions", "[::1]:80");
  EXPECT_EQ(c.status, 308);
  EXPECT_EQ(Location(c), "https://[::1]:8443/v1/chat/completions");
  EXPECT_EQ(Dispatch(router, "HEAD", "/", "10.0.0.1").status, 301);
  // No usable Host and no fallback: 400, never a redirect to somewhere odd.
  EXPECT_EQ(Dispatch(router, "GET", "/", "").status, 400);
  EXPECT_EQ(Dispatch(router, "GET", "/", "evil.com/x").status, 400);
  EXPECT_EQ(Dispatch(router, "GET", "/", "a\"b").status, 400);
}

TEST(HttpsRedirect, DefaultPortAndFallbackHost) {
  Router router;
  AddHttpsRedirect(router, {443, "ai.example.com", nullptr});
  Captured c = Dispatch(router, "GET", "/x", "");
  EXPECT_EQ(Location(c), "https://ai.example.com/x");
  c = Dispatch(router, "GET", "/.well-known/acme-challenge/t", "ai.example.com");
  EXPECT_EQ(c.status, 404);
}

TEST(HttpsRedirect, OverARealSocket) {
  auto responder = std::make_shared<AcmeHttp01Responder>();
  responder->Put("abc", "abc.def");
  auto router = std::make_shared<Router>();
  AddHttpsRedirect(*router, {9443, "", responder});
  ServerOptions o;
  o.port = 0;
  auto server = Server::Create(o, router);
  ASSERT_TRUE(server.ok());
  const auto raw = [&](const std::string& request) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((*server)->port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
    std::string in;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) in.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return in;
  };
  std::string r = raw("GET /.well-known/acme-challenge/abc HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
  EXPECT_NE(r.find("200 OK"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\n\r\nabc.def"), std::string::npos) << r;
  r = raw("GET /api/version?x=y HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
  EXPECT_NE(r.find("301 Moved Permanently"), std::string::npos) << r;
  EXPECT_NE(r.find("Location: https://a.test:9443/api/version?x=y\r\n"), std::string::npos) << r;
  // Plain HTTP never carries HSTS.
  EXPECT_EQ(r.find("Strict-Transport-Security"), std::string::npos) << r;
  (*server)->Shutdown(std::chrono::milliseconds(200));
}

}  // namespace
}  // namespace bastion::http
