// CertifiedKey PEM parsing (good pairs, and clear errors for garbage) and the store's SNI lookup.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "tls/certificate_store.h"
#include "tls/x509_issue.h"

namespace bastion::tls {
namespace {

IssuedPem Issue(std::vector<std::string> names) {
  CertificateSpec spec;
  spec.common_name = names.front();
  spec.names = std::move(names);
  spec.not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
  spec.not_after = std::chrono::system_clock::now() + std::chrono::hours(24);
  auto pem = IssueCertificate(spec, nullptr);
  EXPECT_TRUE(pem.ok()) << pem.error().message();
  return *pem;
}

std::shared_ptr<const CertifiedKey> Make(std::vector<std::string> names) {
  const IssuedPem pem = Issue(std::move(names));
  auto ck = CertifiedKey::FromPem(pem.cert_pem, pem.key_pem);
  EXPECT_TRUE(ck.ok()) << ck.error().message();
  return *ck;
}

std::string ErrorOf(std::string_view chain, std::string_view key) {
  auto r = CertifiedKey::FromPem(chain, key);
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.error().message();
}

TEST(CertifiedKey, ParsesNamesDatesSerialIssuer) {
  const auto ck = Make({"example.test", "*.wild.test", "127.0.0.1", "::1"});
  EXPECT_EQ(ck->names(), (std::vector<std::string>{"example.test", "*.wild.test", "127.0.0.1", "::1"}));
  EXPECT_LT(ck->not_before(), std::chrono::system_clock::now());
  EXPECT_GT(ck->not_after(), std::chrono::system_clock::now());
  EXPECT_NEAR(static_cast<double>(ck->lifetime().count()), 25 * 3600.0, 2.0);
  EXPECT_EQ(ck->serial_hex().size(), 32u);
  EXPECT_NE(ck->issuer().find("CN = example.test"), std::string::npos) << ck->issuer();
  EXPECT_NE(ck->leaf(), nullptr);
  EXPECT_NE(ck->key(), nullptr);
  EXPECT_TRUE(ck->intermediates().empty());
}

TEST(CertifiedKey, ChainWithIntermediate) {
  const IssuedPem leaf = Issue({"a.test"});
  const IssuedPem other = Issue({"b.test"});
  auto ck = CertifiedKey::FromPem(leaf.cert_pem + other.cert_pem, leaf.key_pem);
  ASSERT_TRUE(ck.ok()) << ck.error().message();
  EXPECT_EQ((*ck)->intermediates().size(), 1u);
}

TEST(CertifiedKey, GarbageIsAClearError) {
  const IssuedPem a = Issue({"a.test"});
  const IssuedPem b = Issue({"b.test"});
  EXPECT_NE(ErrorOf("", a.key_pem).find("no certificate found"), std::string::npos);
  EXPECT_NE(ErrorOf("hello\x01\xff world", a.key_pem).find("no certificate found"), std::string::npos);
  EXPECT_NE(ErrorOf(a.key_pem, a.key_pem).find("no certificate found"), std::string::npos);
  EXPECT_NE(ErrorOf(a.cert_pem, "").find("no private key found"), std::string::npos);
  EXPECT_NE(ErrorOf(a.cert_pem, "garbage").find("no private key found"), std::string::npos);
  EXPECT_NE(ErrorOf(a.cert_pem, a.cert_pem).find("no private key found"), std::string::npos);
  EXPECT_NE(ErrorOf(a.cert_pem, b.key_pem).find("does not match"), std::string::npos);
  // A damaged base64 body.
  std::string broken = a.cert_pem;
  broken[broken.size() / 2] = '*';
  EXPECT_FALSE(CertifiedKey::FromPem(broken, a.key_pem).ok());
  // A good leaf followed by a broken second block.
  std::string tail = b.cert_pem;
  tail[tail.size() / 2] = '*';
  EXPECT_NE(ErrorOf(a.cert_pem + tail, a.key_pem).find("certificate 2 of the PEM chain is malformed"), std::string::npos);
  EXPECT_NE(ErrorOf(a.cert_pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
                .find("encrypted"),
            std::string::npos);
  EXPECT_NE(ErrorOf(std::string(2 << 20, 'x'), a.key_pem).find("larger than 1 MiB"), std::string::npos);
}

TEST(CertifiedKey, WeakKeysAreRefused) {
  // An RSA-1024 pair made here: the handshake policy (security level 2) could never use it.
  EVP_PKEY* key = EVP_RSA_gen(1024);
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  X509_set_version(cert, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_sign(cert, key, EVP_sha256());
  BIO* cb = BIO_new(BIO_s_mem());
  BIO* kb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cb, cert);
  PEM_write_bio_PrivateKey(kb, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* c = nullptr;
  char* k = nullptr;
  const long cn = BIO_get_mem_data(cb, &c);
  const long kn = BIO_get_mem_data(kb, &k);
  const std::string error = ErrorOf(std::string_view(c, static_cast<size_t>(cn)), std::string_view(k, static_cast<size_t>(kn)));
  EXPECT_NE(error.find("too weak"), std::string::npos) << error;
  BIO_free(cb);
  BIO_free(kb);
  X509_free(cert);
  EVP_PKEY_free(key);
}

TEST(CertificateStore, ExactThenWildcardThenDefault) {
  CertificateStore store;
  EXPECT_EQ(store.Select("a.test"), nullptr);
  const auto exact = Make({"a.test"});
  const auto wild = Make({"*.b.test"});
  const auto fallback = Make({"default.test"});
  store.Put(exact);
  store.Put(wild);
  EXPECT_EQ(store.Select("a.test"), exact);
  EXPECT_EQ(store.Select("A.TEST."), exact);
  EXPECT_EQ(store.Select("x.b.test"), wild);
  EXPECT_EQ(store.Select("y.x.b.test"), nullptr);  // one label only
  EXPECT_EQ(store.Select("b.test"), nullptr);
  store.SetDefault(fallback);
  EXPECT_EQ(store.Select("y.x.b.test"), fallback);
  EXPECT_EQ(store.Select(""), fallback);
  const auto replacement = Make({"a.test"});
  store.Put(replacement);
  EXPECT_EQ(store.Select("a.test"), replacement);
}

TEST(CertificateStore, AlpnChallengesAreSeparate) {
  CertificateStore store;
  const auto normal = Make({"a.test"});
  const auto challenge = Make({"a.test"});
  store.Put(normal);
  store.PutAlpnChallenge("a.test", challenge);
  EXPECT_EQ(store.Select("a.test"), normal);
  EXPECT_EQ(store.SelectAlpnChallenge("A.test"), challenge);
  EXPECT_EQ(store.SelectAlpnChallenge("b.test"), nullptr);
  store.RemoveAlpnChallenge("a.test");
  EXPECT_EQ(store.SelectAlpnChallenge("a.test"), nullptr);
}

TEST(X509Issue, ValidatesNames) {
  EXPECT_TRUE(IsValidDnsName("a-b.example.com"));
  EXPECT_FALSE(IsValidDnsName("-a.example.com"));
  EXPECT_FALSE(IsValidDnsName("a..b"));
  EXPECT_FALSE(IsValidDnsName("A.example.com"));
  EXPECT_FALSE(IsValidDnsName("*.example.com"));
  EXPECT_TRUE(IsValidDnsName("*.example.com", true));
  EXPECT_TRUE(IsIpLiteral("10.1.2.3"));
  EXPECT_TRUE(IsIpLiteral("fe80::1"));
  EXPECT_FALSE(IsIpLiteral("10.1.2"));
  CertificateSpec spec;
  spec.names = {"bad name"};
  spec.not_before = std::chrono::system_clock::now();
  spec.not_after = spec.not_before + std::chrono::hours(1);
  EXPECT_FALSE(IssueCertificate(spec, nullptr).ok());
}

}  // namespace
}  // namespace bastion::tls
