// What the TLS listener serves, and how the rest of bastion changes it while it runs.
//
// CONTRACT (written before the implementation, shared by src/tls, src/acme and the certificate
// lifecycle manager; change it only together with its users):
//   * CertifiedKey: an immutable, parsed certificate chain + private key. Cheap to share.
//   * CertificateStore: thread-safe. The TLS listener asks it, in its ClientHello/SNI callback, for
//     the certificate of each new handshake; anyone may Put/replace a certificate at any time —
//     new handshakes get the new one at once, established connections keep theirs (no restart,
//     no dropped connection).
//   * TLS-ALPN-01 (RFC 8737): challenge certificates are kept apart and served only to a
//     handshake whose ALPN list offers "acme-tls/1" for that SNI name; such a connection carries
//     no HTTP and is closed after the handshake.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

// OpenSSL types, so this header does not pull in OpenSSL's.
typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;

namespace bastion::tls {

class CertifiedKey {
 public:
  // Parses a PEM chain (leaf first, then intermediates) and a PEM private key (PKCS#8, SEC1 EC
  // or PKCS#1 RSA). Errors say what is wrong: no certificate, key does not match the leaf, ...
  static Result<std::shared_ptr<const CertifiedKey>> FromPem(std::string_view chain_pem, std::string_view key_pem);

  ~CertifiedKey();
  CertifiedKey(const CertifiedKey&) = delete;
  CertifiedKey& operator=(const CertifiedKey&) = delete;

  // Subject alternative names of the leaf: DNS names as written (lower-cased), IP addresses as
  // text ("127.0.0.1", "::1").
  const std::vector<std::string>& names() const { return names_; }
  std::chrono::system_clock::time_point not_before() const { return not_before_; }
  std::chrono::system_clock::time_point not_after() const { return not_after_; }
  const std::string& issuer() const { return issuer_; }   // one-line issuer DN of the leaf
  const std::string& serial_hex() const { return serial_hex_; }
  const std::string& chain_pem() const { return chain_pem_; }
  // Lifetime as issued (not_after - not_before).
  std::chrono::seconds lifetime() const {
    return std::chrono::duration_cast<std::chrono::seconds>(not_after_ - not_before_);
  }

  // For the TLS layer (borrowed pointers, valid while this object lives).
  X509* leaf() const { return leaf_; }
  const std::vector<X509*>& intermediates() const { return intermediates_; }
  EVP_PKEY* key() const { return key_; }

 private:
  CertifiedKey() = default;
  X509* leaf_ = nullptr;
  std::vector<X509*> intermediates_;
  EVP_PKEY* key_ = nullptr;
  std::vector<std::string> names_;
  std::chrono::system_clock::time_point not_before_, not_after_;
  std::string issuer_, serial_hex_, chain_pem_;
};

class CertificateStore {
 public:
  // Installs `cert` for each of its names (replacing what those names had). Wildcard SANs
  // ("*.example.com") match one label.
  void Put(std::shared_ptr<const CertifiedKey> cert);
  // The certificate for handshakes whose SNI matches nothing (or that send none, e.g. by IP).
  void SetDefault(std::shared_ptr<const CertifiedKey> cert);
  // Exact name, then wildcard, then the default; nullptr when there is none at all.
  std::shared_ptr<const CertifiedKey> Select(std::string_view server_name) const;

  // RFC 8737 challenge certificates, by domain.
  void PutAlpnChallenge(const std::string& domain, std::shared_ptr<const CertifiedKey> cert);
  void RemoveAlpnChallenge(const std::string& domain);
  std::shared_ptr<const CertifiedKey> SelectAlpnChallenge(std::string_view server_name) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const CertifiedKey>, std::less<>> by_name_;
  std::shared_ptr<const CertifiedKey> default_;
  std::map<std::string, std::shared_ptr<const CertifiedKey>, std::less<>> alpn_challenges_;
};

}  // namespace bastion::tls
