// CertifiedKey parsing (PEM chain + key, checked against each other) and the CertificateStore's
// SNI lookup. See certificate_store.h for the contract.
#include "tls/certificate_store.h"

#include <arpa/inet.h>
#include <openssl/pem.h>

#include <cctype>
#include <ctime>

#include "tls/openssl_util.h"

namespace bastion::tls {
namespace {

using internal::BioPtr;
using internal::MemoryBio;
using internal::OpenSslDetail;
using internal::OpenSslErrors;

// PEM files from users can be large only by mistake (a whole bundle of roots); 1 MiB is far more
// than any real chain.
constexpr size_t kMaxPemBytes = 1 << 20;
constexpr size_t kMaxChainLength = 16;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// SNI names are compared lower-case without a trailing dot.
std::string NormalizeName(std::string_view name) {
  std::string out = Lower(name);
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

Result<std::chrono::system_clock::time_point> ToTimePoint(const ASN1_TIME* t, const char* what) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    OpenSslErrors();
    return Error(std::string("the certificate's ") + what + " date cannot be read");
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::vector<std::string> SubjectAltNames(X509* cert) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans == nullptr) return names;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
    if (gn->type == GEN_DNS) {
      const ASN1_IA5STRING* s = gn->d.dNSName;
      names.push_back(Lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                             static_cast<size_t>(ASN1_STRING_length(s)))));
    } else if (gn->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = gn->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {};
      const int len = ASN1_STRING_length(ip);
      const int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
      if (family != 0 && inet_ntop(family, ASN1_STRING_get0_data(ip), text, sizeof text) != nullptr) {
        names.emplace_back(text);
      }
    }
  }
  GENERAL_NAMES_free(sans);
  return names;
}

std::string OneLineName(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
  return internal::BioText(bio.get());
}

std::string SerialHex(X509* cert) {
  internal::BnPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) return "";
  char* hex = BN_bn2hex(bn.get());
  std::string out = hex ? Lower(hex) : "";
  OPENSSL_free(hex);
  return out;
}

// A passphrase prompt would block a server on its terminal; encrypted keys are refused instead.
int NoPassphrase(char*, int, int, void*) { return 0; }

}  // namespace

CertifiedKey::~CertifiedKey() {
  X509_free(leaf_);
  for (X509* x : intermediates_) X509_free(x);
  EVP_PKEY_free(key_);
}

Result<std::shared_ptr<const CertifiedKey>> CertifiedKey::FromPem(std::string_view chain_pem,
                                                                    std::string_view key_pem) {
  ERR_clear_error();
  if (chain_pem.size() > kMaxPemBytes) return Error("the certificate PEM is larger than 1 MiB");
  if (key_pem.size() > kMaxPemBytes) return Error("the private key PEM is larger than 1 MiB");
  std::shared_ptr<CertifiedKey> ck(new CertifiedKey());

  BioPtr chain_bio = MemoryBio(chain_pem);
  while (true) {
    X509* cert = PEM_read_bio_X509(chain_bio.get(), nullptr, NoPassphrase, nullptr);
    if (cert == nullptr) break;
    if (ck->leaf_ == nullptr) {
      ck->leaf_ = cert;
    } else {
      ck->intermediates_.push_back(cert);
    }
    if (ck->intermediates_.size() > kMaxChainLength) {
      OpenSslErrors();
      return Error("the certificate chain has more than " + std::to_string(kMaxChainLength) + " certificates");
    }
  }
  // The loop ends at the end of the input (PEM "no start line") or at a broken block.
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end = ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (ck->leaf_ == nullptr) {
    OpenSslErrors();
    return Error("no certificate found: expected PEM blocks starting with '-----BEGIN CERTIFICATE-----'");
  }
  if (last != 0 && !clean_end) {
    return Error("certificate " + std::to_string(ck->intermediates_.size() + 2) +
                 " of the PEM chain is malformed" + OpenSslDetail());
  }
  ERR_clear_error();

  BioPtr key_bio = MemoryBio(key_pem);
  ck->key_ = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr);
  if (ck->key_ == nullptr) {
    const bool encrypted = key_pem.find("ENCRYPTED") != std::string_view::npos;
    const std::string detail = OpenSslDetail();
    if (encrypted) return Error("the private key is encrypted; bastion needs an unencrypted PEM key (mode 0600)");
    return Error("no private key found: expected a PEM 'PRIVATE KEY', 'EC PRIVATE KEY' or 'RSA PRIVATE KEY' block" +
                 detail);
  }
  // What the handshake would refuse later (security level 2), refused now with a reason.
  if (const int bits = EVP_PKEY_get_security_bits(ck->key_); bits < 112) {
    return Error("the private key is too weak (" + std::to_string(bits) +
                 "-bit security; at least 112 is needed: RSA 2048 or ECDSA P-256)");
  }
  if (X509_check_private_key(ck->leaf_, ck->key_) != 1) {
    OpenSslErrors();
    return Error("the private key does not match the first certificate of the chain");
  }

  BASTION_ASSIGN_OR_RETURN(ck->not_before_, ToTimePoint(X509_get0_notBefore(ck->leaf_), "not-before"));
  BASTION_ASSIGN_OR_RETURN(ck->not_after_, ToTimePoint(X509_get0_notAfter(ck->leaf_), "not-after"));
  ck->names_ = SubjectAltNames(ck->leaf_);
  ck->issuer_ = OneLineName(X509_get_issuer_name(ck->leaf_));
  ck->serial_hex_ = SerialHex(ck->leaf_);
  ck->chain_pem_ = std::string(chain_pem);
  ERR_clear_error();
  return std::shared_ptr<const CertifiedKey>(std::move(ck));
}

void CertificateStore::Put(std::shared_ptr<const CertifiedKey> cert) {
  if (cert == nullptr) return;
  std::lock_guard lock(mutex_);
  for (const std::string& name : cert->names()) by_name_[NormalizeName(name)] = cert;
}

void CertificateStore::SetDefault(std::shared_ptr<const CertifiedKey> cert) {
  std::lock_guard lock(mutex_);
  default_ = std::move(cert);
}

std::shared_ptr<const CertifiedKey> CertificateStore::Select(std::string_view server_name) const {
  const std::string name = NormalizeName(server_name);
  std::lock_guard lock(mutex_);
  if (!name.empty()) {
    if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
    // "*.example.com" covers exactly one more label: a.example.com, not a.b.example.com.
    if (const size_t dot = name.find('.'); dot != std::string::npos && dot > 0) {
      if (auto it = by_name_.find("*" + name.substr(dot)); it != by_name_.end()) return it->second;
    }
  }
  return default_;
}

void CertificateStore::PutAlpnChallenge(const std::string& domain, std::shared_ptr<const CertifiedKey> cert) {
  std::lock_guard lock(mutex_);
  alpn_challenges_[NormalizeName(domain)] = std::move(cert);
}

void CertificateStore::RemoveAlpnChallenge(const std::string& domain) {
  std::lock_guard lock(mutex_);
  alpn_challenges_.erase(NormalizeName(domain));
}

std::shared_ptr<const CertifiedKey> CertificateStore::SelectAlpnChallenge(std::string_view server_name) const {
  const std::string name = NormalizeName(server_name);
  std::lock_guard lock(mutex_);
  auto it = alpn_challenges_.find(name);
  return it == alpn_challenges_.end() ? nullptr : it->second;
}

}  // namespace bastion::tls
