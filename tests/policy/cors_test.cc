// CORS: option checking, simple requests and preflights, never reflecting an unlisted origin.
#include "policy/cors.h"

#include <gtest/gtest.h>

#include <string>

namespace bastion::policy {
namespace {

CorsPolicy Policy(std::vector<std::string> origins, bool credentials = false) {
  CorsOptions options;
  options.allowed_origins = std::move(origins);
  options.allow_credentials = credentials;
  Result<CorsPolicy> p = CorsPolicy::Create(options);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message());
  return p.ok() ? *p : CorsPolicy();
}

std::string CreateError(std::vector<std::string> origins, bool credentials = false) {
  CorsOptions options;
  options.allowed_origins = std::move(origins);
  options.allow_credentials = credentials;
  Result<CorsPolicy> p = CorsPolicy::Create(options);
  return p.ok() ? "(ok)" : p.error().message();
}

http::Request Req(std::string method, http::Headers headers) {
  http::Request r;
  r.method = std::move(method);
  r.path = "/v1/chat/completions";
  r.headers = std::move(headers);
  return r;
}

const std::string* Find(const http::Headers& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (n == name) return &v;
  }
  return nullptr;
}

TEST(CorsTest, OffByDefault) {
  CorsPolicy off;
  EXPECT_FALSE(off.enabled());
  CorsDecision d = off.Decide(Req("POST", {{"origin", "https://evil.example"}}));
  EXPECT_FALSE(d.preflight);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(d.headers.empty());
  d = off.Decide(Req("OPTIONS", {{"origin", "https://evil.example"}, {"access-control-request-method", "POST"}}));
  EXPECT_TRUE(d.preflight);
  EXPECT_EQ(d.status, 403);
  EXPECT_TRUE(d.headers.empty());
}

TEST(CorsTest, SimpleRequestFromListedOrigin) {
  CorsPolicy p = Policy({"https://app.example.com", "http://localhost:3000"});
  CorsDecision d = p.Decide(Req("POST", {{"origin", "https://app.example.com"}}));
  EXPECT_FALSE(d.preflight);
  EXPECT_TRUE(d.allowed);
  ASSERT_NE(Find(d.headers, "Access-Control-Allow-Origin"), nullptr);
  EXPECT_EQ(*Find(d.headers, "Access-Control-Allow-Origin"), "https://app.example.com");
  EXPECT_EQ(*Find(d.headers, "Vary"), "Origin");
  EXPECT_EQ(*Find(d.headers, "Access-Control-Expose-Headers"), "X-Request-Id, Retry-After");
  EXPECT_EQ(Find(d.headers, "Access-Control-Allow-Credentials"), nullptr);

  d = p.Decide(Req("GET", {{"origin", "http://localhost:3000"}}));
  EXPECT_EQ(*Find(d.headers, "Access-Control-Allow-Origin"), "http://localhost:3000");
}

TEST(CorsTest, NeverReflectsAnUnlistedOrigin) {
  CorsPolicy p = Policy({"https://app.example.com"}, /*credentials=*/true);
  for (const char* origin : {"https://evil.example", "https://app.example.com.evil.example", "https://APP.example.com",
                             "http://app.example.com", "https://app.example.com:8443", "null", "",
                             "https://app.example.com/"}) {
    CorsDecision d = p.Decide(Req("POST", {{"origin", origin}}));
    EXPECT_FALSE(d.allowed) << origin;
    EXPECT_EQ(Find(d.headers, "Access-Control-Allow-Origin"), nullptr) << origin;
    EXPECT_EQ(Find(d.headers, "Access-Control-Allow-Credentials"), nullptr) << origin;
    EXPECT_EQ(*Find(d.headers, "Vary"), "Origin");  // caches must still key on Origin
  }
  // No Origin at all: not a CORS request, but the answer still varies by Origin.
  CorsDecision d = p.Decide(Req("GET", {}));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.headers, (http::Headers{{"Vary", "Origin"}}));
  // Listed origin with credentials: the origin itself, never "*".
  d = p.Decide(Req("POST", {{"origin", "https://app.example.com"}}));
  EXPECT_EQ(*Find(d.headers, "Access-Control-Allow-Origin"), "https://app.example.com");
  EXPECT_EQ(*Find(d.headers, "Access-Control-Allow-Credentials"), "true");
}

TEST(CorsTest, Wildcard) {
  CorsPolicy p = Policy({"*"});
  CorsDecision d = p.Decide(Req("POST", {{"origin", "https://anything.example"}}));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(*Find(d.headers, "Access-Control-Allow-Origin"), "*");  // the literal, not a reflection
  d = p.Decide(Req("OPTIONS", {{"origin", "https://x.example"},
                               {"access-control-request-method", "POST"},
                               {"access-control-request-headers", "authorization,content-type"}}));
  EXPECT_EQ(d.status, 204);
  EXPECT_EQ(*Find(d.headers, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(Find(d.headers, "Access-Control-Allow-Credentials"), nullptr);
}

TEST(CorsTest, PreflightAllowed) {
  CorsPolicy p = Policy({"https://app.example.com"});
  CorsDecision d = p.Decide(Req("OPTIONS", {{"origin", "https://app.example.com"},
                                            {"access-control-request-method", "POST"},
                                            {"access-control-request-headers",
                                             "Authorization, content-type,x-stainless-os, X-Stainless-Retry-Count"}}));
  EXPECT_TRUE(d.preflight);
  EXPECT_EQ(d.status, 204);
  EXPECT_EQ(d.headers, (http::Headers{
                           {"Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"},
                           {"Access-Control-Allow-Origin", "https://app.example.com"},
                           {"Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE, OPTIONS"},
                           {"Access-Control-Allow-Headers",
                            "authorization, content-type, x-stainless-os, x-stainless-retry-count"},
                           {"Access-Control-Max-Age", "600"},
                       }));
  // Without requested headers, no Allow-Headers.
  d = p.Decide(Req("OPTIONS", {{"origin", "https://app.example.com"}, {"access-control-request-method", "DELETE"}}));
  EXPECT_EQ(d.status, 204);
  EXPECT_EQ(Find(d.headers, "Access-Control-Allow-Headers"), nullptr);
  for (const char* header : {"x-api-key", "x-request-id", "openai-organization", "openai-project", "openai-beta",
                             "user-agent", "accept"}) {
    d = p.Decide(Req("OPTIONS", {{"origin", "https://app.example.com"},
                                 {"access-control-request-method", "GET"},
                                 {"access-control-request-headers", header}}));
    EXPECT_EQ(d.status, 204) << header;
  }
}

TEST(CorsTest, PreflightRefused) {
  CorsPolicy p = Policy({"https://app.example.com"});
  struct Case {
    const char* origin;
    const char* method;
    const char* headers;
  };
  for (const Case& c : {Case{"https://evil.example", "POST", ""}, Case{"https://app.example.com", "PUT", ""},
                        Case{"https://app.example.com", "post", ""},
                        Case{"https://app.example.com", "POST", "authorization, x-evil"},
                        Case{"https://app.example.com", "POST", "x-stainless-"},
                        Case{"https://app.example.com", "POST", "bad header"},
                        Case{"https://app.example.com", "POST", "cookie"}}) {
    http::Headers h = {{"origin", c.origin}, {"access-control-request-method", c.method}};
    if (*c.headers) h.emplace_back("access-control-request-headers", c.headers);
    CorsDecision d = p.Decide(Req("OPTIONS", h));
    EXPECT_TRUE(d.preflight) << c.origin << " " << c.method << " " << c.headers;
    EXPECT_EQ(d.status, 403) << c.origin << " " << c.method << " " << c.headers;
    EXPECT_EQ(Find(d.headers, "Access-Control-Allow-Origin"), nullptr);
    EXPECT_EQ(Find(d.headers, "Access-Control-Allow-Methods"), nullptr);
  }
  // OPTIONS without Access-Control-Request-Method is an ordinary OPTIONS request, not a preflight.
  CorsDecision d = p.Decide(Req("OPTIONS", {{"origin", "https://app.example.com"}}));
  EXPECT_FALSE(d.preflight);
  EXPECT_TRUE(d.allowed);
  d = p.Decide(Req("OPTIONS", {{"access-control-request-method", "POST"}}));
  EXPECT_FALSE(d.preflight);
}

TEST(CorsTest, ExtraHeadersAndMaxAge) {
  CorsOptions options;
  options.allowed_origins = {"https://app.example.com"};
  options.extra_allowed_headers = {"X-Custom-Trace"};
  options.max_age_seconds = 60;
  Result<CorsPolicy> p = CorsPolicy::Create(options);
  ASSERT_TRUE(p.ok());
  CorsDecision d = p->Decide(Req("OPTIONS", {{"origin", "https://app.example.com"},
                                             {"access-control-request-method", "POST"},
                                             {"access-control-request-headers", "x-custom-trace"}}));
  EXPECT_EQ(d.status, 204);
  EXPECT_EQ(*Find(d.headers, "Access-Control-Max-Age"), "60");
  options.extra_allowed_headers = {"bad name"};
  EXPECT_FALSE(CorsPolicy::Create(options).ok());
  options.extra_allowed_headers = {};
  options.max_age_seconds = -1;
  EXPECT_FALSE(CorsPolicy::Create(options).ok());
}

TEST(CorsTest, OriginNormalizationAndErrors) {
  CorsPolicy p = Policy({"HTTPS://App.Example.COM:443", "http://[::1]:8080", "http://localhost:80"});
  EXPECT_TRUE(p.Decide(Req("GET", {{"origin", "https://app.example.com"}})).allowed);
  EXPECT_TRUE(p.Decide(Req("GET", {{"origin", "http://[::1]:8080"}})).allowed);
  EXPECT_TRUE(p.Decide(Req("GET", {{"origin", "http://localhost"}})).allowed);

  EXPECT_EQ(CreateError({"*"}, true),
            "CORS origins: '*' cannot be combined with credentials (browsers refuse it, and reflecting any origin "
            "instead would let every site act as the user)");
  EXPECT_EQ(CreateError({"*", "https://a.example"}), "CORS origins: '*' (any origin) must be the only entry");
  EXPECT_EQ(CreateError({"https://app.example.com/"}),
            "CORS origin 'https://app.example.com/': an origin has no path, query or fragment (did you mean "
            "'https://app.example.com'?)");
  EXPECT_NE(CreateError({"null"}).find("'null' origin"), std::string::npos);
  for (const char* bad : {"app.example.com", "ftp://app.example.com", "https://", "https://a b", "https://a:0",
                          "https://a:99999", "https://a:", "https://user@a", "https://[::1", "https://a:8x"}) {
    EXPECT_NE(CreateError({bad}), "(ok)") << bad;
  }
}

}  // namespace
}  // namespace bastion::policy
