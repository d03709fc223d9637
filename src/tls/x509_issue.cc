// Certificate issuing with the OpenSSL C API (see x509_issue.h).
#include "tls/x509_issue.h"

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cctype>

#include "tls/openssl_util.h"

namespace bastion::tls {
namespace {

using namespace internal;

Result<PkeyPtr> NewP256Key() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Error("cannot generate an ECDSA P-256 key" + OpenSslDetail());
  return key;
}

// 127 random bits: positive, unique in practice, as CA/Browser Forum rules ask (>= 64 bits).
bool SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01;  // never a short (leading-zero) serial
  BnPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  return bn && BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) != nullptr;
}

bool AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

bool AddSubjectAltNames(X509* cert, const std::vector<std::string>& names) {
  GENERAL_NAMES* gens = sk_GENERAL_NAME_new_null();
  if (gens == nullptr) return false;
  bool ok = true;
  for (const std::string& name : names) {
    GENERAL_NAME* gn = nullptr;
    if (IsIpLiteral(name)) {
      ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str());
      gn = ip ? GENERAL_NAME_new() : nullptr;
      if (gn) GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
      else ASN1_OCTET_STRING_free(ip);
    } else {
      ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
      if (dns && ASN1_STRING_set(dns, name.data(), static_cast<int>(name.size())) == 1) gn = GENERAL_NAME_new();
      if (gn) GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
      else ASN1_IA5STRING_free(dns);
    }
    if (gn == nullptr || sk_GENERAL_NAME_push(gens, gn) == 0) {
      GENERAL_NAME_free(gn);
      ok = false;
      break;
    }
  }
  ok = ok && X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0, X509V3_ADD_REPLACE) == 1;
  GENERAL_NAMES_free(gens);
  return ok;
}

std::string PemOf(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return "";
  return BioText(bio.get());
}

std::string PemOf(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) return "";
  return BioText(bio.get());
}

}  // namespace

bool IsIpLiteral(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
  const std::string s(text);
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool IsValidDnsName(std::string_view name, bool allow_wildcard) {
  if (allow_wildcard && name.substr(0, 2) == "*.") name.remove_prefix(2);
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!ok) return false;
    }
    start = end + 1;
  }
  return true;
}

Result<IssuedPem> IssueCertificate(const CertificateSpec& spec, const CertifiedKey* issuer) {
  ERR_clear_error();
  for (const std::string& name : spec.names) {
    if (!IsIpLiteral(name) && !IsValidDnsName(name, /*allow_wildcard=*/true)) {
      return Error("cannot put '" + name + "' in a certificate: not a lower-case DNS name or an IP address");
    }
  }
  if (spec.not_after <= spec.not_before) return Error("certificate validity: not-after must follow not-before");
  BASTION_ASSIGN_OR_RETURN(PkeyPtr key, NewP256Key());
  X509Ptr cert(X509_new());
  const auto fail = [](const std::string& what) { return Error("cannot issue a certificate: " + what + OpenSslDetail()); };
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) return fail("X509_new");
  if (!SetRandomSerial(cert.get())) return fail("no random serial");
  const auto to_time_t = [](std::chrono::system_clock::time_point t) { return std::chrono::system_clock::to_time_t(t); };
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), to_time_t(spec.not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), to_time_t(spec.not_after)) == nullptr) {
    return fail("validity dates");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const auto add_entry = [subject](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(subject, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.data()),
                                      static_cast<int>(value.size()), -1, 0) == 1;
  };
  if (!add_entry("O", "bastion") || !add_entry("CN", spec.common_name.substr(0, 64))) return fail("subject name");
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return fail("public key");
  X509* issuer_cert = issuer ? issuer->leaf() : cert.get();
  EVP_PKEY* signing_key = issuer ? issuer->key() : key.get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert)) != 1) return fail("issuer name");

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer_cert, cert.get(), nullptr, nullptr, 0);
  bool ok = AddExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  if (spec.is_ca) {
    ok = ok && AddExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
         AddExtension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    ok = ok && AddExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
         AddExtension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature") &&
         AddExtension(cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
  }
  if (issuer != nullptr) ok = ok && AddExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  if (!spec.names.empty()) ok = ok && AddSubjectAltNames(cert.get(), spec.names);
  if (!ok) return fail("extensions");
  if (X509_sign(cert.get(), signing_key, EVP_sha256()) <= 0) return fail("signing");

  IssuedPem out{PemOf(cert.get()), PemOf(key.get())};
  if (out.cert_pem.empty() || out.key_pem.empty()) return fail("PEM encoding");
  ERR_clear_error();
  return out;
}

Result<std::shared_ptr<const CertifiedKey>> MakeSelfSignedCertificate(const std::vector<std::string>& names,
                                                                        std::chrono::hours lifetime) {
  if (names.empty()) return Error("a self-signed certificate needs at least one name");
  CertificateSpec spec;
  spec.common_name = names.front();
  spec.names = names;
  const auto now = std::chrono::system_clock::now();
  spec.not_before = now - std::chrono::hours(1);
  spec.not_after = now + lifetime;
  BASTION_ASSIGN_OR_RETURN(IssuedPem pem, IssueCertificate(spec, nullptr));
  return CertifiedKey::FromPem(pem.cert_pem, pem.key_pem);
}

}  // namespace bastion::tls

namespace bastion::tls {

Result<std::shared_ptr<const CertifiedKey>> InstallSelfSignedPlaceholder(CertificateStore& store,
                                                                         const std::vector<std::string>& domains) {
  BASTION_ASSIGN_OR_RETURN(auto cert, MakeSelfSignedCertificate(domains));
  store.SetDefault(cert);
  store.Put(cert);
  return cert;
}

}  // namespace bastion::tls
