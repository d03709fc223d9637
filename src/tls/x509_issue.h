// Making certificates with the OpenSSL C API (no `openssl` command): fresh ECDSA P-256 keys,
// CA and leaf certificates for the local CA, and the temporary self-signed certificate served
// while an ACME certificate is being obtained.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "tls/certificate_store.h"

namespace bastion::tls {

struct IssuedPem {
  std::string cert_pem;  // one certificate
  std::string key_pem;   // PKCS#8, unencrypted: write it with mode 0600
};

struct CertificateSpec {
  std::string common_name;
  std::vector<std::string> names;  // subjectAltName: IP literals become iPAddress, the rest dNSName
  bool is_ca = false;              // CA:TRUE, pathlen 0, keyCertSign; otherwise a TLS server leaf
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
};

// Issues `spec` for a new P-256 key, signed by `issuer` (its leaf and key), or self-signed when
// issuer is null. Names must be DNS names or IP literals (checked).
Result<IssuedPem> IssueCertificate(const CertificateSpec& spec, const CertifiedKey* issuer);

// A self-signed P-256 certificate for `names` (the first is the common name), valid from an hour
// ago for `lifetime`. For acme mode until the CA delivers: startup never waits for the CA.
// Clients see an untrusted certificate meanwhile, which is the honest state of affairs.
Result<std::shared_ptr<const CertifiedKey>> MakeSelfSignedCertificate(
    const std::vector<std::string>& names, std::chrono::hours lifetime = std::chrono::hours(24 * 7));

// True when `name` is a DNS name bastion puts in a certificate: labels of [a-z0-9-] (and '_'),
// 1-63 bytes, not starting or ending with '-', 253 bytes at most; a leading "*." is allowed
// only when allow_wildcard.
bool IsValidDnsName(std::string_view name, bool allow_wildcard = false);
// True for an IPv4 or IPv6 literal ("127.0.0.1", "::1").
bool IsIpLiteral(std::string_view text);

}  // namespace bastion::tls

namespace bastion::tls {

// acme mode, until the certificate manager delivers: makes a self-signed certificate for
// `domains` and installs it as the store's default and for each domain, so the HTTPS listener
// can start at once. The manager's later Put replaces it for those names. Returns what it put.
Result<std::shared_ptr<const CertifiedKey>> InstallSelfSignedPlaceholder(CertificateStore& store,
                                                                         const std::vector<std::string>& domains);

}  // namespace bastion::tls
