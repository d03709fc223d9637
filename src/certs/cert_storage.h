// Where managed certificates live in the state directory, and how they are written so that a
// crash at any point leaves something loadable. Shared by the CertManager (serve) and the
// `bastion cert` commands; both may run at once on one state directory.
//
// Layout (docs/TLS-ACME.md):
//   <state>/acme/<ca>/account.key                 ES256 account key, 0600 (written by the AcmeClient)
//   <state>/acme/challenges/                      challenge handoff from `cert renew` to a running
//                                                 server (challenge_handoff.h)
//   <state>/certs/<ca>/<name>/cert.pem            chain, leaf first
//   <state>/certs/<ca>/<name>/key.pem             its private key, 0600
//   <state>/certs/<ca>/<name>/next-key.pem        only between the two renames of a write (below)
//   <state>/certs/<ca>/<name>/meta.json           domains, validity, ARI CertID, schedule, last error
//   <state>/certs/<ca>/<name>.lock                flock: held while ordering / writing this certificate
// <ca> is the directory URL's host[-port] ("acme-v02.api.letsencrypt.org", "localhost-14000");
// <name> is the first domain of the sorted list, lower-cased ("*." becomes "wildcard_.").
//
// Write order (WriteCertificateFiles): next-key.pem, cert.pem (the commit point), rename
// next-key.pem -> key.pem, meta.json — each step atomic (temp + fsync + rename). A crash after
// cert.pem but before the key rename leaves the new cert with next-key.pem; LoadCertificateFiles
// tries key.pem and then next-key.pem, so every crash point loads either the old pair or the new
// one. meta.json is advisory: when it does not describe cert.pem (crash before it was written, or
// it is corrupt) the loader ignores it and the fields are rebuilt from the certificate.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "tls/certificate_store.h"

namespace bastion::certs {

using TimePoint = std::chrono::system_clock::time_point;

// "staging" -> Let's Encrypt staging, "" / "production" / "letsencrypt" -> Let's Encrypt,
// anything else is taken as a directory URL.
std::string ResolveAcmeDirectoryUrl(const std::string& flag);

// Lower-cases, trims, drops a trailing dot and duplicates, sorts: one canonical list per set.
std::vector<std::string> NormalizeDomains(const std::vector<std::string>& domains);

// A file-system-safe directory name for the CA ("localhost-14000") and for a domain.
std::string CaDirName(const std::string& directory_url);
std::string DomainDirName(const std::string& domain);

struct CertPaths {
  std::string dir;       // <state>/certs/<ca>/<name>
  std::string cert;      // dir/cert.pem
  std::string key;       // dir/key.pem
  std::string next_key;  // dir/next-key.pem
  std::string meta;      // dir/meta.json
  std::string lock;      // <state>/certs/<ca>/<name>.lock
};
CertPaths CertPathsFor(const std::string& state_dir, const std::string& directory_url, const std::string& first_domain);
std::string AccountKeyPath(const std::string& state_dir, const std::string& directory_url);
std::string ChallengeHandoffDir(const std::string& state_dir);

// meta.json: what `bastion cert status` shows and what a restarted server resumes from.
struct CertMeta {
  std::string directory_url;
  std::vector<std::string> domains;  // as requested (normalized)
  std::string issuer;
  std::string serial_hex;            // of the leaf in cert.pem; a mismatch marks meta as stale
  TimePoint not_before{}, not_after{}, issued_at{};
  std::string ari_cert_id;           // "" when the certificate has no AKI
  std::optional<TimePoint> next_renewal;  // when the owner plans to renew (1/3 rule or ARI pick)
  std::optional<TimePoint> ari_window_start, ari_window_end;
  std::string last_error;            // "" after a success
  std::optional<TimePoint> last_error_at;
  std::optional<TimePoint> next_attempt;  // after a failure: when the next try is due (backoff)
  int consecutive_failures = 0;
};
std::string MetaToJson(const CertMeta& meta);
Result<CertMeta> MetaFromJson(const std::string& text);  // never throws on bad input

// The stat identity of cert.pem (device, inode, size, mtime): every atomic write replaces the
// inode, so a change here means another writer (or we) replaced the certificate.
struct FileSignature {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;
  int64_t mtime_ns = 0;
  bool exists = false;
  bool operator==(const FileSignature&) const = default;
};
FileSignature StatSignature(const std::string& path);

struct StoredCertificate {
  std::shared_ptr<const tls::CertifiedKey> cert;
  std::string chain_pem;
  std::string key_pem;
  CertMeta meta;           // from meta.json when it describes this cert, else rebuilt from it
  bool meta_was_stale = false;
  FileSignature signature;  // of cert.pem as read
};

// Loads cert.pem with key.pem (or next-key.pem, see above). Errors: files missing, corrupt PEM,
// key matching neither file. Never aborts on bad bytes.
Result<StoredCertificate> LoadCertificateFiles(const CertPaths& paths);

// True when `cert` covers every one of `domains` (exact SAN or a one-label wildcard).
bool CoversDomains(const tls::CertifiedKey& cert, const std::vector<std::string>& domains);

// Writes a new certificate crash-safely in the order described above, then meta.json.
// Creates the directories (0700).
Status WriteCertificateFiles(const CertPaths& paths, const std::string& chain_pem, const std::string& key_pem,
                             const CertMeta& meta);
// Rewrites meta.json only (schedule, last error).
Status WriteMeta(const CertPaths& paths, const CertMeta& meta);

// Every certificate directory under <state>/certs (for `bastion cert status`).
std::vector<CertPaths> ListStoredCertificates(const std::string& state_dir);

// RFC 3339 UTC ("2026-05-13T10:00:00Z") and back, for meta.json and status output.
std::string FormatTime(TimePoint t);
std::optional<TimePoint> ParseTime(const std::string& text);

}  // namespace bastion::certs
