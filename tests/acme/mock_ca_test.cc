// The client against a small ACME CA served by bastion's own HTTP server over http://127.0.0.1:
// ARI (renewalInfo and "replaces", which Debian's Pebble 2.4 lacks), a full issuance with an
// order that is "processing" for a while, and error paths a real CA rarely shows on demand
// (badNonce on the first try, 503 + Retry-After, 429 rateLimited, hostile replies).
#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "acme/acme_client.h"
#include "acme/base64url.h"
#include "acme/client_stats.h"
#include "http/router.h"
#include "http/server.h"
#include "test_pki.h"

namespace bastion::acme {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// What the mock CA does and what it saw.
struct MockState {
  std::mutex mu;
  std::string base;  // http://127.0.0.1:PORT
  bool offer_ari = true;
  int bad_nonce_first = 0;     // reject this many signed POSTs with badNonce first
  int busy_first = 0;          // answer this many newOrder calls with 503 + Retry-After: 1
  bool rate_limited = false;   // newOrder answers 429 rateLimited, Retry-After: 3600
  bool garbage_order = false;  // newOrder answers 201 with a body that is not an order
  int processing_polls = 1;    // order stays "processing" for this many polls after finalize
  int nonce_counter = 0;
  std::vector<json> new_orders;  // newOrder payloads
  std::vector<std::string> ari_requests;
  std::string issued_chain;
  std::vector<std::string> kids_seen;
  testing::TestCa ca = testing::MakeCa("Mock ACME CA");
  long next_serial = 100;
};

class MockCa {
 public:
  MockCa() {
    auto router = std::make_shared<http::Router>();
    auto st = state_;
    const auto send = [st](http::ResponseWriter& w, int status, const std::string& type, std::string body,
                           http::Headers extra = {}) {
      extra.emplace_back("Replay-Nonce", "nonce" + std::to_string(++st->nonce_counter));
      w.Send(status, type, std::move(body), std::move(extra));
    };
    router->Add("GET", "/dir", [st](const http::Request&, std::shared_ptr<http::ResponseWriter> w) {
      std::lock_guard lock(st->mu);
      json dir = {{"newNonce", st->base + "/nonce"},
                  {"newAccount", st->base + "/acct"},
                  {"newOrder", st->base + "/order"},
                  {"meta", {{"termsOfService", st->base + "/tos"}}}};
      if (st->offer_ari) dir["renewalInfo"] = st->base + "/ari";
      w->Send(200, "application/json", dir.dump());
    });
    router->Add("GET", "/nonce", [st, send](const http::Request&, std::shared_ptr<http::ResponseWriter> w) {
      std::lock_guard lock(st->mu);
      send(*w, 200, "text/plain", "");
    });
    router->Add("GET", "/ari/{id}", [st](const http::Request& r, std::shared_ptr<http::ResponseWriter> w) {
      std::lock_guard lock(st->mu);
      st->ari_requests.push_back(*r.PathParam("id"));
      const json body = {{"suggestedWindow", {{"start", "2030-01-02T04:00:00Z"}, {"end", "2030-01-03T04:00:00Z"}}},
                         {"explanationURL", "https://ca.example/why"}};
      w->Send(200, "application/json", body.dump(), {{"Retry-After", "7200"}});
    });
    // Every signed POST goes through here: unwrap the JWS, then route by path.
    const auto post = [st, send](const http::Request& r, std::shared_ptr<http::ResponseWriter> w) {
      std::lock_guard lock(st->mu);
      const json jws = json::parse(r.body, nullptr, false);
      json header, payload;
      if (jws.is_object() && jws.contains("protected")) {
        header = json::parse(Base64UrlDecode(jws["protected"].get<std::string>()).value_or(""), nullptr, false);
        const std::string p = Base64UrlDecode(jws["payload"].get<std::string>()).value_or("");
        payload = p.empty() ? json() : json::parse(p, nullptr, false);
      }
      const auto problem = [&](int status, const std::string& type, const std::string& detail, http::Headers extra = {}) {
        send(*w, status, "application/problem+json",
             json{{"type", "urn:ietf:params:acme:error:" + type}, {"detail", detail}}.dump(), std::move(extra));
      };
      if (!header.is_object() || header.value("alg", "") != "ES256" || !header.contains("nonce")) {
        return problem(400, "malformed", "bad JWS");
      }
      if (st->bad_nonce_first > 0) {
        --st->bad_nonce_first;
        return problem(400, "badNonce", "stale nonce");
      }
      const std::string& path = r.path;
      if (path == "/acct") {
        if (!header.contains("jwk")) return problem(400, "malformed", "newAccount needs jwk");
        return send(*w, 201, "application/json", json{{"status", "valid"}}.dump(), {{"Location", st->base + "/acct/1"}});
      }
      if (!header.contains("kid")) return problem(400, "malformed", "kid expected");
      st->kids_seen.push_back(header["kid"]);
      if (path == "/order") {
        st->new_orders.push_back(payload);
        if (st->busy_first > 0) {
          --st->busy_first;
          return problem(503, "serverInternal", "busy", {{"Retry-After", "1"}});
        }
        if (st->rate_limited) return problem(429, "rateLimited", "too many orders", {{"Retry-After", "3600"}});
        if (st->garbage_order) return send(*w, 201, "application/json", "[1,2", {{"Location", st->base + "/order/1"}});
        return send(*w, 201, "application/json",
                    json{{"status", "pending"},
                         {"authorizations", {st->base + "/authz/1"}},
                         {"finalize", st->base + "/finalize/1"}}
                        .dump(),
                    {{"Location", st->base + "/order/1"}});
      }
      if (path == "/authz/1") {
        // Already valid, as a reused authorization is: no challenge needed.
        return send(*w, 200, "application/json",
                    json{{"status", "valid"}, {"identifier", {{"type", "dns"}, {"value", "app.test"}}}}.dump());
      }
      if (path == "/finalize/1") {
        const std::string der = Base64UrlDecode(payload.value("csr", "")).value_or("");
        const auto* p = reinterpret_cast<const unsigned char*>(der.data());
        X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size()));
        if (req == nullptr) return problem(400, "badCSR", "unparsable CSR");
        auto leaf = testing::IssueLeaf(st->ca, {"app.test"}, X509_REQ_get0_pubkey(req), nullptr, st->next_serial++);
        X509_REQ_free(req);
        st->issued_chain = testing::ToPem(leaf.get()) + st->ca.cert_pem;
        return send(*w, 200, "application/json",
                    json{{"status", "processing"}, {"finalize", st->base + "/finalize/1"}}.dump(), {{"Retry-After", "0"}});
      }
      if (path == "/order/1") {
        if (st->issued_chain.empty()) {
          return send(*w, 200, "application/json",
                      json{{"status", "ready"}, {"finalize", st->base + "/finalize/1"}}.dump());
        }
        if (st->processing_polls > 0) {
          --st->processing_polls;
          return send(*w, 200, "application/json", json{{"status", "processing"}}.dump(), {{"Retry-After", "0"}});
        }
        return send(*w, 200, "application/json",
                    json{{"status", "valid"}, {"certificate", st->base + "/cert/1"}}.dump());
      }
      if (path == "/cert/1") return send(*w, 200, "application/pem-certificate-chain", st->issued_chain);
      return problem(404, "malformed", "no such resource");
    };
    for (const char* path : {"/acct", "/order", "/authz/1", "/finalize/1", "/order/1", "/cert/1"}) {
      router->Add("POST", path, post);
    }
    http::ServerOptions options;
    options.port = 0;
    auto server = http::Server::Create(options, router);
    if (!server.ok()) {
      ADD_FAILURE() << server.error().message();
      return;
    }
    server_ = std::move(server).value();
    std::lock_guard lock(state_->mu);
    state_->base = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  ~MockCa() {
    if (server_) server_->Shutdown(1000ms);
  }

  std::string directory() const { return state_->base + "/dir"; }
  MockState& state() { return *state_; }

 private:
  std::shared_ptr<MockState> state_ = std::make_shared<MockState>();
  std::unique_ptr<http::Server> server_;
};

// A solver that is never asked (the mock's authorizations are valid already).
class NoChallenges : public ChallengeSolver {
 public:
  std::vector<ChallengeType> Supported() const override { return {ChallengeType::kHttp01}; }
  Status Present(ChallengeType, const std::string&, const std::string&, const std::string&) override {
    ++presented;
    return Error("not expected");
  }
  void CleanUp(ChallengeType, const std::string&, const std::string&) override {}
  int presented = 0;
};

std::unique_ptr<AcmeClient> MakeClient(const std::string& directory, std::chrono::seconds obtain_timeout = 30s) {
  AcmeOptions options;
  options.directory_url = directory;
  options.request_timeout = 5s;
  options.obtain_timeout = obtain_timeout;
  auto client = AcmeClient::Create(options);
  EXPECT_TRUE(client.ok()) << client.error().message();
  return client.ok() ? std::move(client).value() : nullptr;
}

ObtainRequest Request(std::optional<std::string> replaces = std::nullopt) {
  ObtainRequest request;
  request.domains = {"app.test"};
  request.replaces_cert_id = std::move(replaces);
  return request;
}

TEST(MockCa, FullIssuanceSendsReplacesWhenTheCaOffersAri) {
  MockCa ca;
  ca.state().bad_nonce_first = 1;  // the very first signed POST
  auto client = MakeClient(ca.directory());
  ASSERT_TRUE(client);
  NoChallenges solver;
  auto result = client->Obtain(Request("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"), solver);
  ASSERT_TRUE(std::holds_alternative<ObtainedCertificate>(result)) << std::get<AcmeError>(result).ToString();
  const auto& cert = std::get<ObtainedCertificate>(result);
  EXPECT_EQ(cert.order_url, ca.state().base + "/order/1");
  EXPECT_EQ(testing::ParseChain(cert.chain_pem).size(), 2u);
  EXPECT_NE(cert.key_pem.find("BEGIN PRIVATE KEY"), std::string::npos);
  ASSERT_EQ(ca.state().new_orders.size(), 1u);
  const json& order = ca.state().new_orders[0];
  EXPECT_EQ(order["replaces"], "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
  EXPECT_EQ(order["identifiers"], json::parse(R"([{"type":"dns","value":"app.test"}])"));
  EXPECT_EQ(solver.presented, 0);
  for (const std::string& kid : ca.state().kids_seen) EXPECT_EQ(kid, ca.state().base + "/acct/1");
  EXPECT_EQ(GetStats(*client).bad_nonce_retries, 1u);
  EXPECT_EQ(GetStats(*client).orders, 1u);

  // The renewal window of what we got: GET {renewalInfo}/{CertID}, Retry-After honoured.
  auto info = client->GetRenewalInfo(cert.chain_pem);
  ASSERT_TRUE(std::holds_alternative<std::optional<RenewalInfo>>(info)) << std::get<AcmeError>(info).ToString();
  const auto& window = std::get<std::optional<RenewalInfo>>(info);
  ASSERT_TRUE(window.has_value());
  EXPECT_EQ(window->window_end - window->window_start, 24h);
  EXPECT_EQ(window->explanation_url, "https://ca.example/why");
  EXPECT_EQ(window->retry_after, 7200s);
  ASSERT_EQ(ca.state().ari_requests.size(), 1u);
  EXPECT_EQ(ca.state().ari_requests[0], AriCertId(cert.chain_pem).value());
}

TEST(MockCa, NoReplacesAndNoRenewalInfoWithoutAri) {
  MockCa ca;
  ca.state().offer_ari = false;
  auto client = MakeClient(ca.directory());
  ASSERT_TRUE(client);
  NoChallenges solver;
  auto result = client->Obtain(Request("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"), solver);
  ASSERT_TRUE(std::holds_alternative<ObtainedCertificate>(result)) << std::get<AcmeError>(result).ToString();
  ASSERT_EQ(ca.state().new_orders.size(), 1u);
  EXPECT_FALSE(ca.state().new_orders[0].contains("replaces"));
  auto info = client->GetRenewalInfo(std::get<ObtainedCertificate>(result).chain_pem);
  ASSERT_TRUE(std::holds_alternative<std::optional<RenewalInfo>>(info));
  EXPECT_FALSE(std::get<std::optional<RenewalInfo>>(info).has_value());
}

TEST(MockCa, ShortServiceUnavailableIsRetriedInPlace) {
  MockCa ca;
  ca.state().busy_first = 1;
  auto client = MakeClient(ca.directory());
  ASSERT_TRUE(client);
  NoChallenges solver;
  const auto start = std::chrono::steady_clock::now();
  auto result = client->Obtain(Request(), solver);
  ASSERT_TRUE(std::holds_alternative<ObtainedCertificate>(result)) << std::get<AcmeError>(result).ToString();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 900ms);  // waited the Retry-After
  EXPECT_EQ(GetStats(*client).busy_retries, 1u);
}

TEST(MockCa, RateLimitComesBackWithRetryAfterWithoutWaiting) {
  MockCa ca;
  ca.state().rate_limited = true;
  auto client = MakeClient(ca.directory());
  ASSERT_TRUE(client);
  NoChallenges solver;
  const auto start = std::chrono::steady_clock::now();
  auto result = client->Obtain(Request(), solver);
  ASSERT_TRUE(std::holds_alternative<AcmeError>(result));
  const AcmeError& error = std::get<AcmeError>(result);
  EXPECT_EQ(error.type, "urn:ietf:params:acme:error:rateLimited");
  EXPECT_EQ(error.http_status, 429);
  EXPECT_EQ(error.detail, "too many orders");
  EXPECT_EQ(error.retry_after, std::optional<std::chrono::seconds>(3600s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(MockCa, GarbageOrderIsAnErrorNotACrash) {
  MockCa ca;
  ca.state().garbage_order = true;
  auto client = MakeClient(ca.directory());
  ASSERT_TRUE(client);
  NoChallenges solver;
  auto result = client->Obtain(Request(), solver);
  ASSERT_TRUE(std::holds_alternative<AcmeError>(result));
  EXPECT_NE(std::get<AcmeError>(result).detail.find("order"), std::string::npos);
}

TEST(MockCa, EndlessProcessingIsBoundedByObtainTimeout) {
  MockCa ca;
  ca.state().processing_polls = 1000000;
  auto client = MakeClient(ca.directory(), 3s);
  ASSERT_TRUE(client);
  NoChallenges solver;
  const auto start = std::chrono::steady_clock::now();
  auto result = client->Obtain(Request(), solver);
  ASSERT_TRUE(std::holds_alternative<AcmeError>(result));
  EXPECT_NE(std::get<AcmeError>(result).detail.find("timed out"), std::string::npos)
      << std::get<AcmeError>(result).ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 6s);
}

TEST(MockCa, CancelStopsObtain) {
  MockCa ca;
  ca.state().processing_polls = 1000000;
  auto client = MakeClient(ca.directory());
  ASSERT_TRUE(client);
  NoChallenges solver;
  std::atomic<bool> cancel{false};
  ObtainRequest request = Request();
  request.cancel = &cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(500ms);
    cancel = true;
  });
  const auto start = std::chrono::steady_clock::now();
  auto result = client->Obtain(request, solver);
  canceller.join();
  ASSERT_TRUE(std::holds_alternative<AcmeError>(result));
  EXPECT_NE(std::get<AcmeError>(result).detail.find("cancelled"), std::string::npos)
      << std::get<AcmeError>(result).ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(MockCa, UnreachableCaIsAQuickTransportError) {
  std::string directory;
  {
    MockCa gone;  // learn a free port, then close it
    directory = gone.directory();
  }
  auto client = MakeClient(directory);
  ASSERT_TRUE(client);
  NoChallenges solver;
  const auto start = std::chrono::steady_clock::now();
  auto result = client->Obtain(Request(), solver);
  ASSERT_TRUE(std::holds_alternative<AcmeError>(result));
  const AcmeError& error = std::get<AcmeError>(result);
  EXPECT_EQ(error.type, "");
  EXPECT_EQ(error.http_status, 0);
  EXPECT_NE(error.detail.find(directory), std::string::npos) << error.detail;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  auto info = client->GetRenewalInfo("x");
  EXPECT_TRUE(std::holds_alternative<AcmeError>(info));
}

}  // namespace
}  // namespace bastion::acme
