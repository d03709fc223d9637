#include "acme/x509_util.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "acme/acme_client.h"
#include "acme/base64url.h"

namespace bastion::acme {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;

std::string BioString(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return BioString(bio.get());
}

std::string CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return BioString(bio.get());
}

// One GENERAL_NAME for a DNS name or an IP literal.
GENERAL_NAME* MakeGeneralName(const std::string& name) {
  GENERAL_NAME* gn = GENERAL_NAME_new();
  unsigned char ip[16];
  if (inet_pton(AF_INET, name.c_str(), ip) == 1 || inet_pton(AF_INET6, name.c_str(), ip) == 1) {
    const int len = name.find(':') == std::string::npos ? 4 : 16;
    ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(os, ip, len);
    GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
  } else {
    ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
    ASN1_STRING_set(ia5, name.data(), static_cast<int>(name.size()));
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
  }
  return gn;
}

NamesPtr MakeNames(const std::vector<std::string>& names) {
  NamesPtr gens(GENERAL_NAMES_new());
  for (const std::string& name : names) sk_GENERAL_NAME_push(gens.get(), MakeGeneralName(name));
  return gens;
}

// The leaf's SANs as text (DNS names lower-cased, IPs canonical).
std::vector<std::string> SanNames(X509* cert) {
  std::vector<std::string> out;
  auto* gens = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (gens == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(gens); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(gens, i);
    if (gn->type == GEN_DNS) {
      std::string s(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                    static_cast<size_t>(ASN1_STRING_length(gn->d.dNSName)));
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.push_back(s);
    } else if (gn->type == GEN_IPADD) {
      char text[INET6_ADDRSTRLEN] = {0};
      const int len = ASN1_STRING_length(gn->d.iPAddress);
      const unsigned char* data = ASN1_STRING_get0_data(gn->d.iPAddress);
      if (len == 4) inet_ntop(AF_INET, data, text, sizeof(text));
      if (len == 16) inet_ntop(AF_INET6, data, text, sizeof(text));
      out.emplace_back(text);
    }
  }
  GENERAL_NAMES_free(gens);
  return out;
}

std::string CanonicalIp(const std::string& name) {
  unsigned char ip[16];
  char text[INET6_ADDRSTRLEN] = {0};
  if (inet_pton(AF_INET, name.c_str(), ip) == 1) inet_ntop(AF_INET, ip, text, sizeof(text));
  else if (inet_pton(AF_INET6, name.c_str(), ip) == 1) inet_ntop(AF_INET6, ip, text, sizeof(text));
  else return name;
  return text;
}

std::vector<X509Ptr> ReadCerts(std::string_view pem) {
  std::vector<X509Ptr> certs;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(x);
    if (certs.size() > 10) break;  // no real chain is this long
  }
  return certs;
}

}  // namespace

bool IsIpAddress(const std::string& name) {
  unsigned char ip[16];
  return inet_pton(AF_INET, name.c_str(), ip) == 1 || inet_pton(AF_INET6, name.c_str(), ip) == 1;
}

Result<std::string> NormalizeIdentifier(const std::string& name) {
  if (IsIpAddress(name)) return CanonicalIp(name);
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view rest = lower;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  if (rest.empty() || rest.size() > 253 || rest.front() == '.' || rest.back() == '.') {
    return Error("'" + name + "' is not a valid domain name");
  }
  size_t label = 0;
  for (size_t i = 0; i < rest.size(); ++i) {
    const char c = rest[i];
    if (c == '.') {
      if (label == 0 || rest[i - 1] == '-') return Error("'" + name + "' is not a valid domain name");
      label = 0;
      continue;
    }
    if (!(std::isalnum(static_cast<unsigned char>(c)) || (c == '-' && label > 0)) || ++label > 63) {
      return Error("'" + name + "' is not a valid domain name");
    }
  }
  return lower;
}

Result<CsrAndKey> MakeCsr(const std::vector<std::string>& names) {
  if (names.empty()) return Error("no names for the certificate");
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Error("generating the certificate key failed");
  ReqPtr req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  // CN is legacy (clients read the SANs) but some tools show it; it only fits 64 characters.
  if (names[0].size() <= 64) {
    X509_NAME* subject = X509_REQ_get_subject_name(req.get());
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(names[0].c_str()),
                               -1, -1, 0);
  }
  X509_REQ_set_pubkey(req.get(), key.get());
  NamesPtr gens = MakeNames(names);
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  X509_EXTENSION* san = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens.get());
  sk_X509_EXTENSION_push(exts, san);
  const bool ok = X509_REQ_add_extensions(req.get(), exts) == 1 && X509_REQ_sign(req.get(), key.get(), EVP_sha256()) > 0;
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  if (!ok) return Error("building the CSR failed");
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req.get(), &der);
  if (len <= 0) return Error("encoding the CSR failed");
  CsrAndKey out{std::string(reinterpret_cast<char*>(der), static_cast<size_t>(len)), KeyToPem(key.get())};
  OPENSSL_free(der);
  return out;
}

Result<std::string> CheckIssuedChain(std::string_view chain_pem, std::string_view key_pem,
                                     const std::vector<std::string>& names) {
  std::vector<X509Ptr> certs = ReadCerts(chain_pem);
  if (certs.empty()) return Error("the CA's certificate download holds no PEM certificate");
  BioPtr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key || X509_check_private_key(certs[0].get(), key.get()) != 1) {
    return Error("the CA's certificate is not for the key we sent in the CSR");
  }
  const std::vector<std::string> sans = SanNames(certs[0].get());
  for (const std::string& name : names) {
    const std::string want = IsIpAddress(name) ? CanonicalIp(name) : name;
    if (std::find(sans.begin(), sans.end(), want) == sans.end()) {
      return Error("the CA's certificate does not name " + name);
    }
  }
  std::string out;
  for (const X509Ptr& cert : certs) out += CertToPem(cert.get());
  return out;
}

Result<PemPair> MakeTlsAlpn01Certificate(const std::string& domain, const std::string& key_authorization) {
  if (domain.empty()) return Error("TLS-ALPN-01: empty domain");
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Error("TLS-ALPN-01: key generation failed");
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) return Error("TLS-ALPN-01: no random bytes");
  serial_bytes[0] &= 0x7f;  // a positive serial
  BIGNUM* serial_bn = BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr);
  BN_to_ASN1_INTEGER(serial_bn, X509_get_serialNumber(cert.get()));
  BN_free(serial_bn);
  // Short validity around now: the certificate lives only for one validation.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("ACME TLS-ALPN-01"), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());

  // Exactly one SAN: the identifier being validated (RFC 8737 section 3; iPAddress for RFC 8738).
  NamesPtr gens = MakeNames({domain});
  X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, gens.get(), 0, 0);

  // id-pe-acmeIdentifier, critical: extnValue = DER OCTET STRING (04 20 ...) of
  // SHA-256(keyAuthorization). OpenSSL 3.0 has no NID for it, so the OID is built from text
  // (no_name = 1: no global OBJ_create, which would race with other threads).
  unsigned char digest[32];
  EVP_Digest(key_authorization.data(), key_authorization.size(), digest, nullptr, EVP_sha256(), nullptr);
  unsigned char inner[34] = {0x04, 0x20};
  std::copy(digest, digest + 32, inner + 2);
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  ASN1_OCTET_STRING* value = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(value, inner, sizeof(inner));
  X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, oid, 1, value);
  const bool added = ext != nullptr && X509_add_ext(cert.get(), ext, -1) == 1;
  X509_EXTENSION_free(ext);
  ASN1_OCTET_STRING_free(value);
  ASN1_OBJECT_free(oid);
  if (!added) return Error("TLS-ALPN-01: adding the acmeIdentifier extension failed");

  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return Error("TLS-ALPN-01: signing failed");
  return PemPair{CertToPem(cert.get()), KeyToPem(key.get())};
}

Result<std::string> AriCertId(const std::string& cert_pem) {
  std::vector<X509Ptr> certs = ReadCerts(cert_pem);
  if (certs.empty()) return Error("ARI CertID: no PEM certificate");
  X509* cert = certs[0].get();
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(cert);
  if (aki == nullptr || ASN1_STRING_length(aki) == 0) {
    return Error("ARI CertID: the certificate has no Authority Key Identifier keyIdentifier");
  }
  const std::string key_id(reinterpret_cast<const char*>(ASN1_STRING_get0_data(aki)),
                           static_cast<size_t>(ASN1_STRING_length(aki)));
  // The serial's DER INTEGER content octets (with the 0x00 a high bit needs), without the tag
  // and length: RFC 9773 section 4.1.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  unsigned char* der = nullptr;
  const int len = i2d_ASN1_INTEGER(serial, &der);
  if (len < 3) {
    OPENSSL_free(der);
    return Error("ARI CertID: bad serial number");
  }
  const unsigned char* p = der;
  long content_len = 0;
  int tag = 0, cls = 0;
  const int ret = ASN1_get_object(&p, &content_len, &tag, &cls, len);
  std::string serial_bytes;
  if (!(ret & 0x80) && tag == V_ASN1_INTEGER && content_len > 0 && p + content_len == der + len) {
    serial_bytes.assign(reinterpret_cast<const char*>(p), static_cast<size_t>(content_len));
  }
  OPENSSL_free(der);
  if (serial_bytes.empty()) return Error("ARI CertID: bad serial number");
  return Base64UrlEncode(key_id) + "." + Base64UrlEncode(serial_bytes);
}

}  // namespace bastion::acme
