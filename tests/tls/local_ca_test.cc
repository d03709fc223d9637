// The local CA: files and modes, reuse on restart, renewal rules, and that the leaf verifies
// against the CA with the right names — in a real handshake too.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "base/atomic_file.h"
#include "http/router.h"
#include "http/server.h"
#include "tls/local_ca.h"
#include "tls/server_context.h"
#include "tls_test_client.h"

namespace bastion::tls {
namespace {

class LocalCaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bastion-local-ca-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static mode_t Mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 0777;
  }

  LocalCertificate Ensure(const std::vector<std::string>& names, LocalCaOptions options = {}) {
    auto r = EnsureLocalCertificate(dir_, names, options);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? *r : LocalCertificate{};
  }

  std::string dir_;
};

// Verifies `leaf` against the CA file with OpenSSL's chain verification and name checks.
bool Verifies(const CertifiedKey& leaf, const std::string& ca_file, const std::string& name) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_load_file(store, ca_file.c_str());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf.leaf(), nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  if (name.find(':') != std::string::npos || std::isdigit(static_cast<unsigned char>(name[0]))) {
    X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
  }
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  const bool ok = X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok;
}

TEST_F(LocalCaTest, CreatesTheCaOnceWithPrivateKeysAndReusesEverything) {
  const std::vector<std::string> names = LocalCertificateNames("127.0.0.1");
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 3),
            (std::vector<std::string>{"localhost", "127.0.0.1", "::1"}));
  const LocalCertificate first = Ensure(names);
  ASSERT_NE(first.leaf, nullptr);
  EXPECT_TRUE(first.created_ca);
  EXPECT_TRUE(first.issued_leaf);
  EXPECT_EQ(first.ca_cert_path, dir_ + "/tls/local-ca/ca.crt");
  EXPECT_NE(first.ca_name.find("bastion local CA"), std::string::npos) << first.ca_name;
  EXPECT_EQ(Mode(dir_ + "/tls/local-ca/ca.key"), 0600u);
  EXPECT_EQ(Mode(first.leaf_key_path), 0600u);
  EXPECT_EQ(Mode(dir_ + "/tls/local-ca"), 0700u);
  EXPECT_EQ(Mode(first.ca_cert_path), 0644u);
  for (const char* name : {"localhost", "127.0.0.1", "::1"}) {
    EXPECT_TRUE(Verifies(*first.leaf, first.ca_cert_path, name)) << name;
  }
  EXPECT_FALSE(Verifies(*first.leaf, first.ca_cert_path, "example.com"));
  EXPECT_LE(first.leaf->lifetime(), std::chrono::hours(24 * 366));

  // A restart: same CA, same leaf.
  const std::string ca_pem = *ReadFile(first.ca_cert_path);
  const LocalCertificate second = Ensure(names);
  EXPECT_FALSE(second.created_ca);
  EXPECT_FALSE(second.issued_leaf);
  EXPECT_EQ(second.leaf->serial_hex(), first.leaf->serial_hex());
  EXPECT_EQ(*ReadFile(first.ca_cert_path), ca_pem);
}

TEST_F(LocalCaTest, ReissuesTheLeafWhenNamesChangeOrItAges) {
  const LocalCertificate first = Ensure({"localhost"});
  const LocalCertificate more = Ensure({"localhost", "10.1.2.3"});
  EXPECT_FALSE(more.created_ca);
  EXPECT_TRUE(more.issued_leaf);
  EXPECT_TRUE(Verifies(*more.leaf, more.ca_cert_path, "10.1.2.3"));

  LocalCaOptions later;
  later.now = std::chrono::system_clock::now() + std::chrono::hours(24 * 200);  // less than 2/3 left? no: 165 of 365
  const LocalCertificate aged = Ensure({"localhost", "10.1.2.3"}, later);
  EXPECT_FALSE(aged.issued_leaf);  // 165 days of 365 left: more than a third
  later.now = std::chrono::system_clock::now() + std::chrono::hours(24 * 250);  // 115 days left: under a third
  const LocalCertificate renewed = Ensure({"localhost", "10.1.2.3"}, later);
  EXPECT_TRUE(renewed.issued_leaf);
  EXPECT_NE(renewed.leaf->serial_hex(), more.leaf->serial_hex());
}

TEST_F(LocalCaTest, ABrokenCaIsAnErrorNotASilentReplacement) {
  Ensure({"localhost"});
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/tls/local-ca/ca.key", "garbage", 0600).ok());
  auto r = EnsureLocalCertificate(dir_, {"localhost"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("local CA"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("no private key"), std::string::npos) << r.error().message();
}

TEST_F(LocalCaTest, ALeafFromAnotherCaIsReplaced) {
  const LocalCertificate first = Ensure({"localhost"});
  // A new CA (the directory was removed and recreated): the old leaf no longer chains to it.
  std::filesystem::remove_all(dir_ + "/tls/local-ca");
  const LocalCertificate second = Ensure({"localhost"});
  EXPECT_TRUE(second.created_ca);
  EXPECT_TRUE(second.issued_leaf);
  EXPECT_TRUE(Verifies(*second.leaf, second.ca_cert_path, "localhost"));
}

TEST_F(LocalCaTest, HandshakeVerifiesAgainstTheCa) {
  const LocalCertificate local = Ensure(LocalCertificateNames("127.0.0.1"));
  auto store = std::make_shared<CertificateStore>();
  store->SetDefault(local.leaf);
  auto context = ServerContext::Create(store);
  ASSERT_TRUE(context.ok());
  auto router = std::make_shared<http::Router>();
  router->Add("GET", "/", [](const http::Request&, std::shared_ptr<http::ResponseWriter> w) { w->Send(200, "text/plain", "ok"); });
  http::ServerOptions o;
  o.port = 0;
  o.tls = *context;
  auto server = http::Server::Create(o, router);
  ASSERT_TRUE(server.ok());
  std::string error;
  auto c = testing::Client::Connect((*server)->port(), {.sni = "localhost", .ca_file = local.ca_cert_path,
                                                        .verify_host = "localhost"}, &error);
  ASSERT_NE(c, nullptr) << error;
  EXPECT_EQ(SSL_get_verify_result(c->ssl()), X509_V_OK);
  EXPECT_NE(c->Get("/").find("ok"), std::string::npos);
  // The wrong name fails verification.
  EXPECT_EQ(testing::Client::Connect((*server)->port(), {.sni = "localhost", .ca_file = local.ca_cert_path,
                                                         .verify_host = "evil.example"}, &error),
            nullptr);
  (*server)->Shutdown(std::chrono::milliseconds(200));
}

}  // namespace
}  // namespace bastion::tls
