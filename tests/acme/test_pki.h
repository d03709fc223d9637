// Certificates for the ACME tests, made with the OpenSSL API (no `openssl` command): a CA, leaf
// certificates it signs (Pebble's HTTPS listener, the mock CA's issued certificates), and small
// accessors for checking what the client produced.
#pragma once

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

namespace bastion::acme::testing {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

inline std::string ToPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

inline std::string KeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

inline X509Ptr ParsePem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return X509Ptr(x);
}

inline std::vector<X509Ptr> ParseChain(const std::string& pem) {
  std::vector<X509Ptr> out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) out.emplace_back(x);
  BIO_free(bio);
  return out;
}

inline void AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

struct TestCa {
  PkeyPtr key;
  X509Ptr cert;
  std::string cert_pem;
};

inline TestCa MakeCa(const std::string& common_name) {
  TestCa ca;
  ca.key.reset(EVP_EC_gen("P-256"));
  ca.cert.reset(X509_new());
  X509* c = ca.cert.get();
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
  X509_gmtime_adj(X509_getm_notBefore(c), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c), 24 * 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(c, X509_get_subject_name(c));
  X509_set_pubkey(c, ca.key.get());
  AddExt(c, c, NID_basic_constraints, "critical,CA:TRUE");
  AddExt(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExt(c, c, NID_subject_key_identifier, "hash");
  X509_sign(c, ca.key.get(), EVP_sha256());
  ca.cert_pem = ToPem(c);
  return ca;
}

// A leaf for `names` (DNS names, or IP literals) signed by `ca`, with the given public key (a
// fresh one when null). Returns the certificate; *key_pem gets the fresh key when one was made.
inline X509Ptr IssueLeaf(const TestCa& ca, const std::vector<std::string>& names, EVP_PKEY* public_key,
                         std::string* key_pem, long serial = 2) {
  PkeyPtr fresh;
  if (public_key == nullptr) {
    fresh.reset(EVP_EC_gen("P-256"));
    public_key = fresh.get();
    if (key_pem != nullptr) *key_pem = KeyPem(fresh.get());
  }
  X509Ptr leaf(X509_new());
  X509* c = leaf.get();
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
  X509_gmtime_adj(X509_getm_notBefore(c), -60);
  X509_gmtime_adj(X509_getm_notAfter(c), 7 * 24 * 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(names[0].c_str()), -1, -1, 0);
  X509_set_issuer_name(c, X509_get_subject_name(ca.cert.get()));
  X509_set_pubkey(c, public_key);
  std::string san;
  for (const std::string& n : names) {
    unsigned char buf[16];
    const bool ip = inet_pton(AF_INET, n.c_str(), buf) == 1 || inet_pton(AF_INET6, n.c_str(), buf) == 1;
    san += (san.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + n;
  }
  AddExt(c, ca.cert.get(), NID_subject_alt_name, san.c_str());
  AddExt(c, ca.cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  AddExt(c, ca.cert.get(), NID_ext_key_usage, "serverAuth");
  AddExt(c, ca.cert.get(), NID_authority_key_identifier, "keyid:always");
  X509_sign(c, ca.key.get(), EVP_sha256());
  return leaf;
}

// DNS and IP SANs of a certificate, as text.
inline std::vector<std::string> SubjectAltNames(X509* cert) {
  std::vector<std::string> out;
  auto* gens = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (gens == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(gens); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(gens, i);
    if (gn->type == GEN_DNS) {
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                       static_cast<size_t>(ASN1_STRING_length(gn->d.dNSName)));
    } else if (gn->type == GEN_IPADD) {
      char text[64] = {0};
      inet_ntop(ASN1_STRING_length(gn->d.iPAddress) == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(gn->d.iPAddress),
                text, sizeof(text));
      out.emplace_back(text);
    }
  }
  GENERAL_NAMES_free(gens);
  return out;
}

}  // namespace bastion::acme::testing
