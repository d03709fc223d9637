// Unit tests of the ACME building blocks: encodings, JOSE, CA-reply parsers, and the X.509
// pieces (RFC 8737 challenge certificate, RFC 9773 CertID, CSR and issued-chain checks).
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "acme/acme_client.h"
#include "acme/base64url.h"
#include "acme/http_client.h"
#include "acme/jws.h"
#include "acme/messages.h"
#include "acme/x509_util.h"
#include "base/atomic_file.h"
#include "test_pki.h"

namespace bastion::acme {
namespace {

using namespace std::chrono_literals;
using testing::ParsePem;

TEST(Base64Url, RoundTripsAndRejectsNonCanonical) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");  // the URL-safe characters, no padding
  for (int n = 0; n < 40; ++n) {
    std::string bytes;
    for (int i = 0; i < n; ++i) bytes += static_cast<char>(i * 37 + n);
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(bytes)), bytes);
  }
  EXPECT_FALSE(Base64UrlDecode("Zg=="));  // padding
  EXPECT_FALSE(Base64UrlDecode("Z"));     // impossible length
  EXPECT_FALSE(Base64UrlDecode("Zh"));    // non-zero leftover bits
  EXPECT_FALSE(Base64UrlDecode("a+b/"));  // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("ab cd"));
}

TEST(Jwk, ThumbprintMatchesRfc7638Example) {
  // RFC 7638 section 3.1: the RSA key of RFC 7517 appendix A.1 and its thumbprint.
  const nlohmann::json jwk = {
      {"kty", "RSA"},
      {"n",
       "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknj"
       "hMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQ"
       "vRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJz"
       "KnqDKgw"},
      {"e", "AQAB"},
      {"alg", "RS256"},
      {"kid", "2011-04-29"}};
  auto thumbprint = JwkThumbprint(jwk);
  ASSERT_TRUE(thumbprint.ok()) << thumbprint.error().message();
  EXPECT_EQ(*thumbprint, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  EXPECT_FALSE(JwkThumbprint(nlohmann::json{{"kty", "oct"}}).ok());
  EXPECT_FALSE(JwkThumbprint(nlohmann::json{{"kty", "EC"}, {"crv", "P-256"}}).ok());
}

TEST(Jwk, EcKeyThumbprintIsOverTheCanonicalMembers) {
  auto key = AccountKey::Generate();
  ASSERT_TRUE(key.ok());
  const nlohmann::json jwk = key->Jwk();
  EXPECT_EQ(jwk.size(), 4u);
  EXPECT_EQ(Base64UrlDecode(jwk["x"].get<std::string>())->size(), 32u);
  EXPECT_EQ(Base64UrlDecode(jwk["y"].get<std::string>())->size(), 32u);
  const std::string canonical = R"({"crv":"P-256","kty":"EC","x":")" + jwk["x"].get<std::string>() + R"(","y":")" +
                                jwk["y"].get<std::string>() + R"("})";
  unsigned char digest[32];
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), digest);
  EXPECT_EQ(key->Thumbprint(), Base64UrlEncode(std::string(reinterpret_cast<char*>(digest), 32)));
  EXPECT_EQ(KeyAuthorization("tok", *key), "tok." + key->Thumbprint());
}

TEST(AccountKeyFile, CreatedWithMode0600AndReloaded) {
  const auto dir = std::filesystem::temp_directory_path() / ("acme_key_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "account.pem").string();
  auto first = AccountKey::LoadOrCreate(path);
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto second = AccountKey::LoadOrCreate(path);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->Thumbprint(), second->Thumbprint());
  ASSERT_TRUE(WriteFileAtomic(path, "garbage", 0600).ok());
  EXPECT_FALSE(AccountKey::LoadOrCreate(path).ok());
  std::filesystem::remove_all(dir);
}

TEST(Jws, FlattenedSignatureVerifiesWithOpenSsl) {
  auto key = AccountKey::Generate();
  ASSERT_TRUE(key.ok());
  for (const std::string kid : {"", "https://ca.test/acct/1"}) {
    auto jws_text = SignJws(*key, "https://ca.test/new-order", "nonce-1", kid, R"({"a":1})");
    ASSERT_TRUE(jws_text.ok());
    const auto jws = nlohmann::json::parse(*jws_text);
    const auto header = nlohmann::json::parse(*Base64UrlDecode(jws["protected"].get<std::string>()));
    EXPECT_EQ(header["alg"], "ES256");
    EXPECT_EQ(header["nonce"], "nonce-1");
    EXPECT_EQ(header["url"], "https://ca.test/new-order");
    if (kid.empty()) {
      EXPECT_EQ(header["jwk"], key->Jwk());
      EXPECT_FALSE(header.contains("kid"));
    } else {
      EXPECT_EQ(header["kid"], kid);
      EXPECT_FALSE(header.contains("jwk"));
    }
    EXPECT_EQ(*Base64UrlDecode(jws["payload"].get<std::string>()), R"({"a":1})");

    // r||s back to DER, verified with the public key.
    const std::string raw = *Base64UrlDecode(jws["signature"].get<std::string>());
    ASSERT_EQ(raw.size(), 64u);
    ECDSA_SIG* sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr),
                   BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr));
    unsigned char* der = nullptr;
    const int der_len = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);
    const std::string signed_text = jws["protected"].get<std::string>() + "." + jws["payload"].get<std::string>();
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ASSERT_EQ(EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key->pkey()), 1);
    EXPECT_EQ(EVP_DigestVerify(ctx, der, static_cast<size_t>(der_len),
                               reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size()),
              1);
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
  }
  // POST-as-GET: the payload is the empty string.
  auto get = SignJws(*key, "https://ca.test/order/1", "n", "kid", "");
  EXPECT_EQ(nlohmann::json::parse(*get)["payload"], "");
}

std::string DerSig(const std::string& r_hex, const std::string& s_hex) {
  BIGNUM* r = nullptr;
  BIGNUM* s = nullptr;
  BN_hex2bn(&r, r_hex.c_str());
  BN_hex2bn(&s, s_hex.c_str());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, r, s);
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

TEST(Jws, DerSignatureToRawPadsAndStripsSignBytes) {
  // Small r (left-padded) and an s with the high bit set (DER adds a 0x00 that must go).
  const std::string s_hex(64, 'F');
  auto raw = EcdsaDerToRaw(DerSig("01", s_hex), 32);
  ASSERT_TRUE(raw.ok()) << raw.error().message();
  ASSERT_EQ(raw->size(), 64u);
  EXPECT_EQ(raw->substr(0, 32), std::string(31, '\0') + "\x01");
  EXPECT_EQ(raw->substr(32), std::string(32, '\xff'));
  EXPECT_FALSE(EcdsaDerToRaw(DerSig("01", std::string(66, 'F')), 32).ok());  // 33-byte part
  EXPECT_FALSE(EcdsaDerToRaw("\x30\x03\x02\x01", 32).ok());
  EXPECT_FALSE(EcdsaDerToRaw("", 32).ok());
  EXPECT_FALSE(EcdsaDerToRaw(DerSig("01", "02") + "x", 32).ok());  // trailing bytes
}

TEST(Messages, ProblemDocumentsBecomeAcmeErrors) {
  const std::string body = R"({"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"Error creating new order",
    "status":400,"subproblems":[{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"not allowed",
    "identifier":{"type":"dns","value":"bad.example"}}]})";
  const AcmeError e = ParseProblem(400, body, 30s);
  EXPECT_EQ(e.type, "urn:ietf:params:acme:error:rejectedIdentifier");
  EXPECT_EQ(e.http_status, 400);
  EXPECT_NE(e.detail.find("Error creating new order"), std::string::npos);
  EXPECT_NE(e.detail.find("bad.example: not allowed"), std::string::npos);
  EXPECT_EQ(e.retry_after, std::optional<std::chrono::seconds>(30s));
  EXPECT_NE(e.ToString().find("rejectedIdentifier (HTTP 400)"), std::string::npos);
  EXPECT_NE(e.ToString().find("retry after 30s"), std::string::npos);

  // Not JSON: the status and a printable excerpt.
  const AcmeError html = ParseProblem(502, "<html>\x01gateway</html>", std::nullopt);
  EXPECT_EQ(html.type, "");
  EXPECT_EQ(html.http_status, 502);
  EXPECT_NE(html.detail.find("HTTP 502"), std::string::npos);
  EXPECT_EQ(html.detail.find('\x01'), std::string::npos);
  // Wrong member types are ignored, not thrown on.
  const AcmeError odd = ParseProblem(400, R"({"type":5,"detail":["x"],"subproblems":"no"})", std::nullopt);
  EXPECT_EQ(odd.type, "");
}

TEST(Messages, RetryAfterSecondsAndHttpDates) {
  const auto now = std::chrono::sys_days{std::chrono::year{1994} / 11 / 6} + 8h + 49min + 7s;
  EXPECT_EQ(ParseRetryAfter("120", now), std::optional(120s));
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), std::optional(0s));
  EXPECT_EQ(ParseRetryAfter("99999999999999", now), std::optional<std::chrono::seconds>(24h * 30));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), std::optional(30s));       // IMF-fixdate
  EXPECT_EQ(ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now), std::optional(30s));      // RFC 850
  EXPECT_EQ(ParseRetryAfter("Sun Nov  6 08:49:37 1994", now), std::optional(30s));            // asctime
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", now), std::optional(0s));        // past
  EXPECT_FALSE(ParseRetryAfter("", now));
  EXPECT_FALSE(ParseRetryAfter("-5", now));
  EXPECT_FALSE(ParseRetryAfter("soon", now));
  EXPECT_FALSE(ParseRetryAfter("Sun, 31 Feb 1994 08:49:37 GMT", now));
  EXPECT_FALSE(ParseRetryAfter("Sun, 06 Nov 1994 25:49:37 GMT", now));
}

TEST(Messages, Rfc3339Times) {
  using namespace std::chrono;
  const auto base = system_clock::time_point(sys_days{year{2025} / 1 / 2}) + 4h;
  EXPECT_EQ(ParseRfc3339("2025-01-02T04:00:00Z"), base);
  EXPECT_EQ(ParseRfc3339("2025-01-02T04:00:00.123456Z"), base);
  EXPECT_EQ(ParseRfc3339("2025-01-02T06:30:00+02:30"), base);
  EXPECT_EQ(ParseRfc3339("2025-01-02T00:00:00-04:00"), base);
  EXPECT_FALSE(ParseRfc3339("2025-01-02T04:00:00"));
  EXPECT_FALSE(ParseRfc3339("2025-13-02T04:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("2025-01-02T04:00:00Zjunk"));
}

TEST(Messages, DirectoryOrderAuthorizationAndRenewalInfo) {
  auto dir = ParseDirectory(R"({"newNonce":"https://ca/nonce","newAccount":"https://ca/acct","newOrder":"https://ca/order",
      "renewalInfo":"https://ca/ari","meta":{"termsOfService":"https://ca/tos","externalAccountRequired":true},
      "keyChange":"https://ca/kc","random":{"x":1}})");
  ASSERT_TRUE(dir.ok()) << dir.error().message();
  EXPECT_EQ(dir->renewal_info, "https://ca/ari");
  EXPECT_TRUE(dir->external_account_required);
  EXPECT_FALSE(ParseDirectory(R"({"newNonce":"https://ca/nonce"})").ok());
  EXPECT_FALSE(ParseDirectory("[]").ok());
  EXPECT_FALSE(ParseDirectory(R"({"newNonce":"https://ca/a b","newAccount":"x","newOrder":"y"})").ok());

  auto order = ParseOrder(R"({"status":"invalid","authorizations":["https://ca/authz/1",7],"finalize":"https://ca/fin",
      "error":{"type":"urn:ietf:params:acme:error:unauthorized","detail":"nope"}})");
  ASSERT_TRUE(order.ok());
  EXPECT_EQ(order->status, ObjectStatus::kInvalid);
  EXPECT_EQ(order->authorizations, std::vector<std::string>{"https://ca/authz/1"});
  ASSERT_TRUE(order->error);
  EXPECT_EQ(order->error->detail, "nope");
  EXPECT_FALSE(ParseOrder(R"({"status":"weird"})").ok());

  auto authz = ParseAuthorization(R"({"status":"pending","identifier":{"type":"dns","value":"app.test"},
      "challenges":[{"type":"http-01","url":"https://ca/chall/1","token":"tok","status":"invalid",
      "error":{"type":"urn:ietf:params:acme:error:connection","detail":"refused"}},{"type":"tls-alpn-01"}]})");
  ASSERT_TRUE(authz.ok());
  EXPECT_EQ(authz->identifier, "app.test");
  ASSERT_EQ(authz->challenges.size(), 1u);  // the one without a URL is unusable
  EXPECT_EQ(authz->challenges[0].error->type, "urn:ietf:params:acme:error:connection");

  auto info = ParseRenewalInfo(R"({"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00Z"},
      "explanationURL":"https://ca/why"})");
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->window_end - info->window_start, std::chrono::hours(24));
  EXPECT_EQ(info->explanation_url, "https://ca/why");
  EXPECT_FALSE(ParseRenewalInfo(R"({"suggestedWindow":{"start":"2025-01-03T04:00:00Z","end":"2025-01-02T04:00:00Z"}})").ok());
  EXPECT_FALSE(ParseRenewalInfo(R"({"suggestedWindow":{}})").ok());
  // Deep nesting and huge input are refused without crashing.
  EXPECT_FALSE(ParseOrder(std::string(100000, '[')).ok());
  EXPECT_FALSE(ParseOrder(std::string(kMaxJsonBytes + 1, ' ')).ok());
}

TEST(Messages, NoncesAndPrintable) {
  EXPECT_TRUE(IsValidNonce("abc-DEF_123"));
  EXPECT_FALSE(IsValidNonce(""));
  EXPECT_FALSE(IsValidNonce("a b"));
  EXPECT_FALSE(IsValidNonce("a=="));
  EXPECT_EQ(Printable("a\x01\x7f" "b\n", 100), "a??b ");
}

TEST(HttpClientPolicy, HttpsOnlyExceptLoopback) {
  EXPECT_TRUE(IsAllowedUrl("https://acme-v02.api.letsencrypt.org/directory"));
  EXPECT_TRUE(IsAllowedUrl("http://127.0.0.1:14000/dir"));
  EXPECT_TRUE(IsAllowedUrl("http://[::1]:80/dir"));
  EXPECT_FALSE(IsAllowedUrl("http://ca.example/dir"));
  EXPECT_FALSE(IsAllowedUrl("http://127.0.0.1.evil.example/dir"));
  EXPECT_FALSE(IsAllowedUrl("ftp://127.0.0.1/dir"));
  EXPECT_FALSE(IsAllowedUrl("file:///etc/passwd"));
  AcmeOptions options;
  options.directory_url = "http://ca.example/dir";
  auto bad = AcmeClient::Create(options);
  EXPECT_FALSE(bad.ok());
}

const X509_EXTENSION* FindExtension(X509* cert, const char* oid_text) {
  ASN1_OBJECT* oid = OBJ_txt2obj(oid_text, 1);
  const int index = X509_get_ext_by_OBJ(cert, oid, -1);
  ASN1_OBJECT_free(oid);
  return index < 0 ? nullptr : X509_get_ext(cert, index);
}

TEST(TlsAlpn01, CertificateHasCriticalAcmeIdentifierAndOneSan) {
  const std::string key_authorization = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.thumb";
  auto pair = MakeTlsAlpn01Certificate("app.test", key_authorization);
  ASSERT_TRUE(pair.ok()) << pair.error().message();
  auto cert = ParsePem(pair->chain_pem);
  ASSERT_TRUE(cert);
  const X509_EXTENSION* ext = FindExtension(cert.get(), "1.3.6.1.5.5.7.1.31");
  ASSERT_NE(ext, nullptr);
  EXPECT_EQ(X509_EXTENSION_get_critical(ext), 1);
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(const_cast<X509_EXTENSION*>(ext));
  unsigned char digest[32];
  SHA256(reinterpret_cast<const unsigned char*>(key_authorization.data()), key_authorization.size(), digest);
  const std::string expected = std::string("\x04\x20", 2) + std::string(reinterpret_cast<char*>(digest), 32);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                        static_cast<size_t>(ASN1_STRING_length(data))),
            expected);
  EXPECT_EQ(testing::SubjectAltNames(cert.get()), std::vector<std::string>{"app.test"});
  // The key belongs to the certificate, and the certificate is self-signed.
  BIO* bio = BIO_new_mem_buf(pair->key_pem.data(), static_cast<int>(pair->key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(X509_check_private_key(cert.get(), key), 1);
  EXPECT_EQ(X509_verify(cert.get(), key), 1);
  EVP_PKEY_free(key);
  // An IP identifier (RFC 8738) gets an iPAddress SAN.
  auto ip = MakeTlsAlpn01Certificate("127.0.0.1", key_authorization);
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(testing::SubjectAltNames(ParsePem(ip->chain_pem).get()), std::vector<std::string>{"127.0.0.1"});
}

TEST(Ari, CertIdMatchesRfc9773Example) {
  // RFC 9773 section 4.1: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4
  // and serial 0x87654321 give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE" (the serial's DER
  // content octets keep the 0x00 its high bit needs).
  const unsigned char key_id[] = {0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
                                  0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
  testing::PkeyPtr key(EVP_EC_gen("P-256"));
  testing::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), 0x87654321u);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  AUTHORITY_KEYID* akid = AUTHORITY_KEYID_new();
  akid->keyid = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(akid->keyid, key_id, sizeof(key_id));
  X509_add1_ext_i2d(cert.get(), NID_authority_key_identifier, akid, 0, 0);
  AUTHORITY_KEYID_free(akid);
  X509_sign(cert.get(), key.get(), EVP_sha256());
  auto id = AriCertId(testing::ToPem(cert.get()));
  ASSERT_TRUE(id.ok()) << id.error().message();
  EXPECT_EQ(*id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");

  // No AKI: a clear error.
  testing::X509Ptr bare(X509_new());
  X509_gmtime_adj(X509_getm_notBefore(bare.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(bare.get()), 3600);
  X509_set_pubkey(bare.get(), key.get());
  X509_sign(bare.get(), key.get(), EVP_sha256());
  auto none = AriCertId(testing::ToPem(bare.get()));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("Authority Key Identifier"), std::string::npos) << none.error().message();
  EXPECT_FALSE(AriCertId("not a certificate").ok());
}

TEST(Csr, HasTheNamesAndAFreshKey) {
  auto csr = MakeCsr({"app.test", "www.app.test", "127.0.0.1"});
  ASSERT_TRUE(csr.ok()) << csr.error().message();
  const auto* p = reinterpret_cast<const unsigned char*>(csr->csr_der.data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(csr->csr_der.size()));
  ASSERT_NE(req, nullptr);
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req);
  EXPECT_EQ(X509_REQ_verify(req, pub), 1);
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  ASSERT_NE(exts, nullptr);
  auto* gens = static_cast<GENERAL_NAMES*>(X509V3_get_d2i(exts, NID_subject_alt_name, nullptr, nullptr));
  ASSERT_NE(gens, nullptr);
  EXPECT_EQ(sk_GENERAL_NAME_num(gens), 3);
  EXPECT_EQ(sk_GENERAL_NAME_value(gens, 2)->type, GEN_IPADD);
  GENERAL_NAMES_free(gens);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);

  // A chain for that key passes the check; one for another key or without a name does not.
  auto ca = testing::MakeCa("Test CA");
  auto leaf = testing::IssueLeaf(ca, {"app.test", "www.app.test", "127.0.0.1"}, pub, nullptr);
  const std::string chain = testing::ToPem(leaf.get()) + ca.cert_pem;
  auto checked = CheckIssuedChain(chain, csr->key_pem, {"app.test", "www.app.test", "127.0.0.1"});
  ASSERT_TRUE(checked.ok()) << checked.error().message();
  EXPECT_EQ(testing::ParseChain(*checked).size(), 2u);
  EXPECT_FALSE(CheckIssuedChain(chain, csr->key_pem, {"other.test"}).ok());
  auto other = MakeCsr({"app.test"});
  EXPECT_FALSE(CheckIssuedChain(chain, other->key_pem, {"app.test"}).ok());
  EXPECT_FALSE(CheckIssuedChain("<html>", csr->key_pem, {"app.test"}).ok());
  X509_REQ_free(req);
}

TEST(Identifiers, AreValidatedAndNormalized) {
  EXPECT_EQ(*NormalizeIdentifier("App.Test"), "app.test");
  EXPECT_EQ(*NormalizeIdentifier("*.app.test"), "*.app.test");
  EXPECT_EQ(*NormalizeIdentifier("::1"), "::1");
  EXPECT_FALSE(NormalizeIdentifier("").ok());
  EXPECT_FALSE(NormalizeIdentifier("a..b").ok());
  EXPECT_FALSE(NormalizeIdentifier("-a.b").ok());
  EXPECT_FALSE(NormalizeIdentifier("a b.test").ok());
  EXPECT_FALSE(NormalizeIdentifier("a,DNS:evil.test").ok());
  EXPECT_FALSE(NormalizeIdentifier(std::string(64, 'a') + ".test").ok());
}

}  // namespace
}  // namespace bastion::acme
