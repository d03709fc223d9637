// The client against Pebble, Let's Encrypt's test CA, with real validation (no
// PEBBLE_VA_ALWAYS_VALID): pebble-challtestsrv answers every DNS A query with 127.0.0.1, and
// Pebble's validator connects to this test's own HTTP-01 server (bastion's http::Server with an
// AcmeHttp01Responder) and TLS-ALPN-01 server (a minimal OpenSSL listener below) on 127.0.0.1.
// Skips when pebble is not installed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "acme/acme_client.h"
#include "acme/client_stats.h"
#include "acme/http_client.h"
#include "base/atomic_file.h"
#include "http/acme_http01.h"
#include "http/router.h"
#include "http/server.h"
#include "test_pki.h"

extern char** environ;

namespace bastion::acme {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kPebble = "/usr/bin/pebble";
constexpr const char* kChallTestSrv = "/usr/bin/pebble-challtestsrv";

// A port nobody listens on right now (TCP and UDP both free, for the DNS server).
uint16_t FreePort() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ::bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::getsockname(tcp, reinterpret_cast<sockaddr*>(&addr), &len);
    const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
    const bool udp_free = ::bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(udp);
    ::close(tcp);
    if (udp_free) return ntohs(addr.sin_port);
  }
  return 0;
}

// A child process with extra environment variables; killed (SIGTERM, then SIGKILL) and reaped
// on destruction. Output goes to a log file for failure messages.
class Child {
 public:
  Child(std::vector<std::string> argv, const std::vector<std::string>& extra_env, const std::string& log) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> argp, envp;
    for (auto& a : argv) argp.push_back(a.data());
    argp.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (posix_spawn(&pid_, argp[0], &actions, nullptr, argp.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(20ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
};

// Answers TLS-ALPN-01: a TLS server that completes a handshake only for ALPN "acme-tls/1",
// presenting the RFC 8737 certificate of the requested name. (bastion's real TLS listener lives
// in src/tls; this keeps the ACME tests independent of it.)
class AlpnServer {
 public:
  AlpnServer() {
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_alpn_select_cb(ctx_, &AlpnServer::SelectAlpn, nullptr);
    // Pick the certificate after reading the ClientHello's SNI.
    SSL_CTX_set_client_hello_cb(ctx_,
        [](SSL* s, int*, void* arg) -> int {
          auto* self = static_cast<AlpnServer*>(arg);
          const unsigned char* ext = nullptr;
          size_t ext_len = 0;
          std::string name;
          // server_name extension: list length(2) type(1) name length(2) name
          if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &ext, &ext_len) == 1 && ext_len > 5) {
            name.assign(reinterpret_cast<const char*>(ext + 5), ext_len - 5);
          }
          std::lock_guard lock(self->mu_);
          auto it = self->certs_.find(name);
          if (it == self->certs_.end()) return SSL_CLIENT_HELLO_ERROR;
          auto cert = testing::ParsePem(it->second.chain_pem);
          BIO* bio = BIO_new_mem_buf(it->second.key_pem.data(), static_cast<int>(it->second.key_pem.size()));
          EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
          BIO_free(bio);
          SSL_use_certificate(s, cert.get());
          SSL_use_PrivateKey(s, key);
          EVP_PKEY_free(key);
          return SSL_CLIENT_HELLO_SUCCESS;
        },
        this);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 16);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~AlpnServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  uint16_t port() const { return port_; }
  void Set(const std::string& domain, PemPair pair) {
    std::lock_guard lock(mu_);
    certs_[domain] = std::move(pair);
  }
  void Remove(const std::string& domain) {
    std::lock_guard lock(mu_);
    certs_.erase(domain);
  }
  int handshakes() const { return handshakes_; }

 private:
  static int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                        unsigned int inlen, void*) {
    static const unsigned char kAcme[] = {10, 'a', 'c', 'm', 'e', '-', 't', 'l', 's', '/', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, kAcme, sizeof(kAcme), in, inlen) != OPENSSL_NPN_NEGOTIATED) {
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int conn = ::accept(fd_, nullptr, nullptr);
      if (conn < 0) continue;
      timeval tv{2, 0};
      ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      ::setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, conn);
      if (SSL_accept(ssl) == 1) {
        ++handshakes_;
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
      ::close(conn);
    }
  }

  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> handshakes_{0};
  std::mutex mu_;
  std::map<std::string, PemPair> certs_;
  std::thread thread_;
};

// Answers both challenge types; can deliberately serve a wrong HTTP-01 key authorization.
class TestSolver : public ChallengeSolver {
 public:
  TestSolver(std::shared_ptr<http::AcmeHttp01Responder> http01, AlpnServer* alpn) : http01_(http01), alpn_(alpn) {}
  std::vector<ChallengeType> Supported() const override { return {ChallengeType::kHttp01, ChallengeType::kTlsAlpn01}; }
  Status Present(ChallengeType type, const std::string& domain, const std::string& token,
                 const std::string& key_authorization) override {
    std::lock_guard lock(mu_);
    presented.push_back(type);
    if (type == ChallengeType::kHttp01) {
      http01_->Put(token, corrupt_http01 ? key_authorization + "-wrong" : key_authorization);
      return OkStatus();
    }
    BASTION_ASSIGN_OR_RETURN(PemPair pair, MakeTlsAlpn01Certificate(domain, key_authorization));
    alpn_->Set(domain, std::move(pair));
    return OkStatus();
  }
  void CleanUp(ChallengeType type, const std::string& domain, const std::string& token) override {
    std::lock_guard lock(mu_);
    cleaned.push_back(type);
    if (type == ChallengeType::kHttp01) http01_->Remove(token);
    else alpn_->Remove(domain);
  }

  bool corrupt_http01 = false;
  std::mutex mu_;
  std::vector<ChallengeType> presented, cleaned;

 private:
  std::shared_ptr<http::AcmeHttp01Responder> http01_;
  AlpnServer* alpn_;
};

class PebbleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kPebble) || !fs::exists(kChallTestSrv)) GTEST_SKIP() << "pebble is not installed";
    ::signal(SIGPIPE, SIG_IGN);  // the test TLS server writes to connections Pebble has closed
    dir_ = fs::temp_directory_path() / ("bastion_pebble_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);

    // Pebble's own HTTPS listener needs a certificate; our client trusts its CA.
    auto ca = testing::MakeCa("bastion test CA for Pebble");
    std::string key_pem;
    auto leaf = testing::IssueLeaf(ca, {"localhost", "127.0.0.1"}, nullptr, &key_pem);
    ASSERT_TRUE(WriteFileAtomic((dir_ / "ca.pem").string(), ca.cert_pem).ok());
    ASSERT_TRUE(WriteFileAtomic((dir_ / "cert.pem").string(), testing::ToPem(leaf.get())).ok());
    ASSERT_TRUE(WriteFileAtomic((dir_ / "key.pem").string(), key_pem, 0600).ok());

    // The HTTP-01 answerer: bastion's server with the responder the serve command uses.
    http01_ = std::make_shared<http::AcmeHttp01Responder>();
    auto router = std::make_shared<http::Router>();
    auto responder = http01_;
    router->Add("GET", std::string(http::AcmeHttp01Responder::kPathPrefix) + "{token}",
                [responder](const http::Request& r, std::shared_ptr<http::ResponseWriter> w) {
                  const std::string* token = r.PathParam("token");
                  auto answer = token ? responder->Find(*token) : std::nullopt;
                  if (!answer) return w->Send(404, "text/plain", "no such token");
                  w->Send(200, "text/plain", *answer);
                });
    http::ServerOptions options;
    options.port = 0;
    auto server = http::Server::Create(options, router);
    ASSERT_TRUE(server.ok()) << server.error().message();
    http_server_ = std::move(server).value();
    alpn_ = std::make_unique<AlpnServer>();
    solver_ = std::make_unique<TestSolver>(http01_, alpn_.get());
  }

  void StartPebble(const std::vector<std::string>& env = {}) {
    const uint16_t dns = FreePort(), listen = FreePort(), management = FreePort(), challtest_mgmt = FreePort();
    std::ofstream(dir_ / "pebble.json") << R"({"pebble":{"listenAddress":"127.0.0.1:)" << listen
                                        << R"(","managementListenAddress":"127.0.0.1:)" << management
                                        << R"(","certificate":")" << (dir_ / "cert.pem").string()
                                        << R"(","privateKey":")" << (dir_ / "key.pem").string()
                                        << R"(","httpPort":)" << http_server_->port() << R"(,"tlsPort":)"
                                        << alpn_->port()
                                        << R"(,"ocspResponderURL":"","externalAccountBindingRequired":false}})";
    challtestsrv_ = std::make_unique<Child>(
        std::vector<std::string>{kChallTestSrv, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01",
                                 "127.0.0.1:" + std::to_string(dns), "-http01", "", "-https01", "", "-tlsalpn01", "",
                                 "-management", "127.0.0.1:" + std::to_string(challtest_mgmt)},
        std::vector<std::string>{}, (dir_ / "challtestsrv.log").string());
    std::vector<std::string> pebble_env = {"PEBBLE_VA_NOSLEEP=1"};
    pebble_env.insert(pebble_env.end(), env.begin(), env.end());
    pebble_ = std::make_unique<Child>(
        std::vector<std::string>{kPebble, "-config", (dir_ / "pebble.json").string(), "-dnsserver",
                                 "127.0.0.1:" + std::to_string(dns)},
        pebble_env, (dir_ / "pebble.log").string());
    directory_ = "https://127.0.0.1:" + std::to_string(listen) + "/dir";
    management_ = "https://127.0.0.1:" + std::to_string(management);

    // Wait until the directory answers (Pebble generates its CA keys first).
    auto http = HttpClient::Create(RootOptions());
    ASSERT_TRUE(http.ok());
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      HttpRequest request;
      request.url = directory_;
      request.timeout = 1000ms;
      auto response = (*http)->Send(request);
      if (response.ok() && response->status == 200) return;
      std::this_thread::sleep_for(100ms);
    }
    FAIL() << "pebble did not come up: " << Log("pebble.log");
  }

  void TearDown() override {
    pebble_.reset();
    challtestsrv_.reset();
    if (http_server_) http_server_->Shutdown(1000ms);
    alpn_.reset();
    if (!dir_.empty() && !HasFailure()) fs::remove_all(dir_);
  }

  HttpClientOptions RootOptions() const {
    HttpClientOptions options;
    options.extra_root_file = (dir_ / "ca.pem").string();
    return options;
  }

  std::string Log(const std::string& name) {
    std::ifstream in(dir_ / name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::unique_ptr<AcmeClient> MakeClient() {
    AcmeOptions options;
    options.directory_url = directory_;
    options.ca_root_file = (dir_ / "ca.pem").string();
    options.account_key_path = (dir_ / "account.pem").string();
    options.email = "admin@app.test";
    options.request_timeout = 10s;
    options.obtain_timeout = 60s;
    auto client = AcmeClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.error().message();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  // Verifies the chain up to Pebble's current root (from its management interface).
  void ExpectValidChain(const ObtainedCertificate& cert, const std::vector<std::string>& names) {
    auto http = HttpClient::Create(RootOptions());
    ASSERT_TRUE(http.ok());
    HttpRequest request;
    request.url = management_ + "/roots/0";
    auto root = (*http)->Send(request);
    ASSERT_TRUE(root.ok()) << root.error().message();
    ASSERT_EQ(root->status, 200);
    auto chain = testing::ParseChain(cert.chain_pem);
    ASSERT_GE(chain.size(), 2u);
    auto root_cert = testing::ParsePem(root->body);
    ASSERT_TRUE(root_cert);
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, root_cert.get());
    STACK_OF(X509)* untrusted = sk_X509_new_null();
    for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, chain[0].get(), untrusted);
    EXPECT_EQ(X509_verify_cert(ctx), 1) << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    X509_STORE_free(store);
    EXPECT_EQ(testing::SubjectAltNames(chain[0].get()), names);
  }

  ObtainedCertificate ObtainOk(AcmeClient& client, const ObtainRequest& request) {
    auto result = client.Obtain(request, *solver_);
    if (auto* error = std::get_if<AcmeError>(&result)) {
      ADD_FAILURE() << error->ToString() << "\npebble log:\n" << Log("pebble.log");
      return {};
    }
    return std::get<ObtainedCertificate>(std::move(result));
  }

  fs::path dir_;
  std::shared_ptr<http::AcmeHttp01Responder> http01_;
  std::unique_ptr<http::Server> http_server_;
  std::unique_ptr<AlpnServer> alpn_;
  std::unique_ptr<TestSolver> solver_;
  std::unique_ptr<Child> challtestsrv_, pebble_;
  std::string directory_, management_;
};

TEST_F(PebbleTest, Http01Issuance) {
  StartPebble({"PEBBLE_WFE_NONCEREJECT=0"});
  auto client = MakeClient();
  ASSERT_TRUE(client);
  ObtainRequest request;
  request.domains = {"app.test", "www.app.test"};
  request.challenge_order = {ChallengeType::kHttp01};
  const ObtainedCertificate cert = ObtainOk(*client, request);
  if (HasFailure()) return;
  ExpectValidChain(cert, {"app.test", "www.app.test"});
  EXPECT_EQ(solver_->presented, std::vector<ChallengeType>(2, ChallengeType::kHttp01));
  EXPECT_EQ(solver_->cleaned, solver_->presented);
  EXPECT_FALSE(http01_->Find("anything"));
  EXPECT_TRUE(fs::exists(dir_ / "account.pem"));

  // Pebble 2.4 has no renewalInfo: GetRenewalInfo says so with nullopt.
  auto info = client->GetRenewalInfo(cert.chain_pem);
  ASSERT_TRUE(std::holds_alternative<std::optional<RenewalInfo>>(info));
  EXPECT_FALSE(std::get<std::optional<RenewalInfo>>(info).has_value());

  // A second client with the stored account key finds the same account and issues again.
  auto again = MakeClient();
  request.domains = {"app.test"};
  const ObtainedCertificate second = ObtainOk(*again, request);
  if (HasFailure()) return;
  ExpectValidChain(second, {"app.test"});
}

TEST_F(PebbleTest, TlsAlpn01Issuance) {
  StartPebble({"PEBBLE_WFE_NONCEREJECT=0"});
  auto client = MakeClient();
  ASSERT_TRUE(client);
  ObtainRequest request;
  request.domains = {"alpn.test"};
  request.challenge_order = {ChallengeType::kTlsAlpn01};
  const ObtainedCertificate cert = ObtainOk(*client, request);
  if (HasFailure()) return;
  ExpectValidChain(cert, {"alpn.test"});
  EXPECT_GE(alpn_->handshakes(), 1);
  EXPECT_EQ(solver_->cleaned, std::vector<ChallengeType>{ChallengeType::kTlsAlpn01});
}

TEST_F(PebbleTest, NonceRejectionIsRetriedTransparently) {
  StartPebble({"PEBBLE_WFE_NONCEREJECT=50"});
  auto client = MakeClient();
  ASSERT_TRUE(client);
  ObtainRequest request;
  request.domains = {"nonce.test"};
  const ObtainedCertificate cert = ObtainOk(*client, request);
  if (HasFailure()) return;
  ExpectValidChain(cert, {"nonce.test"});
  const AcmeClientStats stats = GetStats(*client);
  // ~10 signed POSTs at 50% rejection: some were rejected (and retried), with near certainty.
  EXPECT_GT(stats.bad_nonce_retries, 0u);
  EXPECT_GT(stats.requests, stats.bad_nonce_retries);
}

TEST_F(PebbleTest, FailedHttp01FallsBackToTlsAlpn01) {
  StartPebble({"PEBBLE_WFE_NONCEREJECT=0"});
  auto client = MakeClient();
  ASSERT_TRUE(client);
  solver_->corrupt_http01 = true;
  ObtainRequest request;
  request.domains = {"fallback.test"};
  request.challenge_order = {ChallengeType::kHttp01, ChallengeType::kTlsAlpn01};
  const ObtainedCertificate cert = ObtainOk(*client, request);
  if (HasFailure()) return;
  ExpectValidChain(cert, {"fallback.test"});
  const std::vector<ChallengeType> expected = {ChallengeType::kHttp01, ChallengeType::kTlsAlpn01};
  EXPECT_EQ(solver_->presented, expected);
  EXPECT_EQ(solver_->cleaned, expected);
  EXPECT_EQ(GetStats(*client).orders, 2u);  // the failed authorization made the first order invalid
}

TEST_F(PebbleTest, EveryChallengeFailingReportsTheCasReason) {
  StartPebble({"PEBBLE_WFE_NONCEREJECT=0"});
  auto client = MakeClient();
  ASSERT_TRUE(client);
  solver_->corrupt_http01 = true;
  ObtainRequest request;
  request.domains = {"broken.test"};
  request.challenge_order = {ChallengeType::kHttp01};
  auto result = client->Obtain(request, *solver_);
  ASSERT_TRUE(std::holds_alternative<AcmeError>(result));
  const AcmeError& error = std::get<AcmeError>(result);
  EXPECT_EQ(error.type, "urn:ietf:params:acme:error:unauthorized") << error.ToString();
  EXPECT_NE(error.detail.find("http-01 for broken.test"), std::string::npos) << error.detail;
}

}  // namespace
}  // namespace bastion::acme
