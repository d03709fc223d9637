// X.509 pieces of ACME: the fresh certificate key and its CSR (finalize), checking what the CA
// sent back, the RFC 8737 TLS-ALPN-01 certificate, and the RFC 9773 ARI CertID.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace bastion::acme {

// True for an IPv4 or IPv6 literal (an "ip" identifier, RFC 8738); otherwise a DNS name.
bool IsIpAddress(const std::string& name);

// Checks a requested name: a DNS name (letters, digits, hyphens, dots; optional leading "*.")
// of sane length, or an IP literal. Lower-cases DNS names.
Result<std::string> NormalizeIdentifier(const std::string& name);

struct CsrAndKey {
  std::string csr_der;
  std::string key_pem;  // PKCS#8
};
// A fresh ECDSA P-256 key and a CSR for it: SANs = names (dNSName or iPAddress), CN = the first
// name when it fits (64 characters).
Result<CsrAndKey> MakeCsr(const std::vector<std::string>& names);

// Checks a downloaded chain: at least one PEM certificate, the leaf's public key is the key we
// generated, and the leaf names every requested identifier. Returns the chain normalised
// (certificates only, PEM, leaf first).
Result<std::string> CheckIssuedChain(std::string_view chain_pem, std::string_view key_pem,
                                     const std::vector<std::string>& names);

}  // namespace bastion::acme
