// The ACME (RFC 8555) client: obtains a certificate for a set of domain names from any ACME CA
// (Let's Encrypt by default; Pebble in tests), and asks for ARI renewal windows (RFC 9773).
//
// CONTRACT (written before the implementation; the certificate lifecycle manager is built
// against it in parallel — change it only together with its users):
//   * One AcmeClient per CA directory URL. Thread-compatible: one call at a time.
//   * Everything is discovered from the directory; nonces are pooled and a badNonce error is
//     retried transparently; Retry-After is honoured (polling, 429, 503); CA errors
//     (application/problem+json) come back as AcmeError with the CA's type and detail.
//   * Obtain: account (created or found with the stored key), new order (with `replaces` when
//     given and the CA supports ARI), authorizations, challenges through the ChallengeSolver
//     (trying the preferred type first and the other if it fails), finalize with a CSR for a
//     fresh ECDSA P-256 key, download the chain. Blocks until done, failed, or cancelled.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"

namespace bastion::acme {

inline constexpr const char* kLetsEncryptDirectory = "https://acme-v02.api.letsencrypt.org/directory";
inline constexpr const char* kLetsEncryptStagingDirectory = "https://acme-staging-v02.api.letsencrypt.org/directory";

enum class ChallengeType { kHttp01, kTlsAlpn01 };
const char* ChallengeTypeName(ChallengeType type);  // "http-01", "tls-alpn-01"

// Makes a challenge answerable, and withdraws it. Implemented by the server glue: HTTP-01 puts
// the token in http::AcmeHttp01Responder; TLS-ALPN-01 builds the RFC 8737 certificate
// (MakeTlsAlpn01Certificate below) and puts it in tls::CertificateStore::PutAlpnChallenge.
class ChallengeSolver {
 public:
  virtual ~ChallengeSolver() = default;
  // Which types this solver can answer now (e.g. no HTTP-01 without a port-80 listener).
  virtual std::vector<ChallengeType> Supported() const = 0;
  virtual Status Present(ChallengeType type, const std::string& domain, const std::string& token,
                         const std::string& key_authorization) = 0;
  virtual void CleanUp(ChallengeType type, const std::string& domain, const std::string& token) = 0;
};

// RFC 8737: a self-signed certificate for `domain` (one dNSName SAN) with the critical
// id-pe-acmeIdentifier extension holding SHA-256(key_authorization); PEM chain and key.
struct PemPair {
  std::string chain_pem;
  std::string key_pem;
};
Result<PemPair> MakeTlsAlpn01Certificate(const std::string& domain, const std::string& key_authorization);

struct AcmeOptions {
  std::string directory_url = kLetsEncryptDirectory;
  // Extra trust root (PEM file) for the CA's own HTTPS endpoint, as Pebble needs. Empty: the
  // system's trust store only.
  std::string ca_root_file;
  std::string email;             // optional account contact
  std::string account_key_path;  // PEM ES256 key; created (0600, atomically) when missing
  std::chrono::seconds request_timeout{30};
  // How long Obtain may take in all (polling included) before it gives up.
  std::chrono::seconds obtain_timeout{std::chrono::minutes(10)};
};

// A CA error (problem+json) or a transport failure, with what the CA said.
struct AcmeError {
  std::string type;    // "urn:ietf:params:acme:error:rateLimited", or "" for transport errors
  std::string detail;  // the CA's detail, or what failed
  int http_status = 0;
  std::optional<std::chrono::seconds> retry_after;
  std::string ToString() const;
};

struct ObtainRequest {
  std::vector<std::string> domains;
  // Tried in this order; a type that fails for a domain is followed by the next.
  std::vector<ChallengeType> challenge_order = {ChallengeType::kHttp01, ChallengeType::kTlsAlpn01};
  // ARI: the certificate this one replaces (its ARI CertID), sent as "replaces" in newOrder
  // when the directory offers renewalInfo.
  std::optional<std::string> replaces_cert_id;
  // Set from another thread to abandon the attempt at the next step.
  const std::atomic<bool>* cancel = nullptr;
};

struct ObtainedCertificate {
  std::string chain_pem;  // leaf first
  std::string key_pem;    // PKCS#8 PEM of the fresh P-256 key
  std::string order_url;
};

struct RenewalInfo {
  std::chrono::system_clock::time_point window_start, window_end;
  std::string explanation_url;
  std::chrono::seconds retry_after{std::chrono::hours(6)};  // when to ask again
};

// The ARI CertID of a certificate (RFC 9773 section 4.1): base64url(AKI keyIdentifier) "."
// base64url(serial DER bytes). Errors when the certificate has no AKI.
Result<std::string> AriCertId(const std::string& cert_pem);

class AcmeClient {
 public:
  static Result<std::unique_ptr<AcmeClient>> Create(AcmeOptions options);
  virtual ~AcmeClient() = default;

  // Blocks; returns the certificate or the CA's reason.
  virtual std::variant<ObtainedCertificate, AcmeError> Obtain(const ObtainRequest& request, ChallengeSolver& solver) = 0;
  // nullopt when the directory has no renewalInfo (then renew at 1/3 of the lifetime left).
  virtual std::variant<std::optional<RenewalInfo>, AcmeError> GetRenewalInfo(const std::string& cert_pem) = 0;
};

}  // namespace bastion::acme
