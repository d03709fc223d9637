// The local CA: bastion's own certificate authority for localhost and LAN use, like Caddy's
// internal CA or mkcert. Created once in <state-dir>/tls/local-ca/ (ECDSA P-256, ~10 years, key
// mode 0600); it issues the server's leaf certificate, kept in <state-dir>/tls/local/, which is
// re-issued at startup when a third of its lifetime is left, its names changed, or it no longer
// chains to the CA. Users trust ca.crt once (TrustInstructions) and every later leaf is trusted.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "tls/certificate_store.h"

namespace bastion::tls {

struct LocalCaOptions {
  std::chrono::hours ca_lifetime = std::chrono::hours(24 * 3650);
  // Below Apple's and the CA/B Forum's 398-day ceiling, which some clients apply to any CA.
  std::chrono::hours leaf_lifetime = std::chrono::hours(24 * 365);
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

struct LocalCertificate {
  std::shared_ptr<const CertifiedKey> leaf;  // what the listener serves (chain: leaf only)
  std::string ca_cert_path;                  // <state>/tls/local-ca/ca.crt — what clients trust
  std::string ca_name;                       // its subject, "bastion local CA <host>"
  std::string leaf_cert_path, leaf_key_path;
  bool created_ca = false;   // this call made the CA (first start)
  bool issued_leaf = false;  // this call issued a new leaf (else the stored one was reused)
};

// The names the local leaf covers: localhost, 127.0.0.1, ::1, this machine's host name, and
// `listen_host` when it is a specific address or name (not 0.0.0.0 / ::).
std::vector<std::string> LocalCertificateNames(const std::string& listen_host);

// Creates the CA if needed and returns a valid leaf for `names`. Holds a lock file while it
// works, so two processes on one state directory do not both create a CA.
Result<LocalCertificate> EnsureLocalCertificate(const std::string& state_dir, const std::vector<std::string>& names,
                                                const LocalCaOptions& options = {});

// Lines telling a user how to trust `ca_cert_path` (curl, Node, Python, Debian's store).
std::string TrustInstructions(const std::string& ca_cert_path);

}  // namespace bastion::tls
